"""schemathesis against our own OpenAPI schema, in-process through the WSGI app.

Every operation of ``/api/schema`` gets generated requests (schema-valid and schema-violating
data) from four callers: alice with a token, bob with a token, nobody, and an unknown token.
Path parameters and ids in bodies are often swapped for seeded objects (public and private,
someone else's, an image still waiting for its upload, a live upload URL), so requests reach
the flows instead of stopping at 404. Checks on every response:

- no 5xx (``not_a_server_error``),
- every 4xx/5xx is the client's error envelope ``{"error": {"code": <status>, "message": "..."}}``,
- the status code, content type, headers and body conform to the schema.

Deterministic: a fixed Hypothesis seed per operation, no example database. Run with
``python -m pytest tests/integration/test_schemathesis.py -m integration -s`` to see the counts.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from tests.conftest import image_body, image_hash, make_sif
from tests.conftest import seed as seed_image

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SEED = 20261128
#: Examples per (operation, generation mode); about 30 operations x 2 modes.
EXAMPLES = int(os.environ.get("SYLABS_FUZZ_EXAMPLES", "100"))
MIN_CASES = 5000
BUDGET_SECONDS = float(os.environ.get("SYLABS_FUZZ_BUDGET", "230"))


def error_envelope(ctx: Any, response: Any, case: Any) -> None:
    """Every error is ``{"error": {"code": <status>, "message": <non-empty str>}}`` (spec 1.4)."""
    status = response.status_code
    if status < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{status} answer is not JSON: {response.content[:200]!r}") from None
    if not isinstance(body, dict) or set(body) != {"error"}:
        raise AssertionError(f"{status} answer is not the error envelope: {str(body)[:200]}")
    error = body["error"]
    if not isinstance(error, dict) or error.get("code") != status:
        raise AssertionError(f"{status} envelope has the wrong code: {str(body)[:200]}")
    message = error.get("message")
    if not isinstance(message, str) or not message.strip():
        raise AssertionError(f"{status} envelope has no message: {str(body)[:200]}")
    if "Traceback" in message or "django" in message.lower():
        raise AssertionError(f"{status} message leaks internals: {message[:200]}")
    return None


CHECKS = [
    not_a_server_error,
    error_envelope,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def world(alice: Any, bob: Any, token_for: Any, settings: Any) -> dict[str, Any]:
    """Seeded objects whose names and ids the fuzzer substitutes into requests."""
    from django_sylabs_library.api.downloads import proxy_token
    from django_sylabs_library.flows import images as image_flows
    from django_sylabs_library.flows import uploads

    settings.SYLABS_LIBRARY = {"MULTIPART_PART_SIZE": 5 * 1024 * 1024, "MAX_IMAGE_SIZE": 1024**4}
    public = seed_image(alice, "alice/tools/samtools", make_sif())
    hidden = seed_image(alice, "alice/secret/hidden", make_sif("arm64"), private=True)
    bobs = seed_image(bob, "bob/public/thing", make_sif())
    pending = image_flows.create_image(alice, public.container_id, image_hash(make_sif()))
    single = image_flows.create_image(alice, public.container_id, image_hash(make_sif()))
    target = uploads.start_single(alice, single, {"filesize": 4096})
    multi = image_flows.create_image(alice, public.container_id, image_hash(make_sif()))
    session = uploads.start_multipart(alice, multi, {"filesize": 6 * 1024 * 1024})
    part = uploads.start_part(
        alice, multi, {"uploadid": session.upload_id, "partnumber": 1, "partsize": 5 * 1024 * 1024}
    )
    containers = [public.container, hidden.container, bobs.container]
    image_ids = [str(i.pk) for i in (public, hidden, bobs, pending, single, multi)]
    return {
        "tokens": {"alice": token_for(alice), "bob": token_for(bob)},
        "pools": {
            "name": ["alice", "bob", "nobody"],
            "entity": ["alice", "bob"],
            "collection": ["tools", "secret", "public"],
            "container": ["samtools", "hidden", "thing"],
            "ref": [
                "alice/tools/samtools:latest",
                f"alice/tools/samtools:{public.hash}",
                "alice/secret/hidden:latest",
                "bob/public/thing",
                str(pending.pk),
                str(public.pk),
            ],
            "container_id": [str(c.pk) for c in containers],
            "image_id": image_ids,
            "secret": [target.secret, part.secret, "x" * 43],
            "token": [proxy_token(public.blob, "samtools_latest.sif"), "not-a-token"],
        },
        "body_ids": {
            "imageid": image_ids,
            "container": [str(c.pk) for c in containers],
            "collection": [str(c.collection_id) for c in containers],
            "entity": [str(c.collection.entity_id) for c in containers],
            "uploadid": [session.upload_id, "unknown-upload"],
        },
        "image_body": image_body(public.hash, str(public.container_id)),
    }


@pytest.fixture
def wsgi_app() -> Any:
    """Django's WSGI handler, minus the per-request connection closing (the test's transaction
    must survive, as Django's own test client arranges)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _substitute(case: Any, data: Any, world: dict[str, Any]) -> None:
    """Point the case at seeded objects some of the time."""
    pools = world["pools"]
    for name in list(case.path_parameters or {}):
        if name in pools and data.draw(st.booleans(), label=f"seeded {name}"):
            case.path_parameters[name] = data.draw(st.sampled_from(pools[name]), label=name)
    if isinstance(case.body, dict):
        for key in list(case.body):
            ids = world["body_ids"].get(key.lower())
            if ids and data.draw(st.booleans(), label=f"seeded {key}"):
                case.body[key] = data.draw(st.sampled_from(ids), label=key)


def test_schemathesis_finds_no_5xx_and_every_error_is_enveloped(world: dict[str, Any], wsgi_app: Any) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/schema?format=json", wsgi_app)
    tokens = world["tokens"]
    callers = {
        "alice": {"Authorization": f"Bearer {tokens['alice']}"},
        "bob": {"Authorization": f"BEARER {tokens['bob']}"},
        "anonymous": {},
        "bad-token": {"Authorization": "Bearer sylib_not_a_token"},
    }
    caller_names = sorted(callers)
    failures: dict[tuple[str, str], str] = {}
    statuses: Counter[int] = Counter()
    per_operation: Counter[str] = Counter()
    skipped: list[str] = []
    started, cpu_started = time.monotonic(), time.process_time()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25, [op.label for op in operations]

    def fuzz(operation: Any, mode: GenerationMode, index: int) -> None:
        @seed(SEED + index)
        @settings(
            max_examples=EXAMPLES,
            derandomize=False,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(case=operation.as_strategy(generation_mode=mode), caller=st.sampled_from(caller_names), data=st.data())
        def run(case: Any, caller: str, data: Any) -> None:
            _substitute(case, data, world)
            response = case.call(headers=dict(callers[caller]))
            statuses[response.status_code] += 1
            per_operation[operation.label] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as exc:  # record it, keep fuzzing
                titles = sorted({getattr(f, "title", type(f).__name__) for f in exc.exceptions})
                key = (operation.label, f"{response.status_code} {'; '.join(titles)}")
                failures.setdefault(key, f"[{caller}] {exc}"[:3000])

        t0 = time.monotonic()
        n0 = sum(per_operation.values())
        try:
            run()
            if os.environ.get("SYLABS_FUZZ_DEBUG"):
                print(
                    f"{operation.label} {mode.value}: {sum(per_operation.values()) - n0} in {time.monotonic() - t0:.1f}s"
                )
        except Unsatisfiable:  # nothing to generate in this mode (e.g. no parameter to negate)
            skipped.append(f"{operation.label} ({mode.value})")

    for index, operation in enumerate(sorted(operations, key=lambda op: op.label)):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, index)
        if time.monotonic() - started > BUDGET_SECONDS:
            break

    elapsed = time.monotonic() - started
    total = sum(per_operation.values())
    cpu = time.process_time() - cpu_started
    print(
        f"\nschemathesis: {total} cases over {len(per_operation)} operations in {elapsed:.1f}s "
        f"({cpu:.1f}s CPU), seed {SEED} + operation index, {EXAMPLES} examples per operation and mode"
    )
    print("statuses:", dict(sorted(statuses.items())))
    print("nothing to generate:", ", ".join(skipped) or "-")
    for (label, title), detail in sorted(failures.items()):
        print(f"FAILURE {label}: {title}\n{detail}\n")
    assert not failures, f"{len(failures)} distinct failures (see output)"
    assert total >= MIN_CASES, f"only {total} cases ran within {BUDGET_SECONDS}s"
