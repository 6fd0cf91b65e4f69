"""Handing out an image's bytes: the download modes of ``GET v1/imagefile`` (spec 5.1).

* ``stream``: 200 or 206 with Range and ETag. On a filesystem storage the response wraps the
  open file in ``RangeFile``, which keeps ``fileno()``: under gunicorn, Django hands it to
  ``wsgi.file_wrapper`` and gunicorn sends it with ``sendfile(2)`` from the file's current
  offset for exactly ``Content-Length`` bytes. With ``SENDFILE_MODE`` the front web server
  sends the file instead (``X-Accel-Redirect`` / ``X-Sendfile``). On S3 the bytes are streamed
  from one ranged GET.
* ``presigned``: 303 to a presigned GET of the object (S3 only); bytes never reach Django.
* ``proxy``: 303 to ``v2/imagefile/_download/<signed token>`` on our own host, which serves
  ranges like ``stream`` and ignores any Authorization header.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.core import signing
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

from .. import metrics
from ..conf import library_settings
from ..exceptions import Gone, NotFound
from ..models import Blob
from ..storage import blob_local_path, is_s3, open_blob, s3_store
from .exceptions import error_response

logger = logging.getLogger(__name__)

MODES = ("presigned", "proxy", "stream")
SENDFILE_MODES = (None, "x-accel-redirect", "x-sendfile")
_TOKEN_SALT = "django_sylabs_library.download"

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeFile:
    """A file positioned at ``start`` that yields at most ``length`` bytes."""

    def __init__(self, fileobj: Any, start: int, length: int) -> None:
        self._file = fileobj
        self._remaining = length
        fileobj.seek(start)

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        if size is None or size < 0 or size > self._remaining:
            size = self._remaining
        data = self._file.read(size)
        self._remaining -= len(data)
        return data

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """``(start, end)`` inclusive for one satisfiable range; None to ignore the header (serve
    the whole file, as RFC 9110 allows for syntax we do not support); False if unsatisfiable."""
    match = _RANGE_RE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        n = int(last)
        if n == 0:
            return False
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # syntactically invalid: ignore the header
    if start >= size:
        return False
    return start, min(end, size - 1)


def download_mode(request: HttpRequest) -> str:
    """The mode for this request: ``LEGACY_CLIENT_DOWNLOAD_MODE`` for the upper-case ``BEARER``
    of Apptainer 1.0/1.1 when set, else ``DOWNLOAD_MODE`` (default: presigned on S3, stream
    otherwise). ``presigned`` on a storage that cannot sign falls back to ``proxy``."""
    mode = library_settings.DOWNLOAD_MODE
    legacy = library_settings.LEGACY_CLIENT_DOWNLOAD_MODE
    if legacy and request.META.get("HTTP_AUTHORIZATION", "").startswith("BEARER "):
        mode = legacy
    s3 = is_s3()
    if not mode:
        mode = "presigned" if s3 else "stream"
    if mode == "presigned" and not s3:
        mode = "proxy"
    return mode if mode in MODES else "stream"


def redirect_response(location: str, mode: str) -> HttpResponse:
    response = HttpResponse(status=303)
    response["Location"] = location
    response["Cache-Control"] = "private, no-store"
    metrics.download(mode)
    return response


def presigned_location(blob: Blob, filename: str) -> str:
    store = s3_store()
    return store.presign_get(store.key(blob.storage_name), int(library_settings.DOWNLOAD_URL_EXPIRY_SECONDS), filename)


def proxy_token(blob: Blob, filename: str) -> str:
    """A signed, expiring capability for one blob (no database row): the path of the proxy URL."""
    return signing.dumps({"b": blob.pk, "s": blob.sha256[:16], "f": filename}, salt=_TOKEN_SALT, compress=True)


def blob_for_token(token: str) -> tuple[Blob, str]:
    try:
        value = signing.loads(token, salt=_TOKEN_SALT, max_age=int(library_settings.DOWNLOAD_URL_EXPIRY_SECONDS))
    except signing.SignatureExpired:
        raise Gone("this download URL has expired; start the download again") from None
    except signing.BadSignature:
        raise NotFound("no such download") from None
    blob = Blob.objects.filter(pk=value.get("b")).first()
    if blob is None or not blob.sha256.startswith(str(value.get("s", "-"))):
        raise NotFound("no such download")
    return blob, str(value.get("f") or f"{blob.sha256[:12]}.sif")


def _sendfile_response(blob: Blob, filename: str, common: dict[str, str]) -> HttpResponse | None:
    mode = library_settings.SENDFILE_MODE
    if not mode:
        return None
    path = blob_local_path(blob)
    if path is None:
        return None
    response = HttpResponse(content_type="application/octet-stream")
    if mode == "x-accel-redirect":
        prefix = str(library_settings.SENDFILE_URL_PREFIX).rstrip("/") + "/"
        response["X-Accel-Redirect"] = prefix + blob.storage_name.lstrip("/")
    else:
        response["X-Sendfile"] = path
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    for k, v in common.items():
        response[k] = v
    metrics.download(mode)
    return response


def blob_response(request: HttpRequest, blob: Blob, filename: str, mode: str = "stream") -> HttpResponse:
    size = blob.size
    etag = f'"{blob.sha256}"'
    common = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": "private, no-cache"}
    if_none_match = request.META.get("HTTP_IF_NONE_MATCH", "")
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        response = HttpResponse(status=304)
        for k, v in common.items():
            response[k] = v
        metrics.download("not-modified")
        return response
    sent_by_server = _sendfile_response(blob, filename, common)
    if sent_by_server is not None:
        return sent_by_server  # the web server in front honours Range itself
    status, start, length = 200, 0, size
    header = request.META.get("HTTP_RANGE")
    if_range = request.META.get("HTTP_IF_RANGE")
    if header and (not if_range or if_range.strip() == etag):
        parsed = parse_range(header, size)
        if parsed is False:
            response = error_response(416, f"range not satisfiable: the file has {size} bytes")
            response["Content-Range"] = f"bytes */{size}"
            for k, v in common.items():
                response[k] = v
            return response
        if parsed:
            start, end = parsed
            status, length = 206, end - start + 1
    chunk = int(library_settings.DOWNLOAD_CHUNK_SIZE)
    if is_s3():
        store = s3_store()
        response = StreamingHttpResponse(
            store.ranges(store.key(blob.storage_name), start, length, chunk),
            status=status,
            content_type="application/octet-stream",
        )
    else:
        stored = open_blob(blob)
        fileobj = getattr(stored, "file", stored)
        response = FileResponse(
            RangeFile(fileobj, start, length), status=status, content_type="application/octet-stream"
        )
        response.block_size = chunk
    metrics.download(mode, length)
    response["Content-Length"] = str(length)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    for k, v in common.items():
        response[k] = v
    return response
