"""Operations endpoints: ``health`` for load balancers and ``metrics`` for Prometheus.

``GET <mount>/health`` answers 200 ``{"status": "ok", "database": "ok", "storage": "ok"}`` when
the database answers a query and the image storage is reachable (``HEALTH_CHECK_STORAGE``),
else 503 with the failing part named (details only in the log). No authentication, no
sessions, nothing cached. ``GET <mount>/metrics`` is 404 unless ``METRICS_ENABLED``.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from . import metrics
from .conf import library_settings
from .storage import check_storage

logger = logging.getLogger(__name__)


@csrf_exempt
@never_cache
@require_GET
def health(request: Any) -> JsonResponse:
    answer = {"status": "ok", "database": "ok", "storage": "ok" if library_settings.HEALTH_CHECK_STORAGE else "skipped"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        logger.exception("health: database check failed")
        answer["database"] = "error"
    if library_settings.HEALTH_CHECK_STORAGE:
        try:
            check_storage()
        except Exception:  # noqa: BLE001
            logger.exception("health: storage check failed")
            answer["storage"] = "error"
    healthy = answer["database"] == "ok" and answer["storage"] in ("ok", "skipped")
    if not healthy:
        answer["status"] = "error"
    return JsonResponse(answer, status=200 if healthy else 503)


@csrf_exempt
@never_cache
@require_GET
def metrics_view(request: Any) -> HttpResponse:
    if not metrics.enabled():
        return JsonResponse({"error": {"code": 404, "message": "metrics are disabled"}}, status=404)
    token = library_settings.METRICS_TOKEN
    if token:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), str(token).encode()):
            return JsonResponse({"error": {"code": 401, "message": "metrics token required"}}, status=401)
    try:
        body, content_type = metrics.exposition()
    except ImportError:
        return JsonResponse(
            {"error": {"code": 501, "message": "prometheus-client is not installed"}},
            status=501,
        )
    return HttpResponse(body, content_type=content_type)
