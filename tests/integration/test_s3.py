"""The example project on an S3 store (SeaweedFS), driven by the real client.

* the whole conformance suite with ``--require-ranged``: downloads are 303s to presigned URLs and the client's
  ranged GETs go to the store; uploads go to presigned URLs. The gunicorn access log and the store's metrics
  show that the image bytes went to the store, not through gunicorn;
* scale-out: two app processes on different ports, one database and one store: ``libconform run --only push
  --keep`` against one, then ``get``, ``pull`` (bytes compared) and ``delete`` against the other.

Database: SQLite in a shared data dir, or PostgreSQL when ``SYLABS_IT_POSTGRES_URL`` names a server (CI sets it;
a throwaway database is created there).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .seaweedfs import SeaweedFS, running_seaweedfs
from .server import REPO_ROOT, ExampleServer, running_example_server
from .test_conformance import ALLOWED_SKIPS as _FS_ALLOWED_SKIPS  # noqa: F401 (same suite, stricter here)
from .test_conformance import GROUPS, SUMMARY
from .test_logs import leaks

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LARGE_MB = 72  # just above the client's 64 MiB multipart threshold: two parts of S3's multipart upload
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) (?P<bytes>\d+|-)')


def _postgres_env() -> dict[str, str]:
    url = os.environ.get("SYLABS_IT_POSTGRES_URL", "")
    return {"DATABASE_URL": url} if url else {}


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as store:
        yield store


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory, seaweedfs: SeaweedFS) -> Iterator[ExampleServer]:
    env = {"SYLABS_EXAMPLE_KEYSERVER_ANY_EMAIL": "1", **seaweedfs.example_env(), **_postgres_env()}
    with running_example_server(tmp_path_factory.mktemp("example-s3"), env=env) as server:
        yield server


def _access(server: ExampleServer) -> list[dict[str, str]]:
    rows = []
    for line in server.access_lines():
        match = ACCESS_LINE.search(line)
        if match:
            rows.append(match.groupdict())
    return rows


def _run(cmd: list[str], server: ExampleServer, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO_ROOT, env=server.env, capture_output=True, text=True, timeout=timeout)


def test_libconform_suite_on_s3(libconform: Path, s3_server: ExampleServer, seaweedfs: SeaweedFS, tmp_path: Path):
    token1 = s3_server.token("conform1")
    token2 = s3_server.token("conform2")
    manage = s3_server.manage_command
    received_before, sent_before = seaweedfs.traffic()
    cmd = [
        str(libconform), "run",
        "--url", s3_server.url, "--token", token1, "--token2", token2,
        "--large-mb", str(LARGE_MB),
        "--freeze-cmd", f"{manage} sylabs_library_freeze {{ref}}",
        "--unfreeze-cmd", f"{manage} sylabs_library_freeze --unfreeze {{ref}}",
        "--only", GROUPS, "--shub-entity", "conform1", "--keys-require-auth",
        "--require-ranged",
    ]  # fmt: skip
    proc = _run(cmd, s3_server, timeout=30 * 60)
    (tmp_path / "conformance.txt").write_text(proc.stdout)
    print(proc.stdout)
    lines = [line.rstrip() for line in proc.stdout.splitlines() if line.strip()]
    summary = SUMMARY.match(lines[-1]) if lines else None
    problems = []
    if proc.returncode != 0 or summary is None or summary.group(2) != "0":
        problems.append(f"libconform exited {proc.returncode}; last line {lines[-1] if lines else '<none>'!r}")
    problems += [line for line in lines if line.startswith("FAIL")]
    problems += [line for line in lines if line.startswith("SKIP ")]  # --require-ranged: no skip is expected
    problems += s3_server.server_errors()
    problems += leaks(s3_server, [token1, token2])  # no token, signed URL or presigned signature in any log

    # Where the bytes went. Uploads: the client PUT to presigned URLs of the store, never to our own upload
    # URLs (the v1 body upload of the interrupt group is the one upload that passes through us, by design).
    rows = _access(s3_server)
    own_puts = [r for r in rows if r["method"] == "PUT" and "/v2/imagefile/_" in r["path"]]
    if own_puts:
        problems.append(f"uploads through gunicorn: {own_puts[:5]}")
    # Downloads: every v1/imagefile GET answered 303 (or 404 for images that are gone), never with the bytes.
    downloads = [r for r in rows if r["method"] == "GET" and "/v1/imagefile/" in r["path"]]
    served = [r for r in downloads if r["status"] not in ("303", "404")]
    if not downloads or served:
        problems.append(f"{len(downloads)} downloads, {len(served)} not redirected: {served[:5]}")
    if any("/v2/imagefile/_download/" in r["path"] for r in rows):
        problems.append("the proxy download URL was used in presigned mode")
    sent_by_gunicorn = sum(int(r["bytes"]) for r in rows if r["bytes"] != "-")
    received, sent = seaweedfs.traffic()
    received -= received_before
    sent -= sent_before
    large = LARGE_MB * 1024 * 1024
    print(f"gunicorn sent {sent_by_gunicorn} bytes in {len(rows)} answers; the store received {received}, sent {sent}")
    # The store received every pushed image (the large one alone is 72 MiB) and sent every pull.
    if received < large or sent < large:
        problems.append(f"the store saw too little traffic: received {received}, sent {sent}")
    # gunicorn answered with JSON and redirects only: far less than one image.
    if sent_by_gunicorn > 8 * 1024 * 1024:
        problems.append(f"gunicorn sent {sent_by_gunicorn} bytes: image bytes went through the app")
    requests = seaweedfs.s3_requests()
    print(f"store requests by type: {requests}")
    if problems:
        problems.append("server log (tail):\n" + s3_server.log_tail(60))
        problems.append("libconform stderr (tail):\n" + "\n".join(proc.stderr.splitlines()[-20:]))
    assert not problems, "\n".join(problems)


def test_v1_body_upload_on_s3(s3_server: ExampleServer, libconform: Path, tmp_path: Path) -> None:
    """The legacy v1 upload: the body passes through the app, is verified, then stored in the bucket."""
    import requests

    token = s3_server.token("v1user")
    sif = tmp_path / "small.sif"
    made = _run([str(libconform), "mksif", "--out", str(sif), "--size-mb", "2", "--seed", "v1"], s3_server)
    assert made.returncode == 0, made.stderr
    data = sif.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    http = requests.Session()
    http.headers["Authorization"] = f"BEARER {token}"
    base = s3_server.url

    def api(method: str, path: str, body: dict | None = None) -> dict:
        response = http.request(method, f"{base}/{path}", data=json.dumps(body) if body is not None else None)
        assert response.status_code in (200, 201), (path, response.status_code, response.text[:300])
        return response.json()["data"]

    entity = api("GET", "v1/entities/v1user")  # the user's own entity, made with the token
    col = api("POST", "v1/collections", {"entity": entity["id"], "name": "legacy", "private": False})
    con = api("POST", "v1/containers", {"collection": col["id"], "name": "img"})
    image = api("POST", "v1/images", {"container": con["id"], "hash": f"sha256.{digest}"})
    answer = http.post(f"{base}/v1/imagefile/{image['id']}", data=data)
    assert answer.status_code == 200, answer.text[:300]
    ref = f"v1user/legacy/img:sha256.{digest}"
    assert api("GET", f"v1/images/{ref}")["uploaded"] is True

    redirect = http.get(f"{base}/v1/imagefile/{ref}", allow_redirects=False)
    assert redirect.status_code == 303 and "X-Amz-Signature" in redirect.headers["Location"]
    stored = requests.get(redirect.headers["Location"], timeout=30)  # the store itself, no token
    assert stored.status_code == 200 and stored.content == data


@pytest.fixture
def two_nodes(tmp_path_factory: pytest.TempPathFactory, seaweedfs: SeaweedFS) -> Iterator[tuple[ExampleServer, ...]]:
    """Two gunicorn instances on different ports sharing one database and one store. Node B serves downloads in
    the ``proxy`` mode (303 to its own ranged endpoint, reading ranges from the store)."""
    base = tmp_path_factory.mktemp("scale-out")
    env = {**seaweedfs.example_env(), **_postgres_env()}
    shared = base / "shared-data"  # SQLite: the same file for both; PostgreSQL: unused
    with running_example_server(base / "node-a", env=env, data_dir=shared, workers=1) as node_a:
        # Node B must use node A's database: with PostgreSQL, the throwaway database node A created.
        env_b = {**env, "SYLABS_EXAMPLE_DOWNLOAD_MODE": "proxy"}
        if "DATABASE_URL" in env:
            env_b["DATABASE_URL"] = node_a.env["DATABASE_URL"]
        with running_example_server(
            base / "node-b", env=env_b, data_dir=shared, workers=1, fresh_database=False
        ) as node_b:
            assert node_a.url != node_b.url
            yield node_a, node_b


def test_push_on_one_node_pull_and_delete_on_the_other(libconform: Path, two_nodes, tmp_path: Path) -> None:
    node_a, node_b = two_nodes
    token = node_a.token("scaleout")
    entity = "scaleout"
    run = _run([str(libconform), "run", "--url", node_a.url, "--token", token, "--only", "push", "--keep"], node_a)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    collection = re.search(r"collection (conform-\S+)", run.stdout)
    assert collection, run.stdout[:2000]
    ref = f"library://{entity}/{collection.group(1)}/core:latest"

    def client(node: ExampleServer, *args: str) -> subprocess.CompletedProcess[str]:
        return _run([str(libconform), *args, "--url", node.url, "--token", token], node)

    got_a = client(node_a, "get", ref)
    got_b = client(node_b, "get", ref)
    assert got_b.returncode == 0, got_b.stdout + got_b.stderr
    image_a, image_b = json.loads(got_a.stdout), json.loads(got_b.stdout)
    assert image_b.get("hash") == image_a.get("hash") and image_b.get("uploaded") is True, (image_a, image_b)

    out = tmp_path / "pulled.sif"
    pulled = client(node_b, "pull", ref, "--out", str(out))
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"sha256.{digest}" == image_b["hash"]
    assert out.stat().st_size == image_b["size"]
    ranged = [r for r in _access(node_b) if "/v2/imagefile/_download/" in r["path"] and r["status"] == "206"]
    assert ranged, "node B (proxy mode) served no ranged parts"

    deleted = client(node_b, "delete", ref)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    gone = client(node_a, "get", ref)
    assert gone.returncode != 0, gone.stdout
    for node in (node_a, node_b):
        assert not node.server_errors(), node.server_errors()
