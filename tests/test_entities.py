"""Entities: created on first token use from the normalised username; GET and POST v1/entities;
the reference guide's curl walk-through (entity by username, then a collection by numeric id)."""

from __future__ import annotations

import json

import pytest

from django_sylabs_library.flows.namespaces import ensure_user_entity
from django_sylabs_library.models import Collection, Entity
from django_sylabs_library.refs import normalise_entity_name
from tests.conftest import assert_error, collection_body, entity_body

TIMESTAMP_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("alice", "alice"),
        ("J.Smith@uni.edu", "j.smith-uni.edu"),
        ("Jane Doe", "jane-doe"),
        ("a__b--c..d", "a_b-c.d"),
        ("-.leading_and_trailing._-", "leading_and_trailing"),
        ("domain\\user", "domain-user"),
        ("Zoë", "zo"),
        ("@@@", "user"),
        ("x" * 100, "x" * 64),
    ],
)
def test_normalise_entity_name(username, expected):
    assert normalise_entity_name(username) == expected


def test_entity_created_on_first_token_use(api, user_factory):
    user = user_factory("carol")
    assert not Entity.objects.filter(owner=user).exists()
    assert api(user).get("v1/token-status").status_code == 200
    entity = Entity.objects.get(owner=user)
    assert entity.name == "carol"
    assert entity.personal
    # Using the token again does not create another one.
    api(user).get("v1/search?value=abc")
    assert Entity.objects.filter(owner=user).count() == 1


def test_entity_created_on_first_use_of_any_endpoint(api, user_factory):
    user = user_factory("dave")
    api(user).get("version")  # /version does not authenticate
    assert not Entity.objects.filter(owner=user).exists()
    api(user).get("v1/entities/nobody")
    assert Entity.objects.get(owner=user).name == "dave"


def test_sso_username_is_normalised(api, user_factory):
    user = user_factory("J.Smith@uni.edu")
    data = api(user).data("GET", "v1/entities/j.smith-uni.edu")
    assert data["name"] == "j.smith-uni.edu"


def test_collisions_get_a_numeric_suffix(api, user_factory):
    first = user_factory("J.Smith@uni.edu")
    second = user_factory("j.smith@uni.edu")
    third = user_factory("J.SMITH@UNI.EDU")
    assert ensure_user_entity(first).name == "j.smith-uni.edu"
    assert ensure_user_entity(second).name == "j.smith-uni.edu-2"
    assert ensure_user_entity(third).name == "j.smith-uni.edu-3"
    assert json.loads(api(second).get("v1/token-status").content)["data"]["username"] == "j.smith-uni.edu-2"


def test_collision_with_a_staff_created_entity(api, user_factory):
    staff = user_factory("root", is_staff=True)
    assert api(staff).post("v1/entities", entity_body("erin")).status_code in (200, 201)
    erin = user_factory("erin")
    assert ensure_user_entity(erin).name == "erin-2"


@pytest.mark.parametrize(
    "username", ["admin", "api", "accounts", "auth", "v1", "v2", "pks", "assets", "static", "search"]
)
def test_reserved_usernames_get_a_suffix(user_factory, username):
    entity = ensure_user_entity(user_factory(username))
    assert entity.name == f"{username}-2"


def test_suffix_keeps_long_names_valid(user_factory):
    long = "a" * 70
    first = ensure_user_entity(user_factory(long))
    second = ensure_user_entity(user_factory(long.upper()))
    assert first.name == "a" * 64
    assert second.name == "a" * 62 + "-2"


def test_get_entity(alice_api, anon_api, alice):
    alice_api.get("v1/token-status")
    for client in (alice_api, anon_api):
        data = client.data("GET", "v1/entities/alice")
        assert data["name"] == "alice"
        assert data["id"] == str(Entity.objects.get(name="alice").pk)


def test_get_entity_is_case_insensitive(alice_api):
    assert alice_api.data("GET", "v1/entities/ALICE")["name"] == "alice"


def test_get_missing_entity_is_404(alice_api):
    assert_error(alice_api.get("v1/entities/nobody"), 404)


def test_entity_lists_only_visible_collections(alice_api, bob_api, anon_api, alice):
    entity = ensure_user_entity(alice)
    public = Collection.objects.create(entity=entity, name="public")
    secret = Collection.objects.create(entity=entity, name="secret", private=True)
    assert sorted(alice_api.data("GET", "v1/entities/alice")["collections"]) == sorted([str(public.pk), str(secret.pk)])
    assert bob_api.data("GET", "v1/entities/alice")["collections"] == [str(public.pk)]
    assert anon_api.data("GET", "v1/entities/alice")["collections"] == [str(public.pk)]


def test_post_own_entity_is_409_because_it_exists(alice_api):
    alice_api.get("v1/token-status")
    before = Entity.objects.count()
    assert_error(alice_api.post("v1/entities", entity_body("alice")), 409)
    assert Entity.objects.count() == before


def test_post_other_entity_is_403(alice_api):
    alice_api.get("v1/token-status")
    assert_error(alice_api.post("v1/entities", entity_body("someone-else")), 403)
    assert not Entity.objects.filter(name="someone-else").exists()


def test_post_existing_other_entity_is_refused(alice_api, bob_api):
    bob_api.get("v1/token-status")
    response = alice_api.post("v1/entities", entity_body("bob"))
    assert response.status_code in (403, 409)
    assert_error(response, response.status_code)
    assert Entity.objects.get(name="bob").owner.username == "bob"


def test_anonymous_post_entity_is_401(anon_api):
    assert_error(anon_api.post("v1/entities", entity_body("someone")), 401)
    assert not Entity.objects.filter(name="someone").exists()


def test_staff_may_create_any_entity(api, user_factory):
    staff = user_factory("root", is_staff=True)
    response = api(staff).post("v1/entities", entity_body("team"))
    assert response.status_code in (200, 201)
    data = json.loads(response.content)["data"]
    assert data["name"] == "team"
    assert data["description"] == "No description"
    entity = Entity.objects.get(name="team")
    assert entity.owner == staff and not entity.personal
    assert data["id"] == str(entity.pk)


def test_staff_creating_an_existing_entity_is_409(api, user_factory, alice_api):
    alice_api.get("v1/token-status")
    staff = user_factory("root", is_staff=True)
    assert_error(api(staff).post("v1/entities", entity_body("alice")), 409)


def test_staff_may_not_take_reserved_names(api, user_factory):
    staff = user_factory("root", is_staff=True)
    assert_error(api(staff).post("v1/entities", entity_body("admin")), 400)
    assert not Entity.objects.filter(name="admin").exists()


def test_staff_may_create_the_default_entity(api, user_factory):
    staff = user_factory("root", is_staff=True)
    assert api(staff).post("v1/entities", entity_body("default")).status_code in (200, 201)


def test_entity_default_private_true_is_kept(api, user_factory):
    staff = user_factory("root", is_staff=True)
    body = {**entity_body("lab"), "defaultPrivate": True}
    data = api(staff).data("POST", "v1/entities", body)
    assert data["defaultPrivate"] is True
    assert Entity.objects.get(name="lab").default_private is True


@pytest.mark.parametrize(
    "name", ["Team", "", "a..b", "with space", "a/b", "x" * 65, "-lead", "trail-", "a__b", 7, None, ["team"]]
)
def test_post_entity_invalid_names_are_400(api, user_factory, name):
    staff = user_factory("root", is_staff=True)
    client = api(staff)
    client.get("v1/token-status")
    before = Entity.objects.count()
    assert_error(client.post("v1/entities", {**entity_body("x"), "name": name}), 400)
    assert Entity.objects.count() == before


# --- the reference guide's curl walk-through, verbatim ---------------------------------------


def test_reference_guide_curl_walkthrough(client, alice, token_for):
    token = token_for(alice)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    # $ curl -s -H 'Authorization: Bearer <token>' /v1/entities/<username>
    response = client.get("/v1/entities/alice", **auth)
    assert response.status_code == 200
    entity = json.loads(response.content)["data"]
    for key, value in {
        "collections": [],
        "customData": "",
        "defaultPrivate": False,
        "deleted": False,
        "deletedAt": "0001-01-01T00:00:00Z",
        "name": "alice",
        "quota": 0,
        "size": 0,
        "updatedBy": "",
    }.items():
        assert entity[key] == value, key
    assert isinstance(entity["id"], str) and entity["id"].isdigit()
    assert isinstance(entity["createdBy"], str) and isinstance(entity["description"], str)
    for key in ("createdAt", "updatedAt"):
        assert entity[key].endswith("Z")
    # $ curl -X POST -H 'Authorization: Bearer <token>' -H "Content-Type: application/json"
    #        --data '{"entity": 1, "name": "dinosaurs"}' http://127.0.0.1/v1/collections
    numeric_id = int(entity["id"])
    response = client.post(
        "/v1/collections",
        data=f'{{"entity": {numeric_id}, "name": "dinosaurs"}}',
        content_type="application/json",
        **auth,
    )
    assert response.status_code in (200, 201), response.content
    collection = json.loads(response.content)["data"]
    assert collection["name"] == "dinosaurs"
    assert collection["entity"] == entity["id"]
    assert collection["entityName"] == "alice"
    assert collection["private"] is False
    assert collection["containers"] == []
    assert collection["deleted"] is False
    assert collection["deletedAt"] == "0001-01-01T00:00:00Z"
    assert collection["customData"] == ""
    assert collection["size"] == 0
    assert collection["owner"] == str(alice.pk)
    assert collection["createdBy"] == str(alice.pk)
    assert isinstance(collection["id"], str) and collection["id"].isdigit()
    for key in ("createdAt", "updatedAt"):
        assert collection[key].endswith("Z")
    assert Collection.objects.get(pk=int(collection["id"])).entity.name == "alice"
    # It then shows up under the entity.
    response = client.get("/v1/entities/alice", **auth)
    assert json.loads(response.content)["data"]["collections"] == [collection["id"]]


def test_curl_walkthrough_with_the_clients_string_id(alice_api):
    entity = alice_api.data("GET", "v1/entities/alice")
    data = alice_api.data("POST", "v1/collections", collection_body("dinosaurs", entity["id"]))
    assert data["entity"] == entity["id"]
    assert data["name"] == "dinosaurs"


def test_get_entity_by_mixed_case_sso_username(api, user_factory):
    user = user_factory("J.Smith@uni.edu")
    client = api(user)
    client.get("v1/token-status")
    assert client.data("GET", "v1/entities/J.Smith@uni.edu")["name"] == "j.smith-uni.edu"


def test_get_entity_by_lower_case_sso_username(api, user_factory):
    user = user_factory("j.smith@uni.edu")
    client = api(user)
    client.get("v1/token-status")
    assert client.data("GET", "v1/entities/j.smith@uni.edu")["name"] == "j.smith-uni.edu"
