"""HKP must live at the host root: the key client drops any path of the keyserver URL."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("pks/lookup", views.lookup, name="pks-lookup"),
    path("pks/add", views.add, name="pks-add"),
]
