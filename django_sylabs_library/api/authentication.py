"""``Authorization: Bearer <token>``, scheme in any case (Apptainer 1.0/1.1 send ``BEARER``).

Also THE one place that enforces token scopes: ``require_token_scope`` refuses any request that
is not a read (``GET``, ``HEAD``, ``OPTIONS``) made with a read-only token, before any flow
runs. ``ReadOnlyTokenPermission`` applies it to every Library API view (``LibraryView``); the
keyserver's add view calls it directly.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from ..exceptions import Forbidden
from ..flows import audit
from ..flows.namespaces import ensure_user_entity
from ..flows.tokens import authenticate_token
from ..models import Token

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ReadOnlyToken(Forbidden):
    default_message = (
        "Permission denied: this token is read-only; create a read-write token to push, tag, delete or change settings"
    )


def require_token_scope(method: str, token: Any) -> None:
    """Refuse a request that is not a read when it is authenticated by a read-only token."""
    if isinstance(token, Token) and token.read_only and method.upper() not in READ_METHODS:
        raise ReadOnlyToken()


class ReadOnlyTokenPermission(BasePermission):
    """DRF permission of every Library API view: read-only tokens may only read."""

    def has_permission(self, request: Any, view: Any) -> bool:
        require_token_scope(request.method, request.auth)
        return True


class BearerTokenAuthentication(BaseAuthentication):
    keyword = "bearer"

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        header = get_authorization_header(request)
        if not header:
            return None
        try:
            parts = header.decode("latin-1").split()
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid Token") from None
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Invalid Token")
        token = authenticate_token(parts[1])
        if token is None:
            raise AuthenticationFailed("Invalid Token")
        # Every user gets the entity of their username on first token use.
        ensure_user_entity(token.user)
        audit.set_actor(token.user, token)
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="library"'
