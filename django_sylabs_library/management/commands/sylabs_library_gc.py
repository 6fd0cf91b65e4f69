"""Clean up abandoned uploads: expired upload sessions, S3 multipart uploads and temporary files/objects."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from django_sylabs_library.flows.uploads import cleanup_abandoned_uploads


class Command(BaseCommand):
    help = (
        "Abort uploads whose URLs expired more than UPLOAD_GC_GRACE_SECONDS ago: open S3 multipart uploads "
        "(their parts are freed), temporary objects under S3_UPLOAD_PREFIX and temporary files. Blobs are "
        "never touched. Run it from cron, e.g. hourly."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="only list what would be removed")

    def handle(self, *args: Any, **options: Any) -> None:
        dry = options["dry_run"]
        report = cleanup_abandoned_uploads(dry_run=dry)
        verb = "would remove" if dry else "removed"
        for label, items in (
            ("upload session", report.sessions),
            ("S3 multipart upload", report.s3_multipart_aborted),
            ("temporary object", report.objects_deleted),
            ("temporary file", report.files_deleted),
        ):
            for item in items:
                self.stdout.write(f"{verb} {label} {item}")
        self.stdout.write(
            f"{verb}: {len(report.sessions)} session(s), {len(report.s3_multipart_aborted)} multipart upload(s), "
            f"{len(report.objects_deleted)} object(s), {len(report.files_deleted)} file(s)"
        )
