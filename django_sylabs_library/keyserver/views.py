"""HKP endpoints at the host root, as Apptainer's key client calls them (spec section 7).

Look-ups are public (Apptainer sends its library token along; it is ignored here). Adding a
key needs a token. Errors use the library's JSON error envelope, which the key client decodes.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed

from ..api.authentication import BearerTokenAuthentication, require_token_scope
from ..api.exceptions import allow_methods, error_response
from ..api.parsing import refuse_nul_in_url
from ..exceptions import InvalidInput, LibraryError, NotAuthenticated, PayloadTooLarge
from ..flows import audit, keys


def _error(exc: LibraryError) -> HttpResponse:
    response = error_response(exc.status, exc.message)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="library"'
    return response


def _flag(value: Any) -> bool:
    return str(value).lower() in ("on", "1", "true", "yes")


@allow_methods("GET")
def lookup(request: HttpRequest) -> HttpResponse:
    params = request.GET
    op = params.get("op", "get")
    exact = _flag(params.get("exact"))
    try:
        refuse_nul_in_url(request)
        if op == "get":
            return HttpResponse(
                keys.get_armored(params.get("search"), exact=exact), content_type="application/pgp-keys; charset=utf-8"
            )
        if op in ("index", "vindex"):
            return HttpResponse(keys.index(params.get("search"), exact=exact), content_type="text/plain; charset=utf-8")
        raise InvalidInput(f"unsupported op {op[:20]!r}: use get, index or vindex")
    except LibraryError as exc:
        return _error(exc)


@csrf_exempt
@allow_methods("POST")
def add(request: HttpRequest) -> HttpResponse:
    with audit.request_context(request, session_user=False):
        return _add(request)


def _add(request: HttpRequest) -> HttpResponse:
    try:
        try:
            auth = BearerTokenAuthentication().authenticate(request)
        except AuthenticationFailed:
            raise NotAuthenticated("Invalid Token") from None
        user = auth[0] if auth else None
        require_token_scope(request.method or "POST", auth[1] if auth else None)
        try:
            keytext = request.POST.get("keytext")
        except RequestDataTooBig:
            raise PayloadTooLarge("key text too large") from None
        stored = keys.add_keys(user, keytext)
    except LibraryError as exc:
        return _error(exc)
    return HttpResponse(
        "Key(s) added: " + ", ".join(k.fingerprint.upper() for k in stored) + "\n",
        content_type="text/plain; charset=utf-8",
    )
