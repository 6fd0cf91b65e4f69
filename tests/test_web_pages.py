"""The web pages: home, entity, collection, container, search, settings, and their actions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from django_sylabs_library.flows import teams
from django_sylabs_library.flows.namespaces import ensure_user_entity
from django_sylabs_library.models import Collection, Container, Image, SigningKey, SigningKeyId, SigningKeyUserId, Tag
from django_sylabs_library.permissions import grant_collaborator
from tests.conftest import make_sif, seed


def login(client: Client, user) -> Client:
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def tools(alice):
    """alice/tools/samtools with two images: latest+1.0 (amd64), latest (arm64)."""
    amd = seed(
        alice,
        "alice/tools/samtools",
        make_sif("amd64", labels={"org.label-schema.name": "samtools"}),
        tags=("latest", "1.0"),
    )
    arm = seed(alice, "alice/tools/samtools", make_sif("arm64"), tags=("latest",))
    return {"amd64": amd, "arm64": arm, "collection": Collection.objects.get(name="tools")}


# --- home, search ---------------------------------------------------------------------------------


def test_home_lists_recent_popular_and_public(client, tools):
    Container.objects.filter(name="samtools").update(download_count=7)
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'action="/search/"' in html and 'name="q"' in html
    assert "Recently pushed" in html and "Popular" in html and "Public collections" in html
    assert 'href="/e/alice/tools/samtools/"' in html
    assert 'href="/e/alice/tools/"' in html


def test_home_extends_the_layout_and_base(client, tools):
    html = client.get("/").content.decode()
    assert "django_sylabs_library/css/library.css" in html
    assert '<main id="content">' in html  # the standalone base of the test settings


def test_home_uses_the_host_base_template(client, settings, tools):
    settings.SYLABS_LIBRARY = {"BASE_TEMPLATE": "tests/host_base.html"}
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(Path(__file__).parent / "templates")]}]
    html = client.get("/").content.decode()
    assert "HOST-SITE-BASE" in html and "Recently pushed" in html


def test_navigation_links_own_entity_and_tokens(client, alice):
    html = login(client, alice).get("/").content.decode()
    assert 'href="/e/alice/"' in html and 'href="/auth/tokens"' in html


def test_search_page(client, tools):
    page = client.get("/search/", {"q": "samtools"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/e/alice/tools/samtools/"' in html
    assert "sha256." in html


def test_search_page_without_query_and_with_a_bad_one(client, tools):
    assert client.get("/search/").status_code == 200
    page = client.get("/search/", {"q": "x" * 300})
    assert page.status_code == 200
    assert b"at most 256" in page.content or b"longer than 256" in page.content


# --- entity ---------------------------------------------------------------------------------------


def test_entity_page_lists_collections_and_usage(client, tools):
    page = client.get("/e/alice/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/e/alice/tools/"' in html
    assert "<svg" in html and "Storage by collection in alice" in html


def test_entity_page_by_username(client, user_factory):
    user = user_factory("J.Smith@uni.edu")
    ensure_user_entity(user)
    assert client.get("/e/j.smith-uni.edu/").status_code == 200


def test_unknown_entity_is_404(client, db):
    assert client.get("/e/nobody/").status_code == 404


def test_team_entity_page_shows_members_to_members_only(client, alice, bob):
    teams.create_team("lab-x", members=[alice])
    assert b"alice" not in client.get("/e/lab-x/").content
    html = login(client, alice).get("/e/lab-x/").content.decode()
    assert "lab-x" in html and "alice" in html and "you are an owner" in html
    login(client, bob)
    assert "you are an owner" not in client.get("/e/lab-x/").content.decode()


# --- collection -----------------------------------------------------------------------------------


def test_collection_page(client, tools):
    page = client.get("/e/alice/tools/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/e/alice/tools/samtools/"' in html
    assert re.search(r"amd64</span>\s*<code>1.0</code>\s*<code>latest</code>", html)
    assert re.search(r"arm64</span>\s*<code>latest</code>", html)
    assert "Settings" not in html  # not an owner


def test_collection_commands_on_http_with_port(client, tools):
    html = client.get("/e/alice/tools/", HTTP_HOST="127.0.0.1:8000").content.decode()
    assert "apptainer remote add --no-login --insecure mylib 127.0.0.1:8000" in html
    assert "singularity remote add --no-login --insecure mylib 127.0.0.1:8000" in html
    assert "apptainer remote login mylib" in html
    assert "apptainer pull library://alice/tools/samtools:latest" in html
    assert "apptainer push -U samtools.sif library://alice/tools/samtools:latest" in html
    assert "shub://127.0.0.1" not in html
    assert "accepts no port" in html


def test_collection_commands_shub_without_port(client, tools):
    html = client.get("/e/alice/tools/", HTTP_HOST="localhost").content.decode()
    assert "apptainer pull --no-https shub://localhost/alice/tools/samtools:latest" in html
    assert "singularity pull --nohttps shub://localhost/alice/tools/samtools:latest" in html


def test_collection_commands_https(client, tools, settings):
    settings.SYLABS_LIBRARY = {"PUBLIC_URL": "https://containers.example.org"}
    html = client.get("/e/alice/tools/").content.decode()
    assert "apptainer remote add --no-login mylib containers.example.org" in html
    assert "--insecure" not in html
    assert "apptainer pull shub://containers.example.org/alice/tools/samtools:latest" in html


def test_shub_not_offered_for_private_or_odd_collections(client, alice):
    seed(alice, "alice/under_score/x", make_sif())
    html = client.get("/e/alice/under_score/", HTTP_HOST="localhost").content.decode()
    assert "pull --no-https shub://" not in html and "letters, digits and" in html
    seed(alice, "alice/secret/x", make_sif(), private=True)
    html = login(client, alice).get("/e/alice/secret/", HTTP_HOST="localhost").content.decode()
    assert "pull --no-https shub://" not in html and "public collections only" in html


def test_collection_page_owner_sees_settings_and_collaborators(client, tools, bob):
    grant_collaborator(tools["collection"], bob)
    html = login(client, tools["amd64"].pushed_by).get("/e/alice/tools/").content.decode()
    assert "/e/alice/tools/-/settings/" in html
    assert "user bob (collaborator)" in html


def test_collaborators_hidden_from_readers(client, tools, bob):
    grant_collaborator(tools["collection"], bob)
    assert b"user bob" not in client.get("/e/alice/tools/").content
    assert b"user bob" in login(client, bob).get("/e/alice/tools/").content


def test_collection_pagination(client, alice):
    collection = seed(alice, "alice/many/c0", make_sif()).container.collection
    Container.objects.bulk_create(Container(collection=collection, name=f"c{n:03d}") for n in range(1, 130))
    first = client.get("/e/alice/many/").content.decode()
    assert "Page 1 of 2" in first and 'href="/e/alice/many/c099/"' in first
    second = client.get("/e/alice/many/", {"page": 2}).content.decode()
    assert 'href="/e/alice/many/c129/"' in second and 'href="/e/alice/many/c000/"' not in second


# --- settings and actions -------------------------------------------------------------------------


def test_settings_page_for_owner_only(client, tools, bob):
    assert client.get("/e/alice/tools/-/settings/").status_code == 302  # to the login page
    assert login(client, bob).get("/e/alice/tools/-/settings/").status_code == 403
    client.force_login(tools["amd64"].pushed_by)
    page = client.get("/e/alice/tools/-/settings/")
    assert page.status_code == 200
    assert b"csrfmiddlewaretoken" in page.content


def test_make_private_and_public(client, alice, tools):
    login(client, alice)
    response = client.post("/e/alice/tools/-/privacy", {"private": "1"})
    assert response.status_code == 302 and response["Location"] == "/e/alice/tools/-/settings/"
    assert Collection.objects.get(name="tools").private is True
    assert any("is private" in m for m in messages_of(response))
    assert Client().get("/e/alice/tools/").status_code == 404
    client.post("/e/alice/tools/-/privacy", {"private": "0"})
    assert Collection.objects.get(name="tools").private is False


def test_actions_need_post_and_csrf(alice, tools):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get("/e/alice/tools/-/privacy").status_code == 405
    assert browser.post("/e/alice/tools/-/privacy", {"private": "1"}).status_code == 403
    assert Collection.objects.get(name="tools").private is False


def test_add_and_remove_collaborators(client, alice, bob, tools):
    login(client, alice)
    response = client.post(
        "/e/alice/tools/-/collaborators/add", {"kind": "user", "name": "bob", "role": "collaborator"}
    )
    assert any("user bob is now collaborator" in m for m in messages_of(response))
    Collection.objects.filter(name="tools").update(private=True)
    assert Client().get("/e/alice/tools/").status_code == 404
    assert login(Client(), bob).get("/e/alice/tools/").status_code == 200
    response = client.post("/e/alice/tools/-/collaborators/remove", {"kind": "user", "pk": bob.pk})
    assert any("no longer has access" in m for m in messages_of(response))
    assert login(Client(), bob).get("/e/alice/tools/").status_code == 404


def test_add_team_collaborator(client, alice, bob, tools):
    teams.create_team("lab-y", members=[bob], entity=False)
    Collection.objects.filter(name="tools").update(private=True)
    login(client, alice)
    response = client.post("/e/alice/tools/-/collaborators/add", {"kind": "team", "name": "lab-y", "role": "owner"})
    assert any("team lab-y is now owner" in m for m in messages_of(response))
    bob_client = login(Client(), bob)
    assert bob_client.get("/e/alice/tools/-/settings/").status_code == 200


def test_add_unknown_collaborator_says_so(client, alice, tools):
    login(client, alice)
    response = client.post(
        "/e/alice/tools/-/collaborators/add", {"kind": "user", "name": "nobody", "role": "collaborator"}
    )
    assert any("no user nobody" in m for m in messages_of(response))


def test_delete_collection_with_confirmation(client, alice, tools):
    login(client, alice)
    confirm = client.get("/e/alice/tools/-/delete/")
    assert confirm.status_code == 200 and b"Yes, delete alice/tools" in confirm.content
    response = client.post("/e/alice/tools/-/delete/")
    assert response.status_code == 302 and response["Location"] == "/e/alice/"
    assert not Collection.objects.filter(name="tools").exists()
    assert not Image.objects.exists()


def test_delete_collection_refused_while_frozen(client, alice, tools):
    Tag.objects.filter(name="1.0").update(frozen=True)
    login(client, alice)
    confirm = client.get("/e/alice/tools/-/delete/")
    assert b"cannot be deleted now" in confirm.content and b"Yes, delete" not in confirm.content
    response = client.post("/e/alice/tools/-/delete/")
    assert any("is frozen" in m for m in messages_of(response))
    assert Collection.objects.filter(name="tools").exists()


# --- container ------------------------------------------------------------------------------------


def test_container_page_shows_tags_per_arch_and_image_details(client, tools, alice):
    amd = tools["amd64"]
    page = client.get("/e/alice/tools/samtools/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<h3 id="arch-amd64">amd64</h3>' in html and '<h3 id="arch-arm64">arm64</h3>' in html
    assert amd.hash in html
    assert "Pushed by</dt><dd>alice" in html
    assert "org.label-schema.name" in html
    assert "Signed</dt><dd>no" in html
    assert "Freeze" not in html  # not an owner
    assert "apptainer pull --arch amd64 library://alice/tools/samtools:latest" in html


def test_container_page_names_known_signers(client, alice):
    data = make_sif("amd64", signed=True)
    image = seed(alice, "alice/tools/signed", data)
    assert image.signed is True and image.fingerprints
    key = SigningKey.objects.create(fingerprint="ab" * 20, armored="-----BEGIN PGP PUBLIC KEY BLOCK-----")
    SigningKeyId.objects.create(signing_key=key, key_id=image.fingerprints[0][-16:], fingerprint=image.fingerprints[0])
    SigningKeyUserId.objects.create(signing_key=key, user_id="Alice <alice@example.org>")
    html = client.get("/e/alice/tools/signed/").content.decode()
    assert "Signed</dt><dd>yes" in html
    assert image.fingerprints[0].upper() in html
    assert "Alice &lt;alice@example.org&gt;" in html


def test_freeze_and_unfreeze_a_tag(client, alice, tools):
    login(client, alice)
    html = client.get("/e/alice/tools/samtools/").content.decode()
    assert 'aria-label="Freeze tag latest (amd64)"' in html
    response = client.post("/e/alice/tools/samtools/-/tags/freeze", {"tag": "latest", "arch": "amd64", "frozen": "1"})
    assert response.status_code == 302 and response["Location"] == "/e/alice/tools/samtools/"
    assert Tag.objects.get(name="latest", arch="amd64").frozen is True
    assert Tag.objects.get(name="latest", arch="arm64").frozen is False
    assert any("is frozen" in m for m in messages_of(response))
    client.post("/e/alice/tools/samtools/-/tags/freeze", {"tag": "latest", "arch": "amd64", "frozen": "0"})
    assert Tag.objects.get(name="latest", arch="amd64").frozen is False


def test_freeze_unknown_tag_says_not_found(client, alice, tools):
    login(client, alice)
    response = client.post("/e/alice/tools/samtools/-/tags/freeze", {"tag": "nope", "arch": "amd64", "frozen": "1"})
    assert any("not found" in m for m in messages_of(response))


def test_read_only_toggle(client, alice, tools):
    login(client, alice)
    client.post("/e/alice/tools/samtools/-/read-only", {"read_only": "1"})
    assert Container.objects.get(name="samtools").read_only is True
    client.post("/e/alice/tools/samtools/-/read-only", {"read_only": "0"})
    assert Container.objects.get(name="samtools").read_only is False


def test_delete_image_with_confirmation(client, alice, tools):
    arm = tools["arm64"]
    login(client, alice)
    url = f"/e/alice/tools/samtools/-/images/{arm.pk}/delete/"
    confirm = client.get(url)
    assert confirm.status_code == 200 and arm.hash.encode() in confirm.content
    response = client.post(url)
    assert response.status_code == 302
    assert not Image.objects.filter(pk=arm.pk).exists()
    assert any("deleted" in m for m in messages_of(response))


def test_delete_image_refused_when_frozen_or_read_only(client, alice, tools):
    amd = tools["amd64"]
    Tag.objects.filter(image=amd, name="1.0").update(frozen=True)
    login(client, alice)
    url = f"/e/alice/tools/samtools/-/images/{amd.pk}/delete/"
    assert b"cannot be deleted now" in client.get(url).content
    response = client.post(url)
    assert any("frozen" in m for m in messages_of(response))
    assert Image.objects.filter(pk=amd.pk).exists()
    Tag.objects.update(frozen=False)
    Container.objects.update(read_only=True)
    response = client.post(url)
    assert any("read-only" in m for m in messages_of(response))
    assert Image.objects.filter(pk=amd.pk).exists()


def test_image_of_another_container_is_404(client, alice, tools):
    other = seed(alice, "alice/tools/other", make_sif())
    login(client, alice)
    assert client.get(f"/e/alice/tools/samtools/-/images/{other.pk}/delete/").status_code == 404


def test_my_entity_redirect(client, alice):
    response = login(client, alice).get("/me/")
    assert response.status_code == 302 and response["Location"] == "/e/alice/"


def test_upload_summary_names_the_container_page(alice, alice_api):
    from tests.conftest import push

    push(alice_api, "library://alice/tools/samtools", make_sif())
    image = Image.objects.get()
    from django_sylabs_library.flows.uploads import upload_summary

    assert upload_summary(image)["containerUrl"] == "e/alice/tools/samtools/"
