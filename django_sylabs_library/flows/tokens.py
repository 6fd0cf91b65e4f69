"""API tokens: many named tokens per user, stored hashed, optional expiry, revocable."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..conf import library_settings
from ..exceptions import InvalidInput, NotFound
from ..models import Token, hash_secret
from . import audit

logger = logging.getLogger(__name__)


def create_token(
    user: Any, name: str = "", expires_days: int | None = None, *, scope: str = Token.Scope.WRITE
) -> tuple[Token, str]:
    """Make a token; the raw value is returned once and never stored.

    ``scope`` is ``write`` (everything the user may do) or ``read`` (reads only: pull, search,
    list; enforced by ``api.authentication.require_token_scope``).
    """
    name = (name or "").strip() or "token"
    if scope not in Token.Scope.values:
        raise InvalidInput("scope must be read or write")
    if len(name) > 100:
        raise InvalidInput("token name is longer than 100 characters")
    if expires_days is not None:
        if isinstance(expires_days, bool) or not isinstance(expires_days, int) or expires_days <= 0:
            raise InvalidInput("expiry must be a positive number of days")
        if expires_days > 36500:
            raise InvalidInput("expiry must be at most 36500 days")
    raw = library_settings.TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = Token.objects.create(
            user=user,
            name=name,
            scope=scope,
            key_hash=hash_secret(raw),
            key_prefix=raw[:12],
            expires_at=timezone.now() + timedelta(days=expires_days) if expires_days else None,
        )
        audit.record(
            audit.TOKEN_CREATE,
            token,
            actor=user,
            detail={
                "scope": token.scope,
                "prefix": token.key_prefix,
                "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            },
        )
    logger.info("token %s (%s, %s) created for user id %s", token.pk, name, scope, user.pk)
    return token, raw


def authenticate_token(raw: str) -> Token | None:
    """The active token with this value, or None. Records the last use (coarsely)."""
    if not raw or len(raw) > 256:
        return None
    token = Token.objects.select_related("user").filter(key_hash=hash_secret(raw)).first()
    if token is None or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    resolution = timedelta(seconds=int(library_settings.TOKEN_LAST_USED_RESOLUTION_SECONDS))
    if token.last_used_at is None or now - token.last_used_at > resolution:
        Token.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke_token(user: Any, token_id: int) -> Token:
    token = Token.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).first()
    if token is None:
        raise NotFound("token not found")
    token.revoked_at = timezone.now()
    with transaction.atomic():
        token.save(update_fields=["revoked_at"])
        audit.record(audit.TOKEN_REVOKE, token, actor=user, detail={"prefix": token.key_prefix})
    logger.info("token %s revoked by user id %s", token.pk, user.pk)
    return token
