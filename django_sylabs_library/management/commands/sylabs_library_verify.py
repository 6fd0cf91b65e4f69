"""Re-hash every stored blob and report mismatched and missing ones (exit status 1 if any)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_sylabs_library.flows.maintenance import verify_blobs
from django_sylabs_library.refs import HEX64_RE

from .sylabs_library_gc import progress_factory


class Command(BaseCommand):
    help = (
        "Re-hash the stored bytes of every blob (streamed through the storage) and compare size and "
        "SHA-256 with the database. Prints mismatched and missing blobs; exits with status 1 when "
        "there is any. Run it after a restore, and from time to time (e.g. weekly)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--blob", metavar="SHA", help="check only the blob with this SHA-256 (hex or sha256.<hex>)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        sha = options.get("blob")
        if sha is not None:
            sha = sha.lower().removeprefix("sha256.")
            if not HEX64_RE.match(sha):
                raise CommandError("--blob must be a SHA-256: 64 hex digits, optionally prefixed sha256.")
        report = verify_blobs(sha256=sha, progress=progress_factory(not options["no_progress"]))
        for line in report.missing:
            self.stdout.write(f"MISSING {line}")
        for line in report.mismatched:
            self.stdout.write(f"MISMATCH {line}")
        if sha is not None and report.checked == 0:
            raise CommandError(f"no blob sha256.{sha}")
        self.stdout.write(report.summary())
        if report.problems:
            raise CommandError(f"{report.problems} problem(s) found", returncode=1)
