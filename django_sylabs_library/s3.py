"""What the app does on an S3 store beyond Django's storage API (django-storages' ``S3Storage``).

Clients upload to and download from the store directly through presigned URLs; the app only
signs URLs, drives S3's own multipart upload, and verifies what arrived:

* v2 single part: a presigned ``PUT`` of a temporary key ``<S3_UPLOAD_PREFIX><upload id>``.
* v2 multipart: ``CreateMultipartUpload`` on the temporary key, one presigned ``UploadPart`` URL
  per part, ``CompleteMultipartUpload`` with the ETags the client reports.
* ``_complete`` / ``_multipart_complete``: ``HeadObject`` (size), then a streamed SHA-256 of the
  object read back from the store (``sha256_of``; the store does not check
  ``x-amz-content-sha256`` bodies and the client sends no ``x-amz-checksum-sha256``, so reading
  the bytes back is the only check that holds on every S3 implementation), the SIF metadata
  through ranged GETs (``RangeReader``), then a server-side copy to the content-addressed key
  ``blobs/sha256/<2>/<64>`` and the deletion of the temporary object.
* Downloads: a presigned ``GET`` (honours ``Range``) or ranged GETs streamed by the app.

Signing happens with a client whose endpoint is ``S3_EXTERNAL_ENDPOINT_URL`` (what clients
reach); every other call uses the storage's own connection (``endpoint_url``, the address the
app reaches). Nothing here connects before it is first used.
"""

from __future__ import annotations

import hashlib
import io
import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

from django.core.files.storage import Storage

from .conf import library_settings

logger = logging.getLogger(__name__)

# AWS refuses CopyObject above 5 GiB; larger objects are copied part by part (UploadPartCopy).
MAX_SINGLE_COPY = 5 * 1024**3
# S3 allows at most this many parts in one multipart upload, each of at least 5 MiB (except the last).
MAX_PARTS = 10_000
MIN_PART_SIZE = 5 * 1024 * 1024
HASH_CHUNK = 1024 * 1024  # read-back for verification: at most ~6 MiB in flight (queue of 4 + 1 + 1)
# Presigned URLs of the store never live longer than this (issue 6: within 15 minutes), whatever
# the caller asks for; PRESIGNED_URL_EXPIRY_SECONDS (default 900) may shorten it further.
MAX_PRESIGNED_EXPIRY = 900


def presigned_expiry(requested: int | None = None) -> int:
    """Seconds a presigned URL is signed for: the shortest of ``requested``,
    ``PRESIGNED_URL_EXPIRY_SECONDS`` and 900 (at least 1)."""
    limit = min(int(library_settings.PRESIGNED_URL_EXPIRY_SECONDS), MAX_PRESIGNED_EXPIRY)
    if requested is not None:
        limit = min(limit, int(requested))
    return max(1, limit)


def s3_storage_class() -> type | None:
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # django-storages[s3] not installed
        return None
    return S3Storage


def is_s3_storage(storage: Storage) -> bool:
    cls = s3_storage_class()
    return cls is not None and isinstance(storage, cls)


def _client_config(storage: Any) -> Any:
    """The storage's botocore config, without checksums the store may not know (boto3 >= 1.36
    adds CRC32 to uploads by default; presigned URLs and older stores do not expect it)."""
    from botocore.config import Config

    extra = Config(request_checksum_calculation="when_required", response_checksum_validation="when_required")
    base = getattr(storage, "client_config", None)
    return base.merge(extra) if base is not None else extra


class S3Store:
    """S3 operations on the bucket of one django-storages ``S3Storage``."""

    def __init__(self, storage: Any) -> None:
        self.storage = storage
        self._client: Any = None
        self._presign: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- clients ---------------------------------------------------------------------------------
    @property
    def bucket(self) -> str:
        return self.storage.bucket_name

    def _make_client(self, endpoint_url: str | None) -> Any:
        storage = self.storage
        session = storage._create_session()
        return session.client(
            "s3",
            region_name=storage.region_name,
            use_ssl=storage.use_ssl,
            endpoint_url=endpoint_url,
            config=_client_config(storage),
            verify=storage.verify,
        )

    @property
    def client(self) -> Any:
        """boto3 client on the internal endpoint, shared by all threads (boto3 clients are thread-safe;
        one per thread would load botocore's S3 model, some MiB, in every gunicorn thread)."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client(self.storage.endpoint_url)
                client = self._client
        return client

    def presign_client(self) -> Any:
        """Client that signs URLs for the endpoint clients reach (signing makes no request)."""
        endpoint = library_settings.S3_EXTERNAL_ENDPOINT_URL or self.storage.endpoint_url or ""
        with self._lock:
            client = self._presign.get(endpoint)
            if client is None:
                client = self._presign[endpoint] = self._make_client(endpoint or None)
        return client

    def key(self, name: str) -> str:
        """The object key of a storage name (the storage's ``location`` prefix applied)."""
        from storages.utils import clean_name

        return self.storage._normalize_name(clean_name(name))

    # -- presigned URLs --------------------------------------------------------------------------
    def presign_put(self, key: str, expires: int) -> str:
        # Only the host is signed: the client then sends no x-amz-content-sha256 (spec 5.3), and
        # a stock presign with that header signed is refused by SeaweedFS (docs/deployment.md).
        return self.presign_client().generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=presigned_expiry(expires),
            HttpMethod="PUT",
        )

    def presign_part(self, key: str, upload_id: str, number: int, expires: int) -> str:
        return self.presign_client().generate_presigned_url(
            "upload_part",
            Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": int(number)},
            ExpiresIn=presigned_expiry(expires),
            HttpMethod="PUT",
        )

    def presign_get(self, key: str, expires: int, filename: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        return self.presign_client().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=presigned_expiry(expires), HttpMethod="GET"
        )

    # -- multipart -------------------------------------------------------------------------------
    def create_multipart(self, key: str) -> str:
        answer = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType="application/octet-stream"
        )
        return answer["UploadId"]

    def complete_multipart(self, key: str, upload_id: str, etags: dict[int, str]) -> None:
        parts = [{"PartNumber": n, "ETag": f'"{etags[n].strip(chr(34))}"'} for n in sorted(etags)]
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def find_multipart(self, key: str) -> str | None:
        """The UploadId of the newest open multipart upload of ``key`` (when it was not stored)."""
        found: list[tuple[Any, str]] = []
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=key):
            for upload in page.get("Uploads", []) or []:
                if upload.get("Key") == key:
                    found.append((upload.get("Initiated"), upload["UploadId"]))
        if not found:
            return None
        found.sort(key=lambda item: (item[0] is not None, item[0]))
        return found[-1][1]

    def list_multipart(self, prefix: str) -> Iterator[dict[str, Any]]:
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Uploads", []) or []

    def list_objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", []) or []

    # -- objects ---------------------------------------------------------------------------------
    def size(self, key: str) -> int | None:
        """The object's size, or None when there is no such object."""
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def copy(self, source: str, target: str, size: int) -> None:
        """Server-side copy within the bucket (no bytes through the app)."""
        src = {"Bucket": self.bucket, "Key": source}
        if size <= MAX_SINGLE_COPY:
            self.client.copy_object(Bucket=self.bucket, Key=target, CopySource=src)
            return
        from boto3.s3.transfer import TransferConfig

        chunk = max(512 * 1024 * 1024, -(-size // MAX_PARTS))
        config = TransferConfig(multipart_threshold=MAX_SINGLE_COPY, multipart_chunksize=chunk, max_concurrency=4)
        self.client.copy(src, self.bucket, target, Config=config)

    def ranges(self, key: str, start: int, length: int, chunk: int) -> Iterator[bytes]:
        """The bytes ``start .. start+length-1`` of an object, streamed in chunks of ``chunk``."""
        if length <= 0:
            return
        answer = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}")
        body = answer["Body"]
        remaining = length
        try:
            while remaining > 0:
                data = body.read(min(chunk, remaining))
                if not data:
                    break
                remaining -= len(data)
                yield data
        finally:
            body.close()
        if remaining:
            raise OSError(f"object {key} ended {remaining} bytes early")

    def sha256_of(self, key: str, size: int) -> str:
        """SHA-256 of an object, read back from the store in one streamed GET.

        A reader thread fetches the next chunks while this thread hashes (``hashlib`` and the
        socket reads both release the GIL), so the time is close to that of hashing alone. At
        most six chunks (6 MiB) are held at once.
        """
        digest = hashlib.sha256()
        chunks: queue.Queue[Any] = queue.Queue(maxsize=4)
        stop = threading.Event()

        def fetch() -> None:
            try:
                for data in self.ranges(key, 0, size, HASH_CHUNK):
                    while not stop.is_set():
                        try:
                            chunks.put(data, timeout=0.5)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                chunks.put(None)
            except BaseException as exc:  # handed to the hashing thread
                chunks.put(exc)

        reader = threading.Thread(target=fetch, name="sylabs-s3-hash", daemon=True)
        reader.start()
        received = 0
        try:
            while True:
                item = chunks.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                digest.update(item)
                received += len(item)
        finally:
            stop.set()
            reader.join(timeout=5)
        if received != size:
            raise OSError(f"read {received} of {size} bytes of {key}")
        return digest.hexdigest()

    def open_ranged(self, key: str, size: int, buffer_size: int = 64 * 1024) -> io.BufferedReader:
        """A seekable binary file over an object that reads with ranged GETs (for the SIF reader:
        it reads the header, the descriptor table and a few small objects, never the payload)."""
        return io.BufferedReader(RangeReader(self, key, size), buffer_size=buffer_size)

    def head_bucket(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


class RangeReader(io.RawIOBase):
    """Raw, seekable reads of one object: each ``readinto`` is one ranged GET."""

    def __init__(self, store: S3Store, key: str, size: int) -> None:
        super().__init__()
        self.store = store
        self.key = key
        self.size = size
        self.position = 0
        self.requests = 0
        self.bytes_fetched = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self.position + offset
        elif whence == io.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise OSError("negative seek position")
        self.position = position
        return position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.position >= self.size or not len(view):
            return 0
        end = min(self.size, self.position + len(view))
        self.requests += 1
        answer = self.store.client.get_object(
            Bucket=self.store.bucket, Key=self.key, Range=f"bytes={self.position}-{end - 1}"
        )
        body = answer["Body"]
        try:
            data = body.read(end - self.position)
        finally:
            body.close()
        count = len(data)
        view[:count] = data
        self.position += count
        self.bytes_fetched += count
        return count


def part_plan(size: int, preferred: int) -> tuple[int, int]:
    """``(part_size, total_parts)`` covering ``size`` bytes within S3's limits."""
    part = max(int(preferred), MIN_PART_SIZE)
    if _ceil_div(size, part) > MAX_PARTS:
        mib = 1024 * 1024
        part = _ceil_div(_ceil_div(size, MAX_PARTS), mib) * mib
    return part, max(1, _ceil_div(size, part))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
