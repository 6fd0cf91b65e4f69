"""Token scopes: a read-only token reads what its user may see and changes nothing.

Table-driven over every mutating Library API endpoint and the keyserver's ``/pks/add``: with a
read-only token each answers 403 "this token is read-only" in the error envelope and leaves every
table as it was; the same requests with a read-write token get past the scope check (so the table
really reaches the views). Expired and revoked tokens are refused (401) on the same requests.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from datetime import timedelta
from typing import Any

import pysequoia
import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from django_sylabs_library.flows import images as image_flows
from django_sylabs_library.flows.tokens import create_token
from django_sylabs_library.models import Image, Token
from tests.conftest import Api, assert_error, body_of, image_hash, make_sif, seed

READ_ONLY = "read-only"


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the app (and users), except tokens' last-use time."""
    models = [*apps.get_app_config("django_sylabs_library").get_models(), get_user_model()]
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for model in models:
        fields = [f.attname for f in model._meta.concrete_fields if not (model is Token and f.name == "last_used_at")]
        rows[model._meta.label] = sorted(model.objects.values_list(*fields), key=repr)
    return rows


@pytest.fixture
def world(alice: Any) -> dict[str, Any]:
    """alice/tools/samtools:latest uploaded, plus an image record whose bytes never came."""
    data = make_sif("amd64")
    image = seed(alice, "alice/tools/samtools", data)
    pending_bytes = make_sif("amd64")
    pending = image_flows.create_image(alice, image.container_id, image_hash(pending_bytes))
    container = image.container
    return {
        "data": data,
        "image": image,
        "pending": pending,
        "pending_bytes": pending_bytes,
        "container": container,
        "collection": container.collection,
        "entity": container.collection.entity,
    }


def _keytext() -> str:
    return urllib.parse.urlencode(
        {"keytext": str(pysequoia.Tsk.generate("A <alice@example.org>").extract_certificate())}
    )


# (name, method, path, body or raw bytes, content type); paths are filled in from ``world``.
MUTATIONS: list[tuple[str, str, str, Any, str]] = [
    ("create entity", "POST", "v1/entities", {"name": "alice-lab"}, ""),
    ("create collection", "POST", "v1/collections", {"entity": "{entity}", "name": "newcol"}, ""),
    ("create container", "POST", "v1/containers", {"collection": "{collection}", "name": "newcon"}, ""),
    ("make container read-only", "PUT", "v1/containers/alice/tools/samtools", {"readOnly": True}, ""),
    ("change description", "PUT", "v1/containers/alice/tools/samtools", {"description": "x"}, ""),
    ("create image", "POST", "v1/images", {"container": "{container}", "hash": "{new_hash}"}, ""),
    ("delete image", "DELETE", "v1/images/alice/tools/samtools:latest?arch=amd64", None, ""),
    ("set v1 tag", "POST", "v1/tags/{container}", {"Tag": "v1", "ImageID": "{image}"}, ""),
    ("move v2 tag", "POST", "v2/tags/{container}", {"Arch": "amd64", "Tag": "latest", "ImageID": "{image}"}, ""),
    ("v1 upload", "POST", "v1/imagefile/{pending}", b"raw-bytes", "application/octet-stream"),
    ("v2 upload start", "POST", "v2/imagefile/{pending}", {"filesize": 4096, "sha256sum": "{pending_sha}"}, ""),
    ("v2 upload complete", "PUT", "v2/imagefile/{pending}/_complete", {}, ""),
    ("multipart start", "POST", "v2/imagefile/{pending}/_multipart", {"filesize": 4096}, ""),
    ("multipart part", "PUT", "v2/imagefile/{pending}/_multipart", {"uploadID": "x", "partNumber": 1}, ""),
    ("multipart complete", "PUT", "v2/imagefile/{pending}/_multipart_complete", {"uploadID": "x"}, ""),
    ("multipart abort", "PUT", "v2/imagefile/{pending}/_multipart_abort", {"uploadID": "x"}, ""),
    ("add key", "POST", "/pks/add", "KEYTEXT", "application/x-www-form-urlencoded"),
]


def _fill(value: Any, world: dict[str, Any]) -> Any:
    names = {
        "{entity}": str(world["entity"].pk),
        "{collection}": str(world["collection"].pk),
        "{container}": str(world["container"].pk),
        "{image}": str(world["image"].pk),
        "{pending}": str(world["pending"].pk),
        "{pending_sha}": world["pending"].sha256_hex,
        "{new_hash}": image_hash(b"never uploaded"),
    }
    if isinstance(value, str):
        if value == "KEYTEXT":
            return _keytext().encode()
        for key, replacement in names.items():
            value = value.replace(key, replacement)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


def _send(api: Api, case: tuple[str, str, str, Any, str], world: dict[str, Any]) -> Any:
    _, method, path, body, content_type = case
    path = _fill(path, world)
    body = _fill(body, world)
    if isinstance(body, bytes):
        return api.request(method, path, raw=body, content_type=content_type)
    return api.request(method, path, body, content_type=content_type)


def _message(response: Any) -> str:
    try:
        return json.loads(response.content)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""


@pytest.mark.parametrize("case", MUTATIONS, ids=[c[0] for c in MUTATIONS])
def test_read_only_token_is_refused_and_writes_nothing(case, alice, world, settings):
    settings.SYLABS_LIBRARY = {"KEYSERVER_REQUIRE_VERIFIED_EMAIL": False}
    raw = create_token(alice, "ci", scope=Token.Scope.READ)[1]
    api = Api(Client(), raw)
    assert api.get("v1/token-status").status_code == 200  # first use done (entity, last use)
    before = snapshot()
    response = _send(api, case, world)
    assert_error(response, 403, READ_ONLY)
    assert snapshot() == before


@pytest.mark.parametrize("case", MUTATIONS, ids=[c[0] for c in MUTATIONS])
def test_the_same_requests_pass_the_scope_check_with_a_write_token(case, alice, world, settings):
    """Control: the table reaches the views; only the scope refused it above."""
    settings.SYLABS_LIBRARY = {"KEYSERVER_REQUIRE_VERIFIED_EMAIL": False}
    api = Api(Client(), create_token(alice, "rw")[1])
    response = _send(api, case, world)
    assert READ_ONLY not in _message(response).lower(), response.content[:300]


WRITING = {
    "create collection",
    "create container",
    "make container read-only",
    "change description",
    "create image",
    "delete image",
    "set v1 tag",
    "add key",
}


@pytest.mark.parametrize("case", [c for c in MUTATIONS if c[0] in WRITING], ids=lambda c: c[0])
def test_with_a_write_token_the_same_request_writes(case, alice, world, settings):
    """Control for "writes nothing": the snapshot does see these requests' changes."""
    settings.SYLABS_LIBRARY = {"KEYSERVER_REQUIRE_VERIFIED_EMAIL": False}
    api = Api(Client(), create_token(alice, "rw")[1])
    api.get("v1/token-status")
    before = snapshot()
    response = _send(api, case, world)
    assert response.status_code < 300, response.content[:300]
    assert snapshot() != before


def test_read_only_token_reads_what_its_user_may_see(alice, bob, world):
    seed(alice, "alice/secret/tool", make_sif("amd64"), private=True)
    seed(bob, "bob/hidden/tool", make_sif("amd64"), private=True)
    raw = create_token(alice, "ci", scope=Token.Scope.READ)[1]
    api = Api(Client(), raw)
    status = api.data("GET", "v1/token-status")
    assert status["username"] == "alice"
    assert api.data("GET", "v1/entities/alice")["name"] == "alice"
    assert api.data("GET", "v1/collections/alice/secret")["name"] == "secret"  # private, but alice's
    container = api.data("GET", "v1/containers/alice/tools/samtools")
    assert api.data("GET", f"v2/tags/{container['id']}")["amd64"]["latest"] == str(world["image"].pk)
    assert api.data("GET", "v1/images/alice/tools/samtools:latest?arch=amd64")["hash"] == world["image"].hash
    found = api.data("GET", "v1/search?value=tool")
    names = {c["name"] for c in found["collection"]} | {c["name"] for c in found["container"]}
    assert "secret" in names or "tool" in names
    response = api.get("v1/imagefile/alice/tools/samtools:latest?arch=amd64")
    assert response.status_code == 200
    assert hashlib.sha256(body_of(response)).hexdigest() == world["image"].sha256_hex
    # ...but never what alice may not see
    assert_error(api.get("v1/collections/bob/hidden"), 404)
    assert api.get("/pks/lookup?op=index&search=alice").status_code in (200, 404)


def test_read_only_token_is_refused_before_existence_is_checked(alice, bob, world):
    """The refusal does not depend on the object: bob's private container and a missing one
    answer the same 403, so a read-only token learns nothing from it."""
    seed(bob, "bob/hidden/tool", make_sif("amd64"), private=True)
    api = Api(Client(), create_token(alice, "ci", scope=Token.Scope.READ)[1])
    a = api.put("v1/containers/bob/hidden/tool", {"readOnly": True})
    b = api.put("v1/containers/bob/nothing/here", {"readOnly": True})
    assert_error(a, 403, READ_ONLY)
    assert json.loads(a.content) == json.loads(b.content)


@pytest.mark.parametrize("state", ["expired", "revoked", "inactive user"])
@pytest.mark.parametrize("case", [MUTATIONS[0], MUTATIONS[6], MUTATIONS[8], MUTATIONS[10]], ids=lambda c: c[0])
def test_expired_and_revoked_tokens_are_refused_and_write_nothing(case, state, alice, world):
    token, raw = create_token(alice, "old")
    if state == "expired":
        Token.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        Token.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    else:
        get_user_model().objects.filter(pk=alice.pk).update(is_active=False)
    before = snapshot()
    response = _send(Api(Client(), raw), case, world)
    assert_error(response, 401)
    assert snapshot() == before


@pytest.mark.parametrize("state", ["expired", "revoked"])
def test_expired_and_revoked_tokens_read_nothing_private(state, alice, world):
    seed(alice, "alice/secret/tool", make_sif("amd64"), private=True)
    token, raw = create_token(alice, "old")
    field = "expires_at" if state == "expired" else "revoked_at"
    Token.objects.filter(pk=token.pk).update(**{field: timezone.now() - timedelta(seconds=1)})
    assert_error(Api(Client(), raw).get("v1/collections/alice/secret"), 401)
    assert_error(Api(Client(), raw).get("v1/imagefile/alice/secret/tool:latest"), 401)


def test_read_only_tokens_are_stored_hashed_like_the_others(alice):
    token, raw = create_token(alice, "ci", scope=Token.Scope.READ)
    assert token.read_only and token.key_hash != raw
    assert not any(raw in repr(row) for rows in snapshot().values() for row in rows)


def test_bad_scope_is_refused(alice):
    from django_sylabs_library.exceptions import InvalidInput

    with pytest.raises(InvalidInput):
        create_token(alice, "x", scope="admin")
    assert not Token.objects.exists()


def test_token_page_creates_read_only_tokens(client, alice):
    client.force_login(alice)
    response = client.post("/auth/tokens", {"name": "ci", "scope": "read"})
    assert response.status_code == 200
    token = Token.objects.get(user=alice)
    assert token.scope == Token.Scope.READ
    raw = response.context["new_token"]
    assert_error(Api(Client(), raw).post("v1/entities", {"name": "alice-ci"}), 403, READ_ONLY)
    page = client.get("/auth/tokens").content.decode()
    assert "read only" in page
    client.post("/auth/tokens", {"name": "laptop"})  # no scope given: read and write
    assert Token.objects.get(user=alice, name="laptop").scope == Token.Scope.WRITE


def test_token_page_refuses_an_unknown_scope(client, alice):
    client.force_login(alice)
    client.post("/auth/tokens", {"name": "ci", "scope": "admin"})
    assert not Token.objects.exists()


def test_token_command_creates_read_only_tokens(alice, capsys):
    call_command("sylabs_library_token", "alice", "--read-only", "--name", "ci")
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    token = Token.objects.get(user=alice, name="ci")
    assert token.read_only
    api = Api(Client(), raw)
    assert api.get("v1/token-status").status_code == 200
    assert_error(api.post("v1/entities", {"name": "alice-ci"}), 403, READ_ONLY)
    call_command("sylabs_library_token", "alice", "--name", "rw")
    assert Token.objects.get(user=alice, name="rw").scope == Token.Scope.WRITE


def test_admin_lists_the_scope(client, alice, django_user_model):
    create_token(alice, "ci", scope=Token.Scope.READ)
    admin_user = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin_user)
    page = client.get("/admin/django_sylabs_library/token/").content.decode()
    assert "read only" in page
    assert client.get("/admin/django_sylabs_library/token/?scope__exact=read").status_code == 200


def test_uploaded_image_is_unchanged_after_refused_delete(alice, world):
    api = Api(Client(), create_token(alice, "ci", scope=Token.Scope.READ)[1])
    assert_error(api.delete("v1/images/alice/tools/samtools:latest?arch=amd64"), 403, READ_ONLY)
    assert Image.objects.filter(pk=world["image"].pk, uploaded=True).exists()
