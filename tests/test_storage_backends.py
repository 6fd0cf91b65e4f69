"""Storage backends and transfer modes (issue #4): S3 uploads through presigned URLs and S3's multipart upload
(against an in-memory fake, strict like AWS S3), verification before an image counts as uploaded, the download
modes (presigned, proxy, stream; X-Accel-Redirect / X-Sendfile), the fast body reader, abandoned-upload clean-up,
health and metrics, and the storage system checks. The same paths run against a real SeaweedFS in
tests/integration/test_s3.py.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_sylabs_library.checks import check_settings
from django_sylabs_library.flows import bodyreader, uploads
from django_sylabs_library.models import Blob, Image, UploadSession
from django_sylabs_library.s3 import MAX_PARTS, part_plan
from tests.conftest import assert_error, make_sif, seed
from tests.fake_s3 import HOST, install_fake_s3

MiB = 1024 * 1024


@pytest.fixture
def fake_s3(monkeypatch: pytest.MonkeyPatch) -> Any:
    return install_fake_s3(monkeypatch)


def _prepare(api: Any, data: bytes, container: str = "tools") -> dict[str, Any]:
    """Entity, collection, container and image record for a push of ``data`` (steps 1-4 of the client)."""
    entity = api.data("GET", "v1/entities/alice") if api.get("v1/entities/alice").status_code == 200 else None
    if entity is None:
        entity = api.data("POST", "v1/entities", {"name": "alice"})
    response = api.get("v1/collections/alice/s3")
    collection = (
        json.loads(response.content)["data"]
        if response.status_code == 200
        else api.data("POST", "v1/collections", {"entity": entity["id"], "name": "s3", "private": False})
    )
    container_obj = api.data("POST", "v1/containers", {"collection": collection["id"], "name": container})
    image_hash = "sha256." + hashlib.sha256(data).hexdigest()
    return api.data("POST", "v1/images", {"container": container_obj["id"], "hash": image_hash})


def _push_single(api: Any, fake: Any, data: bytes, container: str = "tools") -> dict[str, Any]:
    image = _prepare(api, data, container)
    started = api.data("POST", f"v2/imagefile/{image['id']}", {"filesize": len(data), "sha256sum": image["hash"][7:]})
    url = started["uploadURL"]
    assert url.startswith(f"http://{HOST}/images/uploads/"), url
    assert "X-Amz-Signature" in url and "x-amz-content-sha256" not in url.lower()
    status, _, _ = fake.http("PUT", url, {"Content-Type": "application/octet-stream"}, data)
    assert status == 200
    api.data("PUT", f"v2/imagefile/{image['id']}/_complete", {}, status=(200, 204))
    return image


def test_s3_single_part_upload_is_verified_and_content_addressed(fake_s3: Any, alice_api: Any) -> None:
    data = make_sif("arm64", 64 * 1024, labels={"org.label": "x"})
    image = _push_single(alice_api, fake_s3, data)
    stored = Image.objects.get(pk=image["id"])
    assert stored.uploaded and stored.size == len(data) and stored.arch == "arm64"
    assert stored.labels.get("org.label") == "x"  # SIF metadata read back from the store
    key = f"blobs/sha256/{stored.sha256_hex[:2]}/{stored.sha256_hex}"
    assert fake_s3.objects[key] == data
    assert not [k for k in fake_s3.objects if k.startswith("uploads/")], "the temporary object is deleted"
    assert "CopyObject" in fake_s3.calls  # server-side copy, no bytes through the app
    # The metadata came from small ranged GETs; the hash from one streamed read of the whole object.
    assert fake_s3.calls.count("GetObject ranged") >= 2


def test_s3_upload_with_wrong_bytes_is_refused_and_cleaned_up(fake_s3: Any, alice_api: Any) -> None:
    data = make_sif("amd64", 32 * 1024)
    image = _prepare(alice_api, data)
    url = alice_api.data("POST", f"v2/imagefile/{image['id']}", {"filesize": len(data)})["uploadURL"]
    bad = bytearray(data)
    bad[-1] ^= 0xFF
    assert fake_s3.http("PUT", url, {}, bytes(bad))[0] == 200  # the store takes anything
    assert_error(alice_api.put(f"v2/imagefile/{image['id']}/_complete", {}), 400, "SHA-256")
    assert not Image.objects.get(pk=image["id"]).uploaded
    assert fake_s3.objects == {}
    assert UploadSession.objects.get(image_id=image["id"]).state == UploadSession.State.FAILED


def test_s3_complete_without_upload_is_refused(fake_s3: Any, alice_api: Any) -> None:
    data = make_sif("amd64", 8 * 1024)
    image = _prepare(alice_api, data)
    alice_api.data("POST", f"v2/imagefile/{image['id']}", {"filesize": len(data)})
    assert_error(alice_api.put(f"v2/imagefile/{image['id']}/_complete", {}), 400, "PUT the file")


def test_s3_multipart_upload_uses_s3_parts(fake_s3: Any, alice_api: Any, settings: Any) -> None:
    settings.SYLABS_LIBRARY = {"MULTIPART_PART_SIZE": 5 * MiB}
    data = make_sif("amd64", 11 * MiB + 123)
    image = _prepare(alice_api, data)
    started = alice_api.data("POST", f"v2/imagefile/{image['id']}/_multipart", {"filesize": len(data)})
    assert started["options"] == {"s3compliant": "false"}
    assert started["totalParts"] == 3 and started["partSize"] == 5 * MiB
    tokens = []
    for number in range(1, started["totalParts"] + 1):
        chunk = data[(number - 1) * started["partSize"] : number * started["partSize"]]
        url = alice_api.data(
            "PUT",
            f"v2/imagefile/{image['id']}/_multipart",
            {"partSize": len(chunk), "uploadID": started["uploadID"], "partNumber": number, "sha256sum": ""},
        )["presignedURL"]
        assert url.startswith(f"http://{HOST}/") and "partNumber" in url
        status, headers, _ = fake_s3.http("PUT", url, {}, chunk)
        assert status == 200
        tokens.append({"partNumber": number, "token": headers["ETag"]})
    alice_api.data(
        "PUT",
        f"v2/imagefile/{image['id']}/_multipart_complete",
        {"uploadID": started["uploadID"], "completedParts": tokens},
    )
    stored = Image.objects.get(pk=image["id"])
    assert stored.uploaded and fake_s3.objects[f"blobs/sha256/{stored.sha256_hex[:2]}/{stored.sha256_hex}"] == data
    assert not fake_s3.uploads and not [k for k in fake_s3.objects if k.startswith("uploads/")]


def test_s3_multipart_abort_aborts_the_s3_upload(fake_s3: Any, alice_api: Any) -> None:
    data = make_sif("amd64", 70 * MiB)
    image = _prepare(alice_api, data)
    started = alice_api.data("POST", f"v2/imagefile/{image['id']}/_multipart", {"filesize": len(data)})
    assert len(fake_s3.uploads) == 1
    alice_api.data("PUT", f"v2/imagefile/{image['id']}/_multipart_abort", {"uploadID": started["uploadID"]})
    assert not fake_s3.uploads


def test_s3_same_bytes_stored_once_and_removed_when_unreferenced(
    fake_s3: Any, alice_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    data = make_sif("amd64", 16 * 1024)
    first = _push_single(alice_api, fake_s3, data, "one")
    second = _prepare(alice_api, data, "two")
    assert second["uploaded"] is True  # the client skips the upload
    blobs = [k for k in fake_s3.objects if k.startswith("blobs/")]
    assert len(blobs) == 1 and Blob.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        Image.objects.get(pk=first["id"]).delete()
    assert blobs[0] in fake_s3.objects  # still referenced by the second image
    with django_capture_on_commit_callbacks(execute=True):
        Image.objects.get(pk=second["id"]).delete()
    assert blobs[0] not in fake_s3.objects and Blob.objects.count() == 0


def test_part_plan_covers_the_file_within_s3_limits() -> None:
    assert part_plan(100 * MiB, 64 * MiB) == (64 * MiB, 2)
    size = 1024**4  # 1 TiB: 64 MiB parts would be 16384 parts
    part, total = part_plan(size, 64 * MiB)
    assert total <= MAX_PARTS and part * total >= size and part % MiB == 0
    assert part_plan(1, 1) == (5 * MiB, 1)


# --- downloads --------------------------------------------------------------------------------------------


@pytest.fixture
def s3_image(fake_s3: Any, alice: Any, alice_api: Any) -> dict[str, Any]:
    data = make_sif("amd64", 3 * MiB + 17)
    image = _push_single(alice_api, fake_s3, data)
    from django_sylabs_library.flows import tags

    stored = Image.objects.select_related("container").get(pk=image["id"])
    tags.set_tag(alice, stored.container, "latest", stored.pk, "amd64")
    return {"data": data, "ref": "alice/s3/tools:latest", "image": stored}


def _ranged_download(fetch: Any, location: str, size: int, auth: dict[str, str]) -> bytes:
    """What LC 1.2/1.3 do after a 303: bytes=0-1024 for the size, then 5 MiB ranges (spec 5.1)."""
    status, headers, _ = fetch(location, {"Range": "bytes=0-1024", **auth})
    assert status == 206, status
    assert int(headers["Content-Range"].rpartition("/")[2]) == size
    out = bytearray()
    for start in range(0, size, 1024 * 1024):
        status, _, body = fetch(location, {"Range": f"bytes={start}-{min(size, start + 1024 * 1024) - 1}", **auth})
        assert status == 206
        out += body
    return bytes(out)


def test_presigned_download_is_refused_by_a_strict_store_with_bearer_but_proxy_works(
    s3_image: Any, fake_s3: Any, alice_api: Any, client: Any, settings: Any
) -> None:
    data, ref = s3_image["data"], s3_image["ref"]
    token_header = {"Authorization": f"BEARER {alice_api.token}"}

    # Default on S3: 303 to a presigned GET of the store, which honours Range...
    response = alice_api.get(f"v1/imagefile/{ref}?arch=amd64")
    assert response.status_code == 303
    location = response["Location"]
    assert location.startswith(f"http://{HOST}/images/blobs/sha256/")

    def store(url: str, headers: dict[str, str]) -> tuple:
        return fake_s3.http("GET", url, headers)

    assert _ranged_download(store, location, len(data), {}) == data  # Apptainer 1.0 / >= 1.2: no token sent
    # ...but Apptainer 1.1 sends its BEARER token to the 303 target, and AWS S3 / MinIO refuse that:
    status, _, body = store(location, {"Range": "bytes=0-1024", **token_header})
    assert status == 400 and b"Only one auth mechanism" in body

    # LEGACY_CLIENT_DOWNLOAD_MODE = proxy: BEARER clients get our own ranged endpoint instead.
    settings.SYLABS_LIBRARY = {"LEGACY_CLIENT_DOWNLOAD_MODE": "proxy"}
    response = alice_api.get(f"v1/imagefile/{ref}?arch=amd64")
    assert response.status_code == 303
    proxied = response["Location"]
    assert proxied.startswith("http://testserver/v2/imagefile/_download/")

    def ours(url: str, headers: dict[str, str]) -> tuple:
        extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
        answer = client.get(url.removeprefix("http://testserver"), **extra)
        return answer.status_code, answer, b"".join(answer.streaming_content)

    assert _ranged_download(ours, proxied, len(data), token_header) == data
    # Apptainer >= 1.2 spells it "Bearer" and never sends it to another host: it keeps the presigned URL.
    alice_api.scheme = "Bearer"
    assert alice_api.get(f"v1/imagefile/{ref}?arch=amd64")["Location"].startswith(f"http://{HOST}/")


def test_stream_mode_on_s3_serves_ranges_through_the_app(s3_image: Any, alice_api: Any, settings: Any) -> None:
    settings.SYLABS_LIBRARY = {"DOWNLOAD_MODE": "stream"}
    data, ref = s3_image["data"], s3_image["ref"]
    response = alice_api.get(f"v1/imagefile/{ref}?arch=amd64", HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == data[100:200]
    assert response["Content-Range"] == f"bytes 100-199/{len(data)}"
    full = alice_api.get(f"v1/imagefile/{ref}?arch=amd64")
    assert full.status_code == 200 and b"".join(full.streaming_content) == data


def test_proxy_mode_on_filesystem(alice: Any, alice_api: Any, client: Any, settings: Any) -> None:
    data = make_sif("amd64", 256 * 1024)
    seed(alice, "alice/tools/fs", data)
    settings.SYLABS_LIBRARY = {"DOWNLOAD_MODE": "proxy"}
    response = alice_api.get("v1/imagefile/alice/tools/fs:latest?arch=amd64")
    assert response.status_code == 303
    path = response["Location"].removeprefix("http://testserver")
    part = client.get(path, HTTP_RANGE="bytes=10-19", HTTP_AUTHORIZATION="BEARER whatever")
    assert part.status_code == 206 and b"".join(part.streaming_content) == data[10:20]
    # A tampered token is a 404; an expired one a 410.
    assert client.get(path[:-3] + "abc").status_code == 404
    settings.SYLABS_LIBRARY = {"DOWNLOAD_MODE": "proxy", "DOWNLOAD_URL_EXPIRY_SECONDS": -1}
    assert client.get(path).status_code == 410


@pytest.mark.parametrize("mode", ["x-accel-redirect", "x-sendfile"])
def test_sendfile_modes_hand_the_file_to_the_web_server(
    mode: str, alice: Any, alice_api: Any, settings: Any, image_storage: Any
) -> None:
    data = make_sif("amd64", 8 * 1024)
    image = seed(alice, "alice/tools/web", data)
    settings.SYLABS_LIBRARY = {"SENDFILE_MODE": mode, "SENDFILE_URL_PREFIX": "/_protected/"}
    response = alice_api.get("v1/imagefile/alice/tools/web:latest?arch=amd64", HTTP_RANGE="bytes=0-9")
    assert response.status_code == 200 and response.content == b""
    name = image.blob.storage_name
    if mode == "x-accel-redirect":
        assert response["X-Accel-Redirect"] == "/_protected/" + name
    else:
        assert response["X-Sendfile"] == str(image_storage / name)
    assert response["ETag"] == f'"{image.sha256_hex}"'


# --- the fast body reader ---------------------------------------------------------------------------------


class _Source:
    def __init__(self, data: bytes, cut: int | None = None) -> None:
        self.stream = io.BytesIO(data[:cut] if cut is not None else data)
        self.done_with: tuple[int, int] | None = None

    def fill(self, view: memoryview) -> int:
        return self.stream.readinto(view[: 7 * 1024])  # short reads, like recv_into

    def done(self, received: int, length: int) -> None:
        self.done_with = (received, length)


def test_pump_hands_every_byte_in_order(settings: Any) -> None:
    settings.SYLABS_LIBRARY = {"UPLOAD_CHUNK_SIZE": 64 * 1024}
    data = bytes(range(256)) * 4099
    source = _Source(data)
    out = bytearray()
    assert bodyreader.pump(source, len(data), lambda view: out.extend(view)) == len(data)
    assert bytes(out) == data and source.done_with == (len(data), len(data))
    short = _Source(data, cut=1000)
    assert bodyreader.pump(short, len(data), lambda view: None) == 1000


def test_receive_through_the_pump_verifies_and_reports_a_short_body(settings: Any, tmp_path: Any) -> None:
    data = b"x" * 300_000

    class Body:
        can_pump = True

        def __init__(self, cut: int | None = None) -> None:
            self.source = _Source(data, cut)

        def pump(self, length: int, consume: Any) -> int:
            return bodyreader.pump(self.source, length, consume)

    received = uploads._receive_to_file(Body(), len(data), tmp_path / "a")
    assert received.sha256 == hashlib.sha256(data).hexdigest() and (tmp_path / "a").read_bytes() == data
    with pytest.raises(uploads.IncompleteUpload):
        uploads._receive_to_file(Body(cut=5), len(data), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_body_reader_falls_back_to_wsgi_input_outside_gunicorn(rf: Any) -> None:
    request = rf.put("/x", data=b"abc", content_type="application/octet-stream")
    body = bodyreader.request_body(request)
    assert not body.can_pump and body(3) == b"abc"


# --- abandoned uploads ------------------------------------------------------------------------------------


def test_gc_aborts_expired_s3_multipart_uploads(fake_s3: Any, alice_api: Any, settings: Any) -> None:
    data = make_sif("amd64", 70 * MiB)
    image = _prepare(alice_api, data)
    alice_api.data("POST", f"v2/imagefile/{image['id']}/_multipart", {"filesize": len(data)})
    fresh = _prepare(alice_api, make_sif("amd64", 70 * MiB), "fresh")
    alice_api.data("POST", f"v2/imagefile/{fresh['id']}/_multipart", {"filesize": 70 * MiB})
    old = timezone.now() - timedelta(hours=3)
    UploadSession.objects.filter(image_id=image["id"]).update(expires_at=old)
    for upload in fake_s3.uploads.values():
        if upload["Key"].endswith(UploadSession.objects.get(image_id=image["id"]).upload_id):
            upload["Initiated"] = old
    fake_s3.objects["uploads/orphan"] = b"left by a crash"
    fake_s3.modified["uploads/orphan"] = old

    out = io.StringIO()
    call_command("sylabs_library_gc", "--dry-run", stdout=out)
    assert "would remove: 1 session(s)" in out.getvalue() and len(fake_s3.uploads) == 2
    call_command("sylabs_library_gc", stdout=io.StringIO())
    assert len(fake_s3.uploads) == 1  # the fresh upload stays
    assert "uploads/orphan" not in fake_s3.objects
    assert UploadSession.objects.get(image_id=image["id"]).state == UploadSession.State.ABORTED
    assert UploadSession.objects.get(image_id=fresh["id"]).state == UploadSession.State.OPEN


def test_gc_deletes_expired_temporary_files(alice_api: Any, image_storage: Any) -> None:
    data = make_sif("amd64", 70 * MiB)
    image = _prepare(alice_api, data)
    alice_api.data("POST", f"v2/imagefile/{image['id']}/_multipart", {"filesize": len(data)})
    session = UploadSession.objects.get(image_id=image["id"])
    path = uploads._temp_path(session.temp_name)
    assert path.exists()
    UploadSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() - timedelta(hours=3))
    report = uploads.cleanup_abandoned_uploads()
    assert session.upload_id in report.sessions and not path.exists()


# --- operations -------------------------------------------------------------------------------------------


def test_health(client: Any, monkeypatch: pytest.MonkeyPatch, db: Any) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "storage": "ok"}
    from django_sylabs_library import ops

    def down() -> None:
        raise OSError("store unreachable")

    monkeypatch.setattr(ops, "check_storage", down)
    response = client.get("/health")
    assert response.status_code == 503 and response.json()["storage"] == "error"


def test_health_on_s3_asks_the_bucket(fake_s3: Any, client: Any, db: Any) -> None:
    assert client.get("/health").status_code == 200
    assert "HeadBucket" in fake_s3.calls


def test_metrics_off_by_default_then_scrapeable(client: Any, alice_api: Any, settings: Any) -> None:
    assert client.get("/metrics").status_code == 404
    settings.SYLABS_LIBRARY = {"METRICS_ENABLED": True, "METRICS_TOKEN": "s3cret"}
    alice_api.get("version")
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'sylabs_library_requests_total{method="GET",status="200",view="VersionView"}' in text


# --- system checks ----------------------------------------------------------------------------------------


def _ids(settings: Any) -> set[str]:
    return {m.id for m in check_settings()}


def test_checks_report_bad_storage_settings(settings: Any) -> None:
    storages = dict(settings.STORAGES)
    storages["sylabs_library"] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {"endpoint_url": "http://x"}}
    settings.STORAGES = storages
    ids = _ids(settings)
    assert "django_sylabs_library.E011" in ids  # no bucket
    storages["sylabs_library"]["OPTIONS"] = {"bucket_name": "b", "access_key": "k"}
    settings.STORAGES = dict(storages)
    assert "django_sylabs_library.E012" in _ids(settings)  # key without secret
    storages["sylabs_library"]["OPTIONS"] = {"bucket_name": "b", "access_key": "k", "secret_key": "s"}
    settings.STORAGES = dict(storages)
    settings.SYLABS_LIBRARY = {"SENDFILE_MODE": "x-accel-redirect"}
    assert "django_sylabs_library.E015" in _ids(settings)


def test_checks_report_bad_modes(settings: Any) -> None:
    settings.SYLABS_LIBRARY = {"DOWNLOAD_MODE": "presigned"}
    assert "django_sylabs_library.E014" in _ids(settings)  # presigned needs S3
    settings.SYLABS_LIBRARY = {"DOWNLOAD_MODE": "fast"}
    assert "django_sylabs_library.E004" in _ids(settings)
    settings.SYLABS_LIBRARY = {"SENDFILE_MODE": "apache"}
    assert "django_sylabs_library.E005" in _ids(settings)
    settings.SYLABS_LIBRARY = {}
    assert not {i for i in _ids(settings) if i.startswith("django_sylabs_library.E")}
