"""The audit log: every change writes exactly one event with who, what, when and from where,
through the API, the web pages, the admin and the management commands; events outlive the
objects they name and the users who acted; the admin shows them read-only."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pysequoia
import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from django_sylabs_library.flows import teams
from django_sylabs_library.flows.tokens import create_token
from django_sylabs_library.models import AuditEvent, Collection, Container, Image, SigningKey, Tag, Token
from tests.conftest import Api, body_of, make_sif, push, seed

ADDR = "203.0.113.7"  # every request below comes "from" here
ACTION = "_selected_action"


def new_events(since: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(pk__gt=since).order_by("pk"))


def last_pk() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def only_event(since: int) -> AuditEvent:
    events = new_events(since)
    assert len(events) == 1, [(e.action, e.object_ref) for e in events]
    return events[0]


def check(event: AuditEvent, action: str, actor: Any, ref: str, *, via: str | None = None, addr: str | None = ADDR):
    assert event.action == action
    if isinstance(actor, str):
        assert event.actor is None and event.actor_name == actor
    else:
        assert event.actor_id == actor.pk and event.actor_name == actor.get_username()
    assert event.object_ref == ref
    assert event.remote_addr == addr
    if via is not None:
        assert event.via == via


@pytest.fixture
def tools(alice: Any) -> Image:
    return seed(alice, "alice/tools/samtools", make_sif("amd64"))


@pytest.fixture
def web(client: Any, alice: Any) -> Any:
    client.force_login(alice)
    return client


def api_for(user: Any) -> tuple[Api, Token]:
    token, raw = create_token(user, "cli")
    return Api(Client(REMOTE_ADDR=ADDR), raw), token


# --- through the API --------------------------------------------------------------------------------


def test_a_push_records_what_it_creates_and_the_upload(alice: Any) -> None:
    api, token = api_for(alice)
    since = last_pk()
    image = push(api, "alice/tools/samtools", make_sif("amd64"))
    events = new_events(since)
    assert [e.action for e in events] == ["collection.create", "container.create", "image.push", "tag.set"]
    for event in events:
        assert event.actor_id == alice.pk and event.actor_name == "alice"
        assert event.remote_addr == ADDR and event.via == token.key_prefix
    push_event = events[2]
    assert push_event.object_ref == f"alice/tools/samtools:{image['hash']}"
    assert push_event.object_id == int(image["id"]) and push_event.detail["size"] == image["size"]
    assert events[3].object_ref == "alice/tools/samtools:latest"
    assert events[3].detail["new"] == {"id": int(image["id"]), "hash": image["hash"]}


@pytest.mark.parametrize("upload", ["v1", "v2"])
def test_each_upload_path_records_one_push(alice: Any, tools: Image, upload: str) -> None:
    api, _ = api_for(alice)
    since = last_pk()
    push(api, "alice/tools/samtools", make_sif("amd64"), tags=(), upload=upload)
    check(only_event(since), "image.push", alice, f"alice/tools/samtools:{Image.objects.latest('pk').hash}")


def test_a_tag_move_records_the_old_and_new_image(alice: Any, tools: Image) -> None:
    api, _ = api_for(alice)
    since = last_pk()
    new = push(api, "alice/tools/samtools", make_sif("amd64"))
    move = [e for e in new_events(since) if e.action.startswith("tag.")]
    assert len(move) == 1
    check(move[0], "tag.move", alice, "alice/tools/samtools:latest")
    assert move[0].detail["old"] == {"id": tools.pk, "hash": tools.hash}
    assert move[0].detail["new"] == {"id": int(new["id"]), "hash": new["hash"]}
    assert move[0].detail["arch"] == "amd64"


def test_setting_a_tag_to_where_it_points_records_nothing(alice: Any, tools: Image) -> None:
    api, _ = api_for(alice)
    since = last_pk()
    api.data("POST", f"v2/tags/{tools.container_id}", {"Arch": "amd64", "Tag": "latest", "ImageID": str(tools.pk)})
    assert new_events(since) == []


def test_deleting_an_image_records_it_and_the_event_outlives_it(alice: Any, tools: Image) -> None:
    api, _ = api_for(alice)
    since = last_pk()
    api.data("DELETE", "v1/images/alice/tools/samtools:latest?arch=amd64")
    event = only_event(since)
    check(event, "image.delete", alice, f"alice/tools/samtools:{tools.hash}")
    assert event.object_id == tools.pk and event.detail["tags"] == ["latest (amd64)"]
    assert not Image.objects.filter(pk=tools.pk).exists()
    assert AuditEvent.objects.filter(object_type="image", object_id=tools.pk, action="image.push").count() == 1


def test_read_only_container_through_the_api(alice: Any, tools: Image) -> None:
    api, _ = api_for(alice)
    since = last_pk()
    api.data("PUT", "v1/containers/alice/tools/samtools", {"readOnly": True})
    check(only_event(since), "container.read_only", alice, "alice/tools/samtools")
    since = last_pk()
    api.data("PUT", "v1/containers/alice/tools/samtools", {"readOnly": True})  # no change, no event
    api.data("PUT", "v1/containers/alice/tools/samtools", {"readOnly": False})
    check(only_event(since), "container.writable", alice, "alice/tools/samtools")


def test_adding_a_key_through_the_keyserver(alice: Any, settings: Any) -> None:
    settings.SYLABS_LIBRARY = {"KEYSERVER_REQUIRE_VERIFIED_EMAIL": False}
    api, token = api_for(alice)
    cert = pysequoia.Tsk.generate("Alice <alice@example.org>").extract_certificate()
    body = urllib.parse.urlencode({"keytext": str(cert)}).encode()
    since = last_pk()
    response = api.request("POST", "/pks/add", raw=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.content
    event = only_event(since)
    check(event, "key.add", alice, cert.fingerprint.upper(), via=token.key_prefix)
    assert event.detail["user_ids"] == ["Alice <alice@example.org>"]


def test_refused_and_read_requests_record_nothing(alice: Any, bob: Any, tools: Image) -> None:
    alice_api, _ = api_for(alice)
    bob_api, _ = api_for(bob)
    since = last_pk()
    alice_api.data("GET", "v1/images/alice/tools/samtools:latest?arch=amd64")
    download = alice_api.get("v1/imagefile/alice/tools/samtools:latest?arch=amd64")
    assert download.status_code == 200
    # Read to the end: that closes the blob file (a ResourceWarning otherwise) the way the test client expects;
    # a bare close() would fire request_finished and close the test's database connection.
    assert body_of(download)
    alice_api.data("GET", "v1/search?value=samtools")
    assert bob_api.delete("v1/images/alice/tools/samtools:latest?arch=amd64").status_code == 403
    assert bob_api.put("v1/containers/alice/tools/samtools", {"readOnly": True}).status_code == 403
    Tag.objects.filter(container_id=tools.container_id).update(frozen=True)
    assert alice_api.delete("v1/images/alice/tools/samtools:latest?arch=amd64").status_code == 403
    assert new_events(since) == []


# --- through the web pages --------------------------------------------------------------------------


def test_privacy_changes_on_the_settings_page(web: Any, alice: Any, tools: Image) -> None:
    since = last_pk()
    web.post("/e/alice/tools/-/privacy", {"private": "1"}, REMOTE_ADDR=ADDR)
    check(only_event(since), "collection.private", alice, "alice/tools", via="session")
    since = last_pk()
    web.post("/e/alice/tools/-/privacy", {"private": "0"}, REMOTE_ADDR=ADDR)
    check(only_event(since), "collection.public", alice, "alice/tools", via="session")


def test_collaborators_on_the_settings_page(web: Any, alice: Any, bob: Any, tools: Image) -> None:
    since = last_pk()
    web.post("/e/alice/tools/-/collaborators/add", {"kind": "user", "name": "bob", "role": "owner"}, REMOTE_ADDR=ADDR)
    event = only_event(since)
    check(event, "collaborator.add", alice, "alice/tools")
    assert event.detail == {"principal": "user bob", "principal_id": bob.pk, "role": "owner"}
    since = last_pk()
    web.post("/e/alice/tools/-/collaborators/remove", {"kind": "user", "pk": bob.pk}, REMOTE_ADDR=ADDR)
    event = only_event(since)
    check(event, "collaborator.remove", alice, "alice/tools")
    assert event.detail["principal"] == "user bob"


def test_freeze_and_read_only_on_the_container_page(web: Any, alice: Any, tools: Image) -> None:
    base = "/e/alice/tools/samtools/-"
    for path, form, action in [
        ("tags/freeze", {"tag": "latest", "arch": "amd64", "frozen": "1"}, "tag.freeze"),
        ("tags/freeze", {"tag": "latest", "arch": "amd64", "frozen": "0"}, "tag.unfreeze"),
        ("read-only", {"read_only": "1"}, "container.read_only"),
        ("read-only", {"read_only": "0"}, "container.writable"),
    ]:
        since = last_pk()
        web.post(f"{base}/{path}", form, REMOTE_ADDR=ADDR)
        ref = "alice/tools/samtools:latest" if action.startswith("tag") else "alice/tools/samtools"
        check(only_event(since), action, alice, ref, via="session")


def test_deleting_an_image_and_a_collection_on_the_web(web: Any, alice: Any, tools: Image) -> None:
    since = last_pk()
    web.post(f"/e/alice/tools/samtools/-/images/{tools.pk}/delete/", REMOTE_ADDR=ADDR)
    check(only_event(since), "image.delete", alice, f"alice/tools/samtools:{tools.hash}")
    collection_pk = Collection.objects.get(name="tools").pk
    since = last_pk()
    web.post("/e/alice/tools/-/delete/", REMOTE_ADDR=ADDR)
    event = only_event(since)
    check(event, "collection.delete", alice, "alice/tools")
    assert event.object_id == collection_pk and event.detail["containers"] == 1
    # kept after the collection went: its creation too
    assert not Collection.objects.filter(pk=collection_pk).exists()
    assert AuditEvent.objects.filter(object_type="collection", object_id=collection_pk).count() == 2


def test_tokens_on_the_token_page(web: Any, alice: Any) -> None:
    since = last_pk()
    response = web.post("/auth/tokens", {"name": "laptop", "scope": "read"}, REMOTE_ADDR=ADDR)
    raw = response.context["new_token"]
    token = Token.objects.get(user=alice)
    event = only_event(since)
    check(event, "token.create", alice, "alice/laptop", via="session")
    assert event.detail["scope"] == "read" and event.detail["prefix"] == token.key_prefix
    assert raw not in str(event.detail) and raw not in event.object_ref
    since = last_pk()
    web.post(f"/auth/tokens/{token.pk}/revoke", REMOTE_ADDR=ADDR)
    check(only_event(since), "token.revoke", alice, "alice/laptop", via="session")


# --- through management commands -----------------------------------------------------------------


def test_freeze_command(alice: Any, tools: Image) -> None:
    since = last_pk()
    call_command("sylabs_library_freeze", "alice/tools/samtools:latest", stdout=None)
    event = only_event(since)
    check(
        event, "tag.freeze", "manage.py sylabs_library_freeze", "alice/tools/samtools:latest", via="command", addr=None
    )
    since = last_pk()
    call_command("sylabs_library_freeze", "alice/tools/samtools:latest", "--unfreeze")
    check(
        only_event(since), "tag.unfreeze", "manage.py sylabs_library_freeze", "alice/tools/samtools:latest", addr=None
    )


def test_collaborator_command(alice: Any, bob: Any, tools: Image) -> None:
    actor = "manage.py sylabs_library_collaborator"
    since = last_pk()
    call_command("sylabs_library_collaborator", "add", "alice/tools", "bob")
    check(only_event(since), "collaborator.add", actor, "alice/tools", via="command", addr=None)
    since = last_pk()
    call_command("sylabs_library_collaborator", "remove", "alice/tools", "bob")
    check(only_event(since), "collaborator.remove", actor, "alice/tools", via="command", addr=None)


def test_token_command(alice: Any) -> None:
    since = last_pk()
    call_command("sylabs_library_token", "alice", "--name", "ci")
    event = only_event(since)
    check(event, "token.create", "manage.py sylabs_library_token", "alice/ci", via="command", addr=None)


# --- through the admin ------------------------------------------------------------------------------


def admin_url(model: str, view: str = "changelist", *args: Any) -> str:
    return reverse(f"admin:django_sylabs_library_{model}_{view}", args=args)


@pytest.fixture
def staff(admin_user: Any) -> Any:
    return admin_user


@pytest.fixture
def admin_web(client: Any, staff: Any) -> Any:
    client.force_login(staff)
    return client


def test_admin_actions_and_deletions(admin_web: Any, staff: Any, alice: Any, tools: Image) -> None:
    collection = tools.container.collection
    since = last_pk()
    admin_web.post(admin_url("collection"), {"action": "make_private", ACTION: [collection.pk]}, REMOTE_ADDR=ADDR)
    check(only_event(since), "collection.private", staff, "alice/tools", via="session")
    since = last_pk()
    admin_web.post(admin_url("collection"), {"action": "make_private", ACTION: [collection.pk]}, REMOTE_ADDR=ADDR)
    assert new_events(since) == []  # already private: nothing changed
    since = last_pk()
    admin_web.post(admin_url("container"), {"action": "freeze_tags", ACTION: [tools.container_id]}, REMOTE_ADDR=ADDR)
    check(only_event(since), "tag.freeze", staff, "alice/tools/samtools:latest")
    admin_web.post(admin_url("container"), {"action": "unfreeze_tags", ACTION: [tools.container_id]})
    since = last_pk()
    admin_web.post(admin_url("container", "delete", tools.container_id), {"post": "yes"}, REMOTE_ADDR=ADDR)
    event = only_event(since)
    check(event, "container.delete", staff, "alice/tools/samtools")
    assert not Container.objects.filter(pk=tools.container_id).exists()


def test_admin_token_revoke_and_key_delete(admin_web: Any, staff: Any, alice: Any) -> None:
    token, _ = create_token(alice, "laptop")
    since = last_pk()
    admin_web.post(admin_url("token"), {"action": "revoke", ACTION: [token.pk]}, REMOTE_ADDR=ADDR)
    check(only_event(since), "token.revoke", staff, "alice/laptop")
    key = SigningKey.objects.create(fingerprint="ab" * 20, armored="x")
    since = last_pk()
    admin_web.post(admin_url("signingkey", "delete", key.pk), {"post": "yes"}, REMOTE_ADDR=ADDR)
    check(only_event(since), "key.delete", staff, ("AB" * 20))


def test_team_changes(admin_web: Any, staff: Any, alice: Any, bob: Any) -> None:
    since = last_pk()
    team = teams.create_team("lab-x", members=[alice])
    assert [e.action for e in new_events(since)] == ["team.create", "team.member_add"]
    since = last_pk()
    admin_web.post(admin_url("team", "change", team.pk), {"description": "", "members": [bob.pk]}, REMOTE_ADDR=ADDR)
    events = new_events(since)
    assert sorted((e.action, e.detail["user"]) for e in events if e.action.startswith("team.member")) == [
        ("team.member_add", "bob"),
        ("team.member_remove", "alice"),
    ]
    assert all(e.actor_id == staff.pk and e.remote_addr == ADDR and e.object_ref == "lab-x" for e in events)
    since = last_pk()
    Group.objects.get(name="lab-x").user_set.remove(bob)  # e.g. an LDAP group sync, outside any request
    event = only_event(since)
    assert (event.action, event.actor_name, event.remote_addr) == ("team.member_remove", "", None)


# --- events outlive objects and users; the admin shows them read-only -----------------------------


def test_events_survive_the_deletion_of_their_user(bob: Any) -> None:
    token, _ = create_token(bob, "laptop")
    event = AuditEvent.objects.get(action="token.create", object_id=token.pk)
    bob.delete()
    event.refresh_from_db()
    assert event.actor is None and event.actor_name == "bob" and event.object_ref == "bob/laptop"


def test_admin_shows_events_read_only(client: Any, admin_web: Any, alice: Any, tools: Image, django_user_model: Any):
    AuditEvent.objects.all().delete()
    create_token(alice, "laptop")
    event = AuditEvent.objects.get()
    page = admin_web.get(admin_url("auditevent"), {"action": "token.create"})
    assert page.status_code == 200 and "alice/laptop" in page.content.decode()
    assert admin_web.get(admin_url("auditevent"), {"q": "alice"}).status_code == 200
    assert admin_web.get(admin_url("auditevent", "add")).status_code == 403
    change = admin_web.post(admin_url("auditevent", "change", event.pk), {"action": "nothing"})
    assert change.status_code == 403
    event.refresh_from_db()
    assert event.action == "token.create"
    # a staff user with every permission on events still cannot delete them; a superuser can
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("auditor", password="pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__endswith="_auditevent"))
    other = Client()
    other.force_login(staff)
    assert other.get(admin_url("auditevent")).status_code == 200
    assert other.post(admin_url("auditevent", "delete", event.pk), {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    admin_web.post(admin_url("auditevent", "delete", event.pk), {"post": "yes"})
    assert not AuditEvent.objects.filter(pk=event.pk).exists()


def test_gc_of_untagged_images_is_recorded(alice: Any, tools: Image) -> None:
    new = seed(alice, "alice/tools/samtools", make_sif("amd64"))  # latest moves on: `tools` is untagged
    assert new.pk != tools.pk and not tools.tags.exists()
    since = last_pk()
    call_command("sylabs_library_gc", "--grace", "0", "--untagged-older-than", "0", stdout=None, stderr=None)
    event = only_event(since)
    check(event, "image.delete", "manage.py sylabs_library_gc", f"alice/tools/samtools:{tools.hash}", addr=None)
    assert event.object_id == tools.pk and "untagged" in event.detail["reason"]


def test_remote_address_behind_trusted_proxies(alice: Any, tools: Image, settings: Any) -> None:
    """The address is the socket's, unless RATE_LIMIT_NUM_PROXIES trusts X-Forwarded-For."""
    api, _ = api_for(alice)
    forwarded = {"HTTP_X_FORWARDED_FOR": "198.51.100.9, 192.0.2.1"}
    since = last_pk()
    api.put("v1/containers/alice/tools/samtools", {"readOnly": True}, **forwarded)
    assert only_event(since).remote_addr == ADDR  # not trusted by default
    settings.SYLABS_LIBRARY = {"RATE_LIMIT_NUM_PROXIES": 1}
    since = last_pk()
    api.put("v1/containers/alice/tools/samtools", {"readOnly": False}, **forwarded)
    assert only_event(since).remote_addr == "192.0.2.1"


def test_admin_container_page_with_tag_inline(admin_web: Any, staff: Any, alice: Any, tools: Image) -> None:
    """Freezing a tag in the container page's inline is a ``tag.freeze``; deleting one, a ``tag.delete``;
    a description edit, an ``admin.change`` naming the field."""
    seed(alice, "alice/tools/samtools", make_sif("amd64"), tags=("1.0",))
    container = Container.objects.get(pk=tools.container_id)
    tags = list(Tag.objects.filter(container=container).order_by("name"))  # 1.0, latest
    data = {
        "name": container.name,
        "collection": container.collection_id,
        "description": "new words",
        "created_by": container.created_by_id,
        "full_description": "",
        "custom_data": "",
        "tags-TOTAL_FORMS": "2",
        "tags-INITIAL_FORMS": "2",
        "tags-MIN_NUM_FORMS": "0",
        "tags-MAX_NUM_FORMS": "1000",
    }
    for n, tag in enumerate(tags):
        data.update(
            {
                f"tags-{n}-id": tag.pk,
                f"tags-{n}-container": container.pk,
                f"tags-{n}-name": tag.name,
                f"tags-{n}-arch": tag.arch,
                f"tags-{n}-image": tag.image_id,
            }
        )
    data["tags-0-DELETE"] = "on"  # 1.0
    data["tags-1-frozen"] = "on"  # latest
    since = last_pk()
    response = admin_web.post(admin_url("container", "change", container.pk), data, REMOTE_ADDR=ADDR)
    assert response.status_code == 302, response.content[:500]
    events = {(e.action, e.object_ref) for e in new_events(since)}
    assert events == {
        ("admin.change", "alice/tools/samtools"),
        ("tag.delete", "alice/tools/samtools:1.0"),
        ("tag.freeze", "alice/tools/samtools:latest"),
    }
    assert all(e.actor_id == staff.pk and e.remote_addr == ADDR for e in new_events(since))
    change = AuditEvent.objects.get(pk__gt=since, action="admin.change")
    assert change.detail == {"fields": ["description"]}
