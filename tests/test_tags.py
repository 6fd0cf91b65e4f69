"""Tags: v1 ({tag: id}) and v2 ({arch: {tag: id}}) maps, moves, frozen tags, arch checks."""

from __future__ import annotations

import pytest

from django_sylabs_library.models import Collection, Container, Image, Tag
from django_sylabs_library.permissions import grant_collaborator
from tests.conftest import PushError, assert_error, image_body, image_hash, make_sif, push, seed


@pytest.fixture
def container_id(pushed):
    return pushed["image"]["container"]


def test_tag_maps(alice_api, anon_api, pushed, container_id):
    arm = push(alice_api, "alice/tools/samtools", make_sif("arm64"), arch="arm64", tags=["latest", "arm-only"])
    amd = pushed["image"]["id"]
    assert anon_api.data("GET", f"v2/tags/{container_id}", status=200) == {
        "amd64": {"latest": amd},
        "arm64": {"latest": arm["id"], "arm-only": arm["id"]},
    }
    # v1 shows one image per tag: the default architecture's when there are several.
    assert anon_api.data("GET", f"v1/tags/{container_id}", status=200) == {"latest": amd, "arm-only": arm["id"]}


def test_empty_tag_maps_are_200(alice_api, pushed):
    data = alice_api.data("POST", "v1/containers", {"collection": pushed["image"]["collection"], "name": "empty"})
    assert alice_api.data("GET", f"v1/tags/{data['id']}", status=200) in ({}, None)
    assert alice_api.data("GET", f"v2/tags/{data['id']}", status=200) in ({}, None)


def test_post_moves_an_existing_tag(alice_api, pushed, container_id):
    second = push(alice_api, "alice/tools/samtools", make_sif())
    assert alice_api.data("GET", f"v2/tags/{container_id}")["amd64"]["latest"] == second["id"]
    assert Tag.objects.filter(name="latest").count() == 1


def test_pushing_a_tag_never_moves_another_tag(alice_api, pushed, container_id):
    first = pushed["image"]["id"]
    push(alice_api, "alice/tools/samtools", pushed["data"], tags=["stable"])
    second = push(alice_api, "alice/tools/samtools", make_sif(), tags=["v2"])
    tags = alice_api.data("GET", f"v2/tags/{container_id}")["amd64"]
    assert tags == {"latest": first, "stable": first, "v2": second["id"]}


def test_several_tags_in_one_push(alice_api, pushed, container_id):
    image = push(alice_api, "alice/tools/samtools", make_sif(), tags=["a", "b", "c"])
    assert image["tags"] == ["a", "b", "c"]
    tags = alice_api.data("GET", f"v1/tags/{container_id}")
    assert tags["a"] == tags["b"] == tags["c"] == image["id"]


def test_v1_tags_use_the_images_arch(alice_api, pushed):
    arm = push(alice_api, "alice/tools/other", make_sif("arm64"), arch="arm64", tag_api="v1")
    assert Tag.objects.get(image_id=int(arm["id"])).arch == "arm64"


def test_v1_tags_fall_back_to_the_default_arch(alice_api, pushed):
    data = make_sif("unknown")  # the SIF names no architecture
    image = push(alice_api, "alice/tools/plain", data, arch="", tag_api="v1")
    assert Tag.objects.get(image_id=int(image["id"])).arch == "amd64"
    assert Image.objects.get(pk=int(image["id"])).arch == "amd64"


def test_v2_tag_for_an_arch_that_does_not_match_the_image_is_400(alice_api, pushed, container_id):
    body = {"Arch": "arm64", "Tag": "wrong", "ImageID": pushed["image"]["id"]}
    assert_error(alice_api.post(f"v2/tags/{container_id}", body), 400)
    assert not Tag.objects.filter(name="wrong").exists()


def test_pushing_an_arm_sif_as_amd64_is_refused(alice_api, pushed):
    with pytest.raises(PushError) as refused:
        push(alice_api, "alice/tools/samtools", make_sif("arm64"), arch="amd64", tags=["wrong"])
    assert refused.value.step == "set tag"
    assert_error(refused.value.response, 400)
    assert not Tag.objects.filter(name="wrong").exists()


def test_tag_on_a_non_uploaded_image_is_400(alice_api, pushed, container_id):
    created = alice_api.data("POST", "v1/images", image_body(image_hash(b"pending"), container_id))
    for version, body in (
        ("v1", {"Tag": "pending", "ImageID": created["id"]}),
        ("v2", {"Arch": "amd64", "Tag": "pending", "ImageID": created["id"]}),
    ):
        assert_error(alice_api.post(f"{version}/tags/{container_id}", body), 400)
    assert not Tag.objects.filter(name="pending").exists()


def test_frozen_tag_is_refused_and_the_refused_image_discarded(alice_api, pushed, container_id):
    Tag.objects.filter(name="latest").update(frozen=True)
    data = make_sif()
    with pytest.raises(PushError) as refused:
        push(alice_api, "alice/tools/samtools", data)
    assert refused.value.step == "set tag"
    assert_error(refused.value.response, 403, "frozen")
    assert alice_api.data("GET", f"v2/tags/{container_id}")["amd64"]["latest"] == pushed["image"]["id"]
    assert not Image.objects.filter(hash=image_hash(data)).exists()
    assert Image.objects.count() == 1


def test_frozen_tag_does_not_block_other_tags(alice_api, pushed, container_id):
    Tag.objects.filter(name="latest").update(frozen=True)
    image = push(alice_api, "alice/tools/samtools", make_sif(), tags=["v2"])
    tags = alice_api.data("GET", f"v2/tags/{container_id}")["amd64"]
    assert tags == {"latest": pushed["image"]["id"], "v2": image["id"]}


def test_re_pushing_the_same_image_to_a_frozen_tag_is_fine(alice_api, pushed):
    Tag.objects.filter(name="latest").update(frozen=True)
    assert push(alice_api, "alice/tools/samtools", pushed["data"])["id"] == pushed["image"]["id"]


def test_frozen_tag_refusal_keeps_an_image_that_has_other_tags(alice_api, pushed, container_id):
    other = push(alice_api, "alice/tools/samtools", make_sif(), tags=["other"])
    Tag.objects.filter(name="latest").update(frozen=True)
    body = {"Arch": "amd64", "Tag": "latest", "ImageID": other["id"]}
    assert_error(alice_api.post(f"v2/tags/{container_id}", body), 403)
    assert Image.objects.filter(pk=int(other["id"])).exists()


def test_read_only_container_refuses_tag_moves(alice_api, pushed, container_id):
    other = push(alice_api, "alice/tools/samtools", make_sif(), tags=["other"])
    Container.objects.update(read_only=True)
    body = {"Arch": "amd64", "Tag": "latest", "ImageID": other["id"]}
    assert_error(alice_api.post(f"v2/tags/{container_id}", body), 403, "read-only")
    assert_error(alice_api.post(f"v1/tags/{container_id}", {"Tag": "latest", "ImageID": other["id"]}), 403)
    assert alice_api.data("GET", f"v2/tags/{container_id}")["amd64"]["latest"] == pushed["image"]["id"]


def test_read_only_container_refuses_a_push_of_existing_bytes(alice_api, pushed, container_id):
    Container.objects.update(read_only=True)
    with pytest.raises(PushError) as refused:
        push(alice_api, "alice/tools/samtools", pushed["data"], tags=["new"])
    assert_error(refused.value.response, 403)
    assert not Tag.objects.filter(name="new").exists()
    assert Image.objects.filter(pk=int(pushed["image"]["id"])).exists()


def test_tag_permissions(alice_api, bob_api, anon_api, api, bob, pushed, container_id):
    body = {"Arch": "amd64", "Tag": "x", "ImageID": pushed["image"]["id"]}
    assert_error(anon_api.post(f"v2/tags/{container_id}", body), 401)
    assert_error(bob_api.post(f"v2/tags/{container_id}", body), 403)
    assert bob_api.get(f"v2/tags/{container_id}").status_code == 200
    Collection.objects.update(private=True)
    assert_error(bob_api.post(f"v2/tags/{container_id}", body), 404)
    assert_error(bob_api.get(f"v2/tags/{container_id}"), 404)
    assert_error(anon_api.get(f"v1/tags/{container_id}"), 404)
    grant_collaborator(Collection.objects.get(), bob)
    collaborator = api(bob)
    assert collaborator.get(f"v2/tags/{container_id}").status_code == 200
    assert_error(collaborator.post(f"v2/tags/{container_id}", body), 403)
    assert_error(collaborator.post(f"v1/tags/{container_id}", {"Tag": "x", "ImageID": pushed["image"]["id"]}), 403)
    assert not Tag.objects.filter(name="x").exists()


def test_image_of_another_container_is_404(alice_api, pushed, container_id):
    other = push(alice_api, "alice/tools/other", make_sif())
    assert_error(alice_api.post(f"v2/tags/{container_id}", {"Arch": "amd64", "Tag": "x", "ImageID": other["id"]}), 404)


def test_unknown_container_is_404(alice_api, pushed):
    assert_error(alice_api.get("v2/tags/999999"), 404)
    assert_error(alice_api.get("v1/tags/999999"), 404)
    body = {"Arch": "amd64", "Tag": "x", "ImageID": pushed["image"]["id"]}
    assert_error(alice_api.post("v2/tags/999999", body), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"Arch": "amd64", "ImageID": "ID"},
        {"Arch": "amd64", "Tag": "", "ImageID": "ID"},
        {"Arch": "amd64", "Tag": "has space", "ImageID": "ID"},
        {"Arch": "amd64", "Tag": "a/b", "ImageID": "ID"},
        {"Arch": "amd64", "Tag": "a:b", "ImageID": "ID"},
        {"Arch": "amd64", "Tag": ".hidden", "ImageID": "ID"},
        {"Arch": "amd64", "Tag": "x" * 129, "ImageID": "ID"},
        {"Arch": "amd64", "Tag": "sha256." + "0" * 64, "ImageID": "ID"},
        {"Arch": "amd64", "Tag": ["latest"], "ImageID": "ID"},
        {"Arch": "amd64", "Tag": "x"},
        {"Arch": "amd64", "Tag": "x", "ImageID": ""},
        {"Arch": "amd64", "Tag": "x", "ImageID": "abc"},
        {"Arch": "amd64", "Tag": "x", "ImageID": 1.5},
        {"Tag": "x", "ImageID": "ID"},
        {"Arch": "", "Tag": "x", "ImageID": "ID"},
        {"Arch": "AMD64!", "Tag": "x", "ImageID": "ID"},
        {"Arch": ["amd64"], "Tag": "x", "ImageID": "ID"},
    ],
)
def test_bad_v2_tag_bodies_are_400(alice_api, pushed, container_id, body):
    body = {k: (pushed["image"]["id"] if v == "ID" else v) for k, v in body.items()}
    before = list(Tag.objects.values_list("name", "arch", "image_id"))
    assert_error(alice_api.post(f"v2/tags/{container_id}", body), 400)
    assert list(Tag.objects.values_list("name", "arch", "image_id")) == before


def test_tag_keys_are_matched_case_insensitively(alice_api, pushed, container_id):
    body = {"arch": "amd64", "tag": "lower", "imageId": pushed["image"]["id"]}
    assert alice_api.post(f"v2/tags/{container_id}", body).status_code == 200
    assert Tag.objects.filter(name="lower").exists()


def test_v1_post_takes_the_images_arch(alice_api, pushed, container_id):
    # v1 bodies carry no Arch; an arch-less v1 tag takes the image's architecture.
    assert (
        alice_api.post(f"v1/tags/{container_id}", {"Tag": "one", "ImageID": pushed["image"]["id"]}).status_code == 200
    )
    assert Tag.objects.get(name="one").arch == "amd64"


@pytest.fixture
def untagged(alice, pushed):
    """An uploaded image of alice/tools/samtools that no tag points to any more."""
    old = Image.objects.get(pk=int(pushed["image"]["id"]))
    seed(alice, "alice/tools/samtools", make_sif())  # `latest` moves to the new image
    assert not Tag.objects.filter(image=old).exists()
    return old


def test_refused_push_into_read_only_container_keeps_an_existing_untagged_image(alice_api, pushed, untagged):
    Container.objects.update(read_only=True)
    with pytest.raises(PushError) as refused:
        push(alice_api, "alice/tools/samtools", pushed["data"], tags=["old"])
    assert_error(refused.value.response, 403)
    assert Image.objects.filter(pk=untagged.pk).exists()


def test_refused_push_to_a_frozen_tag_keeps_an_existing_untagged_image(alice_api, pushed, untagged):
    Tag.objects.filter(name="latest").update(frozen=True)
    with pytest.raises(PushError) as refused:
        push(alice_api, "alice/tools/samtools", pushed["data"], tags=["latest"])
    assert_error(refused.value.response, 403)
    assert Image.objects.filter(pk=untagged.pk).exists()
