"""A gunicorn logger class whose access and error logs never show upload secrets, tokens or signatures.

    gunicorn --logger-class django_sylabs_library.gunicorn_logging.RedactingLogger mysite.wsgi:application

or ``logger_class = "django_sylabs_library.gunicorn_logging.RedactingLogger"`` in ``gunicorn.conf.py``. Every
access-log atom (request line, path, query, referer, headers) goes through :func:`..redact.redact`; the
``Authorization``, ``Cookie`` and ``Proxy-Authorization`` header atoms become ``-``; the error log (e.g.
"Error handling request <path>") gets the redacting filter. Imported by gunicorn only.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from .redact import RedactingFilter, redact

_HIDDEN_HEADERS = ("{authorization}i", "{proxy-authorization}i", "{cookie}i", "{set-cookie}o")


class RedactingLogger(Logger):
    """gunicorn's ``Logger`` with secrets removed from every log line it writes."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str):
                atoms[key] = redact(value)
        for key in _HIDDEN_HEADERS:
            if key in atoms:
                atoms[key] = "-"
        return atoms

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not any(isinstance(f, RedactingFilter) for f in self.error_log.filters):
            self.error_log.addFilter(RedactingFilter())
