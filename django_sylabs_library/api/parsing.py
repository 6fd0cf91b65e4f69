"""Reading small JSON bodies the way the Go client sends them.

The client sends no Content-Type on JSON bodies (spec 1.3), so DRF's parser negotiation cannot
be used: we parse the raw body as JSON whatever the header says. Keys are lower-cased at every
level, since Go's decoder matches keys case-insensitively (``ImageID`` and ``imageId`` are the
same key to the client). Duplicate keys are refused rather than silently resolved.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from ..conf import library_settings
from ..exceptions import InvalidInput, PayloadTooLarge


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        folded = key.lower()
        if folded in result:
            raise InvalidInput(f"duplicate key {key[:40]!r} in JSON body")
        result[folded] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise InvalidInput(f"malformed JSON body: {name} is not valid JSON")


def read_json(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object (``{}`` for an empty body), with lower-cased keys."""
    limit = int(library_settings.MAX_JSON_BODY)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise InvalidInput("invalid Content-Length header") from None
    if length < 0:
        raise InvalidInput("invalid Content-Length header")
    if length > limit:
        raise PayloadTooLarge(f"JSON body larger than {limit} bytes")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise PayloadTooLarge(f"JSON body larger than {limit} bytes") from None
    if len(raw) < length:
        # The client went away mid-body; an empty remainder must not read as "{}" and act.
        raise InvalidInput(f"request body incomplete: {len(raw)} of {length} bytes arrived")
    if not raw.strip():
        return {}
    try:
        # Strict UTF-8 (RFC 8259): json.loads(bytes) would also take UTF-16/32 and let
        # encoded surrogates through ("surrogatepass"), which no database can store.
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_object, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidInput("JSON body is nested too deeply") from None
    except UnicodeDecodeError:
        raise InvalidInput("JSON body is not valid UTF-8") from None
    except ValueError as exc:
        raise InvalidInput(f"malformed JSON body: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise InvalidInput("JSON body must be an object")
    _refuse_unstorable(data)
    return data


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refuse_unstorable(data: Any) -> None:
    """NUL characters and unpaired surrogates (``"\\u0000"``, ``"\\ud800"`` are valid JSON
    escapes) cannot be stored in PostgreSQL text or encoded as UTF-8: refuse them up front
    instead of failing with a 500 deep in a flow."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and _UNSTORABLE.search(value):
            raise InvalidInput("JSON body contains a NUL character or an unpaired surrogate")


def refuse_nul_in_url(request: HttpRequest) -> None:
    """A ``%00`` in the path or the query can name nothing (names are validated when stored),
    and PostgreSQL refuses NUL in text parameters with an error: answer 400 before any lookup."""
    query = request.GET.lists()
    if "\x00" in request.path or any("\x00" in k or any("\x00" in v for v in vs) for k, vs in query):
        raise InvalidInput("NUL character in the request URL")


def content_length(request: HttpRequest) -> int | None:
    value = request.META.get("CONTENT_LENGTH")
    if value in (None, ""):
        return None
    try:
        length = int(value)
    except ValueError:
        raise InvalidInput("invalid Content-Length header") from None
    if length < 0:
        raise InvalidInput("invalid Content-Length header")
    return length
