"""Concurrent pushes and pulls against the example project under gunicorn on PostgreSQL.

* 32 threads push 32 different images to the same ``entity/coll/cont:latest`` at once, each following the
  client's push sequence over plain HTTP (spec, and ``shared/conformance/README.md`` "What the client expects").
  Every answer is 2xx or a clean 4xx in the JSON error envelope, the access log holds no 5xx, the tag ends on
  exactly one of the pushed images, that image pulls byte-identical, and after ``sylabs_library_gc`` no orphan
  record remains (image without blob, blob without file, file without blob, unfinished upload session,
  temporary upload file).
* 16 pushes to 16 different containers while 16 pulls of already pushed images run: all succeed, every pulled
  byte is checked against the image's SHA-256.

PostgreSQL only (``SYLABS_IT_POSTGRES_URL``, e.g. ``postgres://postgres@127.0.0.1:5432/test``; a throwaway
database is created on it): SQLite serialises writers, so it cannot show a race.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .server import ExampleServer, running_example_server

pytestmark = [pytest.mark.integration]

PUSHES = 32
SIZE_MB = 2
ARCH = "amd64"
ENTITY_USER = "concur"


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServer]:
    url = os.environ.get("SYLABS_IT_POSTGRES_URL", "")
    if not url:
        pytest.skip("SYLABS_IT_POSTGRES_URL is not set: concurrency needs PostgreSQL (SQLite serialises writers)")
    pytest.importorskip("psycopg")
    # 4 workers x 8 threads: up to 32 requests in the app at the same time.
    with running_example_server(
        tmp_path_factory.mktemp("concurrency"), env={"DATABASE_URL": url}, workers=4, threads=8
    ) as server:
        yield server


@dataclass
class Calls:
    """Every (method, endpoint, status) the threads saw, and the answers that were not clean."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    unclean: list[str] = field(default_factory=list)

    def record(self, method: str, path: str, response: Any) -> None:
        endpoint = re.sub(r"/\d+(?=/|$)", "/<id>", path.split("?")[0])
        endpoint = re.sub(r"sha256\.[0-9a-f]{64}", "sha256.<hex>", endpoint)
        endpoint = re.sub(r"_upload/[^/]+", "_upload/<secret>", endpoint)
        problem = None
        if response.status_code >= 500:
            problem = "5xx"
        elif response.status_code >= 400 and method != "HEAD":
            try:
                error = response.json()["error"]
                if error["code"] != response.status_code or not isinstance(error["message"], str):
                    problem = "envelope mismatch"
            except (ValueError, KeyError, TypeError):
                problem = "no JSON error envelope"
        with self.lock:
            self.statuses[(method, endpoint, response.status_code)] += 1
            if problem:
                self.unclean.append(f"{problem}: {method} {endpoint} {response.status_code} {response.text[:200]!r}")

    def histogram(self) -> dict[int, int]:
        counts: collections.Counter = collections.Counter()
        for (_, _, status), n in self.statuses.items():
            counts[status] += n
        return dict(sorted(counts.items()))


class Refused(Exception):
    """A clean 4xx ended this push (expected for some racers, e.g. 409 on a concurrent create)."""


class Client:
    """The client's push and pull sequence over plain HTTP, one ``requests.Session`` per thread."""

    def __init__(self, base: str, token: str, calls: Calls) -> None:
        import requests

        self.base = base
        self.calls = calls
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"BEARER {token}"
        self.anon = requests.Session()  # upload URLs get no token (spec 5.3)

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        data = json.dumps(body) if body is not None else None
        response = self.http.request(method, f"{self.base}/{path}", data=data, timeout=120)
        self.calls.record(method, path, response)
        return response

    def _get_or_create(self, get_path: str, post_path: str, body: dict[str, Any]) -> dict[str, Any]:
        for _ in range(3):
            got = self.call("GET", get_path)
            if got.status_code == 200:
                return got.json()["data"]
            if got.status_code != 404:
                raise Refused(f"GET {get_path}: {got.status_code}")
            made = self.call("POST", post_path, body)
            if made.status_code in (200, 201):
                return made.json()["data"]
            if made.status_code != 409:  # 409: another pusher created it first; look again
                raise Refused(f"POST {post_path}: {made.status_code} {made.text[:200]}")
        raise Refused(f"{get_path} neither found nor created")

    def push(
        self, sif: Path, entity: str, collection: str, container: str, tag: str, before_tag: Any = None
    ) -> dict[str, Any]:
        """The sequence of the client's push; returns the image record the tag was set to. ``before_tag`` is
        called between the upload and the tag requests (a barrier: every racer then moves the tag at once)."""
        data = sif.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        self.call("GET", "version")
        ent = self._get_or_create(f"v1/entities/{entity}", "v1/entities", {"name": entity})
        col = self._get_or_create(
            f"v1/collections/{entity}/{collection}",
            "v1/collections",
            {"entity": ent["id"], "name": collection, "private": False},
        )
        con = self._get_or_create(
            f"v1/containers/{entity}/{collection}/{container}",
            "v1/containers",
            {"collection": col["id"], "name": container},
        )
        image = self._get_or_create(
            f"v1/images/{entity}/{collection}/{container}:sha256.{sha}?arch={ARCH}",
            "v1/images",
            {"container": con["id"], "hash": f"sha256.{sha}"},
        )
        if not image.get("uploaded"):
            started = self.call(
                "POST", f"v2/imagefile/{image['id']}", {"filesize": len(data), "sha256sum": sha, "md5sum": md5}
            )
            if started.status_code != 200:
                raise Refused(f"upload start: {started.status_code}")
            url = started.json()["data"]["uploadURL"]
            put = self.anon.put(url, data=data, timeout=120)
            self.calls.record("PUT", url.replace(self.base + "/", ""), put)
            if put.status_code != 200:
                raise Refused(f"upload PUT: {put.status_code}")
            done = self.call("PUT", f"v2/imagefile/{image['id']}/_complete", {})
            if done.status_code != 200:
                raise Refused(f"_complete: {done.status_code}")
        if before_tag is not None:
            before_tag()
        self.call("GET", "version")
        self.call("GET", f"v2/tags/{con['id']}")
        tagged = self.call("POST", f"v2/tags/{con['id']}", {"Arch": ARCH, "Tag": tag, "ImageID": image["id"]})
        if tagged.status_code != 200:
            raise Refused(f"tag: {tagged.status_code} {tagged.text[:200]}")
        return {**image, "sha256": sha, "container": con["id"]}

    def pull_sha256(self, ref: str) -> tuple[str, int]:
        """``GET v1/imagefile/<ref>`` (following a 303 without the token, as the client does): hash and size."""
        response = self.http.get(
            f"{self.base}/v1/imagefile/{ref}?arch={ARCH}", stream=True, allow_redirects=False, timeout=120
        )
        self.calls.record("GET", f"v1/imagefile/{ref}", response)
        if response.status_code == 303:
            response = self.anon.get(response.headers["Location"], stream=True, timeout=120)
        response.raise_for_status()
        digest, size = hashlib.sha256(), 0
        for chunk in response.iter_content(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size


def _make_sifs(libconform: Path, folder: Path, prefix: str, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}-{i}.sif"
        subprocess.run(
            [str(libconform), "mksif", "--out", str(path), "--size-mb", str(SIZE_MB), "--seed", f"{prefix}-{i}"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        paths.append(path)
    return paths


def _db_rows(server: ExampleServer, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(server.env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)) as conn:
        return conn.execute(sql).fetchall()


def _run_gc(server: ExampleServer) -> str:
    """``sylabs_library_gc`` with no grace when the command knows ``--grace`` (it does after issue 6)."""
    usage = server.manage("sylabs_library_gc", "--help").stdout
    args = ["--grace", "0"] if "--grace" in usage else []
    return server.manage("sylabs_library_gc", *args).stdout


def _orphans(server: ExampleServer) -> list[str]:
    """Everything that should not exist once all pushes are finished and GC has run."""
    problems = []
    for row in _db_rows(
        server, "SELECT id, hash FROM django_sylabs_library_image WHERE blob_id IS NULL OR NOT uploaded"
    ):
        problems.append(f"image without blob: {row}")
    blobs = _db_rows(server, "SELECT id, sha256 FROM django_sylabs_library_blob")
    referenced = {r[0] for r in _db_rows(server, "SELECT DISTINCT blob_id FROM django_sylabs_library_image")}
    images_dir = server.data_dir / "images"
    on_disk = {p.name for p in (images_dir / "blobs").rglob("*") if p.is_file()}
    for blob_id, sha in blobs:
        if blob_id not in referenced:
            problems.append(f"blob {sha} referenced by no image")
        if sha not in on_disk:
            problems.append(f"blob {sha} has no file")
    known = {sha for _, sha in blobs}
    problems += [f"file without blob: {name}" for name in sorted(on_disk - known)]
    for row in _db_rows(
        server,
        "SELECT upload_id, state FROM django_sylabs_library_uploadsession WHERE state NOT IN ('completed', 'aborted')",
    ):
        problems.append(f"unfinished upload session: {row}")
    uploads_dir = images_dir / ".uploads"
    if uploads_dir.is_dir():
        problems += [f"temporary file left: {p.name}" for p in uploads_dir.iterdir()]
    return problems


def test_32_concurrent_pushes_to_one_tag(pg_server: ExampleServer, libconform: Path, tmp_path: Path) -> None:
    token = pg_server.token(ENTITY_USER)
    sifs = _make_sifs(libconform, tmp_path / "sifs", "race", PUSHES)
    calls = Calls()
    barrier = threading.Barrier(PUSHES)
    # Racers that were refused before tagging leave the second barrier; the others then tag together.
    tag_barrier = threading.Barrier(PUSHES)

    def tag_together() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):  # broken by a refused racer: tag anyway
            tag_barrier.wait(60)

    def one(sif: Path) -> dict[str, Any] | str:
        client = Client(pg_server.url, token, calls)
        barrier.wait(timeout=60)
        try:
            return client.push(sif, ENTITY_USER, "coll", "cont", "latest", before_tag=tag_together)
        except Refused as exc:
            tag_barrier.abort()
            return str(exc)

    started = time.monotonic()
    with ThreadPoolExecutor(PUSHES) as pool:
        results = list(pool.map(one, sifs))
    elapsed = time.monotonic() - started
    pushed = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, str)]
    print(f"32 pushes in {elapsed:.1f} s: {len(pushed)} tagged, {len(refused)} refused; statuses {calls.histogram()}")
    for line in sorted(calls.statuses.items()):
        print("  ", line)

    assert not calls.unclean, "\n".join(calls.unclean[:20])
    assert not pg_server.server_errors(), pg_server.server_errors()[:20]
    assert pushed, f"no push completed: {refused[:5]}"

    # The tag names exactly one image, and it is one of those whose tag request succeeded.
    client = Client(pg_server.url, token, calls)
    tags = client.call("GET", f"v2/tags/{pushed[0]['container']}").json()["data"]
    assert list(tags) == [ARCH] and list(tags[ARCH]) == ["latest"], tags
    final_id = tags[ARCH]["latest"]
    winners = {str(p["id"]): p for p in pushed}
    assert final_id in winners, (final_id, sorted(winners))
    sha, size = client.pull_sha256(f"{ENTITY_USER}/coll/cont:latest")
    assert sha == winners[final_id]["sha256"]
    assert size == next(s.stat().st_size for s in sifs if hashlib.sha256(s.read_bytes()).hexdigest() == sha)
    # Every image that finished uploading stays pullable by hash (its tag moved on; it was tagged once).
    for p in pushed[:4]:
        assert client.pull_sha256(f"{ENTITY_USER}/coll/cont:sha256.{p['sha256']}")[0] == p["sha256"]

    gc = _run_gc(pg_server)
    print(gc.strip().splitlines()[-1] if gc.strip() else "gc printed nothing")
    assert not _orphans(pg_server), _orphans(pg_server)
    assert not calls.unclean and not pg_server.server_errors()
    print(f"final tag: latest -> image {final_id} (sha256 {sha[:12]}...)")


def test_16_pushes_and_16_pulls_at_once(pg_server: ExampleServer, libconform: Path, tmp_path: Path) -> None:
    token = pg_server.token("mixed")
    calls = Calls()
    sources = _make_sifs(libconform, tmp_path / "src", "src", 16)
    fresh = _make_sifs(libconform, tmp_path / "new", "new", 16)
    expected = {}
    with ThreadPoolExecutor(8) as pool:  # the images the pulls will read, pushed beforehand
        for i, record in enumerate(
            pool.map(
                lambda i: Client(pg_server.url, token, calls).push(sources[i], "mixed", "src", f"c{i}", "v1"), range(16)
            )
        ):
            expected[f"mixed/src/c{i}:v1"] = (record["sha256"], sources[i].stat().st_size)

    barrier = threading.Barrier(32)

    def push(i: int) -> str:
        client = Client(pg_server.url, token, calls)
        barrier.wait(timeout=60)
        return client.push(fresh[i], "mixed", "dst", f"c{i}", "latest")["sha256"]

    def pull(ref: str) -> tuple[str, int]:
        client = Client(pg_server.url, token, calls)
        barrier.wait(timeout=60)
        return client.pull_sha256(ref)

    started = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        pushes = [pool.submit(push, i) for i in range(16)]
        pulls = {ref: pool.submit(pull, ref) for ref in expected}
        pushed = [f.result() for f in pushes]  # a Refused here fails the test: nothing should be refused
        pulled = {ref: f.result() for ref, f in pulls.items()}
    elapsed = time.monotonic() - started
    print(f"16 pushes + 16 pulls in {elapsed:.1f} s; statuses {calls.histogram()}")

    assert pulled == expected
    client = Client(pg_server.url, token, calls)
    for i, sha in enumerate(pushed):  # the new images pull back byte-identical too
        assert client.pull_sha256(f"mixed/dst/c{i}:latest") == (sha, fresh[i].stat().st_size)
    assert not calls.unclean, calls.unclean[:20]
    # 404: the push sequence's look-ups before creating; 409: two pushers creating the same collection.
    assert all(status < 400 or status in (404, 409) for status in calls.histogram()), calls.histogram()
    assert not pg_server.server_errors(), pg_server.server_errors()[:20]


def test_16_concurrent_pushes_of_the_same_image(pg_server: ExampleServer, libconform: Path, tmp_path: Path) -> None:
    """The same bytes pushed 16 times at once (e.g. CI jobs of one commit) to two tags: one image record, one
    blob, both tags on it, and nothing left over after GC (racers that lost a create got a clean 409 and looked
    the record up again, as our client here does)."""
    token = pg_server.token("same")
    (sif,) = _make_sifs(libconform, tmp_path, "same", 1)
    calls = Calls()
    barrier = threading.Barrier(16)

    def one(i: int) -> Any:
        client = Client(pg_server.url, token, calls)
        barrier.wait(timeout=60)
        return client.push(sif, "same", "coll", "cont", f"t{i % 2}")["id"]

    with ThreadPoolExecutor(16) as pool:
        ids = set(pool.map(one, range(16)))
    print(f"16 pushes of one image: image ids {ids}; statuses {calls.histogram()}")
    assert len(ids) == 1, ids
    assert not calls.unclean, calls.unclean[:20]
    assert not pg_server.server_errors(), pg_server.server_errors()[:20]
    client = Client(pg_server.url, token, calls)
    expected = (hashlib.sha256(sif.read_bytes()).hexdigest(), sif.stat().st_size)
    for tag in ("t0", "t1"):
        assert client.pull_sha256(f"same/coll/cont:{tag}") == expected
    blobs = _db_rows(pg_server, f"SELECT count(*) FROM django_sylabs_library_blob WHERE sha256 = '{expected[0]}'")
    assert blobs == [(1,)]
    _run_gc(pg_server)
    assert not _orphans(pg_server), _orphans(pg_server)


def test_real_client_pushes_racing_into_a_new_collection_all_succeed(
    pg_server: ExampleServer, libconform: Path, tmp_path: Path
) -> None:
    """Apptainer's own client does not retry a 409: 8 `push` runs into one collection that does not exist yet
    (CI jobs of one pipeline) race to create it, and the same image twice in one container races to create the
    image record. Every run must succeed: a create of an existing object returns it (200)."""
    token = pg_server.token("racer")
    sifs = _make_sifs(libconform, tmp_path, "racer", 4)
    refs = [f"library://racer/fresh/c{i % 4}:t{i}" for i in range(8)]  # containers c0..c3 each pushed twice
    files = [sifs[i % 4] for i in range(8)]
    procs = [
        subprocess.Popen(
            [str(libconform), "push", "--url", pg_server.url, "--token", token, str(path), ref],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for path, ref in zip(files, refs, strict=True)
    ]
    outputs = [(proc.wait(timeout=300), proc.stdout.read() if proc.stdout else "") for proc in procs]
    failed = [(ref, out[-400:]) for ref, (rc, out) in zip(refs, outputs, strict=True) if rc != 0]
    print(f"8 racing real-client pushes: {8 - len(failed)} succeeded")
    assert not failed, failed
    assert not pg_server.server_errors(), pg_server.server_errors()[:20]
    client = Client(pg_server.url, token, Calls())
    for i, path in enumerate(files):
        expected = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size)
        assert client.pull_sha256(f"racer/fresh/c{i % 4}:t{i}") == expected
