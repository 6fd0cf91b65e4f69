"""Opt-in entity quotas (flows/quotas.py, docs/limits.md): 507 before any byte is stored, again at
completion, usage in the ``_complete`` answer, and the entity JSON."""

from __future__ import annotations

import json

import pytest

from django_sylabs_library.flows import quotas
from django_sylabs_library.models import Blob, Entity, Image, UploadSession
from tests.conftest import PushError, assert_error, blob_files, image_body, image_hash, make_sif, push, seed
from tests.test_uploads import put_bytes, start, upload_url, uploads_in_progress

KB = 1024


def set_quota(name: str, quota: int) -> None:
    assert Entity.objects.filter(name=name).update(quota=quota) == 1


@pytest.fixture
def alice_image(alice, alice_api, image_storage):
    """alice/tools/samtools with one pushed image; returns (container id, size of that image)."""
    data = make_sif(size=20 * KB)
    image = seed(alice, "alice/tools/samtools", data)
    return str(image.container_id), len(data)


def new_record(api, container_id, data):
    created = api.data("POST", "v1/images", image_body(image_hash(data), container_id))
    assert created["uploaded"] is False
    return created


def assert_nothing_stored(image_id, image_storage, blobs_before):
    image = Image.objects.get(pk=int(image_id))
    assert image.uploaded is False and image.blob_id is None
    assert blob_files(image_storage) == blobs_before
    assert uploads_in_progress(image_storage) == []


# --- the limit ----------------------------------------------------------------------------------


def test_off_by_default(alice, alice_image):
    entity = Entity.objects.get(name="alice")
    assert quotas.quota_of(entity) is None
    quotas.check_entity(entity, 10**15)  # no limit: never raises


def test_entity_quota_overrides_default_and_negative_means_unlimited(alice, alice_image, settings):
    settings.SYLABS_LIBRARY = {"DEFAULT_ENTITY_QUOTA": 1000}
    entity = Entity.objects.get(name="alice")
    assert quotas.quota_of(entity) == 1000
    entity.quota = 5000
    assert quotas.quota_of(entity) == 5000
    entity.quota = -1
    assert quotas.quota_of(entity) is None
    assert quotas.quota_total(entity) == 0  # what the client reads as "unlimited"


def test_usage_counts_each_image_record(alice, alice_image, image_storage):
    """The same bytes in two containers of one entity count twice (stored once)."""
    container_id, size = alice_image
    entity = Entity.objects.get(name="alice")
    data = make_sif(size=3 * KB)
    seed(alice, "alice/tools/copy", data)
    seed(alice, "alice/tools/again", data)
    assert Blob.objects.count() == 2
    assert quotas.usage_of(entity) == size + 2 * len(data)


# --- refused at upload start: nothing stored ----------------------------------------------------


@pytest.mark.parametrize("path", ["v1", "v2", "multipart"])
def test_over_quota_is_507_before_any_byte(alice_api, alice_image, image_storage, settings, path):
    container_id, size = alice_image
    settings.SYLABS_LIBRARY = {"DEFAULT_ENTITY_QUOTA": size + 10 * KB}
    data = make_sif(size=20 * KB)
    created = new_record(alice_api, container_id, data)
    before = blob_files(image_storage)
    sessions = UploadSession.objects.count()
    if path == "v1":
        response = alice_api.post(f"v1/imagefile/{created['id']}", raw=data)
    elif path == "v2":
        response = start(alice_api, created, data)
    else:
        response = alice_api.post(f"v2/imagefile/{created['id']}/_multipart", {"filesize": len(data)})
    body = assert_error(response, 507, "quota")
    message = body["error"]["message"]
    assert "alice" in message and "30.0 KB" in message and "20.0 KB in use" in message
    assert UploadSession.objects.count() == sessions  # no session, no temporary file, no blob
    assert_nothing_stored(created["id"], image_storage, before)


def test_within_quota_succeeds_and_complete_reports_usage(alice_api, alice_image, settings):
    container_id, size = alice_image
    data = make_sif(size=20 * KB)
    settings.SYLABS_LIBRARY = {"DEFAULT_ENTITY_QUOTA": size + len(data)}  # exactly fits
    created = new_record(alice_api, container_id, data)
    assert put_bytes(alice_api, upload_url(alice_api, created, data), data).status_code == 200
    response = alice_api.put(f"v2/imagefile/{created['id']}/_complete", {})
    assert response.status_code == 200
    summary = json.loads(response.content)["data"]
    assert summary["quota"] == {"quotaTotal": size + len(data), "quotaUsage": size + len(data)}


def test_complete_reports_zero_total_without_quota(alice_api, alice_image):
    container_id, size = alice_image
    data = make_sif(size=5 * KB)
    created = new_record(alice_api, container_id, data)
    put_bytes(alice_api, upload_url(alice_api, created, data), data)
    summary = alice_api.data("PUT", f"v2/imagefile/{created['id']}/_complete", {})
    assert summary["quota"] == {"quotaTotal": 0, "quotaUsage": size + len(data)}


def test_entity_quota_field_applies_without_default(alice_api, alice_image, image_storage):
    container_id, size = alice_image
    set_quota("alice", size + 1)
    data = make_sif(size=5 * KB)
    created = new_record(alice_api, container_id, data)
    assert_error(alice_api.post(f"v1/imagefile/{created['id']}", raw=data), 507, "quota")
    set_quota("alice", -1)  # unlimited for alice even with a site default
    assert alice_api.post(f"v1/imagefile/{created['id']}", raw=data).status_code == 200


def test_other_entities_do_not_count(alice_api, bob, bob_api, alice_image, settings):
    container_id, size = alice_image
    settings.SYLABS_LIBRARY = {"DEFAULT_ENTITY_QUOTA": size + 6 * KB}
    image = push(bob_api, "bob/mine/x", make_sif(size=size))  # bob has his own allowance
    assert image["uploaded"] is True


# --- refused at completion: the size is certain; cleaned up -------------------------------------


def test_v2_complete_over_quota_is_507_and_cleans_up(alice_api, alice_image, image_storage, settings):
    """Two uploads started while both fit; the second to complete no longer fits."""
    container_id, size = alice_image
    first, second = make_sif(size=20 * KB), make_sif(size=20 * KB)
    settings.SYLABS_LIBRARY = {"DEFAULT_ENTITY_QUOTA": size + 30 * KB}
    a, b = new_record(alice_api, container_id, first), new_record(alice_api, container_id, second)
    before = blob_files(image_storage)
    url_a, url_b = upload_url(alice_api, a, first), upload_url(alice_api, b, second)
    assert put_bytes(alice_api, url_a, first).status_code == 200
    assert put_bytes(alice_api, url_b, second).status_code == 200
    assert alice_api.put(f"v2/imagefile/{a['id']}/_complete", {}).status_code == 200
    assert_error(alice_api.put(f"v2/imagefile/{b['id']}/_complete", {}), 507, "quota")
    assert Image.objects.get(pk=int(b["id"])).uploaded is False
    # b's bytes were stored at its PUT; refused, they are gone again (only a's blob was added).
    assert len(blob_files(image_storage)) == len(before) + 1
    assert not Blob.objects.filter(sha256=image_hash(second).removeprefix("sha256.")).exists()
    assert UploadSession.objects.get(image_id=int(b["id"])).state == UploadSession.State.FAILED
    assert_error(alice_api.get(f"v1/imagefile/alice/tools/samtools:{b['hash']}?arch=amd64"), 404)


def test_multipart_complete_over_quota_is_507_and_cleans_up(alice_api, alice_image, image_storage, settings):
    container_id, size = alice_image
    settings.SYLABS_LIBRARY = {"DEFAULT_ENTITY_QUOTA": size + 30 * KB, "MULTIPART_PART_SIZE": 5 * 1024 * 1024}
    data = make_sif(size=20 * KB)
    created = new_record(alice_api, container_id, data)
    before = blob_files(image_storage)
    started = alice_api.data("POST", f"v2/imagefile/{created['id']}/_multipart", {"filesize": len(data)})
    part = alice_api.data(
        "PUT",
        f"v2/imagefile/{created['id']}/_multipart",
        {"uploadID": started["uploadID"], "partNumber": 1, "partSize": len(data), "sha256sum": ""},
    )
    put = put_bytes(alice_api, part["presignedURL"], data)
    assert put.status_code == 200
    # Meanwhile another push used the room.
    seed(Entity.objects.get(name="alice").owner, "alice/tools/other", make_sif(size=15 * KB))
    response = alice_api.put(
        f"v2/imagefile/{created['id']}/_multipart_complete",
        {"uploadID": started["uploadID"], "completedParts": [{"partNumber": 1, "token": put["ETag"]}]},
    )
    assert_error(response, 507, "quota")
    assert Image.objects.get(pk=int(created["id"])).uploaded is False
    assert len(blob_files(image_storage)) == len(before) + 1  # only the other push's blob
    assert uploads_in_progress(image_storage) == []


def test_dedup_attach_counts_against_the_quota(alice_api, bob, bob_api, alice_image, image_storage, settings):
    """Attaching bytes that are already stored (someone's public image) adds the image's size."""
    container_id, size = alice_image
    data = make_sif(size=20 * KB)
    push(bob_api, "bob/mine/x", data)
    settings.SYLABS_LIBRARY = {"DEFAULT_ENTITY_QUOTA": size + 10 * KB}
    response = alice_api.post("v1/images", image_body(image_hash(data), container_id))
    assert_error(response, 507, "quota")
    assert not Image.objects.filter(container_id=int(container_id), hash=image_hash(data)).exists()


def test_push_helper_sees_the_507(alice_api, alice_image, settings):
    container_id, size = alice_image
    settings.SYLABS_LIBRARY = {"DEFAULT_ENTITY_QUOTA": size}
    with pytest.raises(PushError) as failed:
        push(alice_api, "alice/tools/samtools", make_sif(size=KB))
    assert failed.value.step == "start upload" and failed.value.response.status_code == 507


# --- entity JSON ---------------------------------------------------------------------------------


def test_entity_json_shows_quota_and_visible_size(alice_api, bob_api, anon_api, alice_image, settings):
    container_id, size = alice_image
    settings.SYLABS_LIBRARY = {"DEFAULT_ENTITY_QUOTA": 10**9}
    entity = alice_api.data("GET", "v1/entities/alice")
    assert entity["quota"] == 10**9 and entity["size"] == size
    set_quota("alice", -1)
    assert alice_api.data("GET", "v1/entities/alice")["quota"] == 0
    # A private collection's bytes are nobody else's business.
    from django_sylabs_library.models import Collection

    Collection.objects.filter(name="tools").update(private=True)
    assert bob_api.data("GET", "v1/entities/alice")["size"] == 0
    assert anon_api.data("GET", "v1/entities/alice")["size"] == 0
    assert alice_api.data("GET", "v1/entities/alice")["size"] == size


def test_entity_page_shows_the_effective_quota_to_owners(alice, alice_image, client, settings):
    client.force_login(alice)
    assert "Quota:" not in client.get("/e/alice/").content.decode()
    settings.SYLABS_LIBRARY = {"DEFAULT_ENTITY_QUOTA": 2 * 1024**3}
    assert "Quota: 2.0\xa0GB" in client.get("/e/alice/").content.decode()
    set_quota("alice", -1)
    assert "Quota:" not in client.get("/e/alice/").content.decode()


# --- S3 -----------------------------------------------------------------------------------------


@pytest.fixture
def fake_s3(monkeypatch):
    from tests.fake_s3 import install_fake_s3

    return install_fake_s3(monkeypatch)


def test_s3_start_and_complete_over_quota(fake_s3, alice, alice_api, settings):
    """On S3 the start is refused before any URL is signed; at _complete (after HeadObject) the
    temporary object is deleted and the image stays not uploaded."""
    from tests.test_url_expiry import s3_record

    first, second = make_sif(size=20 * KB), make_sif(size=20 * KB)
    a, b = s3_record(alice_api, first, "a"), s3_record(alice_api, second, "b")
    settings.SYLABS_LIBRARY = {"DEFAULT_ENTITY_QUOTA": 30 * KB}
    url_a = alice_api.data("POST", f"v2/imagefile/{a['id']}", {"filesize": len(first)})["uploadURL"]
    url_b = alice_api.data("POST", f"v2/imagefile/{b['id']}", {"filesize": len(second)})["uploadURL"]
    assert fake_s3.http("PUT", url_a, {}, first)[0] == 200
    assert fake_s3.http("PUT", url_b, {}, second)[0] == 200
    assert alice_api.put(f"v2/imagefile/{a['id']}/_complete", {}).status_code == 200
    objects = set(fake_s3.objects)
    assert_error(alice_api.put(f"v2/imagefile/{b['id']}/_complete", {}), 507, "quota")
    assert Image.objects.get(pk=int(b["id"])).uploaded is False
    assert set(fake_s3.objects) == objects - {k for k in objects if k.startswith("uploads/")}
    assert not any(k.startswith("uploads/") for k in fake_s3.objects)
    # A new start no longer fits: refused before a URL is signed or a multipart upload created.
    calls = list(fake_s3.calls)
    assert_error(alice_api.post(f"v2/imagefile/{b['id']}", {"filesize": len(second)}), 507)
    assert_error(alice_api.post(f"v2/imagefile/{b['id']}/_multipart", {"filesize": len(second)}), 507)
    assert fake_s3.calls == calls
