"""Dedup never lets someone attach a blob they could not read (issue 6).

Bob knows the hash of alice's private image but not its bytes. He creates an image record with
that hash and then tries every way to finish an upload without sending the right bytes: no
upload at all, a zero-length body, other bytes, on v1, v2 single-part and v2 multipart, on the
filesystem and on S3. Each time his image stays not uploaded, pulling it fails, alice's image is
untouched, and his answers are the same as for a hash that exists nowhere (no oracle telling him
that the library holds those bytes).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from django_sylabs_library.models import Blob, Image, UploadSession
from tests.conftest import body_of, image_body, image_hash, make_sif, seed, sha256_hex
from tests.fake_s3 import install_fake_s3
from tests.test_uploads import put_bytes

KB = 1024


@pytest.fixture
def secret(alice):
    """Alice's private image: (bytes, Image)."""
    data = make_sif(size=24 * KB)
    image = seed(alice, "alice/private/app", data, private=True)
    return data, image


@pytest.fixture
def bob_container(bob, secret):
    return str(seed(bob, "bob/mine/other", make_sif()).container_id)


def claim(bob_api: Any, container: str, hash_: str) -> dict[str, Any]:
    created = bob_api.data("POST", "v1/images", image_body(hash_, container))
    assert created["uploaded"] is False  # the hash attached nothing
    return created


def fake_hash() -> str:
    return "sha256." + hashlib.sha256(b"bytes nobody ever uploaded").hexdigest()


def _answer(response: Any, hash_hex: str) -> tuple[int, str]:
    """Status and message, with the claimed hash and ids blanked (they differ between the two runs)."""
    message = ""
    if response.content:
        try:
            message = json.dumps(json.loads(response.content).get("error", {}))
        except ValueError:
            message = response.content.decode(errors="replace")
    message = message.replace(hash_hex, "<hash>")
    message = re.sub(r"[0-9a-f]{32,64}", "<id>", message)
    return response.status_code, message


# Each attack: (bob_api, image json, size he claims, wrong bytes) -> list of responses.
def v1_empty(api, image, size, wrong):
    return [api.post(f"v1/imagefile/{image['id']}", raw=b"")]


def v1_wrong_bytes(api, image, size, wrong):
    return [api.post(f"v1/imagefile/{image['id']}", raw=wrong)]


def v2_complete_only(api, image, size, wrong):
    return [api.put(f"v2/imagefile/{image['id']}/_complete", {})]


def v2_start_then_complete(api, image, size, wrong):
    sha = image["hash"].removeprefix("sha256.")
    return [
        api.post(f"v2/imagefile/{image['id']}", {"filesize": size, "sha256sum": sha}),
        api.put(f"v2/imagefile/{image['id']}/_complete", {}),
    ]


def _v2_put(api, image, size, body):
    sha = image["hash"].removeprefix("sha256.")
    started = api.post(f"v2/imagefile/{image['id']}", {"filesize": size, "sha256sum": sha})
    url = json.loads(started.content)["data"]["uploadURL"]
    return [started, put_bytes(api, url, body), api.put(f"v2/imagefile/{image['id']}/_complete", {})]


def v2_zero_length(api, image, size, wrong):
    return _v2_put(api, image, 0, b"")


def v2_wrong_bytes(api, image, size, wrong):
    return _v2_put(api, image, size, wrong)


def multipart_complete_without_parts(api, image, size, wrong):
    started = api.post(f"v2/imagefile/{image['id']}/_multipart", {"filesize": size})
    upload_id = json.loads(started.content)["data"]["uploadID"]
    forged = [{"partNumber": 1, "token": '"' + image["hash"].removeprefix("sha256.") + '"'}]
    return [
        started,
        api.put(f"v2/imagefile/{image['id']}/_multipart_complete", {"uploadID": upload_id, "completedParts": forged}),
    ]


def multipart_wrong_bytes(api, image, size, wrong):
    started = api.post(f"v2/imagefile/{image['id']}/_multipart", {"filesize": size})
    upload_id = json.loads(started.content)["data"]["uploadID"]
    body = {"uploadID": upload_id, "partNumber": 1, "partSize": size, "sha256sum": ""}
    part = api.put(f"v2/imagefile/{image['id']}/_multipart", body)
    put = put_bytes(api, json.loads(part.content)["data"]["presignedURL"], wrong)
    completed = [{"partNumber": 1, "token": put["ETag"]}]
    return [
        started,
        part,
        put,
        api.put(
            f"v2/imagefile/{image['id']}/_multipart_complete", {"uploadID": upload_id, "completedParts": completed}
        ),
    ]


ATTACKS: list[Callable[..., list[Any]]] = [
    v1_empty,
    v1_wrong_bytes,
    v2_complete_only,
    v2_start_then_complete,
    v2_zero_length,
    v2_wrong_bytes,
    multipart_complete_without_parts,
    multipart_wrong_bytes,
]


def assert_no_access(bob_api, anon_api, bob_image, secret_data, secret_image):
    image = Image.objects.get(pk=int(bob_image["id"]))
    assert image.uploaded is False and image.blob_id is None and image.size == 0
    assert not UploadSession.objects.filter(image=image, state=UploadSession.State.COMPLETED).exists()
    # Tagging and pulling his record fail; nothing he can reach serves alice's bytes.
    tag = bob_api.post(f"v2/tags/{bob_image['container']}", {"Arch": "amd64", "Tag": "x", "ImageID": bob_image["id"]})
    assert tag.status_code >= 400
    for path in (
        f"v1/imagefile/bob/mine/other:{bob_image['hash']}?arch=amd64",
        "v1/imagefile/bob/mine/other:x?arch=amd64",
        f"v1/imagefile/alice/private/app:{bob_image['hash']}?arch=amd64",
    ):
        response = bob_api.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert secret_data not in response.content
    assert anon_api.get(f"v1/imagefile/alice/private/app:{bob_image['hash']}?arch=amd64").status_code == 404
    assert bob_api.data("GET", f"v1/images/bob/mine/other:{bob_image['hash']}?arch=amd64")["uploaded"] is False
    # Alice's image is untouched.
    secret_image.refresh_from_db()
    assert secret_image.uploaded and secret_image.blob.sha256 == sha256_hex(secret_data)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.__name__)
def test_claimed_hash_gives_no_access(attack, alice_api, bob_api, anon_api, secret, bob_container, settings):
    settings.SYLABS_LIBRARY = {"MULTIPART_PART_SIZE": 5 * 1024 * 1024}
    data, image = secret
    wrong = make_sif(size=len(data))
    blobs = Blob.objects.count()
    mine = claim(bob_api, bob_container, image.hash)
    answers = attack(bob_api, mine, len(data), wrong)
    assert all(r.status_code < 500 for r in answers)
    assert answers[-1].status_code >= 400
    assert_no_access(bob_api, anon_api, mine, data, image)
    assert Blob.objects.count() == blobs
    assert body_of(alice_api.get(f"v1/imagefile/alice/private/app:{image.hash}?arch=amd64")) == data

    # The same attack on a hash the library has never seen answers exactly the same: bob learns
    # nothing about whether alice's bytes exist.
    control = claim(bob_api, bob_container, fake_hash())
    control_answers = attack(bob_api, control, len(data), wrong)
    assert [_answer(r, fake_hash()[7:]) for r in control_answers] == [_answer(r, image.sha256_hex) for r in answers]


def test_the_real_bytes_are_the_only_way_in(bob_api, secret, bob_container):
    """Control: with the bytes themselves bob's upload succeeds (and shares the stored blob)."""
    data, image = secret
    mine = claim(bob_api, bob_container, image.hash)
    assert bob_api.post(f"v1/imagefile/{mine['id']}", raw=data).status_code == 200
    assert Image.objects.get(pk=int(mine["id"])).blob_id == image.blob_id


def test_a_collection_made_private_later_stops_dedup(alice, bob_api, bob_container):
    data = make_sif(size=8 * KB)
    public = seed(alice, "alice/open/app", data)
    public.container.collection.private = True
    public.container.collection.save()
    assert bob_api.data("POST", "v1/images", image_body(public.hash, bob_container))["uploaded"] is False


# --- S3 ------------------------------------------------------------------------------------------


@pytest.fixture
def fake_s3(monkeypatch):
    return install_fake_s3(monkeypatch)


def test_s3_claimed_hash_gives_no_access(fake_s3, alice, bob, alice_api, bob_api, anon_api):
    data = make_sif(size=24 * KB)
    # Alice pushes her private image through the S3 path.
    col = alice_api.data(
        "POST",
        "v1/collections",
        {"entity": alice_api.data("GET", "v1/entities/alice")["id"], "name": "private", "private": True},
    )
    from django_sylabs_library.models import Collection

    Collection.objects.filter(pk=int(col["id"])).update(private=True)
    con = alice_api.data("POST", "v1/containers", {"collection": col["id"], "name": "app"})
    secret_json = alice_api.data("POST", "v1/images", image_body(image_hash(data), con["id"]))
    url = alice_api.data("POST", f"v2/imagefile/{secret_json['id']}", {"filesize": len(data)})["uploadURL"]
    assert fake_s3.http("PUT", url, {}, data)[0] == 200
    alice_api.data("PUT", f"v2/imagefile/{secret_json['id']}/_complete", {})
    secret_image = Image.objects.get(pk=int(secret_json["id"]))
    assert secret_image.uploaded

    bcol = bob_api.data(
        "POST", "v1/collections", {"entity": bob_api.data("GET", "v1/entities/bob")["id"], "name": "mine"}
    )
    bcon = bob_api.data("POST", "v1/containers", {"collection": bcol["id"], "name": "other"})
    objects = set(fake_s3.objects)

    def attempt(body: bytes | None, size: int) -> None:
        mine = claim(bob_api, bcon["id"], secret_image.hash)
        started = bob_api.data("POST", f"v2/imagefile/{mine['id']}", {"filesize": size})
        if body is not None:
            assert fake_s3.http("PUT", started["uploadURL"], {}, body)[0] == 200
        assert bob_api.put(f"v2/imagefile/{mine['id']}/_complete", {}).status_code == 400
        assert_no_access(bob_api, anon_api, {**mine, "container": bcon["id"]}, data, secret_image)
        Image.objects.filter(pk=int(mine["id"])).delete()

    attempt(None, len(data))  # _complete without any PUT
    attempt(b"", 0)  # zero-length body
    attempt(make_sif(size=len(data)), len(data))  # other bytes of the right size

    # Multipart: parts of other bytes, and a completion that names parts never sent.
    mine = claim(bob_api, bcon["id"], secret_image.hash)
    started = bob_api.data("POST", f"v2/imagefile/{mine['id']}/_multipart", {"filesize": len(data)})
    body = {"uploadID": started["uploadID"], "partNumber": 1, "partSize": len(data), "sha256sum": ""}
    part_url = bob_api.data("PUT", f"v2/imagefile/{mine['id']}/_multipart", body)["presignedURL"]
    status, headers, _ = fake_s3.http("PUT", part_url, {}, make_sif(size=len(data)))
    assert status == 200
    complete = {"uploadID": started["uploadID"], "completedParts": [{"partNumber": 1, "token": headers["ETag"]}]}
    assert bob_api.put(f"v2/imagefile/{mine['id']}/_multipart_complete", complete).status_code == 400
    assert_no_access(bob_api, anon_api, {**mine, "container": bcon["id"]}, data, secret_image)
    Image.objects.filter(pk=int(mine["id"])).delete()

    mine = claim(bob_api, bcon["id"], secret_image.hash)
    started = bob_api.data("POST", f"v2/imagefile/{mine['id']}/_multipart", {"filesize": len(data)})
    forged = {"uploadID": started["uploadID"], "completedParts": [{"partNumber": 1, "token": '"' + "0" * 32 + '"'}]}
    assert bob_api.put(f"v2/imagefile/{mine['id']}/_multipart_complete", forged).status_code == 400
    assert_no_access(bob_api, anon_api, {**mine, "container": bcon["id"]}, data, secret_image)

    assert set(fake_s3.objects) == objects  # every temporary object bob caused is gone
    assert Blob.objects.count() == 1
