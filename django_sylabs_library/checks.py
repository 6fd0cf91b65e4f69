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
    part = library_settings.MULTIPART_PART_SIZE
    if not isinstance(part, int) or part < 5 * 1024 * 1024:
        messages.append(
            Error(
                "SYLABS_LIBRARY['MULTIPART_PART_SIZE'] must be an integer of at least 5 MiB",
                id="django_sylabs_library.E003",
            )
        )
    return messages
