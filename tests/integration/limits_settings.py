"""The example project with quotas' and rate limits' counterparts switched on, for test_limits.py.

Rate limits count in the database cache (shared by gunicorn's workers, as docs/limits.md asks);
the test client runs on loopback, so the default loopback exemption is turned off here.
"""

from example_project.settings import *  # noqa: F403
from example_project.settings import SYLABS_LIBRARY as _BASE

SYLABS_LIBRARY = {
    **_BASE,
    "RATE_LIMITS": {"anon": "5/min"},
    "RATE_LIMIT_CACHE": "ratelimits",
    "RATE_LIMIT_EXEMPT_NETWORKS": [],
}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ratelimits": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "sylabs_ratelimits"},
}
