"""Images: GET by tag, hash and arch with 1-, 2- and 3-segment refs; POST v1/images; DELETE."""

from __future__ import annotations

import json

import pytest

from django_sylabs_library.models import Blob, Collection, Container, Image, Tag
from django_sylabs_library.permissions import grant_collaborator
from tests.conftest import (
    PushError,
    assert_error,
    blob_files,
    body_of,
    image_body,
    image_hash,
    make_sif,
    push,
    seed,
)

# --- GET -------------------------------------------------------------------------------------


def test_get_by_tag_and_arch(alice_api, anon_api, pushed):
    for client in (alice_api, anon_api):
        data = client.data("GET", "v1/images/alice/tools/samtools:latest?arch=amd64")
        assert data["id"] == pushed["image"]["id"]
        assert data["hash"] == image_hash(pushed["data"])
        assert data["uploaded"] is True
        assert data["size"] == len(pushed["data"])
        assert data["arch"] == "amd64"


def test_get_without_tag_means_latest(anon_api, pushed):
    assert anon_api.data("GET", "v1/images/alice/tools/samtools?arch=amd64")["id"] == pushed["image"]["id"]


def test_get_is_case_insensitive(anon_api, pushed):
    assert anon_api.data("GET", "v1/images/Alice/Tools/SamTools:latest?arch=amd64")["id"] == pushed["image"]["id"]


def test_get_tag_for_another_arch_is_404(anon_api, pushed):
    assert_error(anon_api.get("v1/images/alice/tools/samtools:latest?arch=arm64"), 404)


@pytest.mark.parametrize("arch", ["", "arm64", "amd64"])
def test_hash_refs_ignore_arch(anon_api, pushed, arch):
    ref = f"v1/images/alice/tools/samtools:{image_hash(pushed['data'])}?arch={arch}"
    assert anon_api.data("GET", ref)["id"] == pushed["image"]["id"]


def test_empty_arch_prefers_the_default_arch(alice, anon_api, pushed):
    arm = seed(alice, "alice/tools/samtools", make_sif("arm64"))
    assert anon_api.data("GET", "v1/images/alice/tools/samtools:latest?arch=")["id"] == pushed["image"]["id"]
    assert anon_api.data("GET", "v1/images/alice/tools/samtools:latest?arch=arm64")["id"] == str(arm.pk)


def test_arch_query_is_also_read_from_the_encoded_form(anon_api, alice, pushed):
    arm = seed(alice, "alice/tools/samtools", make_sif("arm64"))
    # Singularity 3.7.0 sent `arch%3Darm64` (spec 9.2)
    assert anon_api.data("GET", "v1/images/alice/tools/samtools:latest?arch%3Darm64")["id"] == str(arm.pk)


def test_get_unknown_tag_or_hash_is_404(anon_api, pushed):
    assert_error(anon_api.get("v1/images/alice/tools/samtools:nope?arch=amd64"), 404)
    assert_error(anon_api.get(f"v1/images/alice/tools/samtools:{image_hash(b'other')}?arch=amd64"), 404)
    assert_error(anon_api.get("v1/images/alice/tools/nothing:latest?arch=amd64"), 404)
    assert_error(anon_api.get("v1/images/alice/nothing/samtools:latest?arch=amd64"), 404)


@pytest.mark.parametrize(
    "ref",
    [
        "a/b/c/d:latest",
        "alice/tools/samtools:sha256.abc",
        "alice/tools/samtools:latest,v2",
        "alice/tools/samtools:",
        "alice/to ols/samtools:latest",
        "alice/tools/samtools:bad tag",
        "alice/tools/samtools:latest?arch=AMD64!",
    ],
)
def test_malformed_refs_are_400(anon_api, pushed, ref):
    path = "v1/images/" + ref + ("" if "?" in ref else "?arch=amd64")
    assert_error(anon_api.get(path), 400)


def test_short_refs_use_the_default_entity_and_collection(user_factory, anon_api):
    staff = user_factory("root", is_staff=True)
    one = seed(staff, "default/default/busybox", make_sif())
    two = seed(staff, "default/tools/samtools", make_sif())
    assert anon_api.data("GET", "v1/images/busybox:latest?arch=amd64")["id"] == str(one.pk)
    assert anon_api.data("GET", "v1/images/tools/samtools:latest?arch=amd64")["id"] == str(two.pk)
    # A two-segment ref whose collection is not in the default entity falls back to the one
    # visible collection of that name (the reference guide pulls `collection/container:tag`).
    assert_error(anon_api.get("v1/images/other/samtools:latest?arch=amd64"), 404)


def test_default_entity_and_collection_are_settings(user_factory, anon_api, settings):
    staff = user_factory("root", is_staff=True)
    image = str(seed(staff, "hub/official/ubuntu", make_sif()).pk)
    assert_error(anon_api.get("v1/images/ubuntu:latest?arch=amd64"), 404)
    settings.SYLABS_LIBRARY = {"DEFAULT_ENTITY": "hub", "DEFAULT_COLLECTION": "official"}
    assert anon_api.data("GET", "v1/images/ubuntu:latest?arch=amd64")["id"] == image
    assert anon_api.data("GET", "v1/images/official/ubuntu:latest?arch=amd64")["id"] == image


def test_two_segments_find_the_unique_visible_collection(alice_api, anon_api, pushed):
    assert anon_api.data("GET", "v1/images/tools/samtools:latest?arch=amd64")["id"] == pushed["image"]["id"]
    data = anon_api.data("GET", f"v1/images/tools/samtools:{image_hash(pushed['data'])}?arch=amd64")
    assert data["id"] == pushed["image"]["id"]


def test_two_segments_ambiguous_is_400(bob, anon_api, pushed):
    seed(bob, "bob/tools/samtools", make_sif())
    assert_error(anon_api.get("v1/images/tools/samtools:latest?arch=amd64"), 400, "ambiguous")


def test_two_segments_ignore_collections_the_caller_cannot_see(alice_api, anon_api, bob, pushed):
    Collection.objects.filter(entity__name="alice", name="tools").update(private=True)
    bobs = seed(bob, "bob/tools/samtools", make_sif())
    # For anonymous callers only bob's collection exists.
    assert anon_api.data("GET", "v1/images/tools/samtools:latest?arch=amd64")["id"] == str(bobs.pk)
    # Alice sees both: ambiguous.
    assert_error(alice_api.get("v1/images/tools/samtools:latest?arch=amd64"), 400)


def test_two_segments_prefer_the_default_entity(user_factory, anon_api, pushed):
    staff = user_factory("root", is_staff=True)
    official = seed(staff, "default/tools/samtools", make_sif())
    assert anon_api.data("GET", "v1/images/tools/samtools:latest?arch=amd64")["id"] == str(official.pk)


def test_private_image_is_404_for_others(alice_api, bob_api, anon_api, api, bob, pushed):
    Collection.objects.filter(name="tools").update(private=True)
    path = "v1/images/alice/tools/samtools:latest?arch=amd64"
    assert alice_api.get(path).status_code == 200
    assert_error(bob_api.get(path), 404)
    assert_error(anon_api.get(path), 404)
    grant_collaborator(Collection.objects.get(name="tools"), bob)
    assert api(bob).get(path).status_code == 200


def test_incomplete_image_is_visible_by_hash_to_its_owner_only(alice_api, bob_api, pushed):
    container = alice_api.data("GET", "v1/containers/alice/tools/samtools")
    data = make_sif()
    created = alice_api.data("POST", "v1/images", image_body(image_hash(data), container["id"]))
    assert created["uploaded"] is False
    path = f"v1/images/alice/tools/samtools:{image_hash(data)}?arch=amd64"
    assert alice_api.data("GET", path)["uploaded"] is False
    assert_error(bob_api.get(path), 404)


# --- POST v1/images --------------------------------------------------------------------------


@pytest.fixture
def container(alice_api, pushed):
    return alice_api.data("GET", "v1/containers/alice/tools/samtools")


def test_create_image(alice_api, container, alice):
    data = make_sif()
    created = alice_api.data("POST", "v1/images", image_body(image_hash(data), container["id"], "my image"))
    assert created["uploaded"] is False
    assert created["hash"] == image_hash(data)
    assert created["description"] == "my image"
    assert created["container"] == container["id"]
    assert created["size"] == 0
    image = Image.objects.get(pk=int(created["id"]))
    assert image.pushed_by == alice and not image.uploaded


def test_creating_an_image_twice_returns_the_first_record(alice_api, bob_api, container):
    """Concurrent pushes of the same bytes: the loser uploads to (or skips) the winner's record."""
    body = image_body(image_hash(b"x"), container["id"])
    first = alice_api.post("v1/images", body)
    assert first.status_code == 201
    again = alice_api.post("v1/images", body)
    assert again.status_code == 200
    assert again.json()["data"]["id"] == first.json()["data"]["id"] and again.json()["data"]["uploaded"] is False
    assert bob_api.post("v1/images", body).status_code in (403, 404)
    assert Image.objects.filter(hash=image_hash(b"x")).count() == 1


def test_create_image_permissions(alice_api, bob_api, anon_api, api, bob, container):
    body = image_body(image_hash(b"y"), container["id"])
    assert_error(anon_api.post("v1/images", body), 401)
    assert_error(bob_api.post("v1/images", body), 403)
    Collection.objects.filter(name="tools").update(private=True)
    assert_error(bob_api.post("v1/images", body), 404)
    grant_collaborator(Collection.objects.get(name="tools"), bob)
    assert_error(api(bob).post("v1/images", body), 403)
    assert not Image.objects.filter(hash=image_hash(b"y")).exists()


@pytest.mark.parametrize(
    "hash_",
    [
        None,
        "",
        "abc",
        "sha256.ABC" + "0" * 61,
        "sha256." + "0" * 63,
        "sha256." + "g" * 64,
        "sha512." + "0" * 64,
        "sif.6f6a2a4e-1c31-4e43-ae21-1f0bcd7e8a44",
        123,
        ["sha256." + "0" * 64],
    ],
)
def test_create_image_bad_hash_is_400(alice_api, container, hash_):
    before = Image.objects.count()
    assert_error(alice_api.post("v1/images", {"container": container["id"], "hash": hash_}), 400)
    assert Image.objects.count() == before


def test_create_image_unknown_container_is_404(alice_api, pushed):
    assert_error(alice_api.post("v1/images", image_body(image_hash(b"z"), "999999")), 404)


@pytest.mark.parametrize("container_id", [None, "", "abc", [1], 2.5, True])
def test_create_image_bad_container_id_is_400(alice_api, pushed, container_id):
    body = {"hash": image_hash(b"z")}
    if container_id is not None:
        body["container"] = container_id
    assert_error(alice_api.post("v1/images", body), 400)
    assert not Image.objects.filter(hash=image_hash(b"z")).exists()


def test_create_image_description_wrong_type_is_400(alice_api, container):
    body = {**image_body(image_hash(b"z"), container["id"]), "description": ["x"]}
    assert_error(alice_api.post("v1/images", body), 400)
    assert not Image.objects.filter(hash=image_hash(b"z")).exists()


# --- DELETE ----------------------------------------------------------------------------------


def test_delete_answers_200_with_a_body_and_removes_image_and_tags(
    alice, alice_api, pushed, image_storage, django_capture_on_commit_callbacks
):
    container = Container.objects.get(name="samtools")
    other = seed(alice, "alice/tools/samtools", make_sif(), tags=["stable"])
    seed(alice, "alice/tools/samtools", pushed["data"], tags=["v1"])
    assert Tag.objects.filter(image_id=int(pushed["image"]["id"])).count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.delete("v1/images/alice/tools/samtools:latest?arch=amd64")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert "data" in body and "error" not in body
    assert not Image.objects.filter(pk=int(pushed["image"]["id"])).exists()
    assert set(container.tags.values_list("name", flat=True)) == {"stable"}
    assert Image.objects.filter(pk=other.pk).exists()
    assert len(blob_files(image_storage)) == 1
    assert_error(alice_api.get("v1/images/alice/tools/samtools:latest?arch=amd64"), 404)
    assert_error(alice_api.get("v1/imagefile/alice/tools/samtools:v1?arch=amd64"), 404)


def test_delete_by_hash(alice_api, pushed, django_capture_on_commit_callbacks, image_storage):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.delete(f"v1/images/alice/tools/samtools:{image_hash(pushed['data'])}?arch=amd64")
    assert response.status_code == 200
    assert not Image.objects.exists()
    assert blob_files(image_storage) == []
    assert not Blob.objects.exists()


def test_delete_only_the_requested_arch(alice, alice_api, pushed):
    arm = seed(alice, "alice/tools/samtools", make_sif("arm64"))
    assert alice_api.delete("v1/images/alice/tools/samtools:latest?arch=arm64").status_code == 200
    assert not Image.objects.filter(pk=arm.pk).exists()
    assert Image.objects.filter(pk=int(pushed["image"]["id"])).exists()
    assert alice_api.get("v1/images/alice/tools/samtools:latest?arch=amd64").status_code == 200


def test_delete_keeps_a_blob_another_image_uses(
    alice, alice_api, pushed, image_storage, django_capture_on_commit_callbacks
):
    seed(alice, "alice/tools/copy", pushed["data"])
    assert len(blob_files(image_storage)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_api.delete("v1/images/alice/tools/samtools:latest?arch=amd64").status_code == 200
    assert len(blob_files(image_storage)) == 1
    assert body_of(alice_api.get("v1/imagefile/alice/tools/copy:latest?arch=amd64")) == pushed["data"]
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_api.delete("v1/images/alice/tools/copy:latest?arch=amd64").status_code == 200
    assert blob_files(image_storage) == []
    assert not Blob.objects.exists()


def test_delete_refused_when_a_tag_is_frozen(
    alice, alice_api, pushed, image_storage, django_capture_on_commit_callbacks
):
    seed(alice, "alice/tools/samtools", pushed["data"], tags=["v1"])
    Tag.objects.filter(name="v1").update(frozen=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.delete("v1/images/alice/tools/samtools:latest?arch=amd64")
    assert_error(response, 403, "frozen")
    assert Image.objects.filter(pk=int(pushed["image"]["id"])).exists()
    assert Tag.objects.filter(image_id=int(pushed["image"]["id"])).count() == 2
    assert len(blob_files(image_storage)) == 1


def test_delete_refused_when_the_container_is_read_only(alice_api, pushed, image_storage):
    Container.objects.filter(name="samtools").update(read_only=True)
    assert_error(alice_api.delete("v1/images/alice/tools/samtools:latest?arch=amd64"), 403, "read-only")
    assert Image.objects.filter(pk=int(pushed["image"]["id"])).exists()
    assert Tag.objects.count() == 1
    assert len(blob_files(image_storage)) == 1


def test_delete_permissions(alice_api, bob_api, anon_api, api, bob, pushed):
    path = "v1/images/alice/tools/samtools:latest?arch=amd64"
    assert_error(anon_api.delete(path), 401)
    assert_error(bob_api.delete(path), 403)
    Collection.objects.filter(name="tools").update(private=True)
    assert_error(bob_api.delete(path), 404)
    grant_collaborator(Collection.objects.get(name="tools"), bob)
    assert_error(api(bob).delete(path), 403)
    assert Image.objects.count() == 1 and Tag.objects.count() == 1


def test_delete_missing_is_404(alice_api, pushed):
    assert_error(alice_api.delete("v1/images/alice/tools/samtools:nope?arch=amd64"), 404)
    assert_error(alice_api.delete("v1/images/alice/tools/samtools:latest?arch=arm64"), 404)
    assert Image.objects.count() == 1


def test_delete_with_short_ref(api, user_factory):
    staff = user_factory("root", is_staff=True)
    client = api(staff)
    seed(staff, "default/default/busybox", make_sif())
    assert client.delete("v1/images/busybox:latest?arch=amd64").status_code == 200
    assert not Image.objects.exists()


def test_refused_push_does_not_delete(alice_api, pushed):
    """Pushing into a frozen tag is refused; the existing image stays pullable."""
    Tag.objects.update(frozen=True)
    with pytest.raises(PushError):
        push(alice_api, "alice/tools/samtools", make_sif())
    assert alice_api.data("GET", "v1/images/alice/tools/samtools:latest?arch=amd64")["id"] == pushed["image"]["id"]
