from __future__ import annotations

from django.apps import AppConfig


class SylabsLibraryConfig(AppConfig):
    name = "django_sylabs_library"
    verbose_name = "Container library"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, receivers  # noqa: F401  (registers checks and signal receivers)
