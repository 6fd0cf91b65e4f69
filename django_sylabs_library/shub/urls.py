from __future__ import annotations

from django.urls import re_path

from . import views

# Any character, newlines included (``<path:>`` stops at one and the request would fall through
# to the host site's HTML 404): the view validates the reference and answers in the envelope.
urlpatterns = [
    re_path(r"^api/container/(?P<name>(?s:.+))$", views.manifest, name="shub-manifest"),
    re_path(r"^(?P<entity>[^/]+)/api/container/(?P<name>(?s:.+))$", views.manifest, name="shub-manifest-entity"),
]
