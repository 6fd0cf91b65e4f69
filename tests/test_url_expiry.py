"""Upload and download URLs: presigned store URLs expire within 15 minutes (s3.py, check E020); the
app's own upload URLs are single-use and expire; a finished upload session refuses further parts
and completion on every path (filesystem and S3). Complements tests/test_uploads.py."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from django_sylabs_library.checks import check_settings
from django_sylabs_library.models import Image, UploadSession
from django_sylabs_library.s3 import S3Store, presigned_expiry, s3_storage_class
from tests.conftest import assert_error, image_body, image_hash, make_sif, seed
from tests.fake_s3 import install_fake_s3
from tests.test_uploads import put_bytes, upload_url

KB = 1024


def expires_of(url: str) -> int:
    """Seconds a presigned URL is valid: X-Amz-Expires (SigV4), or Expires (SigV2, a timestamp)."""
    query = parse_qs(urlsplit(url).query)
    if "X-Amz-Expires" in query:
        return int(query["X-Amz-Expires"][0])
    return round(int(query["Expires"][0]) - time.time())


# --- presigned store URLs -----------------------------------------------------------------------


def test_presigned_expiry_is_at_most_900_seconds(settings):
    assert presigned_expiry() == 900
    assert presigned_expiry(3600) == 900
    assert presigned_expiry(30) == 30
    settings.SYLABS_LIBRARY = {"PRESIGNED_URL_EXPIRY_SECONDS": 60}
    assert presigned_expiry(3600) == 60
    settings.SYLABS_LIBRARY = {"PRESIGNED_URL_EXPIRY_SECONDS": 86400}  # refused by E020, and clamped anyway
    assert presigned_expiry(3600) == 900


@pytest.mark.skipif(s3_storage_class() is None, reason="django-storages[s3] is not installed")
def test_real_boto3_urls_are_signed_for_at_most_900_seconds():
    """boto3 signs offline: the URLs of S3Store over a real S3Storage carry X-Amz-Expires <= 900."""
    storage = s3_storage_class()(
        bucket_name="images",
        endpoint_url="http://127.0.0.1:9",
        access_key="AKIAEXAMPLE",
        secret_key="secret",
        region_name="us-east-1",
    )
    store = S3Store(storage)
    urls = [
        store.presign_put("uploads/x", 3600),
        store.presign_part("uploads/x", "upload-id", 1, 7 * 86400),
        store.presign_get("blobs/sha256/ab/x", 3600, "x.sif"),
    ]
    assert all(890 <= expires_of(u) <= 900 for u in urls), [expires_of(u) for u in urls]
    sigv4 = s3_storage_class()(
        bucket_name="images",
        endpoint_url="http://127.0.0.1:9",
        access_key="AKIAEXAMPLE",
        secret_key="secret",
        region_name="us-east-1",
        signature_version="s3v4",
    )
    url = S3Store(sigv4).presign_put("uploads/x", 3600)
    assert "X-Amz-Expires=900" in url


@pytest.fixture
def fake_s3(monkeypatch):
    return install_fake_s3(monkeypatch)


def s3_record(api: Any, data: bytes, name: str = "tools") -> dict[str, Any]:
    entity = (
        api.data("POST", "v1/entities", {"name": "alice"})
        if api.get("v1/entities/alice").status_code != 200
        else (api.data("GET", "v1/entities/alice"))
    )
    response = api.get("v1/collections/alice/s3")
    collection = (
        json.loads(response.content)["data"]
        if response.status_code == 200
        else api.data("POST", "v1/collections", {"entity": entity["id"], "name": "s3"})
    )
    container = api.data("POST", "v1/containers", {"collection": collection["id"], "name": name})
    return api.data("POST", "v1/images", {"container": container["id"], "hash": image_hash(data)})


def test_s3_upload_and_download_urls_expire_within_15_minutes(fake_s3, alice_api, settings):
    settings.SYLABS_LIBRARY = {
        "UPLOAD_URL_EXPIRY_SECONDS": 7200,
        "DOWNLOAD_URL_EXPIRY_SECONDS": 7200,
        "DOWNLOAD_MODE": "presigned",
    }
    data = make_sif(size=8 * KB)
    image = s3_record(alice_api, data)
    put_url = alice_api.data("POST", f"v2/imagefile/{image['id']}", {"filesize": len(data)})["uploadURL"]
    assert expires_of(put_url) == 900
    assert fake_s3.http("PUT", put_url, {}, data)[0] == 200
    alice_api.data("PUT", f"v2/imagefile/{image['id']}/_complete", {})
    alice_api.data("POST", f"v2/tags/{image['container']}", {"Tag": "latest", "Arch": "amd64", "ImageID": image["id"]})
    download = alice_api.get("v1/imagefile/alice/s3/tools:latest?arch=amd64", token=None)
    assert download.status_code == 303
    assert expires_of(download["Location"]) == 900

    other = make_sif(size=8 * KB)
    image = s3_record(alice_api, other, "parts")
    started = alice_api.data("POST", f"v2/imagefile/{image['id']}/_multipart", {"filesize": len(other)})
    body = {"uploadID": started["uploadID"], "partNumber": 1, "partSize": len(other), "sha256sum": ""}
    part = alice_api.data("PUT", f"v2/imagefile/{image['id']}/_multipart", body)["presignedURL"]
    assert expires_of(part) == 900


@pytest.mark.parametrize("value", [901, 3600, 0, -5, "900", None])
def test_check_refuses_presigned_expiry_above_900(settings, value):
    settings.SYLABS_LIBRARY = {"PRESIGNED_URL_EXPIRY_SECONDS": value}
    assert "django_sylabs_library.E020" in {m.id for m in check_settings()}


def test_check_accepts_900(settings):
    settings.SYLABS_LIBRARY = {"PRESIGNED_URL_EXPIRY_SECONDS": 900}
    assert "django_sylabs_library.E020" not in {m.id for m in check_settings()}


# --- finished sessions refuse everything (filesystem) ------------------------------------------


@pytest.fixture
def record(alice, alice_api):
    image = seed(alice, "alice/tools/samtools", make_sif())

    def make(size: int = 20 * KB) -> tuple[dict[str, Any], bytes]:
        data = make_sif(size=size)
        created = alice_api.data("POST", "v1/images", image_body(image_hash(data), str(image.container_id)))
        return created, data

    return make


def test_single_url_reused_after_complete_is_410(alice_api, record):
    created, data = record()
    url = upload_url(alice_api, created, data)
    assert put_bytes(alice_api, url, data).status_code == 200
    assert alice_api.put(f"v2/imagefile/{created['id']}/_complete", {}).status_code == 200
    blob = Image.objects.get(pk=int(created["id"])).blob_id
    assert_error(put_bytes(alice_api, url, data), 410)
    # _complete again changes nothing (it reports the finished upload; no session is reopened).
    assert alice_api.put(f"v2/imagefile/{created['id']}/_complete", {}).status_code == 200
    assert Image.objects.get(pk=int(created["id"])).blob_id == blob
    assert list(UploadSession.objects.filter(image_id=int(created["id"])).values_list("state", flat=True)) == [
        UploadSession.State.COMPLETED
    ]


def test_complete_after_a_failed_put_is_refused_even_with_a_second_url(alice_api, record):
    """Two URLs for one image; the finished one cannot be used again, the failed one neither."""
    created, data = record()
    first = upload_url(alice_api, created, data)
    assert_error(put_bytes(alice_api, first, data[:-1]), 400)
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_complete", {}), 400)
    assert_error(put_bytes(alice_api, first, data), 410)
    assert Image.objects.get(pk=int(created["id"])).uploaded is False


def multipart(alice_api, created, data):
    started = alice_api.data("POST", f"v2/imagefile/{created['id']}/_multipart", {"filesize": len(data)})
    assert started["totalParts"] == 1
    body = {"uploadID": started["uploadID"], "partNumber": 1, "partSize": len(data), "sha256sum": ""}
    url = alice_api.data("PUT", f"v2/imagefile/{created['id']}/_multipart", body)["presignedURL"]
    return started["uploadID"], body, url


def test_multipart_part_after_complete_is_410(alice_api, record):
    created, data = record()
    upload_id, part_body, url = multipart(alice_api, created, data)
    put = put_bytes(alice_api, url, data)
    assert put.status_code == 200
    complete = {"uploadID": upload_id, "completedParts": [{"partNumber": 1, "token": put["ETag"]}]}
    assert alice_api.put(f"v2/imagefile/{created['id']}/_multipart_complete", complete).status_code == 200
    assert_error(put_bytes(alice_api, url, data), 410)  # the part URL again
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_multipart", part_body), 410)  # a new part URL
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_multipart_complete", complete), 410)
    # Abort of a completed upload does not undo it.
    alice_api.put(f"v2/imagefile/{created['id']}/_multipart_abort", {"uploadID": upload_id})
    assert Image.objects.get(pk=int(created["id"])).uploaded is True
    assert UploadSession.objects.get(upload_id=upload_id).state == UploadSession.State.COMPLETED


def test_multipart_part_url_issued_before_abort_is_410(alice_api, record, image_storage):
    created, data = record()
    upload_id, part_body, url = multipart(alice_api, created, data)
    assert alice_api.put(f"v2/imagefile/{created['id']}/_multipart_abort", {"uploadID": upload_id}).status_code == 200
    assert_error(put_bytes(alice_api, url, data), 410)
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_multipart", part_body), 410)
    assert Image.objects.get(pk=int(created["id"])).uploaded is False


def test_expired_multipart_session_refuses_parts_and_completion(alice_api, record):
    created, data = record()
    upload_id, part_body, url = multipart(alice_api, created, data)
    put = put_bytes(alice_api, url, data)
    assert put.status_code == 200
    second_url = alice_api.data("PUT", f"v2/imagefile/{created['id']}/_multipart", part_body)["presignedURL"]
    UploadSession.objects.filter(upload_id=upload_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(put_bytes(alice_api, second_url, data), 410)
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_multipart", part_body), 410)
    complete = {"uploadID": upload_id, "completedParts": [{"partNumber": 1, "token": put["ETag"]}]}
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_multipart_complete", complete), 410)
    assert Image.objects.get(pk=int(created["id"])).uploaded is False


def test_part_url_is_single_use(alice_api, record):
    created, data = record()
    _, _, url = multipart(alice_api, created, data)
    assert put_bytes(alice_api, url, data).status_code == 200
    assert_error(put_bytes(alice_api, url, data), 410)


# --- finished sessions on S3 --------------------------------------------------------------------


def test_s3_finished_sessions_refuse_parts_and_completion(fake_s3, alice_api):
    data = make_sif(size=8 * KB)
    image = s3_record(alice_api, data)
    started = alice_api.data("POST", f"v2/imagefile/{image['id']}/_multipart", {"filesize": len(data)})
    body = {"uploadID": started["uploadID"], "partNumber": 1, "partSize": len(data), "sha256sum": ""}
    url = alice_api.data("PUT", f"v2/imagefile/{image['id']}/_multipart", body)["presignedURL"]
    status, headers, _ = fake_s3.http("PUT", url, {}, data)
    assert status == 200
    complete = {"uploadID": started["uploadID"], "completedParts": [{"partNumber": 1, "token": headers["ETag"]}]}
    path = f"v2/imagefile/{image['id']}/_multipart_complete"
    assert alice_api.put(path, complete).status_code == 200
    assert_error(alice_api.put(path, complete), 410)
    assert_error(alice_api.put(f"v2/imagefile/{image['id']}/_multipart", body), 410)
    # The S3 multipart upload is gone: the part URL signed earlier has nothing to add to.
    assert fake_s3.http("PUT", url, {}, data)[0] == 404

    other = make_sif(size=8 * KB)
    image = s3_record(alice_api, other, "aborted")
    started = alice_api.data("POST", f"v2/imagefile/{image['id']}/_multipart", {"filesize": len(other)})
    body = {"uploadID": started["uploadID"], "partNumber": 1, "partSize": len(other), "sha256sum": ""}
    url = alice_api.data("PUT", f"v2/imagefile/{image['id']}/_multipart", body)["presignedURL"]
    alice_api.data("PUT", f"v2/imagefile/{image['id']}/_multipart_abort", {"uploadID": started["uploadID"]})
    assert fake_s3.http("PUT", url, {}, other)[0] == 404
    assert_error(alice_api.put(f"v2/imagefile/{image['id']}/_multipart", body), 410)
    complete = {"uploadID": started["uploadID"], "completedParts": [{"partNumber": 1, "token": '"x"'}]}
    assert_error(alice_api.put(f"v2/imagefile/{image['id']}/_multipart_complete", complete), 410)
    assert Image.objects.get(pk=int(image["id"])).uploaded is False


def test_s3_single_complete_twice_changes_nothing(fake_s3, alice_api):
    data = make_sif(size=8 * KB)
    image = s3_record(alice_api, data)
    url = alice_api.data("POST", f"v2/imagefile/{image['id']}", {"filesize": len(data)})["uploadURL"]
    assert fake_s3.http("PUT", url, {}, data)[0] == 200
    assert alice_api.put(f"v2/imagefile/{image['id']}/_complete", {}).status_code == 200
    objects = dict(fake_s3.objects)
    assert alice_api.put(f"v2/imagefile/{image['id']}/_complete", {}).status_code == 200
    assert fake_s3.objects == objects
    states = UploadSession.objects.filter(image_id=int(image["id"])).values_list("state", flat=True)
    assert list(states) == [UploadSession.State.COMPLETED]
