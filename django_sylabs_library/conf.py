"""The one settings object of the app: ``library_settings``.

A host site configures the app with a single dict in its settings::

    SYLABS_LIBRARY = {
        "PUBLIC_URL": "https://containers.example.org",   # behind a TLS proxy
        "DEFAULT_PRIVATE": True,                          # new collections are private
        "STORAGE_ALIAS": "sylabs_library",                # a key of settings.STORAGES
    }

Every key, its default and its meaning is listed in ``DEFAULTS`` below and in docs/settings.md.
Values are read lazily on first access and re-read when ``override_settings`` changes
``SYLABS_LIBRARY`` (the pattern of DRF's ``api_settings``). Unknown keys raise
``ImproperlyConfigured`` so that a typo never silently falls back to a default.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

SETTING_NAME = "SYLABS_LIBRARY"

DEFAULTS: dict[str, Any] = {
    # Origin of the site as clients see it: scheme, host and port (plus a path prefix only when
    # a proxy in front of Django adds one that Django does not see). Our own mount path is
    # appended to it. None: taken from each request, which is right unless a proxy rewrites
    # the host or the scheme.
    "PUBLIC_URL": None,
    # Privacy of new collections when the creator does not ask for private explicitly. The
    # Apptainer client always sends "private": false, so this is how a site makes pushes private.
    "DEFAULT_PRIVATE": False,
    # Entity and collection that short refs resolve to: `library://x` is DEFAULT_ENTITY /
    # DEFAULT_COLLECTION / x, and `library://c/x` is DEFAULT_ENTITY / c / x (falling back to the
    # one visible collection named c in any entity).
    "DEFAULT_ENTITY": "default",
    "DEFAULT_COLLECTION": "default",
    # Architecture assumed for v1 tags (which carry none) when the image's own is unknown.
    "DEFAULT_ARCH": "amd64",
    # Names no entity may take because the site uses them as URL prefixes.
    "RESERVED_NAMES": [
        "admin",
        "api",
        "accounts",
        "auth",
        "v1",
        "v2",
        "pks",
        "assets",
        "static",
        "media",
        "search",
        "version",
        "login",
        "logout",
        "default",
        "library",
        "entities",
        "collections",
        "containers",
        "images",
    ],
    # Storage alias (a key of settings.STORAGES) that holds the image blobs. When the alias is
    # missing, Django's default storage is used.
    "STORAGE_ALIAS": "sylabs_library",
    # Folder for uploads in progress. None: a ".uploads" folder inside the storage's location
    # (same filesystem, so a finished upload is renamed into place, not copied), or the system
    # temp folder for storages without a location.
    "UPLOAD_TEMP_DIR": None,
    # Refuse uploads whose bytes are not a SIF image (Apptainer only ever pushes SIF files;
    # this keeps the library from becoming a general file host).
    "REQUIRE_SIF": True,
    # Largest image accepted, in bytes (None: no limit).
    "MAX_IMAGE_SIZE": None,
    # Upload URLs we issue ourselves are single-use and valid for this many seconds.
    "UPLOAD_URL_EXPIRY_SECONDS": 3600,
    # Part size offered for multipart uploads (the client sends files above 64 MiB in parts).
    "MULTIPART_PART_SIZE": 64 * 1024 * 1024,
    # Offer multipart uploads at all (False: the client falls back to one PUT).
    "MULTIPART_ENABLED": True,
    # Bytes read from the request per call while streaming an upload.
    "UPLOAD_CHUNK_SIZE": 1024 * 1024,
    # Bytes per read when streaming a download without sendfile.
    "DOWNLOAD_CHUNK_SIZE": 1024 * 1024,
    # Largest JSON body accepted by the API (bytes).
    "MAX_JSON_BODY": 64 * 1024,
    # Most results per kind (entity, collection, container, image) returned by v1/search.
    "SEARCH_LIMIT": 100,
    # Template that the app's layout extends: the host site's base template.
    "BASE_TEMPLATE": "django_sylabs_library/standalone_base.html",
    # Prefix of the tokens we issue (helps secret scanners recognise a leaked token).
    "TOKEN_PREFIX": "sylib_",
    # Longest lifetime a user may give a token from the web page, in days (None: unlimited).
    "TOKEN_MAX_EXPIRY_DAYS": None,
    # Keyserver (/pks/add): accept a key only when all its user IDs carry one of the uploader's
    # verified e-mail addresses (allauth's, else the account's e-mail). False accepts any key
    # from any logged-in user.
    "KEYSERVER_REQUIRE_VERIFIED_EMAIL": True,
    # Largest key text accepted by /pks/add, in bytes.
    "KEYSERVER_MAX_KEY_BYTES": 256 * 1024,
    # Most keys one user may upload.
    "KEYSERVER_MAX_KEYS_PER_USER": 50,
    # Most keys returned by one /pks/lookup.
    "KEYSERVER_MAX_RESULTS": 100,
    # Only record a token's last use when the stored time is older than this (saves a write
    # per request).
    "TOKEN_LAST_USED_RESOLUTION_SECONDS": 60,
}


class LibrarySettings:
    """Attribute access to ``SYLABS_LIBRARY`` merged over ``DEFAULTS``, cached until changed."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}
        self._user: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        if self._user is None:
            value = getattr(settings, SETTING_NAME, {}) or {}
            if not isinstance(value, dict):
                raise ImproperlyConfigured(f"{SETTING_NAME} must be a dict")
            unknown = sorted(set(value) - set(DEFAULTS))
            if unknown:
                raise ImproperlyConfigured(
                    f"Unknown {SETTING_NAME} key(s): {', '.join(unknown)}. See docs/settings.md for the valid keys."
                )
            self._user = value
        return self._user

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Invalid {SETTING_NAME} setting: {name!r}")
        if name not in self._cache:
            self._cache[name] = self.user_settings.get(name, DEFAULTS[name])
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()
        self._user = None


library_settings = LibrarySettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        library_settings.reload()


setting_changed.connect(_reload, dispatch_uid="django_sylabs_library.conf.reload")
