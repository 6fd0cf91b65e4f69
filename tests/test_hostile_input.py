"""Hostile input across every endpoint: each bad request answers a 4xx error envelope with a
clear message, writes no row and no file, and leaks nothing.

Table-driven: every row is (id, caller, method, path, body, headers, expected status(es),
words the message must contain). ``tests/test_errors.py`` covers the basic malformed bodies,
wrong types and unknown ids per JSON endpoint; this file adds what an attacker tries: path
traversal and encoded separators, NUL bytes, unicode confusables, lone surrogates, deep
nesting of objects, oversized bodies and headers, bogus Content-Length and Range, numbers
that are not sizes, and the keyserver and shub endpoints.

After every row: the answer is the envelope with ``code`` equal to the status; the number of
rows of every model and the files under the storage folder are unchanged; the message names no
private object the request did not name and shows no traceback, settings or paths. After every
group the full content of every table is unchanged too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection

from tests.conftest import image_body, image_hash, make_sif, seed
from tests.test_errors import JSON_ENDPOINTS

HEX = "0123456789abcdef" * 4
PRIVATE_NAMES = ("secret", "hidden")  # alice's private collection and container


@dataclass(frozen=True)
class Row:
    id: str
    method: str
    path: str
    body: Any = None  # dict/list -> JSON; bytes/str -> sent as is; None -> no body
    status: int | tuple[int, ...] = 400
    contains: str | None = None
    caller: str = "alice"  # alice, bob, anon, bad-token
    headers: dict[str, str] = field(default_factory=dict)


def _models() -> list[Any]:
    return [*apps.get_app_config("django_sylabs_library").get_models(), get_user_model()]


def counts() -> dict[str, int]:
    """Rows per model, in one query (it runs around every row of the tables)."""
    models = _models()
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {connection.ops.quote_name(m._meta.db_table)})" for m in models)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return {m._meta.label: n for m, n in zip(models, row, strict=True)}


def snapshot() -> dict[str, list[dict[str, Any]]]:
    return {m._meta.label: list(m.objects.order_by("pk").values()) for m in _models()}


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture(autouse=True)
def quiet_request_log(caplog: Any) -> None:
    """Django logs every 4xx with its path; a table of 5 KB paths would flood the report."""
    caplog.set_level(logging.ERROR, logger="django.request")


@pytest.fixture
def world(alice: Any, bob: Any, api: Any, settings: Any, image_storage: Path) -> dict[str, Any]:
    settings.SYLABS_LIBRARY = {"MULTIPART_PART_SIZE": 5 * 1024 * 1024}
    public = seed(alice, "alice/tools/samtools", make_sif())
    hidden = seed(alice, "alice/secret/hidden", make_sif(), private=True)
    bobs = seed(bob, "bob/public/thing", make_sif())
    clients = {"alice": api(alice), "bob": api(bob), "anon": api()}
    bad = api()
    bad.token = "sylib_" + "x" * 43
    clients["bad-token"] = bad
    alice_api = clients["alice"]
    pending = alice_api.data("POST", "v1/images", image_body(image_hash(make_sif()), str(public.container_id)))
    upload = alice_api.data("POST", f"v2/imagefile/{pending['id']}/_multipart", {"filesize": 6 * 1024 * 1024})
    for client in clients.values():
        client.get("v1/token-status")  # first use: the user's entity and last_used_at are written now
    return {
        "clients": clients,
        "storage": image_storage,
        "fill": {
            "container": str(public.container_id),
            "collection": str(public.container.collection_id),
            "entity": str(public.container.collection.entity_id),
            "image": str(public.pk),
            "hash": public.hash,
            "pending": pending["id"],
            "upload": upload["uploadID"],
            "hidden_container": str(hidden.container_id),
            "hidden_image": str(hidden.pk),
            "hidden_hash": hidden.hash,
            "bob_container": str(bobs.container_id),
            "bob_image": str(bobs.pk),
        },
        "secrets": [hidden.hash, hidden.sha256_hex],
    }


def _fill(value: Any, fill: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, replacement in fill.items():
            value = value.replace("{" + key + "}", replacement)
        return value
    if isinstance(value, list):
        return [_fill(v, fill) for v in value]
    if isinstance(value, dict):
        return {_fill(k, fill): _fill(v, fill) for k, v in value.items()}
    return value


LEAK_MARKERS = (
    "Traceback",
    'File "',
    "django_sylabs_library",
    "site-packages",
    "SECRET_KEY",
    "tests-only-not-secret",
    "sqlite",
    "psycopg",
    "IntegrityError",
    "DATABASES",
    "/tmp/",
    "sylib_",
)


def check_row(world: dict[str, Any], row: Row) -> str | None:
    """Send one row; return a description of what is wrong, or None."""
    client = world["clients"][row.caller]
    fill = world["fill"]
    path = _fill(row.path, fill)
    body = _fill(row.body, fill)
    raw: bytes | str | None
    if body is None:
        raw = None
    elif isinstance(body, (bytes, str)):
        raw = body
    else:
        raw = json.dumps(body)
    headers = {k: _fill(v, fill) for k, v in row.headers.items()}
    content_type = headers.pop("CONTENT_TYPE", "")
    before_rows, before_files = counts(), files(world["storage"])
    if row.method == "GET":
        response = client.get(path, **headers)
    else:
        response = client.request(
            row.method, path, raw=raw if raw is not None else b"", content_type=content_type, **headers
        )
    expected = row.status if isinstance(row.status, tuple) else (row.status,)
    content = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    if response.status_code not in expected:
        return f"status {response.status_code}, expected {expected}: {content[:300]!r}"
    if counts() != before_rows:
        return f"rows changed: {before_rows} -> {counts()}"
    if files(world["storage"]) != before_files:
        return f"files changed under the storage folder: {set(files(world['storage'])) ^ set(before_files)}"
    if response.status_code < 400:
        return None
    try:
        envelope = json.loads(content)
    except ValueError:
        return f"not JSON: {content[:300]!r}"
    if not isinstance(envelope, dict) or set(envelope) != {"error"}:
        return f"not the envelope: {envelope!r:.300}"
    error = envelope["error"]
    if error.get("code") != response.status_code:
        return f"code {error.get('code')} != status {response.status_code}"
    message = error.get("message")
    if not isinstance(message, str) or not message.strip():
        return f"no message: {envelope!r:.300}"
    if row.contains and row.contains.lower() not in message.lower():
        return f"message {message!r:.300} lacks {row.contains!r}"
    for marker in LEAK_MARKERS:
        if marker in message:
            return f"message leaks {marker!r}: {message!r:.300}"
    if row.caller != "alice":
        sent = (path + (raw.decode("latin-1") if isinstance(raw, bytes) else raw or "")).lower()
        for name in (*PRIVATE_NAMES, *world["secrets"]):
            if name in message.lower() and name not in sent:
                return f"message names private {name!r}: {message!r:.300}"
    if len(message) > 1000:
        return f"message of {len(message)} characters"
    return None


def run_table(world: dict[str, Any], rows: Iterable[Row]) -> int:
    rows = list(rows)
    ids = [r.id for r in rows]
    assert len(ids) == len(set(ids)), "duplicate row ids"
    before = snapshot()
    problems = []
    for row in rows:
        problem = check_row(world, row)
        if problem:
            problems.append(f"{row.id}: {row.method} {row.path[:80]!r} as {row.caller}: {problem}")
    assert not problems, "\n".join(problems)
    assert snapshot() == before
    return len(rows)


# --- path traversal, encoded separators, NUL, confusables: every route --------------------------

TRAVERSAL = {
    "dotdot": "..",
    "dotdot-encoded": "%2e%2e",
    "dotdot-slash-encoded": "..%2f..%2f..%2fetc%2fpasswd",
    "backslash": "..%5c..%5cwindows",
    "nul": "x%00y",
    "nul-suffix": "samtools%00",
    "newline": "x%0d%0aSet-Cookie:%20a=b",
    "fullwidth-digits": "%EF%BC%91",  # "１": a digit to str.isdigit() and int(), not an ASCII id
    "superscript-digit": "%C2%B2",  # "²": a digit to str.isdigit(), not to int()
    "cyrillic-a": "%D0%B0lice",  # "аlice", a confusable of alice
    "fullwidth-name": "%EF%BD%81lice",  # "ａlice"
    "rtl-override": "sam%E2%80%AEtools",
    "zero-width": "sam%E2%80%8Btools",
    "overlong-utf8": "%C0%AE%C0%AE",
    "invalid-utf8": "%FF%FE",
    "huge": "a" * 5000,
}

# Each route with one slot for the hostile segment; (method, template, body).
ROUTES = [
    ("GET", "v1/entities/{x}", None),
    ("GET", "v1/collections/{x}/tools", None),
    ("GET", "v1/collections/alice/{x}", None),
    ("GET", "v1/containers/alice/{x}/samtools", None),
    ("GET", "v1/containers/alice/tools/{x}", None),
    ("PUT", "v1/containers/alice/tools/{x}", {"readOnly": True}),
    ("GET", "v1/images/alice/tools/{x}:latest", None),
    ("GET", "v1/images/alice/tools/samtools:{x}", None),
    ("DELETE", "v1/images/alice/tools/{x}:latest", None),
    ("GET", "v1/imagefile/alice/{x}/samtools:latest", None),
    ("POST", "v1/imagefile/{x}", b"x"),
    ("GET", "v1/tags/{x}", None),
    ("POST", "v1/tags/{x}", {"Tag": "x", "ImageID": "{image}"}),
    ("GET", "v2/tags/{x}", None),
    ("POST", "v2/tags/{x}", {"Arch": "amd64", "Tag": "x", "ImageID": "{image}"}),
    ("POST", "v2/imagefile/{x}", {"filesize": 10}),
    ("PUT", "v2/imagefile/{x}/_complete", {}),
    ("POST", "v2/imagefile/{x}/_multipart", {"filesize": 10}),
    ("PUT", "v2/imagefile/{x}/_multipart", {"uploadID": "{upload}", "partNumber": 1, "partSize": 1}),
    ("PUT", "v2/imagefile/{x}/_multipart_complete", {"uploadID": "{upload}", "completedParts": []}),
    ("PUT", "v2/imagefile/{x}/_multipart_abort", {"uploadID": "{upload}"}),
    ("PUT", "v2/imagefile/_upload/{x}", b"data"),
    ("PUT", "v2/imagefile/_part/{x}", b"data"),
    ("GET", "v2/imagefile/_download/{x}", None),
    ("GET", "api/container/{x}/samtools", None),
    ("GET", "api/container/tools/{x}:latest", None),
    ("GET", "{x}/api/container/tools/samtools", None),
]


def traversal_rows(caller: str) -> list[Row]:
    rows = []
    for method, template, body in ROUTES:
        for name, value in TRAVERSAL.items():
            if template.startswith("{x}/") and "%2f" in value:
                continue  # "../../etc/passwd/api/container/...": no route of the app, the host site's 404
            rows.append(
                Row(
                    f"{method} {template} {name}",
                    method,
                    template.replace("{x}", value),
                    body,
                    status=(400, 401, 404, 405, 410),
                    caller=caller,
                )
            )
    return rows


@pytest.mark.parametrize("caller", ["alice", "anon"])
def test_traversal_and_odd_segments_on_every_route(world, caller):
    assert run_table(world, traversal_rows(caller)) == len(ROUTES) * len(TRAVERSAL) - 1


# --- references, names, tags, arches, hashes ------------------------------------------------------

BAD_REFS = {
    "four-segments": "a/b/c/d:latest",
    "empty-tag": "alice/tools/samtools:",
    "two-tags": "alice/tools/samtools:a,b",
    "colon-in-path": "alice:x/tools/samtools",
    "short-hash": "alice/tools/samtools:sha256." + HEX[:63],
    "long-hash": "alice/tools/samtools:sha256." + HEX + "0",
    "upper-hash": "alice/tools/samtools:sha256." + HEX.upper(),
    "bad-sif": "alice/tools/samtools:sif.not-a-uuid",
    "tag-traversal": "alice/tools/samtools:..",
    "tag-dot": "alice/tools/samtools:.hidden",
    "nul-in-tag": "alice/tools/samtools:lat%00est",
    "space": "alice/tools/sam%20tools:latest",
    "too-long": "a/b/" + "c" * 600 + ":latest",
    "percent-literal": "alice/tools/sam%25tools",
}


def test_hostile_references(world):
    rows = []
    for name, ref in BAD_REFS.items():
        for method, prefix in (("GET", "v1/images/"), ("DELETE", "v1/images/"), ("GET", "v1/imagefile/")):
            rows.append(Row(f"{method} {prefix} {name}", method, prefix + ref + "?arch=amd64", status=(400, 404)))
    rows += [
        Row("arch-traversal", "GET", "v1/images/alice/tools/samtools:latest?arch=../../x", contains="arch"),
        Row("arch-nul", "GET", "v1/images/alice/tools/samtools:latest?arch=amd%0064", contains="NUL"),
        Row("nul in a repeated key", "GET", "v1/search?value=sam&value=x%00", contains="NUL"),
        Row("arch-upper", "GET", "v1/imagefile/alice/tools/samtools:latest?arch=AMD64", contains="arch"),
        Row("arch-long", "DELETE", "v1/images/alice/tools/samtools:latest?arch=" + "a" * 100, contains="arch"),
        Row("arch-list", "GET", "v1/images/alice/tools/samtools:latest?arch=amd64,arm64", contains="arch"),
        Row("search-empty", "GET", "v1/search?value=", contains="value"),
        Row("search-huge", "GET", "v1/search?value=" + "a" * 5000, contains="256"),
        Row("search-arch", "GET", "v1/search?value=sam&arch=../x", contains="arch"),
        Row("search-signed", "GET", "v1/search?value=sam&signed=maybe", contains="signed"),
    ]
    run_table(world, rows)


BAD_NAMES = {
    "dotdot": "..",
    "dot": ".",
    "slash-traversal": "a/../b",
    "encoded": "%2e%2e",
    "nul": "a\x00b",
    "newline": "alice\n",
    "fullwidth": "\uff41lice",
    "cyrillic": "\u0430lice",
    "zero-width": "ali\u200bce",
    "rtl": "ali\u202ece",
    "emoji": "\U0001f600",
    "long": "a" * 65,
    "huge": "a" * 20000,
    "spaces": "  ",
    "upper": "Alice2",
}


def test_hostile_names(world):
    rows = []
    for name, value in BAD_NAMES.items():
        rows += [
            Row(f"entity {name}", "POST", "v1/entities", {"name": value}, status=(400, 403)),
            Row(f"collection {name}", "POST", "v1/collections", {"entity": "{entity}", "name": value}),
            Row(f"container {name}", "POST", "v1/containers", {"collection": "{collection}", "name": value}),
        ]
    run_table(world, rows)


BAD_TAGS = {
    "traversal": "../x",
    "slash": "a/b",
    "colon": "a:b",
    "dot-first": ".x",
    "dash-first": "-x",
    "long": "t" * 129,
    "hash-like": "sha256." + HEX,
    "sif-like": "sif.x",
    "nul": "lat\x00est",
    "unicode": "l\u00e4st",
    "empty": "",
    "space": "a b",
    "number": 5,
    "list": ["latest"],
    "object": {"a": 1},
    "null": None,
}

BAD_ARCHES = {
    "traversal": "../../x",
    "upper": "AMD64",
    "long": "a" * 17,
    "shell": "amd64;rm",
    "nul": "amd\x0064",
    "empty": "",
    "number": 64,
    "null": None,
    "list": ["amd64"],
}


def test_hostile_tags_and_arches(world):
    rows = []
    for name, tag in BAD_TAGS.items():
        rows.append(Row(f"v1 tag {name}", "POST", "v1/tags/{container}", {"Tag": tag, "ImageID": "{image}"}))
        rows.append(
            Row(f"v2 tag {name}", "POST", "v2/tags/{container}", {"Arch": "amd64", "Tag": tag, "ImageID": "{image}"})
        )
    for name, arch in BAD_ARCHES.items():
        rows.append(
            Row(f"v2 arch {name}", "POST", "v2/tags/{container}", {"Arch": arch, "Tag": "x", "ImageID": "{image}"})
        )
    for name, ident in {"negative": "-1", "float": "1.5", "huge": "9" * 40, "hex": "0x10", "bool": True}.items():
        rows.append(Row(f"imageid {name}", "POST", "v1/tags/{container}", {"Tag": "x", "ImageID": ident}))
    # Someone else's image and a private container: 404, never named.
    rows += [
        Row(
            "bob tags alice",
            "POST",
            "v1/tags/{container}",
            {"Tag": "x", "ImageID": "{image}"},
            (403, 404),
            caller="bob",
        ),
        Row("bob reads private tags", "GET", "v2/tags/{hidden_container}", status=404, caller="bob"),
        Row("anon reads private tags", "GET", "v1/tags/{hidden_container}", status=404, caller="anon"),
        Row(
            "private image into own container",
            "POST",
            "v1/tags/{bob_container}",
            {"Tag": "x", "ImageID": "{hidden_image}"},
            404,
            caller="bob",
        ),
    ]
    run_table(world, rows)


BAD_HASHES = {
    "prefix-only": "sha256.",
    "not-hex": "sha256." + "g" * 64,
    "short": "sha256." + HEX[:63],
    "long": "sha256." + HEX + "0",
    "upper": "sha256." + HEX.upper(),
    "md5": "md5." + HEX[:32],
    "sif": "sif.12345678-1234-1234-1234-123456789abc",
    "traversal": "../../blobs/sha256/" + HEX,
    "bare-hex": HEX,
    "nul": "sha256." + HEX[:32] + "\x00" + HEX[33:],
    "number": 5,
    "null": None,
}


def test_hostile_hashes(world):
    rows = [
        Row(
            f"image hash {name}",
            "POST",
            "v1/images",
            {"container": "{container}", "hash": value},
            contains="NUL" if name == "nul" else "hash",
        )
        for name, value in BAD_HASHES.items()
    ]
    for name, value in {"not-hex": "z" * 64, "short": "a" * 63, "upper": HEX.upper(), "number": 5}.items():
        rows.append(
            Row(f"sha256sum {name}", "POST", "v2/imagefile/{pending}", {"filesize": 10, "sha256sum": value}, (400, 409))
        )
        rows.append(
            Row(f"md5sum {name}", "POST", "v2/imagefile/{pending}", {"filesize": 10, "md5sum": value}, (400, 409))
        )
    rows.append(
        Row(
            "part sha256sum",
            "PUT",
            "v2/imagefile/{pending}/_multipart",
            {"uploadID": "{upload}", "partNumber": 1, "partSize": 5242880, "sha256sum": "../x"},
        )
    )
    run_table(world, rows)


# --- sizes, counts, numbers ---------------------------------------------------------------------

BAD_SIZES = {
    "negative": -1,
    "huge": 2**63,
    "huger": 2**80,
    "float": 1.5,
    "float-integral": 10.0,
    "exponent": 1e300,
    "string": "10",
    "bool": True,
    "null": None,
    "list": [10],
    "object": {"size": 10},
}


def test_hostile_sizes(world):
    rows = []
    for name, size in BAD_SIZES.items():
        rows += [
            Row(f"single {name}", "POST", "v2/imagefile/{pending}", {"filesize": size}, contains="filesize"),
            Row(f"multipart {name}", "POST", "v2/imagefile/{pending}/_multipart", {"filesize": size}),
            Row(
                f"part size {name}",
                "PUT",
                "v2/imagefile/{pending}/_multipart",
                {"uploadID": "{upload}", "partNumber": 1, "partSize": size},
            ),
            Row(
                f"part number {name}",
                "PUT",
                "v2/imagefile/{pending}/_multipart",
                {"uploadID": "{upload}", "partNumber": size, "partSize": 5242880},
            ),
            Row(
                f"completed part {name}",
                "PUT",
                "v2/imagefile/{pending}/_multipart_complete",
                {"uploadID": "{upload}", "completedParts": [{"partNumber": size, "token": "x"}]},
            ),
        ]
    rows += [
        Row(
            "part number 0",
            "PUT",
            "v2/imagefile/{pending}/_multipart",
            {"uploadID": "{upload}", "partNumber": 0, "partSize": 1},
        ),
        Row(
            "part number past the end",
            "PUT",
            "v2/imagefile/{pending}/_multipart",
            {"uploadID": "{upload}", "partNumber": 3, "partSize": 1},
        ),
        Row("exponent literal", "POST", "v2/imagefile/{pending}", b'{"filesize": 1e3}', contains="filesize"),
        Row("huge literal", "POST", "v2/imagefile/{pending}", b'{"filesize": 1e999}', contains="filesize"),
        Row("4301 digits", "POST", "v2/imagefile/{pending}", b'{"filesize": ' + b"9" * 4301 + b"}"),
        Row("negative zero", "POST", "v2/imagefile/{pending}", b'{"filesize": -0.0}', contains="filesize"),
    ]
    run_table(world, rows)


# --- JSON bodies ----------------------------------------------------------------------------------

# The same endpoints tests/test_errors.py checks: one list of every endpoint that reads a JSON body.
JSON_ROUTES = JSON_ENDPOINTS

HOSTILE_BODIES: dict[str, tuple[bytes, int, str | None]] = {
    "deep-objects": (b'{"a":' * 10000 + b"1" + b"}" * 10000, 400, None),
    "deep-mixed": (b'{"a":[' * 5000 + b"1" + b"]}" * 5000, 400, None),
    "deep-unclosed": (b"[" * 10000, 400, None),
    "huge-string": (b'{"description": "' + b"x" * (64 * 1024 + 10) + b'"}', 413, "larger"),
    "huge-key-count": (json.dumps({f"k{i}": i for i in range(10000)}).encode(), 413, None),
    "nested-duplicate": (b'{"a": {"b": 1, "B": 2}}', 400, "duplicate"),
    "deep-duplicate": (b'{"completedParts": [{"token": "a", "TOKEN": "b"}]}', 400, "duplicate"),
    "nan": (b'{"filesize": NaN}', 400, None),
    "infinity-nested": (b'{"a": [1, -Infinity]}', 400, None),
    "utf16": ('{"name": "x"}'.encode("utf-16"), 400, None),
    "utf8-bom": (b'\xef\xbb\xbf{"name": "x"}', 400, None),
    "latin1": (b'{"description": "caf\xe9"}', 400, "UTF-8"),
    "lone-surrogate": (b'{"description": "\\ud800"}', 400, None),
    "nul-escape": (b'{"description": "a\\u0000b"}', 400, None),
    "raw-nul": (b'{"description": "a\x00b"}', 400, None),
    "top-level-string": (b'"x"', 400, "object"),
    "top-level-list": (b'[{"name": "x"}]', 400, "object"),
    "form-encoded": (b"name=alice&description=x", 400, None),
    "comment": (b'{"name": "x" /* c */}', 400, None),
    "trailing-comma": (b'{"name": "x",}', 400, None),
}


def test_hostile_json_bodies(world):
    rows = [
        Row(f"{kind}: {m} {p}", m, p, body, status, contains)
        for kind, (body, status, contains) in HOSTILE_BODIES.items()
        for m, p in JSON_ROUTES
    ]
    assert run_table(world, rows) == len(HOSTILE_BODIES) * len(JSON_ROUTES)


def test_wrong_content_type_does_not_change_parsing(world):
    form = {"CONTENT_TYPE": "application/x-www-form-urlencoded"}
    multipart = {"CONTENT_TYPE": "multipart/form-data; boundary=xyz"}
    rows = [
        Row("form header, form body", "POST", "v1/collections", b"entity=1&name=x", headers=form),
        Row("multipart header", "POST", "v1/containers", b"--xyz\r\n\r\nname\r\n--xyz--", headers=multipart),
        Row("xml", "POST", "v1/images", b"<image/>", headers={"CONTENT_TYPE": "application/xml"}),
        Row(
            "json header, bad types",
            "POST",
            "v1/images",
            {"container": [], "hash": {}},
            headers={"CONTENT_TYPE": "application/json"},
        ),
    ]
    run_table(world, rows)


# --- headers ----------------------------------------------------------------------------------------


def test_hostile_headers(world):
    big = "x" * 100_000
    rows = [
        Row(
            "huge authorization",
            "GET",
            "v1/token-status",
            status=401,
            caller="anon",
            headers={"HTTP_AUTHORIZATION": "Bearer " + big},
        ),
        Row(
            "bearer without token",
            "POST",
            "v1/entities",
            {"name": "x"},
            401,
            caller="anon",
            headers={"HTTP_AUTHORIZATION": "Bearer"},
        ),
        Row(
            "bearer two words",
            "GET",
            "v1/token-status",
            status=401,
            caller="anon",
            headers={"HTTP_AUTHORIZATION": "Bearer a b"},
        ),
        Row(
            "bearer nul",
            "GET",
            "v1/token-status",
            status=401,
            caller="anon",
            headers={"HTTP_AUTHORIZATION": "Bearer a\x00b"},
        ),
        Row(
            "bearer latin1",
            "GET",
            "v1/token-status",
            status=401,
            caller="anon",
            headers={"HTTP_AUTHORIZATION": "Bearer \xe9\xe9"},
        ),
        Row(
            "huge other header",
            "POST",
            "v1/images",
            {"container": "{container}", "hash": 5},
            headers={"HTTP_X_JUNK": big},
            contains="hash",
        ),
        Row(
            "cl negative",
            "PUT",
            "v2/imagefile/{pending}/_complete",
            b"",
            headers={"CONTENT_LENGTH": "-1"},
            contains="Content-Length",
        ),
        Row("cl words", "POST", "v1/entities", b"{}", headers={"CONTENT_LENGTH": "ten"}, contains="Content-Length"),
        Row("cl float", "POST", "v1/entities", b"{}", headers={"CONTENT_LENGTH": "1.5"}, contains="Content-Length"),
        Row("cl over json limit", "POST", "v1/entities", b"{}", 413, headers={"CONTENT_LENGTH": str(10**12)}),
        Row(
            "cl legacy negative",
            "POST",
            "v1/imagefile/{pending}",
            b"x",
            headers={"CONTENT_LENGTH": "-5"},
            contains="Content-Length",
        ),
        Row(
            "cl legacy words",
            "POST",
            "v1/imagefile/{pending}",
            b"x",
            headers={"CONTENT_LENGTH": "abc"},
            contains="Content-Length",
        ),
        Row(
            "cl legacy exponent",
            "POST",
            "v1/imagefile/{pending}",
            b"x",
            headers={"CONTENT_LENGTH": "1e3"},
            contains="Content-Length",
        ),
        Row(
            "cl legacy absurd", "POST", "v1/imagefile/{pending}", b"x", (400, 413), headers={"CONTENT_LENGTH": "9" * 30}
        ),
    ]
    run_table(world, rows)


def test_hostile_ranges(world):
    path = "v1/imagefile/alice/tools/samtools:latest?arch=amd64"
    size = 4096
    rows = [
        Row("past the end", "GET", path, status=416, headers={"HTTP_RANGE": f"bytes={size}-"}),
        Row("far past the end", "GET", path, status=416, headers={"HTTP_RANGE": "bytes=99999999999999999999-"}),
        Row("zero suffix", "GET", path, status=416, headers={"HTTP_RANGE": "bytes=-0"}),
    ]
    # Syntax we do not honour is ignored, as RFC 9110 (14.2) allows: the whole file, no Content-Range.
    ignored = {
        "reversed": "bytes=5-1",
        "empty": "bytes=-",
        "multiple": "bytes=0-1,5-6",
        "negative": "bytes=-5-10",
        "words": "bytes=a-b",
        "other unit": "items=0-1",
        "no unit": "0-1",
        "huge list": "bytes=" + ",".join(f"{i}-{i}" for i in range(2000)),
    }
    run_table(world, rows)
    client = world["clients"]["alice"]
    for name, header in ignored.items():
        response = client.get(path, HTTP_RANGE=header)
        assert response.status_code == 200, (name, response.status_code)
        assert "Content-Range" not in response, name
        assert len(b"".join(response.streaming_content)) == size, name


# --- keyserver and shub ----------------------------------------------------------------------------


def test_hostile_keyserver_requests(world):
    armored = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + "A" * 100 + "\n-----END PGP PUBLIC KEY BLOCK-----\n"
    form = {"CONTENT_TYPE": "application/x-www-form-urlencoded"}
    rows = [
        Row("lookup traversal", "GET", "/pks/lookup?op=get&search=../../etc/passwd", status=(400, 404)),
        Row("lookup nul", "GET", "/pks/lookup?op=get&search=0x%00abcdef", status=(400, 404)),
        Row("lookup not hex", "GET", "/pks/lookup?op=get&exact=on&search=0x" + "g" * 40, status=(400, 404)),
        Row("lookup huge", "GET", "/pks/lookup?op=index&search=" + "a" * 10000, contains="search"),
        Row("lookup op traversal", "GET", "/pks/lookup?op=../x&search=abc", contains="op"),
        Row("lookup invalid utf8", "GET", "/pks/lookup?op=index&search=%FF%FE%FD", status=(400, 404)),
        Row("lookup confusable", "GET", "/pks/lookup?op=index&options=mr&search=%D0%B0lice", status=(400, 404)),
        Row("lookup post", "POST", "/pks/lookup", b"op=get", 405, caller="anon"),
        Row("add get", "GET", "/pks/add", status=405, caller="anon"),
        Row("add anonymous", "POST", "/pks/add", "keytext=" + armored, 401, caller="anon", headers=form),
        Row("add bad token", "POST", "/pks/add", "keytext=" + armored, 401, caller="bad-token", headers=form),
        Row("add garbage armor", "POST", "/pks/add", "keytext=" + armored, 400, headers=form),
        Row("add no keytext", "POST", "/pks/add", "other=1", 400, headers=form),
        Row(
            "add json body", "POST", "/pks/add", {"keytext": armored}, 400, headers={"CONTENT_TYPE": "application/json"}
        ),
        Row("add nul", "POST", "/pks/add", "keytext=%00%00", 400, headers=form),
        Row("add latin1", "POST", "/pks/add", b"keytext=\xff\xfe", (400,), headers=form),
        Row("add huge", "POST", "/pks/add", "keytext=" + "A" * (300 * 1024), 413, headers=form),
        Row("add over django limit", "POST", "/pks/add", "keytext=" + "A" * (3 * 1024 * 1024), 413, headers=form),
    ]
    run_table(world, rows)


def test_hostile_shub_requests(world):
    rows = [
        Row("traversal", "GET", "/api/container/../../etc/passwd", status=(400, 404)),
        Row("encoded traversal", "GET", "/api/container/%2e%2e/%2e%2e", status=(400, 404)),
        Row("nul", "GET", "/api/container/tools/sam%00tools", status=(400, 404)),
        Row("tag traversal", "GET", "/api/container/tools/samtools:../x", status=400),
        Row("bad digest", "GET", "/api/container/tools/samtools@" + "z" * 40, status=400, contains="digest"),
        Row("hash tag", "GET", "/api/container/tools/samtools:sha256." + HEX, status=400),
        Row("three levels", "GET", "/api/container/a/b/c", status=400),
        Row("private", "GET", "/api/container/secret/hidden", status=404, caller="anon"),
        Row("private by owner", "GET", "/alice/api/container/secret/hidden", status=404),
        Row("huge", "GET", "/api/container/tools/" + "a" * 5000, status=400),
        Row("post", "POST", "/api/container/tools/samtools", b"{}", 405, caller="anon"),
    ]
    run_table(world, rows)


# --- nothing private leaks through error answers ------------------------------------------------------


def test_private_objects_are_404_and_never_named(world):
    hidden_ref = "alice/secret/hidden"
    rows = []
    for caller in ("bob", "anon", "bad-token"):
        status = (401,) if caller == "bad-token" else (404,)
        writes = (401,) if caller != "bob" else (404,)
        rows += [
            Row(
                f"{caller} image by id upload",
                "POST",
                "v2/imagefile/{hidden_image}",
                {"filesize": 10},
                writes,
                caller=caller,
            ),
            Row(f"{caller} image by id legacy", "POST", "v1/imagefile/{hidden_image}", b"x", writes, caller=caller),
            Row(f"{caller} complete", "PUT", "v2/imagefile/{hidden_image}/_complete", {}, writes, caller=caller),
            Row(f"{caller} tags", "GET", "v2/tags/{hidden_container}", status=status, caller=caller),
            Row(f"{caller} by hash", "GET", f"v1/images/{hidden_ref}:{{hidden_hash}}", status=status, caller=caller),
            Row(
                f"{caller} search hash",
                "GET",
                "v1/search?value={hidden_hash}&arch=amd64",
                status=(200, 401),
                caller=caller,
            ),
        ]
    run_table(world, rows)
    # A search by a private hash finds nothing for others.
    for caller in ("bob", "anon"):
        response = world["clients"][caller].get(f"v1/search?value={world['fill']['hidden_hash']}")
        assert response.status_code == 200
        assert json.loads(response.content)["data"]["image"] == []


def test_nul_in_web_page_paths_is_404(world):
    """The HTML pages share the name lookups: a NUL names nothing (it was a 500 on PostgreSQL)."""
    client = world["clients"]["alice"].client
    for path in ("/e/x%00/", "/e/alice/x%00/", "/e/alice/tools/x%00/", "/e/x%00/tools/samtools/"):
        assert client.get(path).status_code == 404, path
