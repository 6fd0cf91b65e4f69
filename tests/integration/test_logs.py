"""No secret in any log: API tokens, passwords, the upload/part/download URLs the app issues, presigned URLs.

Everything the example server writes is captured: gunicorn's access log (``access.log``) and, in
``server.log``, gunicorn's error log at debug level (it prints every request path), the app's loggers at
DEBUG, Django's ``django.request`` warnings (every 4xx with its path), stdout and stderr
(``SYLABS_EXAMPLE_LOG_LEVEL=DEBUG``, set by ``server.py``).

* here: a push over plain HTTP whose upload secret we know, the reuse of that URL (410) and a forged one, a
  multipart upload through our own part URL (and its reuse), a proxy-mode pull whose 303 target carries a signed token, a forged download token, a web login with a wrong
  and a right password. The lines of these requests must be in the logs (so the check can see them) and
  must not hold the secret;
* ``test_conformance.py`` and ``test_s3.py`` run :func:`leaks` on the logs of the whole conformance suite
  (filesystem and S3) with both users' tokens.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from .server import ExampleServer, running_example_server

pytestmark = [pytest.mark.integration]

# What a credential looks like when it is NOT redacted (the redacted form is the literal "REDACTED").
_PATTERNS = {
    "upload/part/download URL secret": re.compile(r"/imagefile/_(?:upload|part|download)/(?!REDACTED)[^/\s?\"]+"),
    "presigned URL signature": re.compile(
        r"(?i)(?:x-amz-signature|x-amz-credential|x-amz-security-token)(?:=|%3D)(?!REDACTED)[^&\s\"]+"
    ),
    "Bearer credential": re.compile(r"(?i)\b(?:bearer|basic)\s+(?!REDACTED)[A-Za-z0-9._~+/=-]{6,}"),
}


def log_texts(server: ExampleServer) -> dict[str, str]:
    """Everything the server logged: ``{file name: text}``."""
    texts = {}
    for path in (server.access_log, server.server_log):
        try:
            texts[path.name] = path.read_text(errors="replace")
        except FileNotFoundError:
            texts[path.name] = ""
    return texts


def leaks(server: ExampleServer, known: Iterable[str] = ()) -> list[str]:
    """Log lines holding a known secret (tokens, passwords...) or anything shaped like a credential URL."""
    secrets = [s for s in known if s]
    found = []
    for name, text in log_texts(server).items():
        for number, line in enumerate(text.splitlines(), 1):
            hits = [f"known secret {s[:4]}..." for s in secrets if s in line]
            hits += [label for label, pattern in _PATTERNS.items() if pattern.search(line)]
            if hits:
                found.append(f"{name}:{number}: {', '.join(hits)}: {line[:300]}")
    return found


@pytest.fixture(scope="module")
def proxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServer]:
    """Downloads in ``proxy`` mode: a 303 to ``_download/<signed token>`` on our own host."""
    env = {"SYLABS_EXAMPLE_DOWNLOAD_MODE": "proxy", "SYLABS_EXAMPLE_LOG_LEVEL": "DEBUG"}
    with running_example_server(tmp_path_factory.mktemp("logs"), env=env, workers=1) as server:
        yield server


def _sif(libconform: Path, path: Path, server: ExampleServer, seed: str = "logs") -> bytes:
    import subprocess

    subprocess.run(
        [str(libconform), "mksif", "--out", str(path), "--size-mb", "1", "--seed", seed],
        check=True,
        capture_output=True,
        env=server.env,
        timeout=60,
    )
    return path.read_bytes()


def test_no_secret_in_logs(proxy_server: ExampleServer, libconform: Path, tmp_path: Path) -> None:
    import requests

    server = proxy_server
    token = server.token("logger")
    password = "Pw-" + hashlib.sha256(token.encode()).hexdigest()[:20]
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model as g; u = g().objects.get(username='logger'); "
        f"u.set_password('{password}'); u.save()",
    )
    api = requests.Session()
    api.headers["Authorization"] = f"BEARER {token}"
    base = server.url

    def call(method: str, path: str, body: dict | None = None) -> dict:
        answer = api.request(method, f"{base}/{path}", data=json.dumps(body) if body is not None else None)
        assert answer.status_code in (200, 201), (path, answer.status_code, answer.text[:300])
        return answer.json()["data"]

    # A push with our own upload URL (the secret is in its path).
    data = _sif(libconform, tmp_path / "a.sif", server)
    sha = hashlib.sha256(data).hexdigest()
    entity = call("GET", "v1/entities/logger")
    col = call("POST", "v1/collections", {"entity": entity["id"], "name": "logs", "private": False})
    con = call("POST", "v1/containers", {"collection": col["id"], "name": "img"})
    image = call("POST", "v1/images", {"container": con["id"], "hash": f"sha256.{sha}"})
    upload_url = call("POST", f"v2/imagefile/{image['id']}", {"filesize": len(data), "sha256sum": sha})["uploadURL"]
    upload_secret = upload_url.rstrip("/").rsplit("/", 1)[1]
    assert len(upload_secret) >= 20 and "/_upload/" in upload_url
    assert requests.put(upload_url, data=data, timeout=60).status_code == 200
    assert requests.put(upload_url, data=data, timeout=60).status_code == 410  # single use: Django logs 4xx
    forged_upload = upload_url[: -len(upload_secret)] + "forged" + upload_secret[6:]
    assert requests.put(forged_upload, data=b"x", timeout=60).status_code in (400, 410)
    call("PUT", f"v2/imagefile/{image['id']}/_complete", {})
    call("POST", f"v2/tags/{con['id']}", {"Arch": "amd64", "Tag": "latest", "ImageID": image["id"]})

    # A multipart upload of a second image: the part URL carries its own secret.
    data2 = _sif(libconform, tmp_path / "b.sif", server, seed="logs-multipart")
    sha2 = hashlib.sha256(data2).hexdigest()
    image2 = call("POST", "v1/images", {"container": con["id"], "hash": f"sha256.{sha2}"})
    started = call("POST", f"v2/imagefile/{image2['id']}/_multipart", {"filesize": len(data2)})
    assert started["totalParts"] == 1, started
    part = {"uploadID": started["uploadID"], "partNumber": 1, "partSize": len(data2), "sha256sum": sha2}
    part_url = call("PUT", f"v2/imagefile/{image2['id']}/_multipart", part)["presignedURL"]
    assert "/_part/" in part_url
    part_secret = part_url.rstrip("/").rsplit("/", 1)[1]
    sent = requests.put(part_url, data=data2, timeout=60)
    assert sent.status_code == 200, sent.text[:300]
    assert requests.put(part_url, data=data2, timeout=60).status_code == 410
    done = {"uploadID": started["uploadID"], "completedParts": [{"partNumber": 1, "token": sent.headers["ETag"]}]}
    call("PUT", f"v2/imagefile/{image2['id']}/_multipart_complete", done)

    # A proxy-mode pull: 303 to our own signed download URL, fetched without the token.
    redirect = api.get(f"{base}/v1/imagefile/logger/logs/img:latest?arch=amd64", allow_redirects=False)
    assert redirect.status_code == 303, redirect.text[:300]
    download_url = redirect.headers["Location"]
    assert "/_download/" in download_url
    download_token = download_url.split("/_download/", 1)[1].split("?")[0]
    assert hashlib.sha256(requests.get(download_url, timeout=60).content).hexdigest() == sha
    forged_download = download_url.replace(download_token, download_token[:-4] + "AAAA")
    assert requests.get(forged_download, timeout=60).status_code in (400, 403, 404, 410)

    # The web login with a wrong, then the right password (form POSTs: the password is in the body).
    web = requests.Session()
    for attempt in ("wrong-" + password, password):
        page = web.get(f"{base}/accounts/login/", timeout=30)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert csrf, page.text[:500]
        web.post(
            f"{base}/accounts/login/",
            data={"csrfmiddlewaretoken": csrf.group(1), "login": "logger", "password": attempt},
            headers={"Referer": f"{base}/accounts/login/"},
            timeout=30,
        )
    assert "sessionid" in web.cookies

    texts = log_texts(server)
    # The check sees these requests: their (redacted) lines are in the logs.
    assert "/v2/imagefile/_upload/REDACTED" in texts["access.log"], texts["access.log"][-2000:]
    assert "/v2/imagefile/_download/REDACTED" in texts["access.log"]
    assert "/v2/imagefile/_part/REDACTED" in texts["access.log"]
    assert re.search(r"WARNING .*Gone: /v2/imagefile/_upload/REDACTED", texts["server.log"]), texts["server.log"][
        -3000:
    ]
    assert "/v2/imagefile/_upload/REDACTED" in texts["server.log"]  # gunicorn's debug line of each request
    assert "POST /accounts/login/" in texts["access.log"]
    known = [token, password, upload_secret, part_secret, download_token, forged_upload.rsplit("/", 1)[1]]
    problems = leaks(server, known)
    assert not problems, "\n".join(problems[:20])
    assert not server.server_errors(), server.server_errors()
