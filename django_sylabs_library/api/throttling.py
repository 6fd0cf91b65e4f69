"""Opt-in rate limits of the Library API (docs/limits.md), on DRF's ``SimpleRateThrottle``.

``SYLABS_LIBRARY["RATE_LIMITS"]`` names a rate per scope; an empty dict (the default) turns
rate limiting off. Scopes:

* ``anon``: requests without a valid token, counted per client IP address;
* ``user``: requests with a token (or a session), counted per user, from any address;
* ``push``: the requests that start an upload (``POST v1/imagefile``, ``POST v2/imagefile``,
  ``POST v2/imagefile/_multipart``), per user, on top of ``user``.

The upload and download URLs the app hands out (``_upload``, ``_part``, ``_download``) are never
limited: they are single-use or short-lived capabilities issued by a request that was counted,
and refusing one would break a push or a concurrent download half-way.

The client IP is the socket's address unless ``RATE_LIMIT_NUM_PROXIES`` says how many reverse
proxies append to ``X-Forwarded-For`` (DRF's ``NUM_PROXIES`` semantics; unlike DRF, None ignores
the header, which any client can forge). Requests from ``RATE_LIMIT_EXEMPT_NETWORKS`` (loopback
by default) are never limited: behind a proxy whose count is not configured every request
seems to come from 127.0.0.1, and then nothing is limited rather than everything.

Counters live in the cache ``RATE_LIMIT_CACHE``; it must be shared by all workers (Redis,
Memcached, the database cache). A system check warns about per-process caches.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from functools import lru_cache
from typing import Any

from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from ..conf import library_settings

logger = logging.getLogger(__name__)

SCOPES = ("anon", "user", "push")
RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_rate(rate: Any) -> tuple[int, int]:
    """``"100/min"`` -> ``(100, 60)``; raises ValueError for anything else."""
    match = RATE_RE.match(rate) if isinstance(rate, str) else None
    if match is None:
        raise ValueError(f"{rate!r} is not a rate like '100/min' (period s, min, hour or day)")
    return int(match.group(1)), {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)[0]]


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def exempt_networks() -> tuple[Network, ...]:
    return _networks(tuple(library_settings.RATE_LIMIT_EXEMPT_NETWORKS or ()))


def client_ip(request: Any) -> str:
    """The client's address: ``REMOTE_ADDR``, or the entry of ``X-Forwarded-For`` added by the
    outermost of ``RATE_LIMIT_NUM_PROXIES`` trusted proxies."""
    meta = request.META
    remote = meta.get("REMOTE_ADDR", "") or ""
    proxies = library_settings.RATE_LIMIT_NUM_PROXIES
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if not proxies or not forwarded:
        return remote
    addresses = [a.strip() for a in forwarded.split(",")]
    return addresses[-min(int(proxies), len(addresses))] or remote


def is_exempt(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in exempt_networks())


class LibraryThrottle(SimpleRateThrottle):
    """A scope of ``RATE_LIMITS``, counted in ``RATE_LIMIT_CACHE``."""

    scope = "anon"
    cache_format = "sylabs_library_throttle_%(scope)s_%(ident)s"

    def __init__(self) -> None:
        self.rate = self.get_rate()
        self.num_requests, self.duration = parse_rate(self.rate) if self.rate else (None, None)

    @property
    def cache(self) -> Any:  # type: ignore[override]
        return caches[library_settings.RATE_LIMIT_CACHE]

    def get_rate(self) -> str | None:
        return (library_settings.RATE_LIMITS or {}).get(self.scope)

    def ident(self, request: Any) -> str | None:
        """Who is counted: the user's id, or the client IP for anonymous requests."""
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"u{user.pk}"
        return f"ip{client_ip(request)}"

    def applies(self, request: Any) -> bool:
        return True

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if not self.applies(request) or is_exempt(client_ip(request)):
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.ident(request)}

    def throttle_failure(self) -> bool:
        logger.info("rate limit %s (%s) reached by %s", self.scope, self.rate, self.key)
        return False


class AnonThrottle(LibraryThrottle):
    scope = "anon"

    def applies(self, request: Any) -> bool:
        user = getattr(request, "user", None)
        return user is None or not user.is_authenticated


class UserThrottle(LibraryThrottle):
    scope = "user"

    def applies(self, request: Any) -> bool:
        user = getattr(request, "user", None)
        return user is not None and user.is_authenticated


class PushThrottle(LibraryThrottle):
    scope = "push"


def throttles_for(view: Any, request: Any) -> list[LibraryThrottle]:
    """The throttles of one API request (none when ``RATE_LIMITS`` is empty).

    Views set ``rate_limited = False`` (capability URLs) or ``push_methods`` (the methods that
    start an upload)."""
    rates = library_settings.RATE_LIMITS or {}
    if not rates or not getattr(view, "rate_limited", True):
        return []
    throttles: list[LibraryThrottle] = []
    for cls in (AnonThrottle, UserThrottle):
        if cls.scope in rates:
            throttles.append(cls())
    if "push" in rates and request.method in getattr(view, "push_methods", ()):
        throttles.append(PushThrottle())
    return throttles
