"""Who sees what and who may change what: every web page and every API endpoint, for every role,
on a public, a private and a frozen collection. Every cell of the tables below is asserted.

Roles (columns): anonymous, another user, a collaborator (``pull_collection`` grant), a member of
the team that owns the entity, the entity's owner, a staff user (``is_staff`` with every model
permission of the app, but no library role: staff work in the admin), and a superuser.

States: ``public``; ``private`` (the collection is private); ``frozen`` (public, the container is
read-only and tag ``v1`` is frozen).

Zero leaks: for everyone who may not see the private collection, each answer that names it is
indistinguishable from the answer for a name that does not exist (same status, same body with
the name swapped), and every page or API answer that does not name it (home, search, entity,
counts, sizes) is byte for byte what it is once the collection has been deleted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from django_sylabs_library.flows import teams
from django_sylabs_library.models import Collection, CollectionUserObjectPermission, Container, Entity, Image, Tag
from django_sylabs_library.permissions import grant_collaborator
from tests.conftest import Api, image_body, image_hash, make_sif
from tests.web_helpers import seed_as

ROLES = ["anonymous", "other", "collaborator", "team_member", "owner", "staff", "superuser"]
STATES = ["public", "private", "frozen"]
SECRETS = ["zzvault", "zzgizmo", "zzsecretdesc"]


def row(spec: str) -> dict[str, str]:
    values = spec.split()
    assert len(values) == len(ROLES), spec
    return dict(zip(ROLES, values, strict=True))


# --- expected answers -------------------------------------------------------------------------------
#                                  anon  other collab team owner staff super
PAGE = {
    "public": {
        "home": row("               200   200   200   200   200   200   200"),
        "search": row("             200   200   200   200   200   200   200"),
        "entity": row("             200   200   200   200   200   200   200"),
        "collection": row("         200   200   200   200   200   200   200"),
        "settings": row("           302   403   403   200   200   403   200"),
        "collection_delete": row("  302   403   403   200   200   403   200"),
        "container": row("          200   200   200   200   200   200   200"),
        "image_delete": row("       302   403   403   200   200   403   200"),
        "tokens": row("             302   200   200   200   200   200   200"),
        "me": row("                 302   302   302   302   302   302   302"),
    },
    "private": {
        "home": row("               200   200   200   200   200   200   200"),
        "search": row("             200   200   200   200   200   200   200"),
        "entity": row("             200   200   200   200   200   200   200"),
        "collection": row("         404   404   200   200   200   404   200"),
        "settings": row("           302   404   403   200   200   404   200"),
        "collection_delete": row("  302   404   403   200   200   404   200"),
        "container": row("          404   404   200   200   200   404   200"),
        "image_delete": row("       302   404   403   200   200   404   200"),
        "tokens": row("             302   200   200   200   200   200   200"),
        "me": row("                 302   302   302   302   302   302   302"),
    },
}
PAGE["frozen"] = PAGE["public"]

# Web actions (POST with CSRF). ok: done (302 back, state changed, success message);
# refused: 302 back with the reason, nothing changed; login: 302 to the login page;
# 403 / 404: nothing changed.
#                                  anon  other collab team owner staff super
ACTION = {
    "public": {
        "privacy": row("            login 403   403   ok   ok    403   ok"),
        "collaborator_add": row("   login 403   403   ok   ok    403   ok"),
        "collaborator_remove": row("login 403   403   ok   ok    403   ok"),
        "tag_freeze": row("         login 403   403   ok   ok    403   ok"),
        "read_only": row("          login 403   403   ok   ok    403   ok"),
        "image_delete": row("       login 403   403   ok   ok    403   ok"),
        "collection_delete": row("  login 403   403   ok   ok    403   ok"),
    },
    "private": {
        "privacy": row("            login 404   403   ok   ok    404   ok"),
        "collaborator_add": row("   login 404   403   ok   ok    404   ok"),
        "collaborator_remove": row("login 404   403   ok   ok    404   ok"),
        "tag_freeze": row("         login 404   403   ok   ok    404   ok"),
        "read_only": row("          login 404   403   ok   ok    404   ok"),
        "image_delete": row("       login 404   403   ok   ok    404   ok"),
        "collection_delete": row("  login 404   403   ok   ok    404   ok"),
    },
    "frozen": {
        "privacy": row("            login 403   403   ok   ok    403   ok"),
        "collaborator_add": row("   login 403   403   ok   ok    403   ok"),
        "collaborator_remove": row("login 403   403   ok   ok    403   ok"),
        "tag_freeze": row("         login 403   403   ok   ok    403   ok"),
        "read_only": row("          login 403   403   ok   ok    403   ok"),
        "image_delete": row("       login 403   403 refused refused 403 refused"),
        "collection_delete": row("  login 403   403 refused refused 403 refused"),
    },
}

#                                  anon  other collab team owner staff super
API_GET = {
    "public": {
        "entity": row("             200   200   200   200   200   200   200"),
        "collection": row("         200   200   200   200   200   200   200"),
        "container": row("          200   200   200   200   200   200   200"),
        "image": row("              200   200   200   200   200   200   200"),
        "image_by_hash": row("      200   200   200   200   200   200   200"),
        "imagefile": row("          200   200   200   200   200   200   200"),
        "tags_v1": row("            200   200   200   200   200   200   200"),
        "tags_v2": row("            200   200   200   200   200   200   200"),
        "search": row("             200   200   200   200   200   200   200"),
        "shub": row("               200   200   200   200   200   200   200"),
        "token_status": row("       401   200   200   200   200   200   200"),
    },
    "private": {
        "entity": row("             200   200   200   200   200   200   200"),
        "collection": row("         404   404   200   200   200   404   200"),
        "container": row("          404   404   200   200   200   404   200"),
        "image": row("              404   404   200   200   200   404   200"),
        "image_by_hash": row("      404   404   200   200   200   404   200"),
        "imagefile": row("          404   404   200   200   200   404   200"),
        "tags_v1": row("            404   404   200   200   200   404   200"),
        "tags_v2": row("            404   404   200   200   200   404   200"),
        "search": row("             200   200   200   200   200   200   200"),
        "shub": row("               404   404   404   404   404   404   404"),  # shub sends no token
        "token_status": row("       401   200   200   200   200   200   200"),
    },
}
API_GET["frozen"] = API_GET["public"]

#                                  anon  other collab team owner staff super
API_WRITE = {
    "public": {
        "create_image": row("       401   403   403   201   201   403   201"),
        "set_tag": row("            401   403   403   200   200   403   200"),
        "read_only": row("          401   403   403   200   200   403   200"),
        "delete_image": row("       401   403   403   200   200   403   200"),
        "create_collection": row("  401   403   403   201   201   403   201"),
    },
    "private": {
        "create_image": row("       401   404   403   201   201   404   201"),
        "set_tag": row("            401   404   403   200   200   404   200"),
        "read_only": row("          401   404   403   200   200   404   200"),
        "delete_image": row("       401   404   403   200   200   404   200"),
        "create_collection": row("  401   403   403   201   201   403   201"),
    },
    "frozen": {
        "create_image": row("       401   403   403   403   403   403   403"),
        "set_tag": row("            401   403   403   403   403   403   403"),
        "read_only": row("          401   403   403   200   200   403   200"),
        "delete_image": row("       401   403   403   403   403   403   403"),
        "create_collection": row("  401   403   403   201   201   403   201"),
    },
}


# --- the world ----------------------------------------------------------------------------------------


@dataclass
class World:
    state: str
    users: dict[str, Any]
    entity: Entity
    collection: Collection
    container: Container
    image_a: Image
    image_b: Image
    secrets: list[str] = field(default_factory=list)

    def client(self, role: str) -> Client:
        client = Client()
        if self.users[role] is not None:
            client.force_login(self.users[role])
        return client


def build_world(state: str, user_factory: Any) -> World:
    owner = user_factory("owen")
    member = user_factory("tina")
    collaborator = user_factory("carl")
    other = user_factory("olga")
    staff = user_factory("stan", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="django_sylabs_library"))
    superuser = user_factory("root", is_staff=True, is_superuser=True)
    crew = teams.create_team("crew", members=[member], entity=False)
    entity = Entity.objects.create(name="proj", owner=owner, team=crew, description="proj")
    seed_as(owner, "proj/open/pub", make_sif("amd64", size=3000))
    image_a = seed_as(
        owner,
        "proj/zzvault/zzgizmo",
        make_sif("amd64", size=5000, labels={"zzsecretdesc": "1"}),
        tags=("v1", "latest"),
        private=state == "private",
    )
    image_b = seed_as(owner, "proj/zzvault/zzgizmo", make_sif("amd64", size=7000), tags=("b",))
    collection = Collection.objects.get(name="zzvault")
    Collection.objects.filter(pk=collection.pk).update(description="zzsecretdesc collection")
    Container.objects.filter(name="zzgizmo").update(description="zzsecretdesc container", download_count=5)
    grant_collaborator(collection, collaborator)
    if state == "frozen":
        Container.objects.filter(name="zzgizmo").update(read_only=True)
        Tag.objects.filter(container__name="zzgizmo", name="v1").update(frozen=True)
    users = {
        "anonymous": None,
        "other": other,
        "collaborator": collaborator,
        "team_member": member,
        "owner": owner,
        "staff": staff,
        "superuser": superuser,
    }
    return World(
        state=state,
        users=users,
        entity=entity,
        collection=Collection.objects.select_related("entity").get(pk=collection.pk),
        container=Container.objects.get(name="zzgizmo"),
        image_a=image_a,
        image_b=image_b,
        secrets=[*SECRETS, image_a.sha256_hex, image_b.sha256_hex],
    )


@pytest.fixture(params=STATES)
def state(request: Any) -> str:
    return request.param


@pytest.fixture(params=ROLES)
def role(request: Any) -> str:
    return request.param


@pytest.fixture
def world(state: str, user_factory: Any) -> World:
    return build_world(state, user_factory)


def snapshot(world: World) -> Any:
    """Everything the actions could change."""
    collection = Collection.objects.filter(pk=world.collection.pk).values_list("private", flat=True).first()
    return (
        collection,
        sorted(Container.objects.filter(collection_id=world.collection.pk).values_list("name", "read_only")),
        sorted(
            Tag.objects.filter(container__collection_id=world.collection.pk).values_list(
                "name", "arch", "image_id", "frozen"
            )
        ),
        sorted(Image.objects.filter(container__collection_id=world.collection.pk).values_list("pk", flat=True)),
        sorted(
            CollectionUserObjectPermission.objects.filter(content_object_id=world.collection.pk).values_list(
                "user__username", "permission__codename"
            )
        ),
        sorted(Collection.objects.filter(entity=world.entity).values_list("name", flat=True)),
    )


# --- web pages ---------------------------------------------------------------------------------------


def page_paths(world: World, names: dict[str, str] | None = None, image_id: Any = None) -> dict[str, str]:
    c = (names or {}).get("collection", world.collection.name)
    n = (names or {}).get("container", world.container.name)
    image = image_id if image_id is not None else world.image_a.pk
    base = f"/e/proj/{c}/"
    return {
        "home": "/",
        "search": "/search/?q=zz",
        "entity": "/e/proj/",
        "collection": base,
        "settings": base + "-/settings/",
        "collection_delete": base + "-/delete/",
        "container": f"{base}{n}/",
        "image_delete": f"{base}{n}/-/images/{image}/delete/",
        "tokens": "/auth/tokens",
        "me": "/me/",
    }


NAMED = {"collection", "settings", "collection_delete", "container", "image_delete"}
_CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+"')


def normalise(body: bytes) -> str:
    return _CSRF.sub(r'\1X"', body.decode())


def test_pages(world: World, role: str) -> None:
    client = world.client(role)
    expected = PAGE[world.state]
    paths = page_paths(world)
    answers = {}
    for name, path in paths.items():
        response = client.get(path)
        answers[name] = response
        assert str(response.status_code) == expected[name][role], (world.state, role, name, response.status_code)
        if response.status_code == 302 and expected[name][role] == "302" and name != "me":
            assert response["Location"].startswith("/accounts/login/"), response["Location"]
    if world.state == "private" and expected["collection"][role] == "404":
        # Zero leaks: the private collection's names appear nowhere ...
        for name, response in answers.items():
            body = response.content.decode()
            for secret in world.secrets:
                assert secret not in body, (role, name, secret)
        # ... answers that name it equal those for a name that does not exist ...
        ghost = page_paths(world, {"collection": "zznothing", "container": "zzgizmo"}, image_id=999999)
        for name in NAMED:
            real, fake = answers[name], client.get(ghost[name])
            assert real.status_code == fake.status_code, (role, name)
            assert normalise(real.content) == normalise(fake.content).replace("zznothing", "zzvault"), (role, name)
        # ... and the pages that do not name it are what they are once it has gone (counts, sizes).
        before = {name: normalise(answers[name].content) for name in ("home", "search", "entity", "tokens")}
        Collection.objects.filter(pk=world.collection.pk).delete()
        for name, body in before.items():
            assert normalise(client.get(paths[name]).content) == body, (role, name)


def test_owner_pages_show_the_private_collection(state: str, user_factory: Any) -> None:
    world = build_world(state, user_factory)
    for role in ("collaborator", "team_member", "owner", "superuser"):
        client = world.client(role)
        assert b"zzvault" in client.get("/e/proj/").content
        assert b"zzgizmo" in client.get("/search/?q=zz").content
        assert world.image_a.hash.encode() in client.get("/e/proj/zzvault/zzgizmo/").content


# --- web actions ---------------------------------------------------------------------------------------


def action_request(world: World, action: str) -> tuple[str, dict[str, Any]]:
    base = "/e/proj/zzvault/"
    box = base + "zzgizmo/"
    carl = world.users["collaborator"]
    return {
        "privacy": (base + "-/privacy", {"private": "0" if world.state == "private" else "1"}),
        "collaborator_add": (base + "-/collaborators/add", {"kind": "user", "name": "olga", "role": "collaborator"}),
        "collaborator_remove": (base + "-/collaborators/remove", {"kind": "user", "pk": carl.pk}),
        "tag_freeze": (
            box + "-/tags/freeze",
            {"tag": "v1", "arch": "amd64", "frozen": "0" if world.state == "frozen" else "1"},
        ),
        "read_only": (box + "-/read-only", {"read_only": "0" if world.state == "frozen" else "1"}),
        "image_delete": (box + f"-/images/{world.image_a.pk}/delete/", {}),
        "collection_delete": (base + "-/delete/", {}),
    }[action]


@pytest.mark.parametrize("action", list(ACTION["public"]))
def test_actions(world: World, role: str, action: str) -> None:
    expected = ACTION[world.state][action][role]
    browser = Client(enforce_csrf_checks=True)
    if world.users[role] is not None:
        browser.force_login(world.users[role])
    path, data = action_request(world, action)
    before = snapshot(world)
    # Without the CSRF token nothing happens, whoever asks.
    assert browser.post(path, data).status_code == 403
    assert snapshot(world) == before
    client = world.client(role)
    response = client.post(path, data)
    after = snapshot(world)
    if expected == "ok":
        assert response.status_code == 302, (response.status_code, response.content[:300])
        assert after != before, (world.state, role, action)
        messages = [str(m) for m in response.wsgi_request._messages]
        assert messages and not any("Permission denied" in m for m in messages), messages
    else:
        assert after == before, (world.state, role, action)
        if expected == "refused":
            assert response.status_code == 302
            messages = " ".join(str(m) for m in response.wsgi_request._messages)
            assert "frozen" in messages or "read-only" in messages, messages
        elif expected == "login":
            assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
        else:
            assert str(response.status_code) == expected, (world.state, role, action, response.status_code)
            if expected == "404":
                body = response.content.decode()
                assert not any(secret in body for secret in world.secrets)


# --- the API -------------------------------------------------------------------------------------------


def api_for(world: World, role: str, api: Any) -> Api:
    return api(world.users[role])


def api_paths(world: World, c: str = "zzvault", n: str = "zzgizmo", cid: Any = None) -> dict[str, str]:
    cid = world.container.pk if cid is None else cid
    ref = f"proj/{c}/{n}"
    return {
        "entity": "v1/entities/proj",
        "collection": f"v1/collections/proj/{c}",
        "container": f"v1/containers/{ref}",
        "image": f"v1/images/{ref}:v1?arch=amd64",
        "image_by_hash": f"v1/images/{ref}:{world.image_a.hash}",
        "imagefile": f"v1/imagefile/{ref}:v1?arch=amd64",
        "tags_v1": f"v1/tags/{cid}",
        "tags_v2": f"v2/tags/{cid}",
        "search": "v1/search?value=zz",
        "shub": f"proj/api/container/{c}/{n}:v1",
        "token_status": "v1/token-status",
    }


def body_of(response: Any) -> bytes:
    # Reading the stream to its end closes the response through the test client's wrapper; calling
    # close() again would fire request_finished and drop a PostgreSQL test connection.
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def test_api_reads(world: World, role: str, api: Any) -> None:
    client = api_for(world, role, api)
    expected = API_GET[world.state]
    answers = {}
    for name, path in api_paths(world).items():
        response = client.get(path)
        answers[name] = body_of(response)
        assert str(response.status_code) == expected[name][role], (world.state, role, name, response.status_code)
    if world.state == "private" and expected["collection"][role] == "404":
        paths = api_paths(world)
        for name, body in answers.items():
            # An error may repeat the name the caller typed (exactly as for a missing one), nothing more.
            text = body.decode(errors="replace")
            for secret in world.secrets:
                if secret not in paths[name]:
                    assert secret not in text, (role, name, secret)
        ghost = api_paths(world, c="zznothing", cid=999999)
        for name in ("collection", "container", "image", "image_by_hash", "imagefile", "tags_v1", "tags_v2", "shub"):
            fake = client.get(ghost[name])
            assert body_of(fake).replace(b"zznothing", b"zzvault") == answers[name], (role, name)
        before = {name: answers[name] for name in ("entity", "search")}
        Collection.objects.filter(pk=world.collection.pk).delete()
        for name, body in before.items():
            assert body_of(client.get(api_paths(world)[name])) == body, (role, name)


def api_write(world: World, client: Api, name: str) -> Any:
    cid = str(world.container.pk)
    if name == "create_image":
        data = make_sif("amd64", size=4000)
        return client.post("v1/images", image_body(image_hash(data), cid))
    if name == "set_tag":
        return client.post(f"v2/tags/{cid}", {"Tag": "latest", "Arch": "amd64", "ImageID": str(world.image_b.pk)})
    if name == "read_only":
        return client.put("v1/containers/proj/zzvault/zzgizmo", {"readOnly": world.state != "frozen"})
    if name == "delete_image":
        return client.delete("v1/images/proj/zzvault/zzgizmo:v1?arch=amd64")
    if name == "create_collection":
        return client.post("v1/collections", {"entity": str(world.entity.pk), "name": "fresh", "private": True})
    raise AssertionError(name)


@pytest.mark.parametrize("name", list(API_WRITE["public"]))
def test_api_writes(world: World, role: str, name: str, api: Any) -> None:
    client = api_for(world, role, api)
    before = (snapshot(world), Image.objects.count())
    response = api_write(world, client, name)
    expected = API_WRITE[world.state][name][role]
    assert str(response.status_code) == expected, (
        world.state,
        role,
        name,
        response.status_code,
        response.content[:200],
    )
    after = (snapshot(world), Image.objects.count())
    if expected.startswith("2"):
        assert after != before
    else:
        assert after == before
        body = json.loads(response.content)
        assert set(body) == {"error"}
        if expected == "404":
            assert not any(secret in body["error"]["message"] for secret in world.secrets[1:])
