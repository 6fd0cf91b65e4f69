"""Every error from every API endpoint as ``{"error": {"code": <status>, "message": "..."}}``.

That is the shape the client decodes (sylabs/json-resp), so the user sees our message instead
of a bare status code. Unexpected errors are logged and answered 500 in the same shape.

Two failures are the client's or the infrastructure's, not bugs, and get their own answers: a
request body cut off by the client (``UnreadablePostError``, the connection closed or reset
mid-body) is a 400, and a database that cannot be reached (``OperationalError`` /
``InterfaceError``: server down, restarting, connection lost) is a 503 with ``Retry-After``,
never Django's HTML 500 page.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse, UnreadablePostError
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from ..exceptions import LibraryError

logger = logging.getLogger(__name__)


def _flatten(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return "; ".join(_flatten(v) for v in detail)
    return str(detail)


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message}}


def error_response(status: int, message: str) -> JsonResponse:
    """For plain Django views outside DRF."""
    return JsonResponse(error_body(status, message), status=status)


def allow_methods(*methods: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``require_http_methods`` for plain views, answering 405 in the envelope (with ``Allow``)
    instead of Django's empty body, which the clients would show as a bare status."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
            if request.method not in methods:
                response = error_response(405, f"method {request.method[:10]} not allowed; use {', '.join(methods)}")
                response["Allow"] = ", ".join(methods)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def library_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    headers: dict[str, str] = {}
    if isinstance(exc, LibraryError):
        status, message = exc.status, exc.message
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="library"'
    elif isinstance(exc, Http404):
        status, message = 404, "Not found"
    elif isinstance(exc, PermissionDenied):
        status, message = 403, "Permission denied"
    elif isinstance(exc, RequestDataTooBig):
        status, message = 413, "Request body too large"
    elif isinstance(exc, drf_exceptions.APIException):
        status, message = exc.status_code, _flatten(exc.detail)
        if isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
            status = 401
            headers["WWW-Authenticate"] = 'Bearer realm="library"'
            if isinstance(exc, drf_exceptions.NotAuthenticated):
                message = "Authentication required: log in with `apptainer remote login`"
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    elif isinstance(exc, UnreadablePostError):
        logger.warning("request body incomplete: %s", exc)
        status, message = 400, "Request body incomplete: the connection ended before the whole body arrived"
    elif isinstance(exc, (OperationalError, InterfaceError)):
        logger.error("database unavailable: %s", exc)
        status, message = 503, "Database unavailable; try again shortly"
        headers["Retry-After"] = "5"
    else:
        logger.exception("unexpected error in the Library API")
        status, message = 500, "Internal server error"
    return Response(error_body(status, message), status=status, headers=headers)
