"""Receiving image bytes: v1 request bodies, v2 single-part PUTs and v2 multipart uploads.

Bytes are streamed from the request in chunks into a temporary file, hashed as they arrive;
nothing is ever read whole into memory. An image counts as uploaded only after its size and
SHA-256 are verified (at ``_complete`` / ``_multipart_complete`` for v2, at once for v1). Any
failure leaves the image ``uploaded: false``, moves no tag, removes the temporary file, and a
new ``POST v2/imagefile/<id>`` starts afresh. Upload URLs we issue carry their own one-time
secret (the client sends no token on them, spec 5.3); only the secret's SHA-256 is stored.

On an S3 storage the v2 upload URLs are presigned URLs of the store instead, and multipart
uploads are S3's own (``s3.py``): the bytes never pass through Django. The temporary object's
key is kept in ``UploadSession.temp_name`` (for multipart followed by a tab and S3's UploadId
when it fits). ``_complete`` / ``_multipart_complete`` then check the size with HeadObject and
hash the object read back from the store before the image counts as uploaded.

Bodies that do pass through Django are read with ``bodyreader.request_body`` (straight from
gunicorn's socket into large buffers, hashing and writing in a second thread).

JSON bodies reach these functions with lower-cased keys (``api.parsing.read_json``), since the
Go client's decoder matches keys case-insensitively and so must we.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import metrics, permissions
from ..conf import library_settings
from ..exceptions import (
    ContainerReadOnly,
    DiskFull,
    Gone,
    InvalidInput,
    LibraryError,
    NotFound,
    PayloadTooLarge,
    StorageUnavailable,
)
from ..models import Image, UploadPart, UploadSession, hash_secret
from ..refs import HEX32_RE, HEX64_RE
from ..s3 import part_plan
from ..storage import (
    delete_blob_if_unreferenced,
    is_s3,
    remove_file,
    s3_store,
    store_blob,
    store_blob_from_object,
    upload_temp_dir,
)
from . import quotas
from .images import mark_uploaded
from .metadata import inspect_file, inspect_fileobj

logger = logging.getLogger(__name__)

State = UploadSession.State
Reader = Callable[[int], bytes]


class IncompleteUpload(InvalidInput):
    """The body ended before its announced length (client gone or connection cut)."""


@dataclass
class Received:
    sha256: str
    size: int


def _check_size(size: Any, what: str = "filesize") -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise InvalidInput(f"{what} must be an integer number of bytes")
    if size < 0:
        raise InvalidInput(f"{what} must not be negative")
    if size >= 2**63:
        raise InvalidInput(f"{what} is too large")
    limit = library_settings.MAX_IMAGE_SIZE
    if limit is not None and size > limit:
        raise PayloadTooLarge(f"image of {size} bytes exceeds this library's limit of {limit} bytes")
    return size


def _writable_image(user: Any, image: Image) -> None:
    permissions.require_push(user, image.container.collection)
    if image.container.read_only:
        raise ContainerReadOnly()


def _expiry() -> Any:
    return timezone.now() + timedelta(seconds=int(library_settings.UPLOAD_URL_EXPIRY_SECONDS))


def _temp_path(name: str) -> Path:
    return upload_temp_dir() / name


def _os_error(exc: OSError) -> LibraryError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull()
    return IncompleteUpload(f"upload interrupted: {exc.strerror or exc}")


def _stream(read: Reader, length: int, write: Callable[[bytes], Any], hashing: bool = True) -> Received:
    """Copy exactly ``length`` bytes from ``read`` to ``write``, hashing on the way (unless told not to:
    ``Received.sha256`` is then empty)."""
    digest = hashlib.sha256() if hashing else None
    chunk_size = int(library_settings.UPLOAD_CHUNK_SIZE)
    remaining = length
    while remaining > 0:
        try:
            chunk = read(min(chunk_size, remaining))
        except OSError as exc:  # client disconnected mid-body
            raise IncompleteUpload(f"upload interrupted after {length - remaining} bytes") from exc
        if not chunk:
            break
        if digest is not None:
            digest.update(chunk)
        write(chunk)
        remaining -= len(chunk)
    if remaining:
        raise IncompleteUpload(f"upload incomplete: received {length - remaining} of {length} bytes")
    return Received(digest.hexdigest() if digest is not None else "", length)


class _SinkError(Exception):
    """Writing the received bytes failed (disk full...), as opposed to the client going away."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(str(exc))
        self.os_error = exc


def _receive(read: Reader, length: int, write: Callable[[memoryview | bytes], Any], hashing: bool = True) -> Received:
    """``_stream`` or, when ``read`` can pump the socket directly, the pipeline (receive | hash | write)."""
    if not getattr(read, "can_pump", False):
        received = _stream(read, length, write, hashing)
        metrics.upload_bytes("app", length)
        return received
    digest = hashlib.sha256() if hashing else None

    def store(view: memoryview) -> None:
        try:
            write(view)
        except OSError as exc:
            raise _SinkError(exc) from exc

    try:
        consumers = [digest.update, store] if digest is not None else [store]
        count = read.pump(length, consumers)  # type: ignore[attr-defined]
    except _SinkError as exc:
        raise exc.os_error from exc
    except OSError as exc:
        raise IncompleteUpload(f"upload interrupted: {exc.strerror or exc}") from exc
    if count != length:
        raise IncompleteUpload(f"upload incomplete: received {count} of {length} bytes")
    metrics.upload_bytes("app", length)
    return Received(digest.hexdigest() if digest is not None else "", length)


def _write_all(fd: int, view: memoryview | bytes, position: int | None = None) -> int:
    view = memoryview(view)
    written = 0
    while written < len(view):
        if position is None:
            written += os.write(fd, view[written:])
        else:
            written += os.pwrite(fd, view[written:], position + written)
    return written


def _receive_to_file(read: Reader, length: int, path: Path) -> Received:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            return _receive(read, length, lambda chunk: _write_all(fd, chunk))
        finally:
            os.close(fd)
    except OSError as exc:
        remove_file(path)
        raise _os_error(exc) from exc
    except BaseException:
        remove_file(path)
        raise


def _verify(received: Received, size: int, sha256_hex: str, what: str = "upload") -> None:
    if received.size != size:
        raise InvalidInput(f"{what} size {received.size} does not match the expected {size} bytes")
    if received.sha256 != sha256_hex:
        raise InvalidInput(f"{what} SHA-256 {received.sha256} does not match the expected {sha256_hex}")


def _removed_meanwhile() -> Gone:
    """The temporary file vanished while it was being received: garbage collection took the upload for
    abandoned (``sylabs_library_gc --grace`` shorter than the client's pause). The client must push again."""
    return Gone("this upload was abandoned and cleaned up by the server while it was received; push again")


def _finish_blob(image: Image, path: Path, received: Received) -> Image:
    quotas.check_image(image, received.size)  # the size is now certain; refused before it is stored
    try:
        metadata = inspect_file(path)
        blob = store_blob(path, received.sha256, received.size)
    except FileNotFoundError:
        raise _removed_meanwhile() from None
    return mark_uploaded(image, blob, metadata)


def upload_summary(image: Image) -> dict[str, Any]:
    """What ``_complete`` answers: quota of the entity and where the container lives."""
    entity = image.container.collection.entity
    from ..web.links import container_url_for_client  # the container page, when the web pages are mounted

    return {
        "quota": quotas.summary(entity),
        "containerUrl": container_url_for_client(image.container),
    }


# --- v1: the body of POST v1/imagefile/<id> -------------------------------------------------


def receive_legacy(user: Any, image: Image, read: Reader, content_length: int | None) -> Image:
    _writable_image(user, image)
    if content_length is None:
        raise InvalidInput("Content-Length is required for uploads")
    _check_size(content_length, "Content-Length")
    quotas.check_image(image, content_length)
    session = UploadSession.objects.create(
        image=image,
        kind=UploadSession.Kind.LEGACY,
        state=State.RECEIVING,
        expected_size=content_length,
        expected_sha256=image.sha256_hex,
        created_by=user,
        expires_at=_expiry(),
    )
    path = _temp_path(f"{session.upload_id}.upload")
    UploadSession.objects.filter(pk=session.pk).update(temp_name=path.name)
    try:
        received = _receive_to_file(read, content_length, path)
        _verify(received, content_length, image.sha256_hex)
        image = _finish_blob(image, path, received)
    except LibraryError as exc:
        _fail(session, path, exc)
        raise
    UploadSession.objects.filter(pk=session.pk).update(state=State.COMPLETED)
    return image


def _fail(session: UploadSession, path: Path | None, exc: Exception) -> None:
    if path is not None:
        remove_file(path)
    UploadSession.objects.filter(pk=session.pk).update(state=State.FAILED, error=str(exc)[:500])
    metrics.upload_failed("filesystem")
    logger.warning("upload %s of image %s failed: %s", session.upload_id, session.image_id, exc)


# --- v2 single part ---------------------------------------------------------------------------


@dataclass
class UploadTarget:
    """Where the client PUTs: a presigned URL of the store, or the secret of our own URL."""

    url: str | None = None
    secret: str | None = None


def start_single(user: Any, image: Image, data: dict[str, Any]) -> UploadTarget:
    """POST v2/imagefile/<id>: a presigned PUT URL (S3) or the one-time secret of our own."""
    _writable_image(user, image)
    size = _check_size(data.get("filesize"))
    quotas.check_image(image, size)
    sha = data.get("sha256sum")
    if sha not in (None, ""):
        if not isinstance(sha, str) or not HEX64_RE.fullmatch(sha.lower()):
            raise InvalidInput("sha256sum must be 64 hex digits")
        if sha.lower() != image.sha256_hex:
            raise InvalidInput("sha256sum does not match the image hash")
    md5 = data.get("md5sum")
    if md5 not in (None, "") and (not isinstance(md5, str) or not HEX32_RE.fullmatch(md5.lower())):
        raise InvalidInput("md5sum must be 32 hex digits")
    if is_s3():
        session = UploadSession.objects.create(
            image=image,
            kind=UploadSession.Kind.SINGLE,
            expected_size=size,
            expected_sha256=image.sha256_hex,
            created_by=user,
            expires_at=_expiry(),
        )
        store = s3_store()
        key = store.key(_s3_temp_name(session))
        UploadSession.objects.filter(pk=session.pk).update(temp_name=key)
        with _store_errors():
            url = store.presign_put(key, int(library_settings.UPLOAD_URL_EXPIRY_SECONDS))
        return UploadTarget(url=url)
    secret = secrets.token_urlsafe(32)
    UploadSession.objects.create(
        image=image,
        kind=UploadSession.Kind.SINGLE,
        secret_hash=hash_secret(secret),
        expected_size=size,
        expected_sha256=image.sha256_hex,
        created_by=user,
        expires_at=_expiry(),
    )
    return UploadTarget(secret=secret)


# --- S3 helpers -------------------------------------------------------------------------------


def _s3_temp_name(session: UploadSession) -> str:
    return f"{library_settings.S3_UPLOAD_PREFIX}{session.upload_id}"


def _s3_key_and_upload_id(session: UploadSession) -> tuple[str, str | None]:
    key, _, upload_id = session.temp_name.partition("\t")
    return key, (upload_id or None)


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    """boto3/botocore failures become a 503 the client can show (the store is down, or refuses
    our credentials); the details go to the log."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - only reached with an S3 storage, which needs boto3
        yield
        return
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        logger.error("object store request failed: %s", exc)
        raise StorageUnavailable() from exc


def _verify_object(session: UploadSession, key: str) -> tuple[Any, dict[str, Any]]:
    """Size (HeadObject), SHA-256 (read back from the store), SIF metadata (ranged GETs) of an
    uploaded temporary object; on success it becomes a blob. Returns ``(blob, metadata)``."""
    store = s3_store()
    started = time.monotonic()
    with _store_errors():
        size = store.size(key)
        if size is None:
            raise InvalidInput("no upload arrived: PUT the file to the upload URL first")
        if size != session.expected_size:
            raise InvalidInput(f"upload size {size} does not match the expected {session.expected_size} bytes")
        quotas.check_image(session.image, size)  # certain now; the object is deleted if refused
        try:
            sha = store.sha256_of(key, size)
        except OSError as exc:
            raise StorageUnavailable(f"reading the upload back from the store failed: {exc}") from exc
        hashed = time.monotonic()
        _verify(Received(sha, size), session.expected_size, session.expected_sha256)
        with store.open_ranged(key, size) as fileobj:
            metadata = inspect_fileobj(fileobj)
        inspected = time.monotonic()
        blob = store_blob_from_object(key, sha, size)
    done = time.monotonic()
    metrics.upload_verified("s3", size, done - started)
    logger.info(
        "upload %s verified on the store: %d bytes, read back and hashed in %.2f s, SIF metadata %.2f s, "
        "stored as blob in %.2f s",
        session.upload_id,
        size,
        hashed - started,
        inspected - hashed,
        done - inspected,
    )
    return blob, metadata


def _fail_object(session: UploadSession, exc: Exception) -> None:
    key, upload_id = _s3_key_and_upload_id(session)
    store = s3_store()
    with contextlib.suppress(Exception):
        if upload_id:
            store.abort_multipart(key, upload_id)
    with contextlib.suppress(Exception):
        store.delete(key)
    UploadSession.objects.filter(pk=session.pk).update(state=State.FAILED, error=str(exc)[:500])
    metrics.upload_failed("s3")
    logger.warning("upload %s of image %s failed: %s", session.upload_id, session.image_id, exc)


def _complete_single_s3(user: Any, image: Image) -> Image:
    session = (
        UploadSession.objects.filter(image=image, kind=UploadSession.Kind.SINGLE, state=State.OPEN)
        .exclude(temp_name="")
        .order_by("-created_at")
        .first()
    )
    if session is None:
        if image.uploaded:
            return image
        raise InvalidInput("no upload for this image: PUT the file to the upload URL first")
    if UploadSession.objects.filter(pk=session.pk, state=State.OPEN).update(state=State.RECEIVING) != 1:
        raise Gone("upload is already being completed")
    try:
        blob, metadata = _verify_object(session, session.temp_name)
        image = mark_uploaded(image, blob, metadata)
    except LibraryError as exc:
        _fail_object(session, exc)
        raise
    UploadSession.objects.filter(pk=session.pk).update(state=State.COMPLETED, blob=blob, sif_metadata=metadata)
    return image


def _claim(model: type, secret: str, **extra: Any) -> Any:
    """Atomically move an upload target from open to receiving: one PUT per URL, ever."""
    if not isinstance(secret, str) or len(secret) > 200:
        raise Gone()
    digest = hash_secret(secret)
    claimed = model.objects.filter(secret_hash=digest, state=State.OPEN, **extra).update(state=State.RECEIVING)
    if claimed != 1:
        raise Gone()
    return model.objects.get(secret_hash=digest)


def receive_single(secret: str, read: Reader, content_length: int | None) -> UploadSession:
    """PUT <uploadURL>: store and verify the bytes; the image is marked uploaded at _complete."""
    session = _claim(UploadSession, secret, expires_at__gt=timezone.now())
    path = _temp_path(f"{session.upload_id}.upload")
    try:
        if content_length is None:
            raise InvalidInput("Content-Length is required for uploads")
        if content_length != session.expected_size:
            raise InvalidInput(
                f"Content-Length {content_length} does not match the announced filesize {session.expected_size}"
            )
        received = _receive_to_file(read, content_length, path)
        _verify(received, session.expected_size, session.expected_sha256)
        try:
            metadata = inspect_file(path)
            blob = store_blob(path, received.sha256, received.size)
        except FileNotFoundError:
            raise _removed_meanwhile() from None
    except LibraryError as exc:
        _fail(session, path, exc)
        raise
    session.blob = blob
    session.state = State.RECEIVED
    session.sif_metadata = metadata
    session.save(update_fields=["blob", "state", "sif_metadata", "updated_at"])
    return session


def complete_single(user: Any, image: Image) -> Image:
    """PUT v2/imagefile/<id>/_complete."""
    _writable_image(user, image)
    if is_s3():
        return _complete_single_s3(user, image)
    session = (
        UploadSession.objects.filter(image=image, kind=UploadSession.Kind.SINGLE, state=State.RECEIVED)
        .select_related("blob")
        .order_by("-created_at")
        .first()
    )
    if session is None or session.blob is None:
        if image.uploaded:
            return image
        raise InvalidInput("no verified upload for this image: PUT the file to the upload URL first")
    try:
        quotas.check_image(image, session.blob.size)
    except LibraryError as exc:
        _fail(session, None, exc)
        if not UploadSession.objects.filter(blob=session.blob, state=State.RECEIVED).exists():
            delete_blob_if_unreferenced(session.blob_id)
        raise
    image = mark_uploaded(image, session.blob, session.sif_metadata)
    UploadSession.objects.filter(pk=session.pk).update(state=State.COMPLETED)
    return image


# --- v2 multipart -----------------------------------------------------------------------------


def start_multipart(user: Any, image: Image, data: dict[str, Any]) -> UploadSession:
    _writable_image(user, image)
    size = _check_size(data.get("filesize"))
    if size <= 0:
        raise InvalidInput("filesize must be positive for a multipart upload")
    quotas.check_image(image, size)
    part_size, total = part_plan(size, int(library_settings.MULTIPART_PART_SIZE))
    session = UploadSession.objects.create(
        image=image,
        kind=UploadSession.Kind.MULTIPART,
        expected_size=size,
        expected_sha256=image.sha256_hex,
        part_size=part_size,
        total_parts=total,
        created_by=user,
        expires_at=_expiry(),
    )
    if is_s3():
        store = s3_store()
        key = store.key(_s3_temp_name(session))
        session.temp_name = key
        session.save(update_fields=["temp_name"])
        with _store_errors():
            upload_id = store.create_multipart(key)
        # S3's UploadId is kept after a tab when it fits the field; otherwise it is looked up
        # again by key (ListMultipartUploads) when needed.
        combined = f"{key}\t{upload_id}"
        if len(combined) <= UploadSession._meta.get_field("temp_name").max_length:
            session.temp_name = combined
            session.save(update_fields=["temp_name"])
        return session
    path = _temp_path(f"{session.upload_id}.upload")
    try:
        with open(path, "wb"):
            pass
    except OSError as exc:
        raise _os_error(exc) from exc
    session.temp_name = path.name
    session.save(update_fields=["temp_name"])
    return session


def multipart_options() -> dict[str, str]:
    """``options`` of the start answer: ``s3compliant: "false"`` on every storage.

    With it the client neither hashes each part (a third pass over the file on the user's
    machine, after its MD5/SHA-256 pass) nor sends ``x-amz-content-sha256``, a header that
    stores such as SeaweedFS never check against the body, and that AWS would refuse unsigned
    on a presigned URL. The whole file's SHA-256, which is what the image hash names, is
    verified at ``_multipart_complete`` on every storage. (Our own part URLs still check a
    part's ``sha256sum`` when a client sends one.)"""
    return {"s3compliant": "false"}


def _s3_upload_id(session: UploadSession) -> str:
    key, upload_id = _s3_key_and_upload_id(session)
    if upload_id:
        return upload_id
    with _store_errors():
        found = s3_store().find_multipart(key)
    if not found:
        raise Gone("upload was aborted")
    return found


def _open_session(image: Image, upload_id: Any) -> UploadSession:
    if not isinstance(upload_id, str) or not upload_id:
        raise InvalidInput("uploadID is required")
    session = UploadSession.objects.filter(
        image=image, upload_id=upload_id[:64], kind=UploadSession.Kind.MULTIPART
    ).first()
    if session is None:
        raise NotFound("upload not found")
    if session.state != State.OPEN:
        raise Gone(f"upload {upload_id[:64]} is {session.get_state_display()}")
    if session.expires_at <= timezone.now():
        raise Gone("upload has expired; start the push again")
    return session


def start_part(user: Any, image: Image, data: dict[str, Any]) -> UploadTarget:
    """PUT v2/imagefile/<id>/_multipart: a one-time URL for one part (presigned on S3)."""
    _writable_image(user, image)
    session = _open_session(image, data.get("uploadid"))
    number = data.get("partnumber")
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= session.total_parts:
        raise InvalidInput(f"partNumber must be between 1 and {session.total_parts}")
    expected = min(session.part_size, session.expected_size - (number - 1) * session.part_size)
    size = data.get("partsize")
    if size != expected:
        raise InvalidInput(f"partSize of part {number} must be {expected}")
    sha = data.get("sha256sum") or ""
    if not isinstance(sha, str) or (sha and not HEX64_RE.fullmatch(sha.lower())):
        raise InvalidInput("sha256sum must be 64 hex digits or empty")
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        UploadPart.objects.filter(session=session, number=number).delete()
        UploadPart.objects.create(
            session=session,
            number=number,
            size=expected,
            sha256=sha.lower(),
            secret_hash=hash_secret(secret),
        )
    if is_s3():
        key, _ = _s3_key_and_upload_id(session)
        upload_id = _s3_upload_id(session)
        with _store_errors():
            url = s3_store().presign_part(key, upload_id, number, int(library_settings.UPLOAD_URL_EXPIRY_SECONDS))
        return UploadTarget(url=url)
    return UploadTarget(secret=secret)


def receive_part(secret: str, read: Reader, content_length: int | None) -> UploadPart:
    """PUT <presignedURL>: write one part at its offset in the session's file, verified."""
    part = _claim(UploadPart, secret)
    session = part.session
    if session.state != State.OPEN or session.expires_at <= timezone.now():
        UploadPart.objects.filter(pk=part.pk).update(state=State.FAILED)
        raise Gone()
    try:
        if content_length != part.size:
            raise InvalidInput(f"Content-Length must be {part.size} for part {part.number}")
        offset = (part.number - 1) * session.part_size
        path = _temp_path(session.temp_name)
        try:
            fd = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            raise Gone("upload was aborted") from None
        position = offset

        def write(chunk: memoryview | bytes) -> None:
            nonlocal position
            position += _write_all(fd, chunk, position)

        try:
            # A part is hashed only to check the sha256sum its client sent; without one (s3compliant
            # "false"), the whole file's hash at _multipart_complete is the one check, and hashing each part
            # as well would double the server's largest cost.
            received = _receive(read, part.size, write, hashing=bool(part.sha256))
        except OSError as exc:
            error = _os_error(exc)
            if isinstance(error, DiskFull):
                # The partial file would keep the disk full for every other upload: this upload is over
                # (its file deleted, the session failed); the client pushes again once there is space.
                _fail(session, path, error)
            raise error from exc
        finally:
            os.close(fd)
        if part.sha256 and received.sha256 != part.sha256:
            raise InvalidInput(f"part {part.number} SHA-256 does not match its sha256sum")
    except LibraryError as exc:
        UploadPart.objects.filter(pk=part.pk).update(state=State.FAILED)
        logger.warning("part %d of upload %s failed: %s", part.number, session.upload_id, exc)
        raise
    part.etag = f'"{received.sha256 or secrets.token_hex(16)}"'
    part.state = State.RECEIVED
    part.save(update_fields=["etag", "state", "updated_at"])
    return part


def complete_multipart(user: Any, image: Image, data: dict[str, Any]) -> Image:
    """PUT .../_multipart_complete: check every part, hash the assembled file, store it."""
    _writable_image(user, image)
    session = _open_session(image, data.get("uploadid"))
    completed = data.get("completedparts")
    if not isinstance(completed, list):
        raise InvalidInput("completedParts must be a list")
    tokens: dict[int, str] = {}
    for item in completed:
        if not isinstance(item, dict):
            raise InvalidInput("completedParts entries must be objects")
        number, token = item.get("partnumber"), item.get("token")
        if isinstance(number, bool) or not isinstance(number, int) or not isinstance(token, str):
            raise InvalidInput("completedParts entries need partNumber and token")
        tokens[number] = token.strip('"')
    if sorted(tokens) != list(range(1, session.total_parts + 1)):
        raise InvalidInput(f"completedParts must list parts 1 to {session.total_parts}")
    if is_s3():
        return _complete_multipart_s3(image, session, tokens)
    parts = {p.number: p for p in session.parts.filter(state=State.RECEIVED)}
    for number, token in tokens.items():
        part = parts.get(number)
        if part is None:
            raise InvalidInput(f"part {number} was not uploaded")
        if part.etag.strip('"') != token:
            raise InvalidInput(f"part {number} token does not match its ETag")
    claimed = UploadSession.objects.filter(pk=session.pk, state=State.OPEN).update(state=State.RECEIVING)
    if claimed != 1:
        raise Gone("upload is already being completed")
    path = _temp_path(session.temp_name)
    try:
        try:
            with open(path, "rb") as assembled:
                assembled.seek(0, os.SEEK_END)
                if assembled.tell() != session.expected_size:
                    raise InvalidInput(
                        f"assembled upload has {assembled.tell()} bytes, expected {session.expected_size}"
                    )
                assembled.seek(0)
                received = _stream(assembled.read, session.expected_size, lambda chunk: None)
        except OSError as exc:
            raise _os_error(exc) from exc
        _verify(received, session.expected_size, image.sha256_hex, "assembled upload")
        image = _finish_blob(image, path, received)
    except LibraryError as exc:
        _fail(session, path, exc)
        raise
    UploadSession.objects.filter(pk=session.pk).update(state=State.COMPLETED)
    return image


def _complete_multipart_s3(image: Image, session: UploadSession, tokens: dict[int, str]) -> Image:
    """S3 assembles the parts (checking each ETag the client reported); then the whole object
    is verified like a single-part upload."""
    upload_id = _s3_upload_id(session)
    if UploadSession.objects.filter(pk=session.pk, state=State.OPEN).update(state=State.RECEIVING) != 1:
        raise Gone("upload is already being completed")
    key, _ = _s3_key_and_upload_id(session)
    try:
        try:
            s3_store().complete_multipart(key, upload_id, tokens)
        except Exception as exc:
            from botocore.exceptions import ClientError

            if isinstance(exc, ClientError):
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "NoSuchUpload"):
                    raise InvalidInput(f"the store refused to assemble the parts: {code}") from exc
            with _store_errors():
                raise
        blob, metadata = _verify_object(session, key)
        image = mark_uploaded(image, blob, metadata)
    except LibraryError as exc:
        _fail_object(session, exc)
        raise
    UploadSession.objects.filter(pk=session.pk).update(state=State.COMPLETED, blob=blob)
    return image


def abort_multipart(user: Any, image: Image, data: dict[str, Any]) -> None:
    _writable_image(user, image)
    upload_id = data.get("uploadid")
    if not isinstance(upload_id, str) or not upload_id:
        raise InvalidInput("uploadID is required")
    session = UploadSession.objects.filter(
        image=image, upload_id=upload_id[:64], kind=UploadSession.Kind.MULTIPART
    ).first()
    if session is None:
        raise NotFound("upload not found")
    if session.state in (State.OPEN, State.FAILED):
        UploadSession.objects.filter(pk=session.pk).update(state=State.ABORTED)
        _discard_temp(session)
        logger.info("multipart upload %s aborted", session.upload_id)


def _discard_temp(session: UploadSession) -> None:
    """Remove what an upload left in the store or on disk (S3 multipart: abort it)."""
    if not session.temp_name:
        return
    if session.kind != UploadSession.Kind.LEGACY and is_s3():
        key, upload_id = _s3_key_and_upload_id(session)
        store = s3_store()
        if session.kind == UploadSession.Kind.MULTIPART:
            with contextlib.suppress(Exception):
                store.abort_multipart(key, upload_id or store.find_multipart(key) or "")
        with contextlib.suppress(Exception):
            store.delete(key)
        return
    remove_file(_temp_path(session.temp_name))


# --- abandoned uploads (the GC command) -------------------------------------------------------


@dataclass
class CleanupReport:
    sessions: list[str]
    s3_multipart_aborted: list[str]
    objects_deleted: list[str]
    files_deleted: list[str]

    def total(self) -> int:
        return len(self.sessions) + len(self.s3_multipart_aborted) + len(self.objects_deleted) + len(self.files_deleted)


def cleanup_abandoned_uploads(*, dry_run: bool = False, now: Any = None) -> CleanupReport:
    """Abandoned uploads and stray temporary files/objects, with the default grace: the upload part of
    ``sylabs_library_gc`` (``flows.maintenance.clean_uploads``, which documents the rules). Blobs are not
    touched here."""
    from .maintenance import clean_uploads

    report = clean_uploads(dry_run=dry_run, now=now)
    return CleanupReport(report.sessions, report.multipart_uploads, report.temp_objects, report.temp_files)
