"""Garbage collection: abandoned uploads, stray temporary files/objects, orphan blobs and (opt-in)
untagged images. Never a blob an image references (``flows/maintenance.py`` explains the guard)."""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_sylabs_library.flows import audit
from django_sylabs_library.flows.maintenance import collect_garbage


def progress_factory(enabled: bool) -> Any:
    """tqdm on stderr when wanted and stderr is a terminal; None (no bars) otherwise."""
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return partial(tqdm, file=sys.stderr, leave=False, dynamic_ncols=True)


class Command(BaseCommand):
    help = (
        "Remove abandoned uploads (their temporary files, objects and S3 multipart uploads), stray "
        "temporary files, orphan blobs (rows no image references, files with no row) and, with "
        "--untagged-older-than, untagged images. A blob an image references is never removed. "
        "Run it from cron, e.g. hourly."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="only list what would be removed")
        parser.add_argument(
            "--grace",
            type=float,
            default=None,
            metavar="SECONDS",
            help="how long an upload may sit idle or expired, and a file without a row may exist, before "
            "it counts as garbage (default: UPLOAD_GC_GRACE_SECONDS; 0 for tests or a quiet registry)",
        )
        parser.add_argument(
            "--untagged-older-than",
            type=float,
            default=None,
            metavar="DAYS",
            help="also delete images no tag points to, created at least DAYS ago (they are still "
            "pullable by hash until then)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")

    def handle(self, *args: Any, **options: Any) -> None:
        with audit.command_context("sylabs_library_gc"):  # untagged images it removes are audited
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        grace = options["grace"]
        if grace is not None and grace < 0:
            raise CommandError("--grace must be 0 or more seconds")
        days = options["untagged_older_than"]
        if days is not None and days < 0:
            raise CommandError("--untagged-older-than must be 0 or more days")
        report = collect_garbage(
            dry_run=options["dry_run"],
            grace_seconds=grace,
            untagged_older_than_days=days,
            progress=progress_factory(not options["no_progress"]),
        )
        verb = "would remove" if report.dry_run else "removed"
        if int(options.get("verbosity", 1)) >= 1:
            for label, items in (
                ("upload session", report.sessions),
                ("temporary file", report.temp_files),
                ("temporary object", report.temp_objects),
                ("multipart upload", report.multipart_uploads),
                ("untagged image", report.untagged_images),
                ("orphan blob", report.orphan_blobs),
                ("orphan file", report.orphan_files),
            ):
                for item in items:
                    self.stdout.write(f"{verb} {label} {item}")
        self.stdout.write(report.summary())
