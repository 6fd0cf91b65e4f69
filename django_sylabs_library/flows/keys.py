"""The keyserver's rules: who may add which key, and how look-ups match (spec section 7)."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Q, QuerySet

from ..conf import library_settings
from ..exceptions import Forbidden, InvalidInput, NotAuthenticated, NotFound, PayloadTooLarge
from ..keyserver.openpgp import KeyParseError, ParsedKey, parse_public_keys
from ..models import SigningKey, SigningKeyId, SigningKeyUserId
from . import audit

logger = logging.getLogger(__name__)

_HEX_RE = re.compile(r"^(?:0x)?([0-9a-fA-F]+)$")
_EMAIL_RE = re.compile(r"<([^<>@\s]+@[^<>\s]+)>")


def verified_emails(user: Any) -> set[str]:
    """The uploader's verified addresses: allauth's verified ones when allauth is installed,
    else the account's e-mail (the host site vouches for it)."""
    if apps.is_installed("allauth.account"):
        from allauth.account.models import EmailAddress

        return {
            e.lower() for e in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
        }
    email = getattr(user, "email", "") or ""
    return {email.lower()} if email else set()


def _uid_emails(user_ids: list[str]) -> set[str]:
    emails = set()
    for uid in user_ids:
        match = _EMAIL_RE.search(uid)
        if match:
            emails.add(match.group(1).lower())
        elif "@" in uid and " " not in uid.strip():
            emails.add(uid.strip().lower())
    return emails


def add_keys(user: Any, keytext: Any) -> list[SigningKey]:
    """POST /pks/add: store (or update) the public keys in ``keytext`` for this uploader."""
    if user is None or not user.is_authenticated:
        raise NotAuthenticated("a token is required to push keys: log in with `apptainer remote login`")
    if not isinstance(keytext, str) or not keytext.strip():
        raise InvalidInput("keytext is required")
    if len(keytext) > int(library_settings.KEYSERVER_MAX_KEY_BYTES):
        raise PayloadTooLarge(f"key text larger than {library_settings.KEYSERVER_MAX_KEY_BYTES} bytes")
    try:
        parsed = parse_public_keys(keytext.encode())
    except KeyParseError as exc:
        raise InvalidInput(str(exc)) from None
    for key in parsed:
        _check_allowed(user, key)
    return [_store(user, key) for key in parsed]


def _check_allowed(user: Any, key: ParsedKey) -> None:
    existing = SigningKey.objects.filter(fingerprint=key.fingerprint).first()
    if existing is not None and existing.uploaded_by_id not in (None, user.pk) and not user.is_staff:
        raise Forbidden(f"key {key.fingerprint.upper()} was uploaded by another user")
    if library_settings.KEYSERVER_REQUIRE_VERIFIED_EMAIL and not user.is_staff:
        emails = _uid_emails(key.user_ids)
        allowed = verified_emails(user)
        if not emails or not emails <= allowed:
            raise Forbidden(
                "every user ID of the key must carry one of your verified e-mail addresses "
                f"({', '.join(sorted(allowed)) or 'none verified'})"
            )
    if existing is None:
        limit = int(library_settings.KEYSERVER_MAX_KEYS_PER_USER)
        if SigningKey.objects.filter(uploaded_by=user).count() >= limit:
            raise Forbidden(f"you have reached the limit of {limit} keys")


def _store(user: Any, key: ParsedKey) -> SigningKey:
    with transaction.atomic():
        stored, created = SigningKey.objects.select_for_update().get_or_create(
            fingerprint=key.fingerprint,
            defaults={"armored": key.armored, "uploaded_by": user},
        )
        if not created:
            # Merge, so that a re-push adds user IDs, subkeys or a revocation, never drops them.
            import pysequoia

            merged = pysequoia.Cert.from_bytes(stored.armored.encode()).merge(
                pysequoia.Cert.from_bytes(key.armored.encode())
            )
            key = parse_public_keys(str(merged).encode())[0]
        stored.armored = key.armored
        stored.algorithm = key.algorithm
        stored.bits = key.bits
        stored.key_created_at = key.created_at
        stored.expires_at = key.expires_at
        stored.revoked = key.revoked
        if stored.uploaded_by_id is None:
            stored.uploaded_by = user
        stored.save()
        stored.key_ids.all().delete()
        SigningKeyId.objects.bulk_create(
            [
                SigningKeyId(signing_key=stored, key_id=kid, fingerprint=fp)
                for kid, fp in zip(key.key_ids, [key.fingerprint, *key.subkey_fingerprints], strict=False)
            ]
        )
        stored.user_ids.all().delete()
        SigningKeyUserId.objects.bulk_create(
            [SigningKeyUserId(signing_key=stored, user_id=u[:512]) for u in key.user_ids]
        )
        audit.record(
            audit.KEY_ADD if created else audit.KEY_UPDATE,
            stored,
            actor=user,
            detail={"user_ids": [u[:200] for u in key.user_ids[:10]], "revoked": key.revoked},
        )
    logger.info("key %s %s by user id %s", key.fingerprint, "added" if created else "updated", user.pk)
    return stored


def _by_hex(hex_digits: str) -> QuerySet[SigningKey]:
    """Key IDs arrive without zero padding (spec 7): 1-16 digits are a (short) key ID,
    32 or 40 a fingerprint."""
    h = hex_digits.lower()
    if len(h) == 40:
        return SigningKey.objects.filter(Q(fingerprint=h) | Q(key_ids__fingerprint=h)).distinct()
    if len(h) <= 16:
        if len(h) == 8:
            return SigningKey.objects.filter(key_ids__key_id__endswith=h).distinct()
        return SigningKey.objects.filter(key_ids__key_id=h.rjust(16, "0")).distinct()
    return SigningKey.objects.none()


def find_keys(search: Any, *, exact: bool = False) -> QuerySet[SigningKey]:
    if not isinstance(search, str) or not search.strip():
        raise InvalidInput("search is required")
    search = search.strip()
    if len(search) > 256:
        raise InvalidInput("search is longer than 256 characters")
    match = _HEX_RE.match(search)
    if match and (search.lower().startswith("0x") or len(search) in (8, 16, 40)):
        return _by_hex(match.group(1))
    if len(search) < 3:
        raise InvalidInput("search text must be at least 3 characters")
    uid = Q(user_ids__user_id__iexact=search) if exact else Q(user_ids__user_id__icontains=search)
    return SigningKey.objects.filter(uid).distinct()


def get_armored(search: Any, *, exact: bool = False) -> str:
    limit = int(library_settings.KEYSERVER_MAX_RESULTS)
    keys = list(find_keys(search, exact=exact).order_by("-created_at")[:limit])
    if not keys:
        raise NotFound("no matching keys found")
    return "\n".join(k.armored.strip() for k in keys) + "\n"


def _escape(value: str) -> str:
    return "".join(c if c.isalnum() or c in " .@-_<>()+" else f"%{ord(c):02X}" for c in value)


def _unix(value: Any) -> str:
    return str(int(value.timestamp())) if value else ""


def index(search: Any, *, exact: bool = False) -> str:
    """The HKP machine-readable index (``options=mr``) that ``apptainer key search`` parses."""
    limit = int(library_settings.KEYSERVER_MAX_RESULTS)
    keys = list(find_keys(search, exact=exact).prefetch_related("user_ids").order_by("-created_at")[:limit])
    if not keys:
        raise NotFound("no matching keys found")
    lines = [f"info:1:{len(keys)}"]
    for key in keys:
        flags = "r" if key.revoked else ""
        lines.append(
            f"pub:{key.fingerprint.upper()}:{key.algorithm}:{key.bits}:{_unix(key.key_created_at)}:"
            f"{_unix(key.expires_at)}:{flags}"
        )
        for uid in key.user_ids.all():
            lines.append(f"uid:{_escape(uid.user_id)}:{_unix(key.key_created_at)}::")
    return "\n".join(lines) + "\n"


def keys_for_fingerprints(fingerprints: list[str]) -> dict[str, SigningKey]:
    """Known keys by signer fingerprint (primary or subkey), to link images to their signers."""
    if not fingerprints:
        return {}
    rows = (
        SigningKeyId.objects.filter(fingerprint__in=[f.lower() for f in fingerprints])
        .select_related("signing_key__uploaded_by")
        .prefetch_related("signing_key__user_ids")
    )
    return {r.fingerprint: r.signing_key for r in rows}
