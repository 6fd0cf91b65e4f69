"""The admin: every model listed, bulk actions, deletions that respect frozen content, teams,
guardian's object permissions, and users who leave (transfer, remove, deactivate, delete)."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from django_sylabs_library import models
from django_sylabs_library.flows import teams
from django_sylabs_library.flows.namespaces import ensure_user_entity
from django_sylabs_library.flows.tokens import create_token
from django_sylabs_library.models import Collection, Container, Entity, Image, Tag, Team, Token
from tests.conftest import make_sif, seed

ACTION = "_selected_action"


def url(model: str, view: str = "changelist", *args) -> str:
    return reverse(f"admin:django_sylabs_library_{model}_{view}", args=args)


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.wsgi_request._messages)


@pytest.fixture
def tools(alice):
    image = seed(alice, "alice/tools/samtools", make_sif(), tags=("latest", "1.0"))
    seed(alice, "alice/tools/bwa", make_sif())
    return image


MODELS = [
    models.Entity,
    models.Team,
    models.Collection,
    models.Container,
    models.Image,
    models.Tag,
    models.Blob,
    models.UploadSession,
    models.Token,
    models.SigningKey,
    models.SigningKeyId,
    models.UploadPart,
    models.CollectionUserObjectPermission,
    models.CollectionGroupObjectPermission,
]


def test_every_model_is_registered():
    registered = {m for m in admin.site._registry if m._meta.app_label == "django_sylabs_library"}
    concrete = set(apps.get_app_config("django_sylabs_library").get_models())
    inline_only = {models.SigningKeyUserId}  # shown on the signing key's page
    assert concrete - inline_only <= registered


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelists_search_and_change_pages(admin_client, tools, model):
    name = model._meta.model_name
    assert admin_client.get(url(name)).status_code == 200
    assert admin_client.get(url(name), {"q": "sam"}).status_code == 200
    obj = model.objects.first()
    if obj is not None:
        assert admin_client.get(url(name, "change", obj.pk)).status_code == 200


def test_list_columns_show_sizes_and_counts(admin_client, tools):
    html = admin_client.get(url("collection")).content.decode()
    assert "field-container_count" in html and "field-storage" in html
    html = admin_client.get(url("entity")).content.decode()
    assert "field-collection_count" in html and "field-team" in html


def test_hashes_and_sizes_are_read_only(admin_client, tools):
    html = admin_client.get(url("image", "change", tools.pk)).content.decode()
    assert tools.hash in html
    assert 'name="hash"' not in html and 'name="size"' not in html and 'name="labels"' not in html
    blob = models.Blob.objects.first()
    assert 'name="sha256"' not in admin_client.get(url("blob", "change", blob.pk)).content.decode()


def test_tokens_never_show_the_secret(admin_client, alice):
    token, raw = create_token(alice, "laptop")
    for page in (url("token"), url("token", "change", token.pk)):
        html = admin_client.get(page).content.decode()
        assert raw not in html and token.key_hash not in html
    assert "laptop" in admin_client.get(url("token")).content.decode()
    assert admin_client.get(url("token", "add")).status_code == 403


def test_revoke_tokens_action(admin_client, alice):
    token, _ = create_token(alice, "laptop")
    admin_client.post(url("token"), {"action": "revoke", ACTION: [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_guardian_object_permissions_on_collections_and_containers(admin_client, tools, bob):
    collection = Collection.objects.get(name="tools")
    page = admin_client.get(url("collection", "permissions", collection.pk))
    assert page.status_code == 200 and b"pull_collection" in page.content or b"Object permissions" in page.content
    container = Container.objects.get(name="samtools")
    assert admin_client.get(url("container", "permissions", container.pk)).status_code == 200


# --- bulk actions ------------------------------------------------------------------------------------


def test_make_private_and_public(admin_client, tools):
    collection = Collection.objects.get(name="tools")
    response = admin_client.post(url("collection"), {"action": "make_private", ACTION: [collection.pk]})
    assert response.status_code == 302
    assert Collection.objects.get(pk=collection.pk).private is True
    admin_client.post(url("collection"), {"action": "make_public", ACTION: [collection.pk]})
    assert Collection.objects.get(pk=collection.pk).private is False


def test_container_read_only_and_tag_freezing_actions(admin_client, tools):
    pks = list(Container.objects.values_list("pk", flat=True))
    admin_client.post(url("container"), {"action": "make_read_only", ACTION: pks})
    assert set(Container.objects.values_list("read_only", flat=True)) == {True}
    admin_client.post(url("container"), {"action": "make_writable", ACTION: pks})
    assert set(Container.objects.values_list("read_only", flat=True)) == {False}
    admin_client.post(url("container"), {"action": "freeze_tags", ACTION: pks})
    assert set(Tag.objects.values_list("frozen", flat=True)) == {True}
    admin_client.post(url("container"), {"action": "unfreeze_tags", ACTION: pks})
    assert set(Tag.objects.values_list("frozen", flat=True)) == {False}
    tag = Tag.objects.get(name="1.0")
    admin_client.post(url("tag"), {"action": "freeze", ACTION: [tag.pk]})
    assert Tag.objects.get(pk=tag.pk).frozen is True
    admin_client.post(url("tag"), {"action": "unfreeze", ACTION: [tag.pk]})
    assert Tag.objects.get(pk=tag.pk).frozen is False


# --- deleting respects frozen content ---------------------------------------------------------------


def test_bulk_delete_keeps_frozen_containers(admin_client, tools):
    Tag.objects.filter(name="1.0").update(frozen=True)
    pks = list(Container.objects.values_list("pk", flat=True))
    confirm = admin_client.post(url("container"), {"action": "delete_selected", ACTION: pks})
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "bwa" in html and "Are you sure" in html
    assert "Not deleted, frozen" in messages_of(confirm)
    bwa = Container.objects.get(name="bwa")
    done = admin_client.post(url("container"), {"action": "delete_selected", ACTION: [bwa.pk], "post": "yes"})
    assert done.status_code == 302
    assert list(Container.objects.values_list("name", flat=True)) == ["samtools"]


def test_bulk_delete_of_only_frozen_objects_does_nothing(admin_client, tools):
    Container.objects.update(read_only=True)
    pks = list(Container.objects.values_list("pk", flat=True))
    response = admin_client.post(url("container"), {"action": "delete_selected", ACTION: pks, "post": "yes"})
    assert response.status_code == 302
    assert Container.objects.count() == 2
    assert "Not deleted, frozen" in messages_of(response)


@pytest.mark.parametrize("model", ["entity", "collection", "container", "image", "tag"])
def test_delete_view_refuses_frozen(admin_client, tools, model):
    Tag.objects.update(frozen=True)
    obj = {
        "entity": Entity.objects.get(name="alice"),
        "collection": Collection.objects.get(name="tools"),
        "container": Container.objects.get(name="samtools"),
        "image": tools,
        "tag": Tag.objects.get(name="latest", container__name="samtools"),
    }[model]
    response = admin_client.post(url(model, "delete", obj.pk), {"post": "yes"})
    assert response.status_code == 302
    assert "was not deleted" in messages_of(response)
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_delete_view_deletes_unfrozen(admin_client, tools):
    container = Container.objects.get(name="bwa")
    response = admin_client.post(url("container", "delete", container.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Container.objects.filter(pk=container.pk).exists()


def test_bulk_delete_of_images_and_tags(admin_client, tools):
    Tag.objects.filter(name="1.0").update(frozen=True)
    other = Image.objects.exclude(pk=tools.pk).get()
    admin_client.post(url("image"), {"action": "delete_selected", ACTION: [tools.pk, other.pk], "post": "yes"})
    assert list(Image.objects.values_list("pk", flat=True)) == [tools.pk]
    tags = list(Tag.objects.values_list("pk", flat=True))
    admin_client.post(url("tag"), {"action": "delete_selected", ACTION: tags, "post": "yes"})
    assert list(Tag.objects.values_list("name", flat=True)) == ["1.0"]


# --- teams and entities --------------------------------------------------------------------------------


def test_add_team_in_the_admin(admin_client, alice, bob):
    response = admin_client.post(
        url("team", "add"),
        {"name": "lab-x", "description": "Lab X", "group": "", "members": [alice.pk, bob.pk], "create_entity": "on"},
    )
    assert response.status_code == 302, response.content[:2000]
    team = Team.objects.get(name="lab-x")
    assert set(team.group.user_set.all()) == {alice, bob}
    assert Entity.objects.get(name="lab-x").team == team
    html = admin_client.get(url("team")).content.decode()
    assert "lab-x" in html
    # members are edited on the team's page
    admin_client.post(url("team", "change", team.pk), {"description": "Lab X", "members": [bob.pk]})
    assert list(team.group.user_set.all()) == [bob]


@pytest.mark.parametrize(
    "name, error", [("Lab X", "invalid team name"), ("admin", "reserved"), ("alice", "exists already")]
)
def test_add_team_validates_the_name(admin_client, alice, name, error):
    ensure_user_entity(alice)
    response = admin_client.post(url("team", "add"), {"name": name, "group": "", "create_entity": "on"})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Team.objects.exists()


def test_transfer_entities_action(admin_client, tools, bob):
    team = teams.create_team("lab-x", members=[bob])
    entity = Entity.objects.get(name="alice")
    page = admin_client.post(url("entity"), {"action": "transfer_entities", ACTION: [entity.pk]})
    assert page.status_code == 200 and b"Transfer" in page.content
    done = admin_client.post(
        url("entity"), {"action": "transfer_entities", ACTION: [entity.pk], "to_team": team.pk, "apply": "1"}
    )
    assert done.status_code == 302
    entity.refresh_from_db()
    assert entity.team == team and entity.owner is None and entity.personal is False
    assert "Transferred 1 entity" in messages_of(done)


# --- users who leave ------------------------------------------------------------------------------------


def user_url(view: str = "changelist", *args) -> str:
    opts = get_user_model()._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def test_user_admin_has_the_library_actions(admin_client, alice):
    html = admin_client.get(user_url()).content.decode()
    assert "library_content_action" in html and "deactivate_users_action" in html


def test_user_delete_page_says_what_happens(admin_client, tools, alice):
    page = admin_client.get(user_url("delete", alice.pk)).content.decode()
    assert "Library content" in page
    assert "blocks the deletion" in page
    assert "protected related objects" in page and re.search(r"Entity: <a [^>]+>alice</a>", page)
    response = admin_client.post(user_url("delete", alice.pk), {"post": "yes"})
    assert get_user_model().objects.filter(pk=alice.pk).exists()
    assert Image.objects.count() == 2
    assert response.status_code == 200  # the page again, listing the protected entity


def test_user_without_content_is_deleted(admin_client, bob):
    ensure_user_entity(bob)
    page = admin_client.get(user_url("delete", bob.pk)).content.decode()
    assert "deleted with the user (empty)" in page
    admin_client.post(user_url("delete", bob.pk), {"post": "yes"})
    assert not get_user_model().objects.filter(pk=bob.pk).exists()
    assert not Entity.objects.filter(name="bob").exists()


def test_bulk_user_delete_page_lists_content(admin_client, tools, alice, bob):
    page = admin_client.post(user_url(), {"action": "delete_selected", ACTION: [alice.pk, bob.pk]})
    html = page.content.decode()
    assert "Library content" in html and "blocks the deletion" in html


def test_transfer_then_delete_a_user(admin_client, tools, alice, bob):
    ensure_user_entity(bob)
    create_token(alice, "laptop")
    page = admin_client.post(user_url(), {"action": "library_content_action", ACTION: [alice.pk]})
    assert page.status_code == 200 and b"blocks the deletion" in page.content
    done = admin_client.post(
        user_url(),
        {
            "action": "library_content_action",
            ACTION: [alice.pk],
            "what": "transfer_user",
            "to_user": "bob",
            "deactivate": "on",
            "apply": "1",
        },
    )
    assert done.status_code == 302
    assert "now belong to bob" in messages_of(done)
    alice.refresh_from_db()
    assert alice.is_active is False
    assert not Token.objects.filter(user=alice, revoked_at__isnull=True).exists()
    assert Entity.objects.get(name="alice").owner == bob
    admin_client.post(user_url("delete", alice.pk), {"post": "yes"})
    assert not get_user_model().objects.filter(pk=alice.pk).exists()
    assert Image.objects.count() == 2


def test_transfer_to_a_team_and_remove(admin_client, tools, alice, bob):
    team = teams.create_team("lab-x", members=[bob])
    admin_client.post(
        user_url(),
        {
            "action": "library_content_action",
            ACTION: [alice.pk],
            "what": "transfer_team",
            "to_team": team.pk,
            "apply": "1",
        },
    )
    assert Entity.objects.get(name="alice").team == team
    seed(bob, "bob/tools/x", make_sif())
    Tag.objects.filter(container__name="x").update(frozen=True)
    refused = admin_client.post(
        user_url(), {"action": "library_content_action", ACTION: [bob.pk], "what": "remove", "apply": "1"}
    )
    assert "nothing changed" in messages_of(refused)
    assert Entity.objects.filter(name="bob").exists()
    Tag.objects.update(frozen=False)
    removed = admin_client.post(
        user_url(), {"action": "library_content_action", ACTION: [bob.pk], "what": "remove", "apply": "1"}
    )
    assert "removed entities bob" in messages_of(removed)
    assert not Entity.objects.filter(name="bob").exists()


def test_content_action_form_errors(admin_client, alice):
    page = admin_client.post(
        user_url(),
        {
            "action": "library_content_action",
            ACTION: [alice.pk],
            "what": "transfer_user",
            "to_user": "nobody",
            "apply": "1",
        },
    )
    assert page.status_code == 200 and b"Name an existing user" in page.content


def test_deactivate_action(admin_client, tools, alice):
    create_token(alice, "laptop")
    response = admin_client.post(user_url(), {"action": "deactivate_users_action", ACTION: [alice.pk]})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.is_active is False
    assert "Their entities stay as they are" in messages_of(response)
    assert Image.objects.count() == 2


def test_deleting_a_group_of_a_team_with_content_is_protected(admin_client, alice):
    team = teams.create_team("lab-x", members=[alice])
    from tests.web_helpers import seed_as

    seed_as(alice, "lab-x/tools/x", make_sif())
    group = Group.objects.get(pk=team.group_id)
    page = admin_client.get(reverse("admin:auth_group_delete", args=[group.pk])).content.decode()
    assert "protected" in page.lower()
    admin_client.post(reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"})
    assert Group.objects.filter(pk=group.pk).exists()


# --- query counts ------------------------------------------------------------------------------------


def bulk(alice, count: int) -> None:
    entity = ensure_user_entity(alice)
    collection = Collection.objects.create(entity=entity, name=f"bulk{count}")
    boxes = Container.objects.bulk_create(Container(collection=collection, name=f"c{n}") for n in range(count))
    images = Image.objects.bulk_create(
        Image(
            container=b,
            hash="sha256." + hashlib.sha256(f"{count}{b.name}".encode()).hexdigest(),
            size=10,
            uploaded=True,
            arch="amd64",
        )
        for b in boxes
    )
    Tag.objects.bulk_create(Tag(container_id=i.container_id, name="latest", arch="amd64", image=i) for i in images)


@pytest.mark.parametrize("model", ["entity", "collection", "container", "image", "tag"])
def test_changelists_do_not_query_per_row(admin_client, alice, model, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    bulk(alice, 10)
    admin_client.get(url(model))
    with CaptureQueriesContext(connection) as small:
        admin_client.get(url(model))
    bulk(alice, 1000)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert admin_client.get(url(model)).status_code == 200


def test_inline_tag_delete_refuses_frozen(admin_client, tools):
    container = Container.objects.get(name="samtools")
    tags = list(Tag.objects.filter(container=container).order_by("pk"))
    Tag.objects.filter(pk=tags[0].pk).update(frozen=True)
    data = {
        "name": container.name,
        "collection": container.collection_id,
        "description": "",
        "full_description": "",
        "custom_data": "",
        "tags-TOTAL_FORMS": str(len(tags)),
        "tags-INITIAL_FORMS": str(len(tags)),
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
                f"tags-{n}-DELETE": "on",
            }
        )
    data["tags-0-frozen"] = "on"
    response = admin_client.post(url("container", "change", container.pk), data)
    assert response.status_code == 200
    assert "are not deleted" in response.content.decode()
    assert Tag.objects.filter(container=container).count() == len(tags)
