from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("api/container/<path:name>", views.manifest, name="shub-manifest"),
    path("<str:entity>/api/container/<path:name>", views.manifest, name="shub-manifest-entity"),
]
