"""URLs of the example project: allauth, the admin, and the library mounted at the site root."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    # Last: the library owns "/", "/version", "/v1/...", "/v2/...", "/assets/config/config.prod.json", ...
    path("", include("django_sylabs_library.urls")),
]
