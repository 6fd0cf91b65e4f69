"""Containers: GET, POST and PUT (readOnly) v1/containers, with ownership and privacy."""

from __future__ import annotations

import pytest

from django_sylabs_library.flows.namespaces import ensure_user_entity
from django_sylabs_library.models import Collection, Container
from django_sylabs_library.permissions import grant_collaborator, grant_owner
from tests.conftest import PushError, assert_error, container_body, make_sif, push, seed


@pytest.fixture
def tools(alice):
    return Collection.objects.create(entity=ensure_user_entity(alice), name="tools")


@pytest.fixture
def secret(alice):
    return Collection.objects.create(entity=ensure_user_entity(alice), name="secret", private=True)


def test_create_container_with_the_clients_body(alice_api, tools, alice):
    data = alice_api.data("POST", "v1/containers", container_body("samtools", str(tools.pk)))
    container = Container.objects.get(pk=int(data["id"]))
    assert container.name == "samtools"
    assert container.collection == tools
    assert container.created_by == alice
    assert data["collection"] == str(tools.pk)
    assert data["collectionName"] == "tools"
    assert data["entityName"] == "alice"
    assert data["readOnly"] is False
    assert data["private"] is False
    assert data["images"] == []
    assert data["imageTags"] == {} and data["archTags"] == {}


def test_numeric_collection_id_is_accepted(alice_api, tools):
    assert alice_api.data("POST", "v1/containers", {"collection": tools.pk, "name": "x"})["name"] == "x"


def test_container_follows_collection_privacy(alice_api, secret):
    data = alice_api.data("POST", "v1/containers", container_body("x", str(secret.pk)))
    assert data["private"] is True
    assert alice_api.data("GET", "v1/containers/alice/secret/x")["private"] is True


def test_client_read_only_false_and_private_false_are_ignored_on_create(alice_api, secret):
    body = {**container_body("x", str(secret.pk)), "private": False, "readOnly": True}
    data = alice_api.data("POST", "v1/containers", body)
    assert data["private"] is True
    assert data["readOnly"] is False


def test_creating_an_existing_container_returns_it(alice_api, bob_api, tools):
    first = alice_api.post("v1/containers", container_body("x", str(tools.pk)))
    assert first.status_code == 201
    again = alice_api.post("v1/containers", container_body("x", str(tools.pk)))
    assert again.status_code == 200 and again.json()["data"]["id"] == first.json()["data"]["id"]
    refused = bob_api.post("v1/containers", container_body("x", str(tools.pk)))
    assert refused.status_code in (403, 404)
    assert Container.objects.count() == 1


def test_anonymous_create_is_401(anon_api, tools):
    assert_error(anon_api.post("v1/containers", container_body("x", str(tools.pk))), 401)
    assert not Container.objects.exists()


def test_other_user_create_in_public_collection_is_403(bob_api, tools):
    assert_error(bob_api.post("v1/containers", container_body("x", str(tools.pk))), 403)
    assert not Container.objects.exists()


def test_other_user_create_in_private_collection_is_404(bob_api, secret):
    assert_error(bob_api.post("v1/containers", container_body("x", str(secret.pk))), 404)
    assert not Container.objects.exists()


def test_collaborator_may_not_create(api, bob, secret):
    grant_collaborator(secret, bob)
    assert_error(api(bob).post("v1/containers", container_body("x", str(secret.pk))), 403)
    assert not Container.objects.exists()


def test_granted_owner_may_create(api, bob, secret):
    grant_owner(secret, bob)
    assert api(bob).post("v1/containers", container_body("x", str(secret.pk))).status_code in (200, 201)


@pytest.mark.parametrize("collection", ["999999", 999999])
def test_unknown_collection_is_404(alice_api, collection):
    assert_error(alice_api.post("v1/containers", {"collection": collection, "name": "x"}), 404)


@pytest.mark.parametrize("collection", [None, "", "x", ["1"], 1.0, False])
def test_bad_collection_ids_are_400(alice_api, tools, collection):
    body = {"name": "x"} if collection is None else {"collection": collection, "name": "x"}
    assert_error(alice_api.post("v1/containers", body), 400)
    assert not Container.objects.exists()


@pytest.mark.parametrize("name", ["X", "", "a..b", "a b", "a/b", "y" * 65, None, 3])
def test_bad_container_names_are_400(alice_api, tools, name):
    assert_error(alice_api.post("v1/containers", {"collection": str(tools.pk), "name": name}), 400)
    assert not Container.objects.exists()


def test_get_container(alice_api, anon_api, bob_api, tools):
    created = alice_api.data("POST", "v1/containers", container_body("x", str(tools.pk)))
    for client in (alice_api, anon_api, bob_api):
        assert client.data("GET", "v1/containers/alice/tools/x")["id"] == created["id"]


def test_get_missing_container_is_404(alice_api, tools):
    assert_error(alice_api.get("v1/containers/alice/tools/nothing"), 404)
    assert_error(alice_api.get("v1/containers/alice/nothing/x"), 404)


def test_private_container_is_404_for_strangers_and_200_for_collaborators(alice_api, api, bob, anon_api, secret):
    alice_api.data("POST", "v1/containers", container_body("x", str(secret.pk)))
    stranger = api(bob)
    assert_error(stranger.get("v1/containers/alice/secret/x"), 404)
    assert_error(anon_api.get("v1/containers/alice/secret/x"), 404)
    grant_collaborator(secret, bob)
    assert stranger.get("v1/containers/alice/secret/x").status_code == 200


# --- PUT readOnly ----------------------------------------------------------------------------


@pytest.fixture
def samtools(alice, alice_api):
    return seed(alice, "alice/tools/samtools", make_sif()).container


def test_owner_sets_and_clears_read_only(alice_api, samtools):
    data = alice_api.data("PUT", "v1/containers/alice/tools/samtools", {"readOnly": True})
    assert data["readOnly"] is True
    samtools.refresh_from_db()
    assert samtools.read_only is True
    assert alice_api.data("GET", "v1/containers/alice/tools/samtools")["readOnly"] is True
    data = alice_api.data("PUT", "v1/containers/alice/tools/samtools", {"readonly": False})
    samtools.refresh_from_db()
    assert samtools.read_only is False and data["readOnly"] is False


def test_put_updates_descriptions(alice_api, samtools):
    data = alice_api.data(
        "PUT", "v1/containers/alice/tools/samtools", {"description": "short", "fullDescription": "long text"}
    )
    assert data["description"] == "short"
    assert data["fullDescription"] == "long text"


def test_read_only_container_refuses_pushes(alice_api, samtools):
    alice_api.data("PUT", "v1/containers/alice/tools/samtools", {"readOnly": True})
    with pytest.raises(PushError) as refused:
        push(alice_api, "alice/tools/samtools", make_sif(), tags=["v2"])
    assert_error(refused.value.response, 403, "read-only")
    assert samtools.images.count() == 1
    assert not samtools.tags.filter(name="v2").exists()


def test_collaborator_cannot_set_read_only(alice_api, api, bob, samtools):
    grant_collaborator(samtools.collection, bob)
    assert_error(api(bob).put("v1/containers/alice/tools/samtools", {"readOnly": True}), 403)
    samtools.refresh_from_db()
    assert samtools.read_only is False


def test_other_user_cannot_set_read_only_on_public_container(bob_api, samtools):
    assert_error(bob_api.put("v1/containers/alice/tools/samtools", {"readOnly": True}), 403)
    samtools.refresh_from_db()
    assert samtools.read_only is False


def test_stranger_on_private_container_gets_404(alice_api, bob_api, samtools):
    Collection.objects.filter(pk=samtools.collection_id).update(private=True)
    assert_error(bob_api.put("v1/containers/alice/tools/samtools", {"readOnly": True}), 404)
    samtools.refresh_from_db()
    assert samtools.read_only is False


def test_anonymous_put_is_401(anon_api, samtools):
    assert_error(anon_api.put("v1/containers/alice/tools/samtools", {"readOnly": True}), 401)


def test_put_missing_container_is_404(alice_api, samtools):
    assert_error(alice_api.put("v1/containers/alice/tools/nothing", {"readOnly": True}), 404)


@pytest.mark.parametrize("value", ["true", 1, None, []])
def test_read_only_of_the_wrong_type_is_400(alice_api, samtools, value):
    assert_error(alice_api.put("v1/containers/alice/tools/samtools", {"readOnly": value}), 400)
    samtools.refresh_from_db()
    assert samtools.read_only is False


def test_put_with_a_bad_read_only_writes_nothing(alice_api, samtools):
    before = (samtools.description, samtools.full_description, samtools.read_only)
    body = {"description": "changed", "fullDescription": "changed", "readOnly": "yes"}
    assert_error(alice_api.put("v1/containers/alice/tools/samtools", body), 400)
    samtools.refresh_from_db()
    assert (samtools.description, samtools.full_description, samtools.read_only) == before
