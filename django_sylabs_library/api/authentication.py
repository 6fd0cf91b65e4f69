"""``Authorization: Bearer <token>``, scheme in any case (Apptainer 1.0/1.1 send ``BEARER``)."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from ..flows.namespaces import ensure_user_entity
from ..flows.tokens import authenticate_token


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
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="library"'
