"""Garbage collection and verification of stored images (``sylabs_library_gc``, ``sylabs_library_verify``).

Plain functions returning report dataclasses; the management commands only parse options, draw
progress bars and print the reports.

What ``collect_garbage`` removes, in this order:

1. **Abandoned uploads** (v1 bodies, v2 single part, v2 multipart): unfinished sessions whose URL
   expired more than ``grace`` seconds ago, or on which nothing has happened for ``grace`` seconds
   (no API call, no part, no byte written to the temporary file). On S3, where the bytes go to the
   store and are invisible until a PUT ends, a session whose upload URL is still valid is never
   taken for idle. An abandoned session is marked aborted; its temporary file or object is
   deleted and its S3 multipart upload aborted (which frees the parts).
2. **Stray temporary files and objects** that no live session owns (left by a crash between two
   steps), older than ``grace``: ``*.upload`` files in the upload folder, objects and multipart
   uploads under ``S3_UPLOAD_PREFIX``, and multipart uploads under ``blobs/`` (an interrupted
   server-side copy of an object above 5 GiB).
3. **Untagged images** (opt-in, ``untagged_older_than_days``): images no tag points to, created
   that many days ago or earlier, outside read-only containers. They are still pullable by hash,
   hence opt-in.
4. **Orphan blobs**: ``Blob`` rows no image references, and files/objects under ``blobs/`` with no
   ``Blob`` row, older than ``grace``.

The one rule: a blob an image references is never removed. Blobs are content-addressed and shared
between images (and between users: ``create_image`` attaches an existing blob to a new image
without an upload), so "referenced" is decided in the database under a row lock, never from a
listing:

* Removing a blob row (here, and ``storage.delete_blob_if_unreferenced`` when an image is deleted)
  happens in one transaction that locks the row (``SELECT ... FOR UPDATE``), checks again that no
  image references it and that no unfinished upload of the same bytes exists (an upload that
  finds the blob already stored reuses it instead of storing its own copy), deletes the row and
  commits; only then are the bytes deleted.
* Attaching a blob to an image (``flows.images._attach_blob``, used by ``mark_uploaded`` after an
  upload and by ``create_image`` for a deduplicated push) locks the same row first, in the
  transaction that saves the image. If the row is gone, the push fails cleanly (409, retry) instead
  of pointing an image at deleted bytes.

So whichever transaction locks the row first wins, and the other one sees its committed result:
the deleter sees the new reference and keeps the blob, or the attacher sees the row gone. On
PostgreSQL that is the row lock; on SQLite, which has no row locks, the single writer and the
deferred foreign-key check at commit give the same outcome. Files without a row are only removed
once older than ``grace``, since ``storage.store_blob`` writes the file a moment before its row.

``grace`` defaults to ``UPLOAD_GC_GRACE_SECONDS``; ``grace=0`` cleans everything at once and is
meant for tests and a quiet registry (it aborts uploads that are merely slow).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from .. import storage as blob_storage  # looked up at call time (tests swap in a fake S3)
from ..conf import library_settings
from ..models import Blob, Image, UploadSession
from ..storage import (
    blob_in_use,
    delete_blob_if_unreferenced,
    delete_stored_blob,
    image_storage,
    remove_file,
    upload_temp_dir,
)
from . import audit

logger = logging.getLogger(__name__)

State = UploadSession.State
UNFINISHED = [State.OPEN, State.RECEIVING, State.RECEIVED, State.FAILED]
BLOB_PREFIX = "blobs/"

# A progress factory with tqdm's signature: progress(total=..., desc=..., unit=..., unit_scale=...)
# returning an object with update(n) and close(). The commands pass tqdm; the default draws nothing.
Progress = Callable[..., Any]


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _no_progress(**_: Any) -> _NoProgress:
    return _NoProgress()


@dataclass
class GcReport:
    """What ``collect_garbage`` removed (or, with ``dry_run``, would remove)."""

    dry_run: bool = False
    sessions: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    temp_objects: list[str] = field(default_factory=list)
    multipart_uploads: list[str] = field(default_factory=list)
    untagged_images: list[str] = field(default_factory=list)
    orphan_blobs: list[str] = field(default_factory=list)
    orphan_files: list[str] = field(default_factory=list)
    finished_sessions: int = 0
    bytes_freed: int = 0
    seconds: float = 0.0

    def total(self) -> int:
        return sum(
            len(items)
            for items in (
                self.sessions,
                self.temp_files,
                self.temp_objects,
                self.multipart_uploads,
                self.untagged_images,
                self.orphan_blobs,
                self.orphan_files,
            )
        )

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        freed = "would free" if self.dry_run else "freed"
        return (
            f"{verb}: {len(self.sessions)} session(s), {len(self.temp_files)} temporary file(s), "
            f"{len(self.temp_objects)} temporary object(s), {len(self.multipart_uploads)} multipart upload(s), "
            f"{len(self.untagged_images)} untagged image(s), {len(self.orphan_blobs)} orphan blob(s), "
            f"{len(self.orphan_files)} orphan file(s), {self.finished_sessions} finished session record(s); "
            f"{freed} {self.bytes_freed} bytes in {self.seconds:.1f} s"
        )


def _grace(grace_seconds: float | None) -> timedelta:
    value = library_settings.UPLOAD_GC_GRACE_SECONDS if grace_seconds is None else grace_seconds
    if value is None or float(value) < 0:
        raise ValueError("grace must be 0 or more seconds")
    return timedelta(seconds=float(value))


def collect_garbage(
    *,
    dry_run: bool = False,
    grace_seconds: float | None = None,
    untagged_older_than_days: float | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> GcReport:
    """Remove abandoned uploads, stray temporary files/objects, orphan blobs and (opt-in) untagged
    images; see the module docstring for what each is and why referenced blobs are safe."""
    started = time.monotonic()
    progress = progress or _no_progress
    now = now or timezone.now()
    cutoff = now - _grace(grace_seconds)
    report = GcReport(dry_run=dry_run)
    live = _abandon_uploads(report, now, cutoff, dry_run, progress)
    _remove_stray_temporaries(report, live, cutoff, dry_run, progress)
    if untagged_older_than_days is not None:
        _remove_untagged_images(report, now - timedelta(days=float(untagged_older_than_days)), dry_run, progress)
    _remove_orphan_blobs(report, cutoff, dry_run, progress)
    _remove_orphan_files(report, cutoff, dry_run, progress)
    _remove_finished_sessions(report, now, dry_run)
    report.seconds = time.monotonic() - started
    if report.total() and not dry_run:
        logger.info("garbage collection: %s", report.summary())
    return report


def clean_uploads(
    *, dry_run: bool = False, grace_seconds: float | None = None, now: datetime | None = None
) -> GcReport:
    """Steps 1 and 2 only: abandoned uploads and stray temporaries; blobs are not touched."""
    started = time.monotonic()
    now = now or timezone.now()
    cutoff = now - _grace(grace_seconds)
    report = GcReport(dry_run=dry_run)
    live = _abandon_uploads(report, now, cutoff, dry_run, _no_progress)
    _remove_stray_temporaries(report, live, cutoff, dry_run, _no_progress)
    report.seconds = time.monotonic() - started
    return report


def _remove_finished_sessions(report: GcReport, now: datetime, dry_run: bool) -> None:
    """Forget finished upload sessions after ``UPLOAD_SESSION_RETENTION_DAYS``: the rows (and their
    parts) serve only a repeated ``_complete``; kept forever they would grow with every push."""
    days = library_settings.UPLOAD_SESSION_RETENTION_DAYS
    if days is None:
        return
    finished = UploadSession.objects.filter(
        state__in=[State.COMPLETED, State.ABORTED], updated_at__lt=now - timedelta(days=float(days))
    )
    report.finished_sessions = finished.count()
    if report.finished_sessions and not dry_run:
        finished.delete()


# --- 1. abandoned uploads --------------------------------------------------------------------------------


def _file_mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.get_current_timezone())
    except OSError:
        return None


def _bytes_go_to_store(session: UploadSession) -> bool:
    return session.kind != UploadSession.Kind.LEGACY and blob_storage.is_s3()


def _local_temp(session: UploadSession) -> Path | None:
    """The session's temporary file on local disk: ``temp_name`` (v1, multipart) or ``<upload id>.upload``
    (a v2 single-part PUT being received), None when its bytes go to the store."""
    if _bytes_go_to_store(session):
        return None
    return upload_temp_dir() / (session.temp_name or f"{session.upload_id}.upload")


def _is_abandoned(session: UploadSession, last_part: datetime | None, now: datetime, cutoff: datetime) -> bool:
    if session.expires_at < cutoff:
        return True
    activity = max(filter(None, [session.updated_at, last_part]))
    if _bytes_go_to_store(session):
        # A PUT to a presigned URL is invisible until it ends: never idle while the URL is valid.
        return session.expires_at <= now and activity < cutoff
    if activity >= cutoff:
        return False
    temp = _local_temp(session)
    mtime = _file_mtime(temp) if temp is not None else None
    return mtime is None or mtime < cutoff  # a recent write: bytes are still arriving


def _abandon_uploads(report: GcReport, now: datetime, cutoff: datetime, dry_run: bool, progress: Progress) -> set[str]:
    """Abort abandoned sessions; return the temporary names (file names, S3 keys) of live ones
    (with ``dry_run`` also of those that would be aborted)."""
    from .uploads import _discard_temp

    sessions = UploadSession.objects.filter(state__in=UNFINISHED).annotate(last_part=Max("parts__updated_at"))
    live: set[str] = set()
    bar = progress(total=sessions.count(), desc="upload sessions", unit="session")
    try:
        for session in sessions.order_by("pk").iterator():
            bar.update(1)
            if not _is_abandoned(session, session.last_part, now, cutoff):
                if session.temp_name:
                    live.add(session.temp_name.partition("\t")[0])
                live.add(session.upload_id)
                continue
            report.sessions.append(session.upload_id)
            temp = _local_temp(session)
            if temp is not None:
                report.bytes_freed += _size_of(temp)
            if dry_run:
                # Its temporary file or object would go with it: not listed again as a stray one.
                if session.temp_name:
                    live.add(session.temp_name.partition("\t")[0])
                live.add(session.upload_id)
                continue
            with contextlib.suppress(Exception):  # what is left is found again as a stray temporary
                _discard_temp(session)
                if temp is not None:
                    remove_file(temp)
            UploadSession.objects.filter(pk=session.pk, state=session.state).update(state=State.ABORTED)
    finally:
        bar.close()
    return live


# --- 2. stray temporary files and objects -------------------------------------------------------------------


def _remove_stray_temporaries(
    report: GcReport, live: set[str], cutoff: datetime, dry_run: bool, progress: Progress
) -> None:
    folder = upload_temp_dir()
    for path in sorted(folder.glob("*.upload")):
        mtime = _file_mtime(path)
        if mtime is None or mtime >= cutoff or path.name in live or path.stem in live:
            continue
        size = _size_of(path)
        report.temp_files.append(str(path))
        report.bytes_freed += size
        if not dry_run:
            remove_file(path)
    if not blob_storage.is_s3():
        return
    from .uploads import _store_errors

    store = blob_storage.s3_store()
    upload_prefix = store.key(library_settings.S3_UPLOAD_PREFIX)
    with _store_errors():
        for prefix in (upload_prefix, store.key(BLOB_PREFIX)):
            for upload in list(store.list_multipart(prefix)):
                initiated = upload.get("Initiated")
                if upload["Key"] in live or (initiated is not None and initiated >= cutoff):
                    continue
                report.multipart_uploads.append(f"{upload['Key']} {upload['UploadId']}")
                if not dry_run:
                    with contextlib.suppress(Exception):
                        store.abort_multipart(upload["Key"], upload["UploadId"])
        for obj in list(store.list_objects(upload_prefix)):
            modified = obj.get("LastModified")
            if obj["Key"] in live or (modified is not None and modified >= cutoff):
                continue
            report.temp_objects.append(obj["Key"])
            report.bytes_freed += int(obj.get("Size") or 0)
            if not dry_run:
                with contextlib.suppress(Exception):
                    store.delete(obj["Key"])


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# --- 3. untagged images (opt-in) -----------------------------------------------------------------------------


def _remove_untagged_images(report: GcReport, older_than: datetime, dry_run: bool, progress: Progress) -> None:
    candidates = Image.objects.filter(
        tags__isnull=True, created_at__lt=older_than, container__read_only=False
    ).select_related("container__collection__entity", "blob")
    bar = progress(total=candidates.count(), desc="untagged images", unit="image")
    try:
        for image in candidates.order_by("pk").iterator():
            bar.update(1)
            label = f"{image.container}:{image.hash}"
            if dry_run:
                report.untagged_images.append(label)
                if image.blob is not None and not image.blob.images.exclude(pk=image.pk).exists():
                    report.orphan_blobs.append(image.blob.sha256)
                    report.bytes_freed += image.blob.size
                continue
            blob = image.blob
            with transaction.atomic():
                locked = Image.objects.select_for_update().filter(pk=image.pk).first()
                if locked is None or locked.tags.exists():
                    continue  # tagged meanwhile
                locked.delete()
                audit.record(
                    audit.IMAGE_DELETE,
                    object_type="image",
                    ref=f"{audit.describe(image.container)[1]}:{image.hash}",
                    object_id=image.pk,
                    detail={"size": image.size, "reason": "garbage collection: untagged"},
                )
            report.untagged_images.append(label)
            # receivers.py does the same on commit; done here too so the report can count it.
            if blob is not None and delete_blob_if_unreferenced(blob.pk):
                report.bytes_freed += blob.size
                report.orphan_blobs.append(blob.sha256)
    finally:
        bar.close()


# --- 4. orphan blobs ----------------------------------------------------------------------------------------


def _remove_orphan_blobs(report: GcReport, cutoff: datetime, dry_run: bool, progress: Progress) -> None:
    candidates = Blob.objects.filter(images__isnull=True, created_at__lt=cutoff)
    bar = progress(total=candidates.count(), desc="orphan blobs", unit="blob")
    try:
        for blob in candidates.order_by("pk").iterator():
            bar.update(1)
            if dry_run:
                if not blob_in_use(blob):
                    report.orphan_blobs.append(blob.sha256)
                    report.bytes_freed += blob.size
                continue
            with transaction.atomic():
                # The guard (module docstring): lock, check again, delete the row, commit; bytes after.
                locked = Blob.objects.select_for_update().filter(pk=blob.pk).first()
                if locked is None or blob_in_use(locked):
                    continue
                name = locked.storage_name
                locked.delete()
            delete_stored_blob(name)
            report.orphan_blobs.append(blob.sha256)
            report.bytes_freed += blob.size
            logger.info("removed orphan blob sha256.%s (%d bytes)", blob.sha256, blob.size)
    finally:
        bar.close()


@dataclass
class StoredFile:
    name: str  # storage name, e.g. blobs/sha256/ab/ab12...
    size: int
    modified: datetime | None


def iter_blob_files() -> Iterator[StoredFile]:
    """Every file or object under ``blobs/`` of the image storage (one listing on S3; the
    storage API's ``listdir`` elsewhere)."""
    storage = image_storage()
    if blob_storage.is_s3():
        store = blob_storage.s3_store()
        root = store.key(BLOB_PREFIX)
        strip = len(root) - len(BLOB_PREFIX)
        for obj in store.list_objects(root):
            yield StoredFile(obj["Key"][strip:], int(obj.get("Size") or 0), obj.get("LastModified"))
        return
    yield from _walk(storage, BLOB_PREFIX.rstrip("/"))


def _walk(storage: Any, folder: str) -> Iterator[StoredFile]:
    try:
        dirs, files = storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in sorted(files):
        path = f"{folder}/{name}"
        try:
            size = storage.size(path)
            modified = storage.get_modified_time(path)
        except (FileNotFoundError, OSError):
            continue
        yield StoredFile(path, size, modified)
    for sub in sorted(dirs):
        yield from _walk(storage, f"{folder}/{sub}")


class _KnownNames:
    """Storage names of blob rows, fetched one ``blobs/sha256/<2 hex>/`` folder at a time (one indexed
    range query on ``sha256`` per folder instead of one query per file); a name not found there (a blob
    stored under another name) is looked up on its own before anything is deleted."""

    def __init__(self) -> None:
        self.folder = ""
        self.names: set[str] = set()

    def __contains__(self, name: str) -> bool:
        folder = name.rsplit("/", 1)[0]
        if folder != self.folder:
            self.folder, self.names = folder, set()
            prefix = folder.rsplit("/", 1)[-1].lower()
            if len(prefix) == 2 and all(c in "0123456789abcdef" for c in prefix):
                upper = f"{int(prefix, 16) + 1:02x}" if prefix != "ff" else "g"
                rows = Blob.objects.filter(sha256__gte=prefix, sha256__lt=upper)
                self.names = set(rows.values_list("storage_name", flat=True))
        return name in self.names or Blob.objects.filter(storage_name=name).exists()


def _remove_orphan_files(report: GcReport, cutoff: datetime, dry_run: bool, progress: Progress) -> None:
    bar = progress(desc="blob files", unit="file")
    known = _KnownNames()
    try:
        for stored in iter_blob_files():
            bar.update(1)
            if stored.modified is not None and stored.modified >= cutoff:
                continue
            if stored.name in known:
                continue
            report.orphan_files.append(stored.name)
            report.bytes_freed += stored.size
            if not dry_run:
                delete_stored_blob(stored.name)
                logger.info("removed orphan file %s (%d bytes)", stored.name, stored.size)
    finally:
        bar.close()


# --- verification -------------------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """What ``verify_blobs`` found: every blob re-hashed from the storage."""

    checked: int = 0
    bytes: int = 0
    seconds: float = 0.0
    mismatched: list[str] = field(default_factory=list)  # "sha256.<hex> <name>: <what>"
    missing: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return len(self.mismatched) + len(self.missing)

    @property
    def mb_per_second(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (
            f"checked {self.checked} blob(s), {self.bytes} bytes in {self.seconds:.1f} s "
            f"({self.mb_per_second:.1f} MB/s); {len(self.mismatched)} mismatched, {len(self.missing)} missing"
        )


VERIFY_CHUNK = 4 * 1024 * 1024


def hash_stored(name: str, progress_bar: Any = None) -> tuple[str, int]:
    """SHA-256 and size of a stored blob, streamed in chunks (never whole in memory).

    Through the storage API (``storage.open``) on a filesystem and most storages; on S3 through one
    streamed GET (``S3Store.sha256_of``): django-storages' ``S3File`` would first copy the whole
    object into memory."""
    if blob_storage.is_s3():
        store = blob_storage.s3_store()
        key = store.key(name)
        size = store.size(key)
        if size is None:
            raise FileNotFoundError(name)
        sha = store.sha256_of(key, size)
        if progress_bar is not None:
            progress_bar.update(size)
        return sha, size
    digest = hashlib.sha256()
    size = 0
    with image_storage().open(name, "rb") as fh:
        while True:
            chunk = fh.read(VERIFY_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            if progress_bar is not None:
                progress_bar.update(len(chunk))
    return digest.hexdigest(), size


def verify_blobs(*, sha256: str | None = None, progress: Progress | None = None) -> VerifyReport:
    """Re-hash every stored blob (or the one with ``sha256``) and compare with its row."""
    progress = progress or _no_progress
    blobs = Blob.objects.order_by("pk")
    if sha256:
        blobs = blobs.filter(sha256=sha256.lower().removeprefix("sha256."))
    report = VerifyReport()
    started = time.monotonic()
    bar = progress(total=_total_bytes(blobs), desc="verify", unit="B", unit_scale=True)
    try:
        for blob in _iter(blobs):
            report.checked += 1
            label = f"sha256.{blob.sha256} {blob.storage_name}"
            try:
                sha, size = hash_stored(blob.storage_name, bar)
            except FileNotFoundError:
                report.missing.append(label)
                logger.error("verify: blob %s is missing", label)
                continue
            except Exception as exc:  # noqa: BLE001 - a blob that cannot be read is a problem to report, not a crash
                report.mismatched.append(f"{label}: unreadable: {exc}")
                logger.error("verify: %s", report.mismatched[-1])
                continue
            report.bytes += size
            if size != blob.size:
                report.mismatched.append(f"{label}: {size} bytes, expected {blob.size}")
            elif sha != blob.sha256:
                report.mismatched.append(f"{label}: content hashes to {sha}")
            else:
                continue
            logger.error("verify: %s", report.mismatched[-1])
    finally:
        bar.close()
    report.seconds = time.monotonic() - started
    return report


def _total_bytes(blobs: Any) -> int:
    return int(blobs.aggregate(total=Sum("size"))["total"] or 0)


def _iter(blobs: Any) -> Iterable[Blob]:
    return blobs.iterator(chunk_size=500)
