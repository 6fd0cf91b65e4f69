"""Prometheus metrics of requests and transfers, off by default (``METRICS_ENABLED``).

Needs ``prometheus-client`` (``pip install django-sylabs-library[metrics]``). Every function
here is a no-op while metrics are off, so the flows call them unconditionally. Under gunicorn
with several workers, set the environment variable ``PROMETHEUS_MULTIPROC_DIR`` to an empty
folder before the workers start: each worker then writes its numbers there and ``/metrics``
adds them up (prometheus-client's multiprocess mode; docs/deployment.md).

Metric names (all prefixed ``sylabs_library_``):

``requests_total{view,method,status}``            Library API requests answered
``request_duration_seconds{view,method}``         their latency (histogram)
``upload_bytes_total{path}``                      image bytes received through the app (``app``)
``upload_verifications_total{backend}``           uploads verified (size and SHA-256)
``upload_verification_seconds{backend}``          time spent verifying (histogram)
``upload_failures_total{backend}``                uploads refused or interrupted
``download_responses_total{mode}``                downloads answered, by mode (stream, presigned,
                                                  proxy, x-accel-redirect, x-sendfile, not-modified)
``download_bytes_total{mode}``                    bytes the app itself sends (stream and proxy)
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .conf import library_settings

_lock = threading.Lock()
_metrics: dict[str, Any] | None = None


def enabled() -> bool:
    return bool(library_settings.METRICS_ENABLED)


def _get() -> dict[str, Any] | None:
    global _metrics
    if not enabled():
        return None
    if _metrics is None:
        with _lock:
            if _metrics is None:
                try:
                    from prometheus_client import Counter, Histogram
                except ImportError:
                    return None
                buckets = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
                _metrics = {
                    "requests": Counter(
                        "sylabs_library_requests", "Library API requests", ["view", "method", "status"]
                    ),
                    "latency": Histogram(
                        "sylabs_library_request_duration_seconds",
                        "Library API request latency",
                        ["view", "method"],
                        buckets=buckets,
                    ),
                    "upload_bytes": Counter(
                        "sylabs_library_upload_bytes", "Image bytes received through the app", ["path"]
                    ),
                    "verified": Counter(
                        "sylabs_library_upload_verifications", "Uploads verified (size and SHA-256)", ["backend"]
                    ),
                    "verify_seconds": Histogram(
                        "sylabs_library_upload_verification_seconds",
                        "Time spent verifying uploads",
                        ["backend"],
                        buckets=buckets,
                    ),
                    "failed": Counter("sylabs_library_upload_failures", "Uploads refused or interrupted", ["backend"]),
                    "downloads": Counter("sylabs_library_download_responses", "Downloads answered", ["mode"]),
                    "download_bytes": Counter(
                        "sylabs_library_download_bytes", "Image bytes sent by the app itself", ["mode"]
                    ),
                }
    return _metrics


def observe_request(view: str, method: str, status: int, seconds: float) -> None:
    m = _get()
    if m is not None:
        m["requests"].labels(view, method, str(status)).inc()
        m["latency"].labels(view, method).observe(seconds)


def upload_bytes(path: str, count: int) -> None:
    m = _get()
    if m is not None and count:
        m["upload_bytes"].labels(path).inc(count)


def upload_verified(backend: str, size: int, seconds: float) -> None:
    m = _get()
    if m is not None:
        m["verified"].labels(backend).inc()
        m["verify_seconds"].labels(backend).observe(seconds)


def upload_failed(backend: str) -> None:
    m = _get()
    if m is not None:
        m["failed"].labels(backend).inc()


def download(mode: str, count: int = 0) -> None:
    m = _get()
    if m is not None:
        m["downloads"].labels(mode).inc()
        if count:
            m["download_bytes"].labels(mode).inc(count)


def exposition() -> tuple[bytes, str]:
    """The text format of every metric (all workers' in multiprocess mode)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    _get()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
