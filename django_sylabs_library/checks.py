"""System checks (ids ``django_sylabs_library.E0xx`` / ``W0xx``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from .conf import library_settings

    messages: list[Any] = []
    try:
        library_settings.reload()
        library_settings.user_settings  # noqa: B018 (validates the keys)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="django_sylabs_library.E001")]
    backends = getattr(settings, "AUTHENTICATION_BACKENDS", [])
    if "guardian.backends.ObjectPermissionBackend" not in backends:
        messages.append(
            Warning(
                "guardian's ObjectPermissionBackend is not in AUTHENTICATION_BACKENDS",
                hint="Add 'guardian.backends.ObjectPermissionBackend' so collaborator grants apply "
                "in the admin and in user.has_perm().",
                id="django_sylabs_library.W001",
            )
        )
    alias = library_settings.STORAGE_ALIAS
    if alias and alias not in getattr(settings, "STORAGES", {}):
        messages.append(
            Warning(
                f"SYLABS_LIBRARY['STORAGE_ALIAS'] names {alias!r}, which is not in STORAGES; "
                "images go to the default storage",
                hint=f"Add STORAGES[{alias!r}] (see docs/settings.md).",
                id="django_sylabs_library.W002",
            )
        )
    public = library_settings.PUBLIC_URL
    if public and not str(public).startswith(("http://", "https://")):
        messages.append(
            Error(
                "SYLABS_LIBRARY['PUBLIC_URL'] must start with http:// or https://",
                id="django_sylabs_library.E002",
            )
        )
    messages += _storage_messages()
    messages += _limit_messages()
    part = library_settings.MULTIPART_PART_SIZE
    if not isinstance(part, int) or part < 5 * 1024 * 1024:
        messages.append(
            Error(
                "SYLABS_LIBRARY['MULTIPART_PART_SIZE'] must be an integer of at least 5 MiB",
                id="django_sylabs_library.E003",
            )
        )
    return messages


def _storage_messages() -> list[Any]:
    """Bad storage and transfer settings, found without connecting to anything."""
    from .conf import library_settings

    messages: list[Any] = []
    mode = library_settings.DOWNLOAD_MODE
    legacy = library_settings.LEGACY_CLIENT_DOWNLOAD_MODE
    for name, value in (("DOWNLOAD_MODE", mode), ("LEGACY_CLIENT_DOWNLOAD_MODE", legacy)):
        if value not in (None, "presigned", "proxy", "stream"):
            messages.append(
                Error(
                    f"SYLABS_LIBRARY['{name}'] must be None, 'presigned', 'proxy' or 'stream', not {value!r}",
                    id="django_sylabs_library.E004",
                )
            )
    sendfile = library_settings.SENDFILE_MODE
    if sendfile not in (None, "x-accel-redirect", "x-sendfile"):
        messages.append(
            Error(
                f"SYLABS_LIBRARY['SENDFILE_MODE'] must be None, 'x-accel-redirect' or 'x-sendfile', not {sendfile!r}",
                id="django_sylabs_library.E005",
            )
        )
    if library_settings.UPLOAD_READER not in ("auto", "wsgi"):
        messages.append(
            Error("SYLABS_LIBRARY['UPLOAD_READER'] must be 'auto' or 'wsgi'", id="django_sylabs_library.E006")
        )
    for name in ("S3_EXTERNAL_ENDPOINT_URL",):
        value = getattr(library_settings, name)
        if value and not str(value).startswith(("http://", "https://")):
            messages.append(
                Error(f"SYLABS_LIBRARY['{name}'] must start with http:// or https://", id="django_sylabs_library.E007")
            )

    # The storage itself: the backend class and options, read from settings.STORAGES (instantiating a
    # django-storages backend does not connect, but reading its options is enough and cheaper).
    alias = library_settings.STORAGE_ALIAS
    config = getattr(settings, "STORAGES", {}).get(alias) or getattr(settings, "STORAGES", {}).get("default") or {}
    backend = str(config.get("BACKEND", ""))
    options = config.get("OPTIONS") or {}
    from .s3 import s3_storage_class

    s3_backend = "storages.backends.s3" in backend
    if s3_backend:
        cls = s3_storage_class()
        if cls is None:
            messages.append(
                Error(
                    f"STORAGES[{alias!r}] uses {backend}, but django-storages[s3] is not installed",
                    hint="pip install 'django-sylabs-library[s3]'",
                    id="django_sylabs_library.E010",
                )
            )
        else:
            bucket = options.get("bucket_name") or getattr(settings, "AWS_STORAGE_BUCKET_NAME", None)
            if not bucket:
                messages.append(
                    Error(
                        f"STORAGES[{alias!r}] is an S3 storage without a bucket",
                        hint="Set OPTIONS['bucket_name'] (or AWS_STORAGE_BUCKET_NAME).",
                        id="django_sylabs_library.E011",
                    )
                )
            access = options.get("access_key") or getattr(settings, "AWS_S3_ACCESS_KEY_ID", None)
            access = access or getattr(settings, "AWS_ACCESS_KEY_ID", None)
            secret = options.get("secret_key") or getattr(settings, "AWS_S3_SECRET_ACCESS_KEY", None)
            secret = secret or getattr(settings, "AWS_SECRET_ACCESS_KEY", None)
            import os

            env_keys = os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_S3_ACCESS_KEY_ID")
            profile = options.get("session_profile") or os.environ.get("AWS_S3_SESSION_PROFILE")
            if bool(access) != bool(secret):
                messages.append(
                    Error(
                        f"STORAGES[{alias!r}] has only one of access_key and secret_key",
                        id="django_sylabs_library.E012",
                    )
                )
            elif not access and not env_keys and not profile and options.get("endpoint_url"):
                messages.append(
                    Warning(
                        f"STORAGES[{alias!r}] names an S3 endpoint but no credentials",
                        hint="Set OPTIONS access_key/secret_key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; "
                        "only AWS itself offers instance roles.",
                        id="django_sylabs_library.W010",
                    )
                )
            if options.get("querystring_auth") is False:
                messages.append(
                    Error(
                        f"STORAGES[{alias!r}] has querystring_auth=False: presigned URLs are needed for uploads",
                        id="django_sylabs_library.E013",
                    )
                )
            if options.get("custom_domain"):
                messages.append(
                    Warning(
                        f"STORAGES[{alias!r}] sets custom_domain, which this app does not use for presigned URLs",
                        hint="Set SYLABS_LIBRARY['S3_EXTERNAL_ENDPOINT_URL'] to the address clients reach.",
                        id="django_sylabs_library.W011",
                    )
                )
    else:
        if mode == "presigned" or legacy == "presigned":
            messages.append(
                Error(
                    "download mode 'presigned' needs an S3 storage (django-storages S3Storage); "
                    f"STORAGES[{alias!r}] is {backend or 'not set'}",
                    hint="Use 'stream' (or 'proxy') with a filesystem storage.",
                    id="django_sylabs_library.E014",
                )
            )
        if library_settings.S3_EXTERNAL_ENDPOINT_URL:
            messages.append(
                Warning(
                    "S3_EXTERNAL_ENDPOINT_URL is set but the image storage is not an S3 storage",
                    id="django_sylabs_library.W012",
                )
            )
    if sendfile and s3_backend:
        messages.append(
            Error(
                "SENDFILE_MODE needs a filesystem storage; the image storage is S3",
                id="django_sylabs_library.E015",
            )
        )
    if library_settings.METRICS_ENABLED:
        try:
            import prometheus_client  # noqa: F401
        except ImportError:
            messages.append(
                Error(
                    "METRICS_ENABLED needs prometheus-client",
                    hint="pip install 'django-sylabs-library[metrics]'",
                    id="django_sylabs_library.E016",
                )
            )
    return messages


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _limit_messages() -> list[Any]:
    """Quotas, presigned URL lifetime and rate limits (docs/limits.md)."""
    import ipaddress

    from .api.throttling import SCOPES, parse_rate
    from .conf import library_settings

    messages: list[Any] = []
    expiry = library_settings.PRESIGNED_URL_EXPIRY_SECONDS
    if not _is_int(expiry) or not 1 <= expiry <= 900:
        messages.append(
            Error(
                f"SYLABS_LIBRARY['PRESIGNED_URL_EXPIRY_SECONDS'] must be an integer from 1 to 900, not {expiry!r}",
                hint="Presigned store URLs must expire within 15 minutes; longer downloads can use "
                "DOWNLOAD_MODE 'proxy', whose URLs follow DOWNLOAD_URL_EXPIRY_SECONDS.",
                id="django_sylabs_library.E020",
            )
        )
    quota = library_settings.DEFAULT_ENTITY_QUOTA
    if quota is not None and (not _is_int(quota) or quota < 0):
        messages.append(
            Error(
                f"SYLABS_LIBRARY['DEFAULT_ENTITY_QUOTA'] must be None or a number of bytes >= 0, not {quota!r}",
                id="django_sylabs_library.E021",
            )
        )
    rates = library_settings.RATE_LIMITS
    if not isinstance(rates, dict):
        messages.append(Error("SYLABS_LIBRARY['RATE_LIMITS'] must be a dict", id="django_sylabs_library.E022"))
        rates = {}
    for scope, rate in rates.items():
        problem = None
        if scope not in SCOPES:
            problem = f"unknown scope {scope!r} (scopes: {', '.join(SCOPES)})"
        else:
            try:
                parse_rate(rate)
            except ValueError as exc:
                problem = str(exc)
        if problem:
            messages.append(Error(f"SYLABS_LIBRARY['RATE_LIMITS']: {problem}", id="django_sylabs_library.E022"))
    proxies = library_settings.RATE_LIMIT_NUM_PROXIES
    if proxies is not None and (not _is_int(proxies) or proxies < 0):
        messages.append(
            Error(
                f"SYLABS_LIBRARY['RATE_LIMIT_NUM_PROXIES'] must be None or an integer >= 0, not {proxies!r}",
                id="django_sylabs_library.E024",
            )
        )
    networks = library_settings.RATE_LIMIT_EXEMPT_NETWORKS or []
    for network in networks if isinstance(networks, (list, tuple)) else [networks]:
        try:
            ipaddress.ip_network(network, strict=False)
        except (TypeError, ValueError):
            messages.append(
                Error(
                    f"SYLABS_LIBRARY['RATE_LIMIT_EXEMPT_NETWORKS']: {network!r} is not a network like '10.0.0.0/8'",
                    id="django_sylabs_library.E025",
                )
            )
    if rates:
        alias = library_settings.RATE_LIMIT_CACHE
        cache = getattr(settings, "CACHES", {}).get(alias)
        if cache is None:
            messages.append(
                Error(
                    f"SYLABS_LIBRARY['RATE_LIMIT_CACHE'] names {alias!r}, which is not in CACHES",
                    id="django_sylabs_library.E023",
                )
            )
        else:
            backend = str(cache.get("BACKEND", ""))
            if backend.endswith("DummyCache"):
                messages.append(
                    Warning(
                        f"rate limits are on but CACHES[{alias!r}] is a DummyCache: nothing is ever counted",
                        hint="Use a shared cache (Redis, Memcached or DatabaseCache) for RATE_LIMIT_CACHE.",
                        id="django_sylabs_library.W020",
                    )
                )
            elif backend.endswith(("LocMemCache", "FileBasedCache")):
                messages.append(
                    Warning(
                        f"rate limits are on but CACHES[{alias!r}] ({backend.rsplit('.', 1)[-1]}) is not shared "
                        "between servers" + (" or worker processes" if backend.endswith("LocMemCache") else ""),
                        hint="Each process then counts on its own, so the limits are multiplied by the number "
                        "of workers. Use Redis, Memcached or DatabaseCache for RATE_LIMIT_CACHE.",
                        id="django_sylabs_library.W021",
                    )
                )
    return messages
