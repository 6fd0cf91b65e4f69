"""Collections: GET and POST v1/collections, privacy rules, conflicts and ownership."""

from __future__ import annotations

import pytest

from django_sylabs_library.flows.namespaces import ensure_user_entity
from django_sylabs_library.models import Collection, Entity
from django_sylabs_library.permissions import grant_collaborator
from tests.conftest import assert_error, collection_body


@pytest.fixture
def alice_entity(alice):
    return ensure_user_entity(alice)


def create(client, entity, name, **extra):
    return client.post("v1/collections", {**collection_body(name, str(entity.pk)), **extra})


def test_client_body_creates_a_public_collection(alice_api, alice_entity, alice):
    response = create(alice_api, alice_entity, "tools")
    assert response.status_code in (200, 201)
    collection = Collection.objects.get(entity=alice_entity, name="tools")
    assert collection.private is False
    assert collection.created_by == alice


def test_explicit_private_true_makes_it_private(alice_api, alice_entity):
    data = alice_api.data("POST", "v1/collections", {"entity": str(alice_entity.pk), "name": "secret", "private": True})
    assert data["private"] is True
    assert Collection.objects.get(name="secret").private is True


@pytest.mark.parametrize("extra", [{"private": False}, {}])
def test_false_or_absent_takes_the_site_default(alice_api, alice_entity, settings, extra):
    settings.SYLABS_LIBRARY = {"DEFAULT_PRIVATE": True}
    body = {"entity": str(alice_entity.pk), "name": "tools", **extra}
    assert alice_api.data("POST", "v1/collections", body)["private"] is True


@pytest.mark.parametrize("extra", [{"private": False}, {}])
def test_false_or_absent_takes_the_entity_default_first(alice_api, alice_entity, settings, extra):
    settings.SYLABS_LIBRARY = {"DEFAULT_PRIVATE": True}
    Entity.objects.filter(pk=alice_entity.pk).update(default_private=False)
    body = {"entity": str(alice_entity.pk), "name": "tools", **extra}
    assert alice_api.data("POST", "v1/collections", body)["private"] is False
    Entity.objects.filter(pk=alice_entity.pk).update(default_private=True)
    settings.SYLABS_LIBRARY = {"DEFAULT_PRIVATE": False}
    body = {"entity": str(alice_entity.pk), "name": "tools2", **extra}
    assert alice_api.data("POST", "v1/collections", body)["private"] is True


def test_default_is_public(alice_api, alice_entity):
    assert alice_api.data("POST", "v1/collections", {"entity": str(alice_entity.pk), "name": "x"})["private"] is False


def test_get_collection(alice_api, anon_api, alice_entity):
    created = alice_api.data("POST", "v1/collections", collection_body("tools", str(alice_entity.pk)))
    for client in (alice_api, anon_api):
        data = client.data("GET", "v1/collections/alice/tools")
        assert data["id"] == created["id"]
        assert data["entityName"] == "alice"
        assert data["containers"] == []


def test_get_collection_case_insensitive(alice_api, alice_entity):
    create(alice_api, alice_entity, "tools")
    assert alice_api.data("GET", "v1/collections/Alice/TOOLS")["name"] == "tools"


def test_get_missing_collection_is_404(alice_api, alice_entity):
    assert_error(alice_api.get("v1/collections/alice/nothing"), 404)
    assert_error(alice_api.get("v1/collections/nobody/nothing"), 404)


def test_private_collection_is_invisible_to_others(alice_api, bob_api, anon_api, alice_entity):
    create(alice_api, alice_entity, "secret", private=True)
    assert alice_api.get("v1/collections/alice/secret").status_code == 200
    missing_bob = bob_api.get("v1/collections/alice/nothing")
    for client in (bob_api, anon_api):
        response = client.get("v1/collections/alice/secret")
        assert_error(response, 404)
    # The answer about a private collection is the answer about a missing one (apart from the name).
    assert missing_bob.status_code == 404


def test_collaborator_sees_a_private_collection(alice_api, api, bob, alice_entity):
    create(alice_api, alice_entity, "secret", private=True)
    grant_collaborator(Collection.objects.get(name="secret"), bob)
    assert api(bob).get("v1/collections/alice/secret").status_code == 200


def test_creating_an_existing_collection_returns_it_unchanged(alice_api, alice_entity):
    """Two pushes into a new collection race to create it; the loser gets the winner's (200, not 409)."""
    first = create(alice_api, alice_entity, "tools")
    assert first.status_code == 201
    again = create(alice_api, alice_entity, "tools", private=True)
    assert again.status_code == 200
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert again.json()["data"]["private"] is False
    assert Collection.objects.filter(name="tools").count() == 1


def test_an_existing_collection_is_not_returned_to_someone_who_may_not_create_there(bob_api, alice_api, alice_entity):
    create(alice_api, alice_entity, "hidden", private=True)
    response = create(bob_api, alice_entity, "hidden")
    assert response.status_code in (403, 404)
    assert "hidden" not in response.content.decode()


def test_anonymous_cannot_create(anon_api, alice_entity):
    assert_error(create(anon_api, alice_entity, "tools"), 401)
    assert not Collection.objects.exists()


def test_other_user_cannot_create_in_my_entity(bob_api, alice_entity):
    assert_error(create(bob_api, alice_entity, "tools"), 403)
    assert not Collection.objects.exists()


def test_other_user_does_not_learn_that_a_private_collection_exists(alice_api, bob_api, alice_entity):
    create(alice_api, alice_entity, "secret", private=True)
    existing = bob_api.post("v1/collections", collection_body("secret", str(alice_entity.pk)))
    missing = bob_api.post("v1/collections", collection_body("nothing", str(alice_entity.pk)))
    assert existing.status_code == missing.status_code == 403
    assert existing.json()["error"]["message"] == missing.json()["error"]["message"]
    assert Collection.objects.count() == 1


def test_collaborator_cannot_create_in_the_entity(alice_api, api, bob, alice_entity):
    create(alice_api, alice_entity, "secret", private=True)
    grant_collaborator(Collection.objects.get(name="secret"), bob)
    assert_error(create(api(bob), alice_entity, "more"), 403)


def test_staff_entity_owner_creates_in_team_entity(api, user_factory):
    staff = user_factory("root", is_staff=True)
    client = api(staff)
    team = client.data("POST", "v1/entities", {"name": "team"})
    assert client.data("POST", "v1/collections", collection_body("tools", team["id"]))["entityName"] == "team"


def test_superuser_may_create_in_any_entity(api, user_factory, alice_entity):
    admin = user_factory("boss", is_superuser=True, is_staff=True)
    assert api(admin).post("v1/collections", collection_body("tools", str(alice_entity.pk))).status_code in (200, 201)


@pytest.mark.parametrize("entity", ["999999", 999999])
def test_unknown_entity_is_404(alice_api, entity):
    alice_api.get("v1/token-status")
    assert_error(alice_api.post("v1/collections", {"entity": entity, "name": "tools"}), 404)
    assert not Collection.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "tools"},
        {"entity": None, "name": "tools"},
        {"entity": ["1"], "name": "tools"},
        {"entity": {"id": "1"}, "name": "tools"},
        {"entity": "abc", "name": "tools"},
        {"entity": "", "name": "tools"},
        {"entity": 1.5, "name": "tools"},
        {"entity": True, "name": "tools"},
        {"entity": -1, "name": "tools"},
        {"entity": 0, "name": "tools"},
        {"entity": "ENTITY", "name": "Tools"},
    ],
)
def test_bad_entity_ids_are_400(alice_api, alice_entity, body):
    assert_error(alice_api.post("v1/collections", body), 400)
    assert not Collection.objects.exists()


@pytest.mark.parametrize("name", ["Tools", "", "a..b", "to ols", "a/b", "x" * 65, None, 5, ["tools"]])
def test_bad_names_are_400(alice_api, alice_entity, name):
    assert_error(alice_api.post("v1/collections", {"entity": str(alice_entity.pk), "name": name}), 400)
    assert not Collection.objects.exists()


@pytest.mark.parametrize("private", ["true", "false", 1, 0, [], {}])
def test_private_of_the_wrong_type_is_400(alice_api, alice_entity, private):
    body = {"entity": str(alice_entity.pk), "name": "tools", "private": private}
    assert_error(alice_api.post("v1/collections", body), 400)
    assert not Collection.objects.exists()


def test_name_of_64_characters_is_fine(alice_api, alice_entity):
    name = "a" * 64
    assert alice_api.data("POST", "v1/collections", {"entity": str(alice_entity.pk), "name": name})["name"] == name


def test_description_is_kept_and_read_only_keys_are_ignored(alice_api, alice_entity):
    body = {
        **collection_body("tools", str(alice_entity.pk)),
        "id": "12345",
        "size": 99,
        "containers": ["1", "2"],
        "createdBy": "someone",
        "description": "Dinosaurs Collection",
        "unknownKey": {"x": 1},
    }
    data = alice_api.data("POST", "v1/collections", body)
    assert data["id"] != "12345"
    assert data["containers"] == []
    assert data["size"] == 0
    assert data["description"] == "Dinosaurs Collection"
