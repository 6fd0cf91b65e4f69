"""Secrets never reach log lines: the redaction helper, and the capability views' own 4xx logging."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from django_sylabs_library.redact import RedactingFilter, redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("PUT /v2/imagefile/_upload/Ab-cD_ef0123456789xyz HTTP/1.1", "Ab-cD_ef0123456789xyz"),
        ("PUT /library/v2/imagefile/_part/Zz9-part-secret?x=1", "Zz9-part-secret"),
        ("GET /v2/imagefile/_download/eyJiIjoxfQ:1tXyz:sigsigsig HTTP/1.1", "eyJiIjoxfQ:1tXyz:sigsigsig"),
        ("303 to http://s3:8333/images/b?X-Amz-Credential=AKIAEXAMPLE%2F2026&X-Amz-Signature=0a1b2c", "AKIAEXAMPLE"),
        ("303 to http://s3:8333/images/b?X-Amz-Credential=AKIAEXAMPLE%2F2026&X-Amz-Signature=0a1b2c", "0a1b2c"),
        ("https://x/?a=1&token=tok-123456&b=2", "tok-123456"),
        ("Authorization: BEARER abcdefghijklmnop", "abcdefghijklmnop"),
        ("redirect=%2Fx%3FX-Amz-Signature%3Ddeadbeef00", "deadbeef00"),
    ],
)
def test_redact_removes_the_secret(text: str, secret: str) -> None:
    clean = redact(text)
    assert secret not in clean
    assert "REDACTED" in clean


@pytest.mark.parametrize(
    "text",
    ["GET /v1/imagefile/alice/c/n:latest?arch=amd64 HTTP/1.1", "GET /v1/search?value=tokens&arch=arm64", ""],
)
def test_redact_keeps_ordinary_lines(text: str) -> None:
    assert redact(text) == text


def test_filter_rewrites_message_and_traceback() -> None:
    secret = secrets.token_urlsafe(24)
    try:
        raise RuntimeError(f"failed on /v2/imagefile/_upload/{secret}")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "PUT %s", (f"/imagefile/_upload/{secret}",), None)
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record) is True
    assert secret not in record.getMessage()
    assert secret not in logging.Formatter().format(record)


@pytest.mark.django_db
def test_a_refused_upload_url_is_logged_without_its_secret(caplog: Any) -> None:
    """Django's django.request would log the path of the 410; the view logs it redacted instead."""
    secret = secrets.token_urlsafe(32)
    url = reverse("django_sylabs_library:upload-target", kwargs={"secret": secret})
    with caplog.at_level(logging.DEBUG):
        answer = Client().put(url, data=b"abc", content_type="application/octet-stream")
    assert answer.status_code == 410
    lines = [r.getMessage() for r in caplog.records]
    assert any("_upload/REDACTED" in line for line in lines), lines
    assert not any(secret in line for line in lines), lines
    assert not [r for r in caplog.records if r.name == "django.request"]
