"""An in-memory stand-in for an S3 store, strict where AWS S3 and MinIO are strict.

``FakeS3Client`` answers the boto3 calls that ``django_sylabs_library.s3.S3Store`` makes, and
``FakeS3Client.http`` plays the store's HTTP side for presigned URLs: like AWS S3 and MinIO (and unlike
SeaweedFS), it refuses a presigned request that also carries an ``Authorization`` header ("Only one auth
mechanism allowed"), which is what Apptainer 1.1 sends to any 303 target. ``install_fake_s3`` swaps it in
for the image storage of one test.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from botocore.exceptions import ClientError

from django_sylabs_library.s3 import S3Store

HOST = "s3.fake.test"
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def _error(code: str, status: int, op: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op)


class _Body(io.BytesIO):
    pass


class _Paginator:
    def __init__(self, pages: Any) -> None:
        self._pages = pages

    def paginate(self, **kwargs: Any) -> Any:
        return self._pages(**kwargs)


class FakeS3Client:
    def __init__(self, bucket: str = "images") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.modified: dict[str, datetime] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self._ids = itertools.count(1)

    # -- boto3 client API -------------------------------------------------------------------------
    def _check_bucket(self, bucket: str, op: str) -> None:
        if bucket != self.bucket:
            raise _error("NoSuchBucket", 404, op)

    def head_bucket(self, Bucket: str) -> dict[str, Any]:
        self.calls.append("HeadBucket")
        self._check_bucket(Bucket, "HeadBucket")
        return {}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.calls.append("HeadObject")
        self._check_bucket(Bucket, "HeadObject")
        if Key not in self.objects:
            raise _error("404", 404, "HeadObject")
        return {"ContentLength": len(self.objects[Key])}

    def get_object(self, Bucket: str, Key: str, Range: str | None = None) -> dict[str, Any]:
        self.calls.append("GetObject" + (" ranged" if Range else ""))
        self._check_bucket(Bucket, "GetObject")
        if Key not in self.objects:
            raise _error("NoSuchKey", 404, "GetObject")
        data = self.objects[Key]
        if Range:
            match = _RANGE.match(Range)
            assert match, Range
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else len(data) - 1
            data = data[start : end + 1]
        return {"Body": _Body(data), "ContentLength": len(data)}

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> dict[str, Any]:
        self.calls.append("PutObject")
        self._store(Key, bytes(Body))
        return {"ETag": f'"{hashlib.md5(Body).hexdigest()}"'}

    def _store(self, key: str, data: bytes) -> None:
        self.objects[key] = data
        self.modified[key] = datetime.now(timezone.utc)

    def copy_object(self, Bucket: str, Key: str, CopySource: dict[str, str]) -> dict[str, Any]:
        self.calls.append("CopyObject")
        self._store(Key, self.objects[CopySource["Key"]])
        return {}

    def delete_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.calls.append("DeleteObject")
        self.objects.pop(Key, None)
        return {}

    def create_multipart_upload(self, Bucket: str, Key: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("CreateMultipartUpload")
        upload_id = f"upload-{next(self._ids)}"
        self.uploads[upload_id] = {"Key": Key, "parts": {}, "Initiated": datetime.now(timezone.utc)}
        return {"UploadId": upload_id}

    def complete_multipart_upload(self, Bucket: str, Key: str, UploadId: str, MultipartUpload: Any) -> dict[str, Any]:
        self.calls.append("CompleteMultipartUpload")
        upload = self.uploads.get(UploadId)
        if upload is None:
            raise _error("NoSuchUpload", 404, "CompleteMultipartUpload")
        chunks = []
        for part in MultipartUpload["Parts"]:
            stored = upload["parts"].get(part["PartNumber"])
            if stored is None or f'"{hashlib.md5(stored).hexdigest()}"' != part["ETag"]:
                raise _error("InvalidPart", 400, "CompleteMultipartUpload")
            chunks.append(stored)
        self._store(Key, b"".join(chunks))
        del self.uploads[UploadId]
        return {}

    def abort_multipart_upload(self, Bucket: str, Key: str, UploadId: str) -> dict[str, Any]:
        self.calls.append("AbortMultipartUpload")
        if self.uploads.pop(UploadId, None) is None:
            raise _error("NoSuchUpload", 404, "AbortMultipartUpload")
        return {}

    def get_paginator(self, name: str) -> _Paginator:
        if name == "list_multipart_uploads":

            def pages(Bucket: str, Prefix: str = "") -> Any:
                yield {
                    "Uploads": [
                        {"Key": u["Key"], "UploadId": i, "Initiated": u["Initiated"]}
                        for i, u in self.uploads.items()
                        if u["Key"].startswith(Prefix)
                    ]
                }

            return _Paginator(pages)
        if name == "list_objects_v2":

            def pages(Bucket: str, Prefix: str = "") -> Any:
                yield {
                    "Contents": [
                        {"Key": k, "Size": len(v), "LastModified": self.modified[k]}
                        for k, v in self.objects.items()
                        if k.startswith(Prefix)
                    ]
                }

            return _Paginator(pages)
        raise NotImplementedError(name)

    def generate_presigned_url(self, op: str, Params: dict[str, Any], ExpiresIn: int, HttpMethod: str) -> str:
        query = [f"x-op={op}", f"X-Amz-Expires={ExpiresIn}", "X-Amz-Signature=fakesignature"]
        if "UploadId" in Params:
            query += [f"uploadId={Params['UploadId']}", f"partNumber={Params['PartNumber']}"]
        if "ResponseContentDisposition" in Params:
            query.append("response-content-disposition=" + quote(Params["ResponseContentDisposition"]))
        return f"http://{HOST}/{Params['Bucket']}/{quote(Params['Key'])}?" + "&".join(query)

    # -- the store's HTTP side for presigned URLs ---------------------------------------------------
    def http(self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b"") -> tuple:
        """``(status, headers, body)`` for a request to a presigned URL, as AWS S3 would answer it."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.hostname != HOST or "X-Amz-Signature" not in query:
            return 403, {}, b"AccessDenied"
        if "authorization" in headers:
            # AWS S3 / MinIO: a presigned URL plus an Authorization header is refused.
            return 400, {}, b"InvalidArgument: Only one auth mechanism allowed"
        bucket, _, key = parts.path.lstrip("/").partition("/")
        key = unquote(key)
        if bucket != self.bucket:
            return 404, {}, b"NoSuchBucket"
        if method == "PUT" and query.get("x-op") == "put_object":
            self._store(key, body)
            return 200, {"ETag": f'"{hashlib.md5(body).hexdigest()}"'}, b""
        if method == "PUT" and query.get("x-op") == "upload_part":
            upload = self.uploads.get(query["uploadId"])
            if upload is None or upload["Key"] != key:
                return 404, {}, b"NoSuchUpload"
            upload["parts"][int(query["partNumber"])] = body
            return 200, {"ETag": f'"{hashlib.md5(body).hexdigest()}"'}, b""
        if method == "GET" and query.get("x-op") == "get_object":
            data = self.objects.get(key)
            if data is None:
                return 404, {}, b"NoSuchKey"
            rng = headers.get("range")
            if rng:
                match = _RANGE.match(rng)
                start = int(match.group(1))
                end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
                return 206, {"Content-Range": f"bytes {start}-{end}/{len(data)}"}, data[start : end + 1]
            return 200, {}, data
        return 405, {}, b"MethodNotAllowed"


class _FakeStorage:
    """What S3Store reads from a django-storages S3Storage."""

    bucket_name = "images"
    endpoint_url = None

    def _normalize_name(self, name: str) -> str:
        return name


class FakeS3Store(S3Store):
    def __init__(self, client: FakeS3Client) -> None:
        super().__init__(_FakeStorage())
        self.fake = client

    @property
    def client(self) -> FakeS3Client:  # type: ignore[override]
        return self.fake

    def presign_client(self) -> FakeS3Client:
        return self.fake

    def key(self, name: str) -> str:
        return name


def install_fake_s3(monkeypatch: Any) -> FakeS3Client:
    """Make the app see an S3 storage backed by a fresh ``FakeS3Client``; return the client."""
    from django_sylabs_library import storage
    from django_sylabs_library.api import downloads
    from django_sylabs_library.flows import uploads

    client = FakeS3Client()
    store = FakeS3Store(client)
    for module in (storage, uploads, downloads):
        monkeypatch.setattr(module, "is_s3", lambda: True, raising=False)
        monkeypatch.setattr(module, "s3_store", lambda: store, raising=False)
    return client
