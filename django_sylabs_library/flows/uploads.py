"""Receiving image bytes: v1 request bodies, v2 single-part PUTs and v2 multipart uploads.

Bytes are streamed from the request in chunks into a temporary file, hashed as they arrive;
nothing is ever read whole into memory. An image counts as uploaded only after its size and
SHA-256 are verified (at ``_complete`` / ``_multipart_complete`` for v2, at once for v1). Any
failure leaves the image ``uploaded: false``, moves no tag, removes the temporary file, and a
new ``POST v2/imagefile/<id>`` starts afresh. Upload URLs we issue carry their own one-time
secret (the client sends no token on them, spec 5.3); only the secret's SHA-256 is stored.

JSON bodies reach these functions with lower-cased keys (``api.parsing.read_json``), since the
Go client's decoder matches keys case-insensitively and so must we.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from .. import permissions
from ..conf import library_settings
from ..exceptions import (
    ContainerReadOnly,
    Gone,
    InsufficientStorage,
    InvalidInput,
    LibraryError,
    NotFound,
    PayloadTooLarge,
)
from ..models import Image, UploadPart, UploadSession, hash_secret
from ..refs import HEX64_RE
from ..storage import remove_file, store_blob, upload_temp_dir
from .images import mark_uploaded
from .metadata import inspect_file

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
        return InsufficientStorage()
    return IncompleteUpload(f"upload interrupted: {exc.strerror or exc}")


def _stream(read: Reader, length: int, write: Callable[[bytes], Any]) -> Received:
    """Copy exactly ``length`` bytes from ``read`` to ``write``, hashing on the way."""
    digest = hashlib.sha256()
    chunk_size = int(library_settings.UPLOAD_CHUNK_SIZE)
    remaining = length
    while remaining > 0:
        try:
            chunk = read(min(chunk_size, remaining))
        except OSError as exc:  # client disconnected mid-body
            raise IncompleteUpload(f"upload interrupted after {length - remaining} bytes") from exc
        if not chunk:
            break
        digest.update(chunk)
        write(chunk)
        remaining -= len(chunk)
    if remaining:
        raise IncompleteUpload(f"upload incomplete: received {length - remaining} of {length} bytes")
    return Received(digest.hexdigest(), length)


def _receive_to_file(read: Reader, length: int, path: Path) -> Received:
    try:
        with open(path, "wb") as out:
            return _stream(read, length, out.write)
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


def _finish_blob(image: Image, path: Path, received: Received) -> Image:
    metadata = inspect_file(path)
    blob = store_blob(path, received.sha256, received.size)
    return mark_uploaded(image, blob, metadata)


def upload_summary(image: Image) -> dict[str, Any]:
    """What ``_complete`` answers: quota of the entity and where the container lives."""
    entity = image.container.collection.entity
    usage = (
        Image.objects.filter(container__collection__entity=entity, uploaded=True).aggregate(total=Sum("size"))["total"]
        or 0
    )
    return {"quota": {"quotaTotal": entity.quota, "quotaUsage": usage}, "containerUrl": ""}


# --- v1: the body of POST v1/imagefile/<id> -------------------------------------------------


def receive_legacy(user: Any, image: Image, read: Reader, content_length: int | None) -> Image:
    _writable_image(user, image)
    if content_length is None:
        raise InvalidInput("Content-Length is required for uploads")
    _check_size(content_length, "Content-Length")
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
    logger.warning("upload %s of image %s failed: %s", session.upload_id, session.image_id, exc)


# --- v2 single part ---------------------------------------------------------------------------


def start_single(user: Any, image: Image, data: dict[str, Any]) -> str:
    """POST v2/imagefile/<id>: returns the one-time secret for the upload URL."""
    _writable_image(user, image)
    size = _check_size(data.get("filesize"))
    sha = data.get("sha256sum")
    if sha not in (None, ""):
        if not isinstance(sha, str) or not HEX64_RE.match(sha.lower()):
            raise InvalidInput("sha256sum must be 64 hex digits")
        if sha.lower() != image.sha256_hex:
            raise InvalidInput("sha256sum does not match the image hash")
    md5 = data.get("md5sum")
    if md5 not in (None, "") and not isinstance(md5, str):
        raise InvalidInput("md5sum must be a string")
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
    return secret


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
        metadata = inspect_file(path)
        blob = store_blob(path, received.sha256, received.size)
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
    image = mark_uploaded(image, session.blob, session.sif_metadata)
    UploadSession.objects.filter(pk=session.pk).update(state=State.COMPLETED)
    return image


# --- v2 multipart -----------------------------------------------------------------------------


def start_multipart(user: Any, image: Image, data: dict[str, Any]) -> UploadSession:
    _writable_image(user, image)
    size = _check_size(data.get("filesize"))
    if size <= 0:
        raise InvalidInput("filesize must be positive for a multipart upload")
    part_size = int(library_settings.MULTIPART_PART_SIZE)
    total = -(-size // part_size)
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
    path = _temp_path(f"{session.upload_id}.upload")
    try:
        with open(path, "wb"):
            pass
    except OSError as exc:
        raise _os_error(exc) from exc
    session.temp_name = path.name
    session.save(update_fields=["temp_name"])
    return session


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


def start_part(user: Any, image: Image, data: dict[str, Any]) -> str:
    """PUT v2/imagefile/<id>/_multipart: a one-time URL for one part."""
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
    if not isinstance(sha, str) or (sha and not HEX64_RE.match(sha.lower())):
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
    return secret


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

        def write(chunk: bytes) -> None:
            nonlocal position
            view = memoryview(chunk)
            while view:
                written = os.pwrite(fd, view, position)
                position += written
                view = view[written:]

        try:
            received = _stream(read, part.size, write)
        except OSError as exc:
            raise _os_error(exc) from exc
        finally:
            os.close(fd)
        if part.sha256 and received.sha256 != part.sha256:
            raise InvalidInput(f"part {part.number} SHA-256 does not match its sha256sum")
    except LibraryError as exc:
        UploadPart.objects.filter(pk=part.pk).update(state=State.FAILED)
        logger.warning("part %d of upload %s failed: %s", part.number, session.upload_id, exc)
        raise
    part.etag = f'"{received.sha256}"'
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
        if session.temp_name:
            remove_file(_temp_path(session.temp_name))
        logger.info("multipart upload %s aborted", session.upload_id)
