"""Uploads: v1 raw body, v2 single PUT with _complete, v2 multipart, and deduplication."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from django_sylabs_library.models import Blob, Collection, Image, Tag, UploadSession
from django_sylabs_library.permissions import grant_collaborator
from tests.conftest import (
    assert_error,
    blob_files,
    body_of,
    image_body,
    image_hash,
    make_sif,
    push,
    sha256_hex,
)

MiB = 1024 * 1024


@pytest.fixture
def container(alice_api, pushed):
    return alice_api.data("GET", "v1/containers/alice/tools/samtools")


@pytest.fixture
def new_image(alice_api, container):
    """A fresh image record (not uploaded) and its bytes."""

    def make(data=None):
        data = data if data is not None else make_sif("amd64")
        created = alice_api.data("POST", "v1/images", image_body(image_hash(data), container["id"]))
        assert created["uploaded"] is False
        return created, data

    return make


def uploads_in_progress(image_storage):
    folder = image_storage / ".uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


def assert_not_uploaded(image_id):
    image = Image.objects.get(pk=int(image_id))
    assert image.uploaded is False
    assert image.blob_id is None


# --- v1: raw body -----------------------------------------------------------------------------


def test_v1_upload(alice_api, pushed, image_storage):
    data = make_sif("arm64")
    image = push(alice_api, "alice/tools/samtools", data, arch="arm64", upload="v1", tag_api="v1")
    assert image["uploaded"] is True
    assert image["size"] == len(data)
    assert image["arch"] == "arm64"
    assert body_of(alice_api.get("v1/imagefile/alice/tools/samtools:latest?arch=arm64")) == data
    assert uploads_in_progress(image_storage) == []


def test_v1_hash_mismatch_is_400_and_stays_not_uploaded(alice_api, new_image, image_storage):
    created, data = new_image()
    files = blob_files(image_storage)
    response = alice_api.post(f"v1/imagefile/{created['id']}", raw=make_sif())
    assert_error(response, 400, "SHA-256")
    assert_not_uploaded(created["id"])
    assert blob_files(image_storage) == files
    assert uploads_in_progress(image_storage) == []
    assert alice_api.data("GET", f"v1/images/alice/tools/samtools:{created['hash']}?arch=amd64")["uploaded"] is False


def test_v1_short_body_is_400(alice_api, new_image, image_storage):
    created, data = new_image()
    response = alice_api.client.generic(
        "POST",
        f"/v1/imagefile/{created['id']}",
        HTTP_AUTHORIZATION=f"BEARER {alice_api.token}",
        CONTENT_LENGTH=str(len(data)),
        **{"wsgi.input": io.BytesIO(data[: len(data) // 2])},
    )
    assert_error(response, 400)
    assert_not_uploaded(created["id"])
    assert uploads_in_progress(image_storage) == []


def test_v1_upload_then_retry_succeeds(alice_api, new_image):
    created, data = new_image()
    assert_error(alice_api.post(f"v1/imagefile/{created['id']}", raw=data[:-1]), 400)
    assert alice_api.post(f"v1/imagefile/{created['id']}", raw=data).status_code == 200
    assert Image.objects.get(pk=int(created["id"])).uploaded is True


def test_v1_upload_permissions(alice_api, bob_api, anon_api, api, bob, new_image):
    created, data = new_image()
    path = f"v1/imagefile/{created['id']}"
    assert_error(anon_api.post(path, raw=data), 401)
    # An image that is not uploaded yet is nobody else's business.
    assert_error(bob_api.post(path, raw=data), 404)
    grant_collaborator(Collection.objects.get(), bob)
    assert_error(api(bob).post(path, raw=data), 404)
    assert_not_uploaded(created["id"])


def test_v1_upload_to_someone_elses_uploaded_image_is_403(bob_api, pushed):
    assert_error(bob_api.post(f"v1/imagefile/{pushed['image']['id']}", raw=pushed["data"]), 403)


def test_v1_upload_unknown_image_is_404(alice_api, pushed):
    assert_error(alice_api.post("v1/imagefile/999999", raw=b"abc"), 404)


# --- v2 single part -----------------------------------------------------------------------------


def start(client, image, data, **override):
    body = {"filesize": len(data), "sha256sum": sha256_hex(data), "md5sum": hashlib.md5(data).hexdigest()}
    body.update(override)
    return client.post(f"v2/imagefile/{image['id']}", body)


def upload_url(client, image, data, **override):
    response = start(client, image, data, **override)
    assert response.status_code in (200, 201), response.content
    url = json.loads(response.content)["data"]["uploadURL"]
    assert url.startswith("http://testserver/")
    return url


def put_bytes(client, url, data, **extra):
    return client.put(url, raw=data, content_type="application/octet-stream", token=None, **extra)


def test_v2_single_upload(alice_api, new_image, image_storage):
    created, data = new_image()
    url = upload_url(alice_api, created, data)
    response = put_bytes(alice_api, url, data)
    assert response.status_code == 200
    # Stored and verified, but not "uploaded" before _complete.
    assert Image.objects.get(pk=int(created["id"])).uploaded is False
    complete = alice_api.put(f"v2/imagefile/{created['id']}/_complete", {})
    assert complete.status_code in (200, 204)
    summary = json.loads(complete.content)["data"]
    assert isinstance(summary["quota"]["quotaTotal"], int)
    assert isinstance(summary["quota"]["quotaUsage"], int)
    assert "containerUrl" in summary
    image = Image.objects.get(pk=int(created["id"]))
    assert image.uploaded and image.size == len(data) and image.arch == "amd64"
    assert uploads_in_progress(image_storage) == []
    assert len(blob_files(image_storage)) == 2


def test_upload_url_needs_no_token_and_ignores_one(alice_api, new_image):
    created, data = new_image()
    url = upload_url(alice_api, created, data)
    # The client never sends a token here; one that is sent anyway (even a bad one) is not checked.
    response = put_bytes(alice_api, url, data, HTTP_AUTHORIZATION="Bearer whatever")
    assert response.status_code == 200


def test_upload_url_uses_public_url(alice_api, new_image, settings):
    settings.SYLABS_LIBRARY = {"PUBLIC_URL": "https://containers.example.org"}
    created, data = new_image()
    url = json.loads(start(alice_api, created, data).content)["data"]["uploadURL"]
    assert url.startswith("https://containers.example.org/v2/imagefile/")


def test_upload_url_is_single_use(alice_api, new_image):
    created, data = new_image()
    url = upload_url(alice_api, created, data)
    assert put_bytes(alice_api, url, data).status_code == 200
    assert_error(put_bytes(alice_api, url, data), 410)


def test_expired_upload_url_is_410(alice_api, new_image):
    created, data = new_image()
    url = upload_url(alice_api, created, data)
    UploadSession.objects.filter(image_id=int(created["id"])).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(put_bytes(alice_api, url, data), 410)
    assert_not_uploaded(created["id"])


def test_expiry_setting(alice_api, new_image, settings):
    settings.SYLABS_LIBRARY = {"UPLOAD_URL_EXPIRY_SECONDS": 120}
    created, data = new_image()
    upload_url(alice_api, created, data)
    session = UploadSession.objects.get(image_id=int(created["id"]))
    remaining = (session.expires_at - timezone.now()).total_seconds()
    assert 100 < remaining <= 120


@pytest.mark.parametrize("secret", ["nope", "x" * 300])
def test_unknown_upload_url_is_410(anon_api, secret):
    assert_error(anon_api.put(f"v2/imagefile/_upload/{secret}", raw=b"abc"), 410)
    assert_error(anon_api.put(f"v2/imagefile/_part/{secret}", raw=b"abc"), 410)


def test_wrong_size_is_400_and_the_url_is_spent(alice_api, new_image, image_storage):
    created, data = new_image()
    url = upload_url(alice_api, created, data)
    assert_error(put_bytes(alice_api, url, data[:-10]), 400)
    assert_error(put_bytes(alice_api, url, data), 410)
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_complete", {}), 400)
    assert_not_uploaded(created["id"])
    assert uploads_in_progress(image_storage) == []
    # A new POST issues a fresh URL that works.
    url = upload_url(alice_api, created, data)
    assert put_bytes(alice_api, url, data).status_code == 200
    assert alice_api.put(f"v2/imagefile/{created['id']}/_complete", {}).status_code in (200, 204)
    assert Image.objects.get(pk=int(created["id"])).uploaded is True


def test_wrong_bytes_of_the_right_size_are_400(alice_api, new_image, image_storage):
    created, data = new_image()
    url = upload_url(alice_api, created, data)
    files = blob_files(image_storage)
    assert_error(put_bytes(alice_api, url, make_sif(size=len(data))), 400, "SHA-256")
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_complete", {}), 400)
    assert_not_uploaded(created["id"])
    assert blob_files(image_storage) == files
    assert uploads_in_progress(image_storage) == []


def test_complete_before_put_is_400(alice_api, new_image):
    created, data = new_image()
    upload_url(alice_api, created, data)
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_complete", {}), 400)
    assert_not_uploaded(created["id"])


def test_complete_twice_is_harmless(alice_api, new_image):
    created, data = new_image()
    put_bytes(alice_api, upload_url(alice_api, created, data), data)
    assert alice_api.put(f"v2/imagefile/{created['id']}/_complete", {}).status_code in (200, 204)
    assert alice_api.put(f"v2/imagefile/{created['id']}/_complete", {}).status_code in (200, 204)
    assert Image.objects.get(pk=int(created["id"])).uploaded is True


def test_failed_upload_moves_no_tag(alice_api, pushed):
    data = make_sif()
    original = alice_api.data("GET", "v1/images/alice/tools/samtools:latest?arch=amd64")

    # A push whose PUT is cut short: the client stops after the failed PUT.
    container = alice_api.data("GET", "v1/containers/alice/tools/samtools")
    created = alice_api.data("POST", "v1/images", image_body(image_hash(data), container["id"]))
    url = upload_url(alice_api, created, data)
    assert_error(put_bytes(alice_api, url, data[:100]), 400)
    assert alice_api.data("GET", "v1/images/alice/tools/samtools:latest?arch=amd64")["id"] == original["id"]
    assert_error(alice_api.get(f"v1/imagefile/alice/tools/samtools:{image_hash(data)}?arch=amd64"), 404)
    # Tagging the incomplete image is refused too.
    body = {"Arch": "amd64", "Tag": "latest", "ImageID": created["id"]}
    assert_error(alice_api.post(f"v2/tags/{container['id']}", body), 400)
    # Pushing again resumes with a fresh upload and then moves the tag.
    pushed_again = push(alice_api, "alice/tools/samtools", data)
    assert pushed_again["id"] == created["id"]
    assert alice_api.data("GET", "v1/images/alice/tools/samtools:latest?arch=amd64")["id"] == created["id"]


def test_start_sha256_mismatch_is_400(alice_api, new_image):
    created, data = new_image()
    assert_error(start(alice_api, created, data, sha256sum=sha256_hex(b"other")), 400)
    assert not UploadSession.objects.filter(image_id=int(created["id"])).exists()


def test_start_without_checksums_is_fine(alice_api, new_image):
    created, data = new_image()
    response = alice_api.post(f"v2/imagefile/{created['id']}", {"filesize": len(data)})
    assert response.status_code in (200, 201)


@pytest.mark.parametrize(
    "override",
    [
        {"filesize": -1},
        {"filesize": 12.5},
        {"filesize": "100"},
        {"filesize": True},
        {"filesize": None},
        {"filesize": 2**63},
        {"sha256sum": "xyz"},
        {"sha256sum": 5},
        {"md5sum": 5},
    ],
)
def test_start_bad_bodies_are_400(alice_api, new_image, override):
    created, data = new_image()
    assert_error(start(alice_api, created, data, **override), 400)
    assert not UploadSession.objects.filter(image_id=int(created["id"])).exists()


def test_start_missing_filesize_is_400(alice_api, new_image):
    created, data = new_image()
    assert_error(alice_api.post(f"v2/imagefile/{created['id']}", {"sha256sum": sha256_hex(data)}), 400)


def test_max_image_size(alice_api, new_image, settings):
    settings.SYLABS_LIBRARY = {"MAX_IMAGE_SIZE": 1000}
    created, data = new_image()
    assert_error(start(alice_api, created, data), 413)
    assert_error(alice_api.post(f"v2/imagefile/{created['id']}/_multipart", {"filesize": len(data)}), 413)
    assert_error(alice_api.post(f"v1/imagefile/{created['id']}", raw=data), 413)
    assert_not_uploaded(created["id"])


def test_v2_permissions(alice_api, bob_api, anon_api, pushed, new_image):
    created, data = new_image()
    assert_error(start(anon_api, created, data), 401)
    assert_error(start(bob_api, created, data), 404)
    assert_error(bob_api.put(f"v2/imagefile/{created['id']}/_complete", {}), 404)
    assert_error(start(bob_api, pushed["image"], pushed["data"]), 403)
    assert_error(bob_api.put(f"v2/imagefile/{pushed['image']['id']}/_complete", {}), 403)
    assert_error(start(alice_api, {"id": "999999"}, data), 404)


def test_read_only_container_refuses_uploads(alice_api, new_image):
    created, data = new_image()
    url = upload_url(alice_api, created, data)
    put_bytes(alice_api, url, data)
    alice_api.data("PUT", "v1/containers/alice/tools/samtools", {"readOnly": True})
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_complete", {}), 403)
    assert_error(start(alice_api, created, data), 403)
    assert_error(alice_api.post(f"v1/imagefile/{created['id']}", raw=data), 403)
    assert_not_uploaded(created["id"])


# --- v2 multipart -------------------------------------------------------------------------------


@pytest.fixture
def small_parts(settings):
    """5 MiB parts (the smallest the system check accepts), so ~11 MiB go in 3 parts."""
    settings.SYLABS_LIBRARY = {"MULTIPART_PART_SIZE": 5 * MiB}


# The error paths use the smallest file of three parts.
PART = 5 * MiB
SIZE = 2 * PART + 1000


def start_multipart(client, image, size):
    return client.data("POST", f"v2/imagefile/{image['id']}/_multipart", {"filesize": size})


def part_url(client, image, upload_id, number, chunk, sha=None):
    body = {
        "partSize": len(chunk),
        "uploadID": upload_id,
        "partNumber": number,
        "sha256sum": sha256_hex(chunk) if sha is None else sha,
    }
    return client.data("PUT", f"v2/imagefile/{image['id']}/_multipart", body, status=(200, 204))["presignedURL"]


def upload_parts(client, image, data):
    """Start, then PUT every part like the client; returns (upload id, completedParts)."""
    started = start_multipart(client, image, len(data))
    part_size = started["partSize"]
    parts = []
    for number in range(1, started["totalParts"] + 1):
        chunk = data[(number - 1) * part_size : number * part_size]
        url = part_url(client, image, started["uploadID"], number, chunk)
        response = put_bytes(client, url, chunk, HTTP_X_AMZ_CONTENT_SHA256=sha256_hex(chunk))
        assert response.status_code == 200, response.content
        parts.append({"partNumber": number, "token": response["ETag"]})
    return started["uploadID"], parts


def test_multipart_upload(alice_api, new_image, small_parts, image_storage):
    data = make_sif(size=11 * MiB)
    created, _ = new_image(data)
    started = start_multipart(alice_api, created, len(data))
    assert started["totalParts"] == 3
    assert started["partSize"] == 5 * MiB
    assert isinstance(started["uploadID"], str) and started["uploadID"]
    assert started["totalParts"] * started["partSize"] >= len(data)
    assert started["options"]["s3compliant"] in ("true", "false")
    abort = alice_api.put(f"v2/imagefile/{created['id']}/_multipart_abort", {"uploadID": started["uploadID"]})
    assert abort.status_code in (200, 204)

    upload_id, parts = upload_parts(alice_api, created, data)
    assert len(parts) == 3
    assert all(p["token"].startswith('"') for p in parts)  # kept verbatim, quotes included
    complete = alice_api.put(
        f"v2/imagefile/{created['id']}/_multipart_complete", {"uploadID": upload_id, "completedParts": parts}
    )
    assert complete.status_code in (200, 204)
    assert isinstance(json.loads(complete.content), dict)  # never an empty body
    image = Image.objects.get(pk=int(created["id"]))
    assert image.uploaded and image.size == len(data)
    alice_api.data("POST", f"v2/tags/{created['container']}", {"Arch": "amd64", "Tag": "big", "ImageID": created["id"]})
    assert body_of(alice_api.get("v1/imagefile/alice/tools/samtools:big?arch=amd64")) == data
    assert uploads_in_progress(image_storage) == []


def test_multipart_disabled_answers_404_so_the_client_falls_back(alice_api, new_image, settings):
    settings.SYLABS_LIBRARY = {"MULTIPART_ENABLED": False}
    created, data = new_image()
    assert_error(alice_api.post(f"v2/imagefile/{created['id']}/_multipart", {"filesize": len(data)}), 404)
    assert not UploadSession.objects.filter(image_id=int(created["id"])).exists()


@pytest.mark.parametrize("size", [0, -5, "10", 1.5, None])
def test_multipart_bad_filesize_is_400(alice_api, new_image, size):
    created, data = new_image()
    assert_error(alice_api.post(f"v2/imagefile/{created['id']}/_multipart", {"filesize": size}), 400)
    assert not UploadSession.objects.filter(image_id=int(created["id"])).exists()


def test_multipart_part_size_mismatch_is_400(alice_api, new_image, small_parts):
    data = make_sif(size=SIZE)
    created, _ = new_image(data)
    started = start_multipart(alice_api, created, len(data))
    base = f"v2/imagefile/{created['id']}/_multipart"
    for body in (
        {"partSize": PART - 1, "uploadID": started["uploadID"], "partNumber": 1, "sha256sum": ""},
        {"partSize": PART, "uploadID": started["uploadID"], "partNumber": 3, "sha256sum": ""},
        {"partSize": PART, "uploadID": started["uploadID"], "partNumber": 4, "sha256sum": ""},
        {"partSize": PART, "uploadID": started["uploadID"], "partNumber": 0, "sha256sum": ""},
        {"partSize": PART, "uploadID": started["uploadID"], "partNumber": "1", "sha256sum": ""},
        {"partSize": PART, "uploadID": started["uploadID"], "partNumber": 1, "sha256sum": "zz"},
        {"partSize": PART, "partNumber": 1, "sha256sum": ""},
    ):
        assert_error(alice_api.put(base, body), 400)
    assert_error(alice_api.put(base, {"partSize": PART, "uploadID": "nope", "partNumber": 1}), 404)


def test_multipart_part_bytes_that_do_not_match_are_400(alice_api, new_image, small_parts):
    data = make_sif(size=SIZE)
    created, _ = new_image(data)
    started = start_multipart(alice_api, created, len(data))
    chunk = data[:PART]
    url = part_url(alice_api, created, started["uploadID"], 1, chunk)
    wrong = bytes([chunk[0] ^ 1]) + chunk[1:]
    assert_error(put_bytes(alice_api, url, wrong), 400, "SHA-256")
    # The part URL is spent; a new one for the same part works.
    assert_error(put_bytes(alice_api, url, chunk), 410)
    url = part_url(alice_api, created, started["uploadID"], 1, chunk)
    response = put_bytes(alice_api, url, chunk)
    assert response.status_code == 200
    assert response["ETag"]


def test_multipart_part_of_the_wrong_length_is_400(alice_api, new_image, small_parts):
    data = make_sif(size=SIZE)
    created, _ = new_image(data)
    started = start_multipart(alice_api, created, len(data))
    url = part_url(alice_api, created, started["uploadID"], 3, data[2 * PART :], sha="")
    assert_error(put_bytes(alice_api, url, data[2 * PART : -1]), 400)


def test_multipart_complete_with_a_wrong_token_or_a_missing_part_is_400(alice_api, new_image, small_parts):
    data = make_sif(size=SIZE)
    created, _ = new_image(data)
    upload_id, parts = upload_parts(alice_api, created, data)
    path = f"v2/imagefile/{created['id']}/_multipart_complete"
    wrong = [dict(p) for p in parts]
    wrong[1]["token"] = '"' + "0" * 64 + '"'
    assert_error(alice_api.put(path, {"uploadID": upload_id, "completedParts": wrong}), 400)
    assert_error(alice_api.put(path, {"uploadID": upload_id, "completedParts": parts[:2]}), 400)
    extra = [*parts, {"partNumber": 4, "token": parts[0]["token"]}]
    assert_error(alice_api.put(path, {"uploadID": upload_id, "completedParts": extra}), 400)
    assert_error(alice_api.put(path, {"uploadID": upload_id, "completedParts": "all"}), 400)
    assert_error(alice_api.put(path, {"uploadID": upload_id, "completedParts": [1, 2, 3]}), 400)
    assert_error(alice_api.put(path, {"completedParts": parts}), 400)
    assert_error(alice_api.put(path, {"uploadID": "unknown", "completedParts": parts}), 404)
    assert_not_uploaded(created["id"])
    # The upload is still open: the right list completes it.
    assert alice_api.put(path, {"uploadID": upload_id, "completedParts": parts}).status_code in (200, 204)
    assert Image.objects.get(pk=int(created["id"])).uploaded is True
    # ... once.
    assert_error(alice_api.put(path, {"uploadID": upload_id, "completedParts": parts}), 410)


def test_multipart_complete_with_a_part_never_sent_is_400(alice_api, new_image, small_parts):
    data = make_sif(size=SIZE)
    created, _ = new_image(data)
    started = start_multipart(alice_api, created, len(data))
    parts = []
    for number in (1, 2):
        chunk = data[(number - 1) * PART : number * PART]
        response = put_bytes(alice_api, part_url(alice_api, created, started["uploadID"], number, chunk), chunk)
        parts.append({"partNumber": number, "token": response["ETag"]})
    parts.append({"partNumber": 3, "token": '"' + sha256_hex(data[2 * PART :]) + '"'})
    response = alice_api.put(
        f"v2/imagefile/{created['id']}/_multipart_complete", {"uploadID": started["uploadID"], "completedParts": parts}
    )
    assert_error(response, 400, "part 3")
    assert_not_uploaded(created["id"])


def test_multipart_assembled_file_is_verified_against_the_image_hash(alice_api, container, small_parts):
    data = make_sif(size=PART + 1000)
    claimed = make_sif(size=PART + 1000)
    created = alice_api.data("POST", "v1/images", image_body(image_hash(claimed), container["id"]))
    upload_id, parts = upload_parts(alice_api, created, data)
    response = alice_api.put(
        f"v2/imagefile/{created['id']}/_multipart_complete", {"uploadID": upload_id, "completedParts": parts}
    )
    assert_error(response, 400)
    assert_not_uploaded(created["id"])


def test_multipart_abort(alice_api, new_image, small_parts, image_storage):
    data = make_sif(size=SIZE)
    created, _ = new_image(data)
    started = start_multipart(alice_api, created, len(data))
    chunk = data[:PART]
    url1 = put_bytes(alice_api, part_url(alice_api, created, started["uploadID"], 1, chunk), chunk)["ETag"]
    pending = part_url(alice_api, created, started["uploadID"], 2, data[PART : 2 * PART])
    response = alice_api.put(f"v2/imagefile/{created['id']}/_multipart_abort", {"uploadID": started["uploadID"]})
    assert response.status_code in (200, 204)
    assert UploadSession.objects.get(upload_id=started["uploadID"]).state == UploadSession.State.ABORTED
    assert uploads_in_progress(image_storage) == []
    assert_error(put_bytes(alice_api, pending, data[PART : 2 * PART]), 410)
    complete = {"uploadID": started["uploadID"], "completedParts": [{"partNumber": 1, "token": url1}]}
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_multipart_complete", complete), 410)
    assert_error(
        alice_api.put(
            f"v2/imagefile/{created['id']}/_multipart",
            {"partSize": PART, "uploadID": started["uploadID"], "partNumber": 3, "sha256sum": ""},
        ),
        410,
    )
    assert_not_uploaded(created["id"])
    # The push can start over.
    upload_id, parts = upload_parts(alice_api, created, data)
    path = f"v2/imagefile/{created['id']}/_multipart_complete"
    assert alice_api.put(path, {"uploadID": upload_id, "completedParts": parts}).status_code in (200, 204)


def test_multipart_abort_errors(alice_api, bob_api, new_image, small_parts):
    created, data = new_image()
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_multipart_abort", {}), 400)
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_multipart_abort", {"uploadID": "nope"}), 404)
    started = start_multipart(alice_api, created, len(data))
    assert_error(bob_api.put(f"v2/imagefile/{created['id']}/_multipart_abort", {"uploadID": started["uploadID"]}), 404)
    assert UploadSession.objects.get(upload_id=started["uploadID"]).state == UploadSession.State.OPEN


def test_multipart_permissions(alice_api, bob_api, anon_api, api, bob, pushed, new_image):
    created, data = new_image()
    assert_error(anon_api.post(f"v2/imagefile/{created['id']}/_multipart", {"filesize": 10}), 401)
    assert_error(bob_api.post(f"v2/imagefile/{created['id']}/_multipart", {"filesize": 10}), 404)
    assert_error(bob_api.post(f"v2/imagefile/{pushed['image']['id']}/_multipart", {"filesize": 10}), 403)
    grant_collaborator(Collection.objects.get(), bob)
    assert_error(api(bob).post(f"v2/imagefile/{pushed['image']['id']}/_multipart", {"filesize": 10}), 403)
    assert not UploadSession.objects.filter(kind=UploadSession.Kind.MULTIPART).exists()


def test_part_url_needs_no_token(alice_api, new_image, small_parts):
    data = make_sif(size=PART + 1000)
    created, _ = new_image(data)
    started = start_multipart(alice_api, created, len(data))
    chunk = data[:PART]
    url = part_url(alice_api, created, started["uploadID"], 1, chunk)
    assert url.startswith("http://testserver/")
    assert put_bytes(alice_api, url, chunk).status_code == 200


# --- deduplication ------------------------------------------------------------------------------


def test_same_bytes_in_a_second_container_are_uploaded_at_once(alice_api, pushed, image_storage):
    sessions = UploadSession.objects.count()
    container = alice_api.data("POST", "v1/containers", {"collection": pushed["image"]["collection"], "name": "copy"})
    created = alice_api.data("POST", "v1/images", image_body(image_hash(pushed["data"]), container["id"]))
    assert created["uploaded"] is True
    assert created["size"] == len(pushed["data"])
    image = push(alice_api, "alice/tools/copy", pushed["data"])
    assert image["id"] == created["id"]
    assert UploadSession.objects.count() == sessions  # nothing was uploaded again
    assert len(blob_files(image_storage)) == 1
    assert Blob.objects.count() == 1
    assert body_of(alice_api.get("v1/imagefile/alice/tools/copy:latest?arch=amd64")) == pushed["data"]


def test_someone_elses_public_image_is_deduplicated(bob_api, pushed, image_storage):
    image = push(bob_api, "bob/mine/samtools", pushed["data"])
    assert image["uploaded"] is True
    assert Blob.objects.count() == 1
    assert UploadSession.objects.filter(image_id=int(image["id"])).count() == 0


def test_a_private_image_the_caller_cannot_see_is_not_deduplicated(alice_api, bob_api, api, bob, pushed, image_storage):
    Collection.objects.filter(name="tools").update(private=True)
    container = push(bob_api, "bob/mine/other", make_sif())["container"]
    created = bob_api.data("POST", "v1/images", image_body(image_hash(pushed["data"]), container))
    assert created["uploaded"] is False
    # Bob has to prove he has the bytes; afterwards there is still one blob.
    url = upload_url(bob_api, created, pushed["data"])
    assert put_bytes(bob_api, url, pushed["data"]).status_code == 200
    assert bob_api.put(f"v2/imagefile/{created['id']}/_complete", {}).status_code in (200, 204)
    assert Image.objects.get(pk=int(created["id"])).uploaded is True
    assert Blob.objects.filter(sha256=sha256_hex(pushed["data"])).count() == 1
    assert len(blob_files(image_storage)) == 2


def test_a_collaborator_gets_dedup_from_a_private_collection(alice_api, bob_api, api, bob, pushed):
    Collection.objects.filter(name="tools").update(private=True)
    grant_collaborator(Collection.objects.get(name="tools"), bob)
    collaborator = api(bob)
    image = push(collaborator, "bob/mine/samtools", pushed["data"])
    assert image["uploaded"] is True
    assert UploadSession.objects.filter(image_id=int(image["id"])).count() == 0


def test_an_incomplete_image_is_never_a_dedup_source(alice_api, bob_api, pushed):
    data = make_sif()
    container = pushed["image"]["container"]
    alice_api.data("POST", "v1/images", image_body(image_hash(data), container))
    other = push(bob_api, "bob/mine/x", make_sif())["container"]
    assert bob_api.data("POST", "v1/images", image_body(image_hash(data), other))["uploaded"] is False


def test_upload_chunking_setting(alice_api, new_image, settings):
    settings.SYLABS_LIBRARY = {"UPLOAD_CHUNK_SIZE": 7}
    created, data = new_image(make_sif(size=1000))
    assert alice_api.post(f"v1/imagefile/{created['id']}", raw=data).status_code == 200
    assert Image.objects.get(pk=int(created["id"])).uploaded


def test_untagged_uploaded_image_keeps_existing_tags(alice_api, pushed):
    assert Tag.objects.count() == 1
    data = make_sif()
    container = pushed["image"]["container"]
    created = alice_api.data("POST", "v1/images", image_body(image_hash(data), container))
    assert alice_api.post(f"v1/imagefile/{created['id']}", raw=data).status_code == 200
    assert Tag.objects.get().image_id == int(pushed["image"]["id"])


# --- the temporary file removed while it was received (gc with a short grace) -----------------


@pytest.fixture
def gc_removes_upload_file(monkeypatch):
    """Make the SIF inspection find its file gone, as when ``sylabs_library_gc --grace 0`` ran meanwhile."""
    from django_sylabs_library.flows import uploads

    real = uploads.inspect_file

    def vanish_then_inspect(path):
        path.unlink()
        return real(path)

    monkeypatch.setattr(uploads, "inspect_file", vanish_then_inspect)


def test_v1_upload_whose_file_gc_removed_is_410(alice_api, new_image, image_storage, gc_removes_upload_file):
    created, data = new_image()
    response = alice_api.post(f"v1/imagefile/{created['id']}", raw=data, content_type="application/octet-stream")
    assert_error(response, 410, "push again")
    assert_not_uploaded(created["id"])
    assert uploads_in_progress(image_storage) == []
    assert Blob.objects.filter(sha256=sha256_hex(data)).count() == 0


def test_v2_upload_whose_file_gc_removed_is_410(alice_api, new_image, image_storage, gc_removes_upload_file):
    created, data = new_image()
    response = put_bytes(alice_api, upload_url(alice_api, created, data), data)
    assert_error(response, 410, "push again")
    assert_not_uploaded(created["id"])
    assert uploads_in_progress(image_storage) == []
    assert Blob.objects.filter(sha256=sha256_hex(data)).count() == 0
