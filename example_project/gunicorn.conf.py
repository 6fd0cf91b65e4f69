"""gunicorn settings of the example project: logs that never show an upload secret, token or signature.

    gunicorn -c example_project/gunicorn.conf.py example_project.wsgi:application -b 127.0.0.1:8000 -w 2 --threads 4

Command-line options override what is set here. ``SYLABS_EXAMPLE_ACCESS_LOG_QUERY=1`` keeps query strings in
the access log (redacted: presigned-URL signatures, ``token=``...); the integration tests use it to find
marked requests. Without it the access log shows the path only (search terms are the users' data too).
"""

from __future__ import annotations

import os

# Upload/part/download capability paths, Bearer credentials and secret query values become "REDACTED"
# in the access and error logs (django_sylabs_library/redact.py).
logger_class = "django_sylabs_library.gunicorn_logging.RedactingLogger"

if os.environ.get("SYLABS_EXAMPLE_ACCESS_LOG_QUERY", "").strip().lower() in {"1", "true", "yes", "on"}:
    _request = "%(r)s"  # method, path with query string, protocol
else:
    _request = "%(m)s %(U)s %(H)s"  # method, path without query string, protocol
# gunicorn's default ("combined") format with that request line; no header that can carry a credential.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "' + _request + '" %(s)s %(b)s "%(f)s" "%(a)s"'

# The error log's level follows the app's (SYLABS_EXAMPLE_LOG_LEVEL); at debug gunicorn logs every request path.
loglevel = (os.environ.get("SYLABS_EXAMPLE_LOG_LEVEL") or "info").lower()
