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
        "health",
        "metrics",
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
    # Bytes read from the request per call while streaming an upload (also the size of each of
    # the buffers that the fast reader fills from the socket, see UPLOAD_READER).
    "UPLOAD_CHUNK_SIZE": 1024 * 1024,
    # How upload bodies that pass through Django are read. "auto": under gunicorn, straight from
    # the client socket into large buffers, with hashing and writing in a second thread
    # (flows/bodyreader.py; several times fewer system calls and copies than wsgi.input);
    # elsewhere, and for bodies without Content-Length, from wsgi.input. "wsgi": always
    # wsgi.input.
    "UPLOAD_READER": "auto",
    # Bytes per read when streaming a download without sendfile.
    "DOWNLOAD_CHUNK_SIZE": 1024 * 1024,
    # How GET v1/imagefile/<ref> hands out the bytes (spec 5.1; docs/deployment.md):
    #   "stream":    200 with the bytes through Django (sendfile for files on local disk). Works
    #                with every client version; Range and ETag are honoured.
    #   "presigned": 303 to a presigned GET on the object store (S3 storages only): bytes never
    #                pass through Django, the client downloads with concurrent ranged requests.
    #   "proxy":     303 to our own short-lived, token-free URL (same host) that serves ranges
    #                from the store: concurrent ranged downloads, and no trouble with clients
    #                that send their token to the 303 target (Apptainer 1.1 on AWS S3/MinIO).
    # None: "presigned" on an S3 storage, "stream" otherwise.
    "DOWNLOAD_MODE": None,
    # Download mode for requests whose Authorization scheme is spelled "BEARER" (the clients of
    # Apptainer 1.0 and 1.1). Apptainer 1.1 sends that header to any 303 target, and AWS S3,
    # MinIO and Ceph refuse a presigned URL that also carries Authorization: set "proxy" (or
    # "stream") there. None: the same as DOWNLOAD_MODE.
    "LEGACY_CLIENT_DOWNLOAD_MODE": None,
    # Lifetime of presigned and proxy download URLs, in seconds. The client fetches the parts of
    # one download over the whole transfer, so this must outlast the slowest download.
    "DOWNLOAD_URL_EXPIRY_SECONDS": 3600,
    # Filesystem storages behind nginx or Apache: let the web server send the file.
    #   None:               Django sends it (sendfile through wsgi.file_wrapper under gunicorn).
    #   "x-accel-redirect": answer with X-Accel-Redirect: SENDFILE_URL_PREFIX + blob name, for an
    #                       nginx `internal` location whose alias is the storage's location.
    #   "x-sendfile":       answer with X-Sendfile: <absolute path> (Apache mod_xsendfile,
    #                       lighttpd).
    "SENDFILE_MODE": None,
    # URL prefix of nginx's internal location for SENDFILE_MODE "x-accel-redirect".
    "SENDFILE_URL_PREFIX": "/_sylabs_library_blobs/",
    # S3 storages: the endpoint that clients use for presigned URLs, when it differs from the
    # one the app uses (the storage's own endpoint_url / AWS_S3_ENDPOINT_URL), e.g. an internal
    # http://seaweedfs:8333 for the app and https://s3.example.org for clients. The presigned
    # URL signs the host, so this must be exactly what clients connect to. None: the storage's.
    "S3_EXTERNAL_ENDPOINT_URL": None,
    # S3 storages: key prefix (inside the storage's location) of uploads in progress; finished,
    # verified uploads are copied to blobs/sha256/.. and the temporary object is deleted.
    "S3_UPLOAD_PREFIX": "uploads/",
    # sylabs_library_gc's default --grace (flows/maintenance.py): an upload whose URL expired, or
    # that was idle, more than this many seconds ago is aborted and its temporary file or object
    # deleted; stray temporaries and orphan blobs older than this are removed (the grace lets a
    # PUT that started just before the expiry finish).
    "UPLOAD_GC_GRACE_SECONDS": 3600,
    # sylabs_library_gc deletes the rows of finished upload sessions (completed, aborted) older
    # than this many days; they only serve a repeated _complete. None keeps them forever.
    "UPLOAD_SESSION_RETENTION_DAYS": 7,
    # Prometheus metrics at <mount>/metrics (needs prometheus-client: the [metrics] extra).
    # With several gunicorn workers set PROMETHEUS_MULTIPROC_DIR (docs/deployment.md).
    "METRICS_ENABLED": False,
    # When set, /metrics requires "Authorization: Bearer <METRICS_TOKEN>".
    "METRICS_TOKEN": None,
    # <mount>/health also checks that the image storage answers (an S3 HeadBucket, or the
    # storage folder being writable). False: database only.
    "HEALTH_CHECK_STORAGE": True,
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
    # Quotas (docs/limits.md): bytes each entity's images may use when its own quota is 0.
    # 0 or None: no limit. An entity's positive quota overrides it; a negative one means unlimited.
    "DEFAULT_ENTITY_QUOTA": 0,
    # Lifetime of presigned URLs of the object store (uploads, parts, downloads), in seconds;
    # at most 900 (a system check refuses more, and S3 URLs are never signed for longer).
    "PRESIGNED_URL_EXPIRY_SECONDS": 900,
    # Rate limits of the API (docs/limits.md), off when empty: {scope: "N/period"} with scopes
    # "anon" (per client IP), "user" (per user) and "push" (upload starts, per user), period
    # s, min, hour or day. E.g. {"anon": "300/min", "user": "1200/min", "push": "60/hour"}.
    "RATE_LIMITS": {},
    # Cache alias (settings.CACHES) holding the rate-limit counters; must be shared by all workers.
    "RATE_LIMIT_CACHE": "default",
    # Reverse proxies in front of Django whose X-Forwarded-For to trust for the client IP (DRF's
    # NUM_PROXIES). None: the socket's address (REMOTE_ADDR), X-Forwarded-For ignored.
    "RATE_LIMIT_NUM_PROXIES": None,
    # Client networks never rate-limited (CIDR strings).
    "RATE_LIMIT_EXEMPT_NETWORKS": ["127.0.0.0/8", "::1/128"],
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
