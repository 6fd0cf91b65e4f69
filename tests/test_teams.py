"""Teams (a Django group whose members own the team's entity), group collaborators, users who
leave (delete, deactivate, transfer, remove), and the collaborator management command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext

from django_sylabs_library import permissions
from django_sylabs_library.exceptions import Conflict, InvalidInput
from django_sylabs_library.flows import collaborators, teams, users
from django_sylabs_library.flows.namespaces import ensure_user_entity
from django_sylabs_library.flows.protection import ContentFrozen
from django_sylabs_library.models import Collection, Container, Entity, Image, Tag, Team, Token
from django_sylabs_library.permissions import Role
from tests.conftest import PushError, assert_error, make_sif, push, seed
from tests.web_helpers import seed_as


@pytest.fixture
def lab(alice, bob):
    """Team lab-x with alice as a member (bob is not)."""
    return teams.create_team("lab-x", description="Lab X", members=[alice])


def test_create_team_makes_group_and_entity(lab, alice):
    assert lab.group.name == "lab-x"
    entity = Entity.objects.get(name="lab-x")
    assert entity.team == lab and entity.owner is None and entity.personal is False
    assert list(lab.group.user_set.all()) == [alice]


def test_create_team_adopts_an_existing_group(alice):
    group = Group.objects.create(name="LDAP Physics")
    group.user_set.add(alice)
    team = teams.create_team("physics", group=group)
    assert team.group == group
    assert permissions.owns_entity(alice, Entity.objects.get(name="physics"))


@pytest.mark.parametrize("name", ["Lab X", "lab/x", "", "-lab"])
def test_team_names_are_entity_names(db, name):
    with pytest.raises(InvalidInput):
        teams.create_team(name)


def test_team_name_reserved_or_taken(alice):
    with pytest.raises(InvalidInput):
        teams.create_team("admin")
    ensure_user_entity(alice)
    with pytest.raises(Conflict):
        teams.create_team("alice")
    teams.create_team("lab-z")
    with pytest.raises(Conflict):
        teams.create_team("lab-z", entity=False)


def test_members_own_the_team_entity(lab, alice, bob):
    entity = Entity.objects.get(name="lab-x")
    assert permissions.owns_entity(alice, entity)
    assert not permissions.owns_entity(bob, Entity.objects.get(name="lab-x"))
    assert list(permissions.owned_entities(alice).values_list("name", flat=True)) == ["lab-x"]
    teams.add_member(lab, bob)
    assert permissions.owns_entity(bob, Entity.objects.get(name="lab-x"))
    teams.remove_member(lab, bob)
    assert not permissions.owns_entity(bob, Entity.objects.get(name="lab-x"))


def test_member_pushes_through_the_api(lab, api, alice, bob, user_factory):
    carol = user_factory("carol")
    teams.add_member(lab, carol)
    image = push(api(alice), "library://lab-x/tools/samtools", make_sif(), tags=["1.0"])
    assert image["entityName"] == "lab-x"
    collection = Collection.objects.get(entity__name="lab-x", name="tools")
    assert collection.created_by == alice
    # another member moves the tag; both are owners of every collection of the team
    push(api(carol), "library://lab-x/tools/samtools", make_sif(), tags=["1.0"])
    assert Tag.objects.get(name="1.0").updated_by == carol
    with pytest.raises(PushError) as refused:
        push(api(bob), "library://lab-x/tools/samtools", make_sif(), tags=["1.0"])
    assert refused.value.response.status_code == 403


def test_member_creates_a_collection_by_post(lab, api, alice, bob):
    entity = Entity.objects.get(name="lab-x")
    body = {"entity": str(entity.pk), "name": "new", "private": True}
    assert api(alice).post("v1/collections", body).status_code in (200, 201)
    assert_error(api(bob).post("v1/collections", {**body, "name": "other"}), 403)


def test_members_see_private_collections_of_the_team(lab, alice, bob, api):
    seed_as(alice, "lab-x/secret/tool", make_sif(), private=True)
    collection = Collection.objects.get(name="secret")
    assert permissions.collection_role(alice, collection) == Role.OWNER
    assert permissions.collection_role(bob, Collection.objects.get(name="secret")) == Role.NONE
    assert list(permissions.visible_collections(alice).values_list("name", flat=True)) == ["secret"]
    assert not permissions.visible_collections(bob).exists()
    assert api(alice).get("v1/collections/lab-x/secret").status_code == 200
    assert_error(api(bob).get("v1/collections/lab-x/secret"), 404)


def test_visible_collections_is_one_query_without_duplicates(lab, alice, user_factory):
    for n in range(3):
        teams.add_member(lab, user_factory(f"member{n}"))
    seed_as(alice, "lab-x/one/tool", make_sif(), private=True)
    seed_as(alice, "lab-x/two/tool", make_sif())
    other = teams.create_team("lab-y", members=[alice])
    assert other
    with CaptureQueriesContext(connection) as ctx:
        names = list(permissions.visible_collections(alice).order_by("name").values_list("name", flat=True))
    assert names == ["one", "two"]
    assert len(ctx.captured_queries) == 1


def test_team_as_collaborator(alice, bob, user_factory, api):
    carol = user_factory("carol")
    readers = teams.create_team("readers", members=[bob], entity=False)
    seed(alice, "alice/secret/tool", make_sif(), private=True)
    collection = Collection.objects.get(name="secret")
    grant = collaborators.add_collaborator(alice, collection, collaborators.find_principal(team="readers"))
    assert grant.role == Role.COLLABORATOR
    assert api(bob).get("v1/images/alice/secret/tool:latest?arch=amd64").status_code == 200
    assert_error(api(carol).get("v1/images/alice/secret/tool:latest?arch=amd64"), 404)
    with pytest.raises(PushError) as refused:
        push(api(bob), "library://alice/secret/tool", make_sif())
    assert refused.value.response.status_code == 403
    # an owner grant lets the team push
    collaborators.add_collaborator(
        alice, Collection.objects.get(name="secret"), collaborators.find_principal(team="readers"), "owner"
    )
    push(api(bob), "library://alice/secret/tool", make_sif(), tags=["2.0"])
    listed = collaborators.list_collaborators(alice, Collection.objects.get(name="secret"))
    assert [(g.principal.label, g.role_name) for g in listed] == [("team readers", "owner")]
    teams.remove_member(readers, bob)
    assert_error(api(bob).get("v1/images/alice/secret/tool:latest?arch=amd64"), 404)


def test_only_owners_manage_collaborators(alice, bob, user_factory):
    carol = user_factory("carol")
    seed(alice, "alice/tools/tool", make_sif())
    collection = Collection.objects.get(name="tools")
    from django_sylabs_library.exceptions import Forbidden

    with pytest.raises(Forbidden):
        collaborators.add_collaborator(bob, collection, collaborators.find_principal(username="carol"))
    collaborators.add_collaborator(alice, collection, collaborators.find_principal(username="carol"))
    # collaborators see the list, readers do not
    assert collaborators.list_collaborators(carol, collection)
    assert collaborators.list_collaborators(bob, collection) == []


def test_removing_a_collaborator_who_is_none_says_so(alice, bob):
    seed(alice, "alice/tools/tool", make_sif())
    collection = Collection.objects.get(name="tools")
    from django_sylabs_library.exceptions import NotFound

    with pytest.raises(NotFound, match="not a collaborator"):
        collaborators.remove_collaborator(alice, collection, collaborators.find_principal(username="bob"))


# --- deleting teams and users: never silent loss -----------------------------------------------------


def test_deleting_a_team_with_content_is_refused(lab, alice):
    seed_as(alice, "lab-x/tools/tool", make_sif())
    with pytest.raises(ProtectedError):
        lab.group.delete()
    assert Team.objects.filter(name="lab-x").exists() and Image.objects.exists()


def test_deleting_an_empty_team_deletes_its_entity(lab):
    lab.group.delete()
    assert not Entity.objects.filter(name="lab-x").exists()


def test_deleting_a_user_with_an_empty_entity(alice):
    ensure_user_entity(alice)
    alice.delete()
    assert not Entity.objects.filter(name="alice").exists()


def test_deleting_a_user_with_images_is_refused(alice):
    seed(alice, "alice/tools/tool", make_sif())
    with pytest.raises(ProtectedError) as refused:
        alice.delete()
    assert "alice" in str(refused.value)
    assert Image.objects.count() == 1


def test_deleting_the_owner_of_a_team_entity_keeps_it(lab, alice, bob):
    Entity.objects.filter(name="lab-x").update(owner=bob)
    seed_as(alice, "lab-x/tools/tool", make_sif())
    bob.delete()
    entity = Entity.objects.get(name="lab-x")
    assert entity.owner is None and entity.team == lab


def test_content_summary(alice):
    seed(alice, "alice/tools/tool", make_sif(size=5000))
    Token.objects.all().delete()
    from django_sylabs_library.flows.tokens import create_token

    create_token(alice, "laptop")
    summary = users.content_summary(alice)
    assert [e.entity.name for e in summary.entities] == ["alice"]
    assert summary.images == 1 and summary.size == 5000 and summary.collections == 1
    assert summary.active_tokens == 1
    assert [e.entity.name for e in summary.protected] == ["alice"]


def test_transfer_to_a_user_then_delete(alice, bob, api):
    seed(alice, "alice/tools/tool", make_sif())
    ensure_user_entity(bob)
    moved = users.transfer_content(alice, to_user=bob)
    assert [e.name for e in moved] == ["alice"]
    entity = Entity.objects.get(name="alice")
    assert entity.owner == bob and entity.personal is False
    alice.delete()
    assert Image.objects.count() == 1
    # the name and references stay; bob pushes to it now
    push(api(bob), "library://alice/tools/tool", make_sif(), tags=["2.0"])
    assert Entity.objects.get(owner=bob, personal=True).name == "bob"


def test_transfer_to_a_team(alice, bob, lab):
    seed(bob, "bob/tools/tool", make_sif())
    users.transfer_content(bob, to_team=lab)
    entity = Entity.objects.get(name="bob")
    assert entity.team == lab and entity.owner is None
    assert permissions.owns_entity(alice, entity)
    bob.delete()
    assert Entity.objects.filter(name="bob").exists()


def test_transfer_needs_exactly_one_target(alice, bob, lab):
    with pytest.raises(InvalidInput):
        users.transfer_content(alice)
    with pytest.raises(InvalidInput):
        users.transfer_content(alice, to_user=bob, to_team=lab)
    with pytest.raises(InvalidInput):
        users.transfer_content(alice, to_user=alice)


def test_remove_content_refuses_frozen(alice):
    seed(alice, "alice/tools/tool", make_sif())
    Tag.objects.update(frozen=True)
    with pytest.raises(ContentFrozen, match="frozen"):
        users.remove_content(alice)
    assert Image.objects.count() == 1
    Tag.objects.update(frozen=False)
    Container.objects.update(read_only=True)
    with pytest.raises(ContentFrozen, match="read-only"):
        users.remove_content(alice)
    Container.objects.update(read_only=False)
    assert users.remove_content(alice) == ["alice"]
    assert not Image.objects.exists()
    alice.delete()


def test_deactivate_revokes_tokens_and_keeps_content(alice, api):
    seed(alice, "alice/tools/tool", make_sif())
    client = api(alice)
    assert client.get("v1/token-status").status_code == 200
    assert users.deactivate_user(alice) >= 1
    alice.refresh_from_db()
    assert alice.is_active is False
    assert_error(client.get("v1/token-status"), 401)
    assert api().get("v1/images/alice/tools/tool:latest?arch=amd64").status_code == 200


# --- the management command ----------------------------------------------------------------------


def run(*args):
    out = StringIO()
    call_command("sylabs_library_collaborator", *args, stdout=out)
    return out.getvalue()


def test_command_add_list_remove(alice, bob, lab):
    seed(alice, "alice/tools/tool", make_sif(), private=True)
    assert "user bob is collaborator of alice/tools" in run("add", "alice/tools", "bob")
    assert "team lab-x is owner of alice/tools" in run("add", "alice/tools", "--team", "lab-x", "--role", "owner")
    listed = run("list", "alice/tools")
    assert "alice/tools (private)" in listed
    assert "owner\tuser alice\t(entity owner)" in listed
    assert "collaborator\tuser bob" in listed and "owner\tteam lab-x" in listed
    assert permissions.can_view_collection(bob, Collection.objects.get(name="tools"))
    assert "user bob removed" in run("remove", "alice/tools", "bob")
    assert not permissions.can_view_collection(bob, Collection.objects.get(name="tools"))


@pytest.mark.parametrize(
    "args, message",
    [
        (("add", "alice/nothing", "bob"), "not found"),
        (("add", "alice/tools", "nobody"), "no user nobody"),
        (("add", "alice/tools", "--team", "nope"), "no team nope"),
        (("add", "alice/tools"), "needs a USERNAME or --team"),
        (("add", "alice/tools", "bob", "--team", "lab-x"), "not both"),
        (("remove", "alice/tools", "bob"), "not a collaborator"),
        (("list", "alice/tools", "bob"), "takes no user"),
        (("list", "alice"), "entity/collection"),
    ],
)
def test_command_errors(alice, bob, lab, args, message):
    seed(alice, "alice/tools/tool", make_sif())
    with pytest.raises(CommandError, match=message):
        run(*args)
