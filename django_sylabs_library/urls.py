"""Everything the app serves. A host site mounts it with ``path("", include(...))``.

``api_urlpatterns`` (the Library API), ``ops_urlpatterns`` (``health`` and ``metrics``), ``keyserver_urlpatterns`` (HKP, which must sit at the
host root), ``shub_urlpatterns`` and ``web_urlpatterns`` (pages for people) can also be mounted
separately.
"""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import __version__, ops
from .api.urls import urlpatterns as api_urlpatterns
from .keyserver.urls import urlpatterns as keyserver_urlpatterns
from .shub.urls import urlpatterns as shub_urlpatterns
from .web.urls import urlpatterns as web_urlpatterns

app_name = "django_sylabs_library"

schema_urlpatterns = [
    path(
        "api/schema",
        SpectacularAPIView.as_view(
            urlconf=[path("", include(api_urlpatterns))],
            custom_settings={
                "TITLE": "Sylabs Library API",
                "DESCRIPTION": "The Library API spoken by `apptainer` and `singularity` (library://).",
                "VERSION": __version__,
            },
        ),
        name="schema",
    ),
    path("api", SpectacularSwaggerView.as_view(url_name="django_sylabs_library:schema"), name="api-docs"),
]

ops_urlpatterns = [
    path("health", ops.health, name="health"),
    path("metrics", ops.metrics_view, name="metrics"),
]

urlpatterns = [
    *ops_urlpatterns,
    *api_urlpatterns,
    *keyserver_urlpatterns,
    *shub_urlpatterns,
    *schema_urlpatterns,
    *web_urlpatterns,
]
