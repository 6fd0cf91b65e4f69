"""The error envelope on every endpoint: malformed and non-object JSON, duplicate keys, wrong
types, bad names, unknown ids, unknown endpoints. Each answers ``{"error": {"code", "message"}}``
with a 4xx and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model

from tests.conftest import assert_error, image_body, image_hash, make_sif, seed


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the app (and users), to prove a request changed nothing."""
    models = [*apps.get_app_config("django_sylabs_library").get_models(), get_user_model()]
    return {m._meta.label: list(m.objects.order_by("pk").values()) for m in models}


@pytest.fixture
def world(alice, alice_api, settings):
    settings.SYLABS_LIBRARY = {"MULTIPART_PART_SIZE": 5 * 1024 * 1024}
    seeded = seed(alice, "alice/tools/samtools", make_sif())
    image = alice_api.data("GET", f"v1/images/alice/tools/samtools:{seeded.hash}?arch=amd64")
    pending_data = make_sif()
    pending = alice_api.data("POST", "v1/images", image_body(image_hash(pending_data), image["container"]))
    upload = alice_api.data("POST", f"v2/imagefile/{pending['id']}/_multipart", {"filesize": 6 * 1024 * 1024})
    return {
        "entity": image["entity"],
        "collection": image["collection"],
        "container": image["container"],
        "image": image["id"],
        "pending": pending["id"],
        "upload": upload["uploadID"],
    }


# Every endpoint that reads a JSON body: (method, path template).
JSON_ENDPOINTS = [
    ("POST", "v1/entities"),
    ("POST", "v1/collections"),
    ("POST", "v1/containers"),
    ("PUT", "v1/containers/alice/tools/samtools"),
    ("POST", "v1/images"),
    ("POST", "v1/tags/{container}"),
    ("POST", "v2/tags/{container}"),
    ("POST", "v2/imagefile/{pending}"),
    ("PUT", "v2/imagefile/{pending}/_complete"),
    ("POST", "v2/imagefile/{pending}/_multipart"),
    ("PUT", "v2/imagefile/{pending}/_multipart"),
    ("PUT", "v2/imagefile/{pending}/_multipart_complete"),
    ("PUT", "v2/imagefile/{pending}/_multipart_abort"),
]

BAD_BODIES = {
    "truncated": b'{"name": ',
    "not-json": b"this is not json",
    "single-quotes": b"{'name': 'x'}",
    "trailing-garbage": b'{"name": "x"} extra',
    "list": b"[]",
    "string": b'"name"',
    "number": b"1",
    "null": b"null",
    "true": b"true",
    "duplicate-keys": b'{"name": "a", "name": "b"}',
    "duplicate-keys-any-case": b'{"Name": "a", "name": "b"}',
    "nested-duplicate": b'{"completedParts": [{"partNumber": 1, "partnumber": 2}]}',
    "not-utf8": b"\xff\xfe{",
    "deep": b"[" * 20000 + b"]" * 20000,
}


@pytest.mark.parametrize("kind", list(BAD_BODIES))
def test_bad_json_bodies(alice_api, world, kind):
    before = snapshot()
    for method, template in JSON_ENDPOINTS:
        response = alice_api.request(method, template.format(**world), raw=BAD_BODIES[kind])
        assert_error(response, 400)
    assert snapshot() == before


def test_oversized_json_bodies_are_413(alice_api, world, settings):
    settings.SYLABS_LIBRARY = {"MAX_JSON_BODY": 100, "MULTIPART_PART_SIZE": 5 * 1024 * 1024}
    before = snapshot()
    for method, template in JSON_ENDPOINTS:
        response = alice_api.request(method, template.format(**world), body={"description": "x" * 200})
        assert_error(response, 413)
    assert snapshot() == before


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_standard_json_constants_are_malformed(alice_api, world, constant):
    before = snapshot()
    raw = b'{"readOnly": true, "stars": ' + constant + b"}"
    assert_error(alice_api.put("v1/containers/alice/tools/samtools", raw=raw), 400)
    assert snapshot() == before


WRONG_TYPES = [
    ("POST", "v1/entities", {"name": ["alice2"]}),
    ("POST", "v1/collections", {"entity": ["{entity}"], "name": "x"}),
    ("POST", "v1/collections", {"entity": {"id": "{entity}"}, "name": "x"}),
    ("POST", "v1/collections", {"entity": "{entity}", "name": "x", "private": "true"}),
    ("POST", "v1/collections", {"entity": "{entity}", "name": "x", "description": 5}),
    ("POST", "v1/collections", {"entity": 1.5, "name": "x"}),
    ("POST", "v1/containers", {"collection": ["{collection}"], "name": "x"}),
    ("POST", "v1/containers", {"collection": "{collection}", "name": 7}),
    ("PUT", "v1/containers/alice/tools/samtools", {"readOnly": "true"}),
    ("POST", "v1/images", {"container": "{container}", "hash": 5}),
    ("POST", "v1/images", {"container": True, "hash": "sha256." + "0" * 64}),
    ("POST", "v2/tags/{container}", {"Arch": "amd64", "Tag": 5, "ImageID": "{image}"}),
    ("POST", "v2/tags/{container}", {"Arch": 5, "Tag": "x", "ImageID": "{image}"}),
    ("POST", "v1/tags/{container}", {"Tag": "x", "ImageID": ["{image}"]}),
    ("POST", "v2/imagefile/{pending}", {"filesize": -1}),
    ("POST", "v2/imagefile/{pending}", {"filesize": 1.5}),
    ("POST", "v2/imagefile/{pending}", {"filesize": "100"}),
    ("POST", "v2/imagefile/{pending}", {"filesize": None}),
    ("POST", "v2/imagefile/{pending}", {"filesize": False}),
    ("POST", "v2/imagefile/{pending}/_multipart", {"filesize": -1}),
    ("POST", "v2/imagefile/{pending}/_multipart", {"filesize": 1.5}),
    ("POST", "v2/imagefile/{pending}/_multipart", {"filesize": "6291456"}),
    ("PUT", "v2/imagefile/{pending}/_multipart", {"uploadID": "{upload}", "partNumber": 1, "partSize": -5}),
    ("PUT", "v2/imagefile/{pending}/_multipart", {"uploadID": "{upload}", "partNumber": 1.0, "partSize": 5}),
    ("PUT", "v2/imagefile/{pending}/_multipart", {"uploadID": 5, "partNumber": 1, "partSize": 5242880}),
    ("PUT", "v2/imagefile/{pending}/_multipart_complete", {"uploadID": "{upload}", "completedParts": {}}),
    ("PUT", "v2/imagefile/{pending}/_multipart_complete", {"uploadID": "{upload}", "completedParts": [1]}),
    ("PUT", "v2/imagefile/{pending}/_multipart_abort", {"uploadID": ["{upload}"]}),
]


def fill(value: Any, world: dict[str, str]) -> Any:
    """Put the world's ids into a body template."""
    if isinstance(value, str):
        return value.format(**world)
    if isinstance(value, list):
        return [fill(v, world) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, world) for k, v in value.items()}
    return value


def check_cases(client: Any, world: dict[str, str], cases: list[tuple[str, str, Any]], status: int) -> None:
    """Send every case; each must answer ``status`` in the envelope, and nothing may be written."""
    before = snapshot()
    for method, template, body in cases:
        path = template.format(**world)
        raw = b"x" if (method == "POST" and body is None) else None
        response = client.request(method, path, body=fill(body, world), raw=raw)
        try:
            assert_error(response, status)
        except AssertionError as exc:
            raise AssertionError(f"{method} {path} {body!r}: {exc}") from None
        if status == 401:
            assert response["WWW-Authenticate"], path
    assert snapshot() == before


def test_wrong_types_are_400(alice_api, world):
    check_cases(alice_api, world, WRONG_TYPES, 400)


BAD_NAMES = ["Upper", "a..b", "with space", "a/b", "", "x" * 65, "ünï", "-x", "x-", "a--b", None, 5, ["x"]]


@pytest.mark.parametrize("kind", ["collection", "container"])
def test_bad_names_are_400(alice_api, world, kind):
    before = snapshot()
    for name in BAD_NAMES:
        body = (
            {"entity": world["entity"], "name": name}
            if kind == "collection"
            else {"collection": world["collection"], "name": name}
        )
        assert_error(alice_api.post(f"v1/{kind}s", body), 400)
    assert snapshot() == before


def test_bad_entity_bodies_are_400_even_for_staff(api, user_factory, world):
    staff = api(user_factory("root", is_staff=True))
    staff.get("v1/token-status")
    before = snapshot()
    for name in BAD_NAMES:
        assert_error(staff.post("v1/entities", {"name": name}), 400)
    assert_error(staff.post("v1/entities", {"name": "team", "defaultPrivate": "yes"}), 400)
    assert_error(staff.post("v1/entities", {"name": "team", "description": ["x"]}), 400)
    assert snapshot() == before


UNKNOWN = [
    ("POST", "v1/collections", {"entity": "987654", "name": "x"}),
    ("POST", "v1/containers", {"collection": "987654", "name": "x"}),
    ("POST", "v1/images", {"container": "987654", "hash": "sha256." + "0" * 64}),
    ("GET", "v1/tags/987654", None),
    ("GET", "v2/tags/987654", None),
    ("POST", "v2/tags/987654", {"Arch": "amd64", "Tag": "x", "ImageID": "1"}),
    ("POST", "v1/tags/987654", {"Tag": "x", "ImageID": "1"}),
    ("POST", "v2/tags/{container}", {"Arch": "amd64", "Tag": "x", "ImageID": "987654"}),
    ("POST", "v1/imagefile/987654", None),
    ("POST", "v2/imagefile/987654", {"filesize": 10}),
    ("PUT", "v2/imagefile/987654/_complete", {}),
    ("POST", "v2/imagefile/987654/_multipart", {"filesize": 10}),
    ("PUT", "v2/imagefile/987654/_multipart", {"uploadID": "x", "partNumber": 1, "partSize": 1}),
    ("PUT", "v2/imagefile/987654/_multipart_complete", {"uploadID": "x", "completedParts": []}),
    ("PUT", "v2/imagefile/987654/_multipart_abort", {"uploadID": "x"}),
    ("GET", "v1/entities/nobody", None),
    ("GET", "v1/collections/alice/nothing", None),
    ("GET", "v1/containers/alice/tools/nothing", None),
    ("PUT", "v1/containers/alice/tools/nothing", {"readOnly": True}),
    ("GET", "v1/images/alice/tools/nothing:latest?arch=amd64", None),
    ("DELETE", "v1/images/alice/tools/nothing:latest?arch=amd64", None),
    ("GET", "v1/imagefile/alice/tools/nothing:latest?arch=amd64", None),
]


def test_unknown_ids_and_names_are_404(alice_api, world):
    check_cases(alice_api, world, UNKNOWN, 404)


@pytest.mark.parametrize("ident", ["abc", "-1", "0", "1.5", "99999999999999999999", "1e3"])
def test_malformed_ids_in_paths_are_400(alice_api, world, ident):
    before = snapshot()
    for template in (
        "v1/tags/{}",
        "v2/tags/{}",
        "v2/imagefile/{}",
        "v2/imagefile/{}/_complete",
        "v2/imagefile/{}/_multipart",
        "v1/imagefile/{}",
    ):
        path = template.format(ident)
        method = "GET" if "tags" in path else ("PUT" if path.endswith("_complete") else "POST")
        assert_error(alice_api.request(method, path, body={"filesize": 1}), 400)
    assert snapshot() == before


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
def test_unknown_endpoints_under_v1_and_v2(alice_api, anon_api, world, method):
    before = snapshot()
    for path in ("v1/unknown", "v1/entities/alice/x/y/z", "v2/whatever/else", "v1/imagefiles/x", "v2/"):
        for client in (alice_api, anon_api):
            assert_error(client.request(method, path, body={"a": 1} if method != "GET" else None), 404)
    assert snapshot() == before


ANONYMOUS_WRITES = [
    ("POST", "v1/entities", {"name": "someone"}),
    ("POST", "v1/collections", {"entity": "{entity}", "name": "x"}),
    ("POST", "v1/containers", {"collection": "{collection}", "name": "x"}),
    ("PUT", "v1/containers/alice/tools/samtools", {"readOnly": True}),
    ("POST", "v1/images", {"container": "{container}", "hash": "sha256." + "1" * 64}),
    ("POST", "v1/tags/{container}", {"Tag": "x", "ImageID": "{image}"}),
    ("POST", "v2/tags/{container}", {"Arch": "amd64", "Tag": "x", "ImageID": "{image}"}),
    ("DELETE", "v1/images/alice/tools/samtools:latest?arch=amd64", None),
    ("POST", "v2/imagefile/{image}", {"filesize": 10}),
    ("PUT", "v2/imagefile/{image}/_complete", {}),
    ("POST", "v2/imagefile/{image}/_multipart", {"filesize": 10}),
    ("GET", "v1/token-status", None),
    ("GET", "v1/rbac/users/current", None),
]


def test_anonymous_writes_are_401(anon_api, world):
    check_cases(anon_api, world, ANONYMOUS_WRITES, 401)


def test_invalid_tokens_are_401_everywhere(api, world):
    client = api()
    client.token = "sylib_invalid"
    cases = [*ANONYMOUS_WRITES, ("GET", "v1/entities/alice", None), ("GET", "v1/images/alice/tools/samtools", None)]
    check_cases(client, world, cases, 401)


def test_errors_are_json_whatever_the_accept_header(alice_api, world):
    response = alice_api.get("v1/entities/nobody", HTTP_ACCEPT="text/html")
    assert_error(response, 404)
    assert response["Content-Type"].startswith("application/json")


def test_read_only_keys_in_create_bodies_are_ignored_not_errors(alice_api, world):
    body = {
        "id": "5",
        "createdAt": "0001-01-01T00:00:00Z",
        "deletedAt": "0001-01-01T00:00:00Z",
        "collection": world["collection"],
        "name": "fine",
        "images": None,
        "imageTags": None,
        "archTags": None,
        "size": 0,
        "ModelManager": None,
        "someFutureField": [1, 2, 3],
    }
    assert alice_api.post("v1/containers", body).status_code in (200, 201)


def test_json_body_shorter_than_its_content_length_is_400_and_completes_nothing(alice_api, alice):
    """A client that vanished after the headers of ``_complete`` must not complete the upload
    (an empty read used to be taken for ``{}``); found by tests/integration/test_faults.py."""
    import io

    from django_sylabs_library.models import Image

    data = make_sif()
    container = push_container(alice_api)
    created = alice_api.data("POST", "v1/images", image_body(image_hash(data), container))
    start = {"filesize": len(data), "sha256sum": image_hash(data)[7:]}
    url = alice_api.data("POST", f"v2/imagefile/{created['id']}", start)["uploadURL"]
    stored = alice_api.client.put(url.removeprefix("http://testserver"), data, content_type="application/octet-stream")
    assert stored.status_code == 200
    for body in (b"", b"{"):
        response = alice_api.client.generic(
            "PUT",
            f"/v2/imagefile/{created['id']}/_complete",
            HTTP_AUTHORIZATION=f"BEARER {alice_api.token}",
            CONTENT_LENGTH="2",
            CONTENT_TYPE="application/json",
            **{"wsgi.input": io.BytesIO(body)},
        )
        assert_error(response, 400)
        assert Image.objects.get(pk=int(created["id"])).uploaded is False


def push_container(api):
    from tests.conftest import push

    pushed = push(api, "alice/cut/probe", make_sif("arm64"), arch="arm64")
    return pushed["container"]
