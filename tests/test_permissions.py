"""The permission module: roles, visibility filters, grants to users and groups; and the
collaborator rule end to end (see and pull a private collection, never push)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Group

from django_sylabs_library import permissions as perms
from django_sylabs_library.exceptions import Forbidden, NotAuthenticated, NotFound
from django_sylabs_library.flows.namespaces import ensure_user_entity
from django_sylabs_library.models import Collection, Container, Image
from tests.conftest import (
    PushError,
    assert_error,
    body_of,
    container_body,
    image_body,
    image_hash,
    make_sif,
    push,
    seed,
)


@pytest.fixture
def public(alice):
    return Collection.objects.create(entity=ensure_user_entity(alice), name="public")


@pytest.fixture
def private(alice):
    return Collection.objects.create(entity=ensure_user_entity(alice), name="private", private=True)


def fresh(collection):
    """The collection re-read, so no role is cached on it."""
    return Collection.objects.select_related("entity").get(pk=collection.pk)


def test_roles(alice, bob, user_factory, public, private):
    anonymous = AnonymousUser()
    superuser = user_factory("root", is_superuser=True)
    staff = user_factory("staff", is_staff=True)
    assert perms.collection_role(alice, fresh(private)) == perms.Role.OWNER
    assert perms.collection_role(superuser, fresh(private)) == perms.Role.OWNER
    assert perms.collection_role(bob, fresh(private)) == perms.Role.NONE
    assert perms.collection_role(staff, fresh(private)) == perms.Role.NONE
    assert perms.collection_role(anonymous, fresh(private)) == perms.Role.NONE
    assert perms.collection_role(None, fresh(private)) == perms.Role.NONE
    assert perms.collection_role(bob, fresh(public)) == perms.Role.READER
    assert perms.collection_role(anonymous, fresh(public)) == perms.Role.READER


def test_user_grants(bob, private):
    perms.grant_collaborator(private, bob)
    assert perms.collection_role(bob, fresh(private)) == perms.Role.COLLABORATOR
    perms.grant_owner(private, bob)
    assert perms.collection_role(bob, fresh(private)) == perms.Role.OWNER
    perms.revoke(private, bob)
    assert perms.collection_role(bob, fresh(private)) == perms.Role.NONE


def test_group_grants(bob, user_factory, private):
    team = Group.objects.create(name="team")
    bob.groups.add(team)
    perms.grant_collaborator(private, team)
    assert perms.collection_role(bob, fresh(private)) == perms.Role.COLLABORATOR
    assert private in perms.visible_collections(bob)
    perms.grant_owner(private, team)
    assert perms.can_push(bob, fresh(private))
    outsider = user_factory("carol")
    assert perms.collection_role(outsider, fresh(private)) == perms.Role.NONE


def test_guardian_backend_sees_the_grants(bob, private):
    perms.grant_collaborator(private, bob)
    assert bob.has_perm("django_sylabs_library.pull_collection", private)
    assert not bob.has_perm("django_sylabs_library.push_collection", private)


def test_visible_filters(alice, bob, user_factory, public, private):
    superuser = user_factory("root", is_superuser=True)
    assert set(perms.visible_collections(AnonymousUser())) == {public}
    assert set(perms.visible_collections(bob)) == {public}
    assert set(perms.visible_collections(alice)) == {public, private}
    assert set(perms.visible_collections(superuser)) == {public, private}
    perms.grant_collaborator(private, bob)
    assert set(perms.visible_collections(bob)) == {public, private}
    seen = Container.objects.create(collection=public, name="x")
    hidden = Container.objects.create(collection=private, name="y")
    assert set(perms.visible_containers(AnonymousUser())) == {seen}
    assert set(perms.visible_containers(alice)) == {seen, hidden}


def test_visible_images_are_uploaded_ones_only(alice, public):
    container = Container.objects.create(collection=public, name="x")
    done = Image.objects.create(container=container, hash="sha256." + "1" * 64, uploaded=True)
    Image.objects.create(container=container, hash="sha256." + "2" * 64, uploaded=False)
    assert list(perms.visible_images(alice)) == [done]


def test_require_helpers(alice, bob, public, private):
    with pytest.raises(NotFound):
        perms.require_view(bob, fresh(private))
    with pytest.raises(NotFound):
        perms.require_push(bob, fresh(private))
    with pytest.raises(Forbidden):
        perms.require_push(bob, fresh(public))
    with pytest.raises(NotAuthenticated):
        perms.require_push(AnonymousUser(), fresh(public))
    perms.require_push(alice, fresh(private))
    with pytest.raises(Forbidden):
        perms.require_create_collection(bob, public.entity)


# --- the collaborator rule, end to end ---------------------------------------------------------


@pytest.fixture
def shared(alice, bob, api):
    """alice/lab/tool (private) with bob as collaborator."""
    data = make_sif()
    image = seed(alice, "alice/lab/tool", data, private=True)
    collection = Collection.objects.get(name="lab")
    perms.grant_collaborator(collection, bob)
    return {"data": data, "image": image, "collection": collection, "client": api(bob)}


def test_collaborator_sees_and_pulls(shared):
    client = shared["client"]
    assert client.get("v1/collections/alice/lab").status_code == 200
    assert client.get("v1/containers/alice/lab/tool").status_code == 200
    assert client.data("GET", "v1/images/alice/lab/tool:latest?arch=amd64")["id"] == str(shared["image"].pk)
    assert body_of(client.get("v1/imagefile/alice/lab/tool:latest?arch=amd64")) == shared["data"]
    assert body_of(client.get("v1/imagefile/lab/tool:latest?arch=amd64")) == shared["data"]


def test_collaborator_may_not_push(shared):
    client = shared["client"]
    container = shared["image"].container
    assert_error(client.post("v1/containers", container_body("mine", str(shared["collection"].pk))), 403)
    assert_error(client.post("v1/images", image_body(image_hash(b"new"), str(container.pk))), 403)
    tag = {"Arch": "amd64", "Tag": "mine", "ImageID": str(shared["image"].pk)}
    assert_error(client.post(f"v2/tags/{container.pk}", tag), 403)
    assert_error(client.post(f"v1/tags/{container.pk}", {"Tag": "mine", "ImageID": str(shared["image"].pk)}), 403)
    assert_error(client.delete("v1/images/alice/lab/tool:latest?arch=amd64"), 403)
    assert_error(client.put("v1/containers/alice/lab/tool", {"readOnly": True}), 403)
    with pytest.raises(PushError) as refused:
        push(client, "alice/lab/tool", make_sif(), tags=["mine"])
    assert refused.value.step == "create image"
    assert_error(refused.value.response, 403)
    assert Image.objects.count() == 1
    assert not container.tags.filter(name="mine").exists()


def test_pushing_into_someone_elses_entity_is_refused(bob_api, alice, public):
    with pytest.raises(PushError) as refused:
        push(bob_api, "alice/new-collection/x", make_sif())
    assert refused.value.step == "create collection"
    assert_error(refused.value.response, 403)
    assert not Collection.objects.filter(name="new-collection").exists()


def test_pushing_into_a_new_entity_is_refused(bob_api, alice):
    with pytest.raises(PushError) as refused:
        push(bob_api, "someone-else/tools/x", make_sif())
    assert refused.value.step == "create entity"
    assert_error(refused.value.response, 403)


def test_push_creates_the_collection_owned_by_the_pusher(alice, alice_api):
    image = push(alice_api, "alice/brand-new/tool", make_sif())
    collection = Collection.objects.get(name="brand-new")
    assert collection.entity.owner == alice
    assert collection.created_by == alice
    assert image["uploaded"] is True


def test_push_private_by_default_setting(alice_api, anon_api, settings):
    settings.SYLABS_LIBRARY = {"DEFAULT_PRIVATE": True}
    push(alice_api, "alice/hidden/tool", make_sif())
    assert Collection.objects.get(name="hidden").private is True
    assert_error(anon_api.get("v1/images/alice/hidden/tool:latest?arch=amd64"), 404)
    assert alice_api.get("v1/images/alice/hidden/tool:latest?arch=amd64").status_code == 200


def test_granted_owner_may_push(alice, bob, api, shared):
    perms.grant_owner(shared["collection"], bob)
    image = push(api(bob), "alice/lab/tool", make_sif(), tags=["bobs"])
    assert image["tags"] == ["bobs"]
