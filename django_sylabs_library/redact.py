"""Keep credentials out of log lines.

The upload and download URLs the library issues carry their credential in the path
(``.../imagefile/_upload/<secret>``, ``_part/<secret>``, ``_download/<signed token>``): the client sends no
token on them (spec 5.3). A web server's access log prints that path, and Django's ``django.request`` logger
prints it for every 4xx/5xx answer. Presigned store URLs carry ``X-Amz-Signature``/``X-Amz-Credential`` in
the query. :func:`redact` blanks all of these, plus ``Bearer``/``Basic`` credentials and query parameters
named like secrets, so that a log line still shows which endpoint was called but never grants access.

Use :class:`RedactingFilter` on the logging handlers of a site (``LOGGING["filters"]``) and
``django_sylabs_library.gunicorn_logging.RedactingLogger`` as gunicorn's ``logger_class``
(docs/deployment.md, "Logs without secrets").
"""

from __future__ import annotations

import logging
import re

__all__ = ["REDACTED", "RedactingFilter", "redact"]

REDACTED = "REDACTED"

# The capability URLs of api/urls.py, under whatever prefix the API is mounted.
_SECRET_SEGMENT = re.compile(r"(/imagefile/_(?:upload|part|download)/)[^/?#\s\"'<>]+")
# Query parameters (also URL-encoded inside another URL) whose value is a credential.
_SECRET_PARAM = re.compile(
    r"(?i)((?:^|[?&;]|%26|%3F)(?:x-amz-signature|x-amz-credential|x-amz-security-token|signature|"
    r"awsaccesskeyid|access_token|token|password|passwd|secret|client_secret)(?:=|%3D))[^&;#\s\"'<>]*"
)
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{6,}")


def redact(text: str) -> str:
    """``text`` with capability paths, secret query values and Bearer/Basic credentials replaced."""
    if not text:
        return text
    text = _SECRET_SEGMENT.sub(r"\1" + REDACTED, text)
    text = _SECRET_PARAM.sub(r"\1" + REDACTED, text)
    return _AUTH_SCHEME.sub(r"\1\2" + REDACTED, text)


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message with :func:`redact` (never drops a record).

    On a handler it covers every logger that writes there, Django's ``django.request`` included::

        LOGGING = {
            "filters": {"redact": {"()": "django_sylabs_library.redact.RedactingFilter"}},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "filters": ["redact"]}},
            ...
        }
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Tracebacks can quote URLs too; format once here, redacted, so the handler reuses the text.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
