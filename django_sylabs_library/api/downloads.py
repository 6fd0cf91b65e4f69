"""Streaming an image's bytes: 200 or 206 with Range, ETag and sendfile where the server can.

The response wraps the open file in ``RangeFile``, which keeps ``fileno()``: under gunicorn,
Django hands it to ``wsgi.file_wrapper`` and gunicorn sends it with ``sendfile(2)`` from the
file's current offset for exactly ``Content-Length`` bytes. Other servers read it in chunks.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse

from ..conf import library_settings
from ..models import Blob
from ..storage import open_blob

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


def blob_response(request: HttpRequest, blob: Blob, filename: str) -> HttpResponse:
    size = blob.size
    etag = f'"{blob.sha256}"'
    common = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": "private, no-cache"}
    if_none_match = request.META.get("HTTP_IF_NONE_MATCH", "")
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        response = HttpResponse(status=304)
        for k, v in common.items():
            response[k] = v
        return response
    status, start, length = 200, 0, size
    header = request.META.get("HTTP_RANGE")
    if_range = request.META.get("HTTP_IF_RANGE")
    if header and (not if_range or if_range.strip() == etag):
        parsed = parse_range(header, size)
        if parsed is False:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            for k, v in common.items():
                response[k] = v
            return response
        if parsed:
            start, end = parsed
            status, length = 206, end - start + 1
    stored = open_blob(blob)
    fileobj = getattr(stored, "file", stored)
    response = FileResponse(RangeFile(fileobj, start, length), status=status, content_type="application/octet-stream")
    response.block_size = int(library_settings.DOWNLOAD_CHUNK_SIZE)
    response["Content-Length"] = str(length)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    for k, v in common.items():
        response[k] = v
    return response
