"""Image bytes behind Django's storage API, content-addressed.

A blob is stored once per SHA-256 under ``blobs/sha256/<2 hex>/<64 hex>`` in the storage alias
named by ``SYLABS_LIBRARY["STORAGE_ALIAS"]``. Uploads are streamed into a temporary file first
(hashing as they go); only verified bytes become a blob. On a filesystem storage the temporary
file sits on the same filesystem and is renamed into place, never copied.

On an S3 storage (django-storages) clients upload to a temporary object through presigned
URLs; once verified, it is copied server-side to the blob key and deleted (``s3.py``,
``store_blob_from_object``). Either way a blob is stored once per SHA-256 and removed only
when no image references it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, default_storage, storages
from django.db import IntegrityError, transaction
from django.db.models import Q

from .conf import library_settings
from .exceptions import DiskFull
from .models import Blob, UploadSession

logger = logging.getLogger(__name__)


def image_storage() -> Storage:
    """The storage holding image blobs (never connects at import time)."""
    alias = library_settings.STORAGE_ALIAS
    if alias and alias in getattr(settings, "STORAGES", {}):
        return storages[alias]
    return default_storage


def is_s3() -> bool:
    """Whether images live on an S3 store (django-storages ``S3Storage`` or a subclass)."""
    from .s3 import is_s3_storage

    return is_s3_storage(image_storage())


def s3_store() -> Any:
    """The :class:`~django_sylabs_library.s3.S3Store` of the image storage (kept on it)."""
    from .s3 import S3Store

    storage = image_storage()
    store = getattr(storage, "_sylabs_s3_store", None)
    if store is None:
        store = S3Store(storage)
        storage._sylabs_s3_store = store
    return store


def upload_temp_dir() -> Path:
    """Folder for uploads in progress; created on first use."""
    configured = library_settings.UPLOAD_TEMP_DIR
    if configured:
        path = Path(configured)
    else:
        location = getattr(image_storage(), "location", None)
        fallback = Path(tempfile.gettempdir()) / "sylabs-library-uploads"
        path = Path(location) / ".uploads" if location else fallback
    path.mkdir(parents=True, exist_ok=True)
    return path


def blob_name(sha256_hex: str) -> str:
    return f"blobs/sha256/{sha256_hex[:2]}/{sha256_hex}"


class _TemporaryFile(File):
    """A finished upload on local disk; FileSystemStorage moves it instead of copying."""

    def __init__(self, path: Path) -> None:
        super().__init__(open(path, "rb"), name=path.name)  # noqa: SIM115 (closed by store_blob)
        self._path = str(path)

    def temporary_file_path(self) -> str:
        return self._path


def store_blob(temp_path: Path, sha256_hex: str, size: int) -> Blob:
    """Turn a verified temporary file into a blob (or reuse the blob with those bytes).

    The temporary file is gone afterwards in every case.
    """
    existing = Blob.objects.filter(sha256=sha256_hex).first()
    if existing is not None:
        remove_file(temp_path)
        return existing
    storage = image_storage()
    content = _TemporaryFile(temp_path)
    # The name is chosen here so that a failed save (disk full while copying across filesystems)
    # can remove its partial file; save() picks the same name unless another upload just took it.
    target = storage.get_available_name(blob_name(sha256_hex))
    try:
        saved_name = storage.save(target, content)
    except OSError as exc:
        _remove_partial(storage, target)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull() from exc
        raise
    finally:
        content.close()
        remove_file(temp_path)
    try:
        with transaction.atomic():
            blob = Blob.objects.create(sha256=sha256_hex, size=size, storage_name=saved_name)
    except IntegrityError:
        # Another upload of the same bytes won the race: keep theirs, drop ours.
        storage.delete(saved_name)
        return Blob.objects.get(sha256=sha256_hex)
    logger.info("stored blob sha256.%s (%d bytes)", sha256_hex, size)
    return blob


def store_blob_from_object(temp_key: str, sha256_hex: str, size: int) -> Blob:
    """Turn a verified temporary S3 object into a blob (or reuse the blob with those bytes).

    The object is copied server-side to the content-addressed key and the temporary object
    deleted; it is gone afterwards in every case.
    """
    store = s3_store()
    existing = Blob.objects.filter(sha256=sha256_hex).first()
    if existing is not None:
        _delete_object_quietly(store, temp_key)
        return existing
    name = blob_name(sha256_hex)
    try:
        store.copy(temp_key, store.key(name), size)
    finally:
        _delete_object_quietly(store, temp_key)
    try:
        with transaction.atomic():
            blob = Blob.objects.create(sha256=sha256_hex, size=size, storage_name=name)
    except IntegrityError:
        # Another upload of the same bytes won the race. Same key, same bytes: nothing to delete.
        return Blob.objects.get(sha256=sha256_hex)
    logger.info("stored blob sha256.%s (%d bytes) from %s", sha256_hex, size, temp_key)
    return blob


def _delete_object_quietly(store: Any, key: str) -> None:
    try:
        store.delete(key)
    except Exception:  # noqa: BLE001 - the GC command removes what is left
        logger.warning("could not delete temporary object %s; sylabs_library_gc will", key, exc_info=True)


def check_storage() -> None:
    """Raise if the image storage cannot be reached (health endpoint): a HeadBucket on S3, a
    writable folder on a filesystem storage, ``exists()`` elsewhere."""
    storage = image_storage()
    if is_s3():
        s3_store().head_bucket()
        return
    location = getattr(storage, "location", None)
    if location:
        path = Path(location)
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise OSError(f"{path} is not writable")
        return
    storage.exists("blobs")


def open_blob(blob: Blob):
    return image_storage().open(blob.storage_name, "rb")


def blob_local_path(blob: Blob) -> str | None:
    """The blob's path on local disk, when the storage has one (enables sendfile)."""
    try:
        return image_storage().path(blob.storage_name)
    except NotImplementedError:
        return None


def _remove_partial(storage: Storage, name: str) -> None:
    """Delete what a failed save left under ``name``, unless a blob row owns that name."""
    with contextlib.suppress(Exception):
        if not Blob.objects.filter(storage_name=name).exists() and storage.exists(name):
            storage.delete(name)
            logger.warning("removed the partial blob file %s of a failed save", name)


def blob_in_use(blob: Blob) -> bool:
    """Whether a blob must stay: an image references it, or an unfinished upload of the same
    bytes may still attach it (an upload that finds its bytes already stored reuses the blob, and
    a verified v2 single-part upload holds its blob until ``_complete``).

    Call it with the blob row locked (``select_for_update``) and delete in the same transaction:
    the attach path locks the same row (``flows/maintenance.py`` explains the guard)."""
    if blob.images.exists():
        return True
    unfinished = [UploadSession.State.OPEN, UploadSession.State.RECEIVING, UploadSession.State.RECEIVED]
    return UploadSession.objects.filter(Q(expected_sha256=blob.sha256) | Q(blob=blob), state__in=unfinished).exists()


def delete_stored_blob(name: str) -> None:
    """Delete a blob's bytes by storage name (its row must be gone already). Failures are logged:
    the bytes then stay as an orphan file that ``sylabs_library_gc`` removes later."""
    try:
        if is_s3():
            store = s3_store()
            store.delete(store.key(name))
        else:
            image_storage().delete(name)
    except Exception:  # noqa: BLE001 - the row is gone; the bytes stay as an orphan
        logger.warning("could not delete blob file %s; it stays as an orphan for sylabs_library_gc", name)


def delete_blob_if_unreferenced(blob_id: int) -> bool:
    """Remove a blob's bytes and row once nothing uses it (``blob_in_use``). Returns True if removed.

    The row is locked, checked and deleted in one transaction; the bytes go after the commit."""
    with transaction.atomic():
        blob = Blob.objects.select_for_update().filter(pk=blob_id).first()
        if blob is None or blob_in_use(blob):
            return False
        name = blob.storage_name
        blob.delete()
    delete_stored_blob(name)
    logger.info("removed unreferenced blob sha256.%s", blob.sha256)
    return True


def remove_file(path: Path | str) -> None:
    """Delete a local file if it is there."""
    Path(path).unlink(missing_ok=True)
