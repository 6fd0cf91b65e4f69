"""Helpers of the fault-injection tests (``test_faults.py``): cut connections, killed processes, a stopped database.

* :class:`Library`: the push protocol of spec 8.3 step by step (``requests``), so that a test can stop anywhere;
* :func:`send_cut`: a raw-socket request that sends its headers and exactly ``cut`` bytes of the body, then closes
  (FIN) or resets (RST) the connection, or sends everything and disappears without reading the answer;
* :class:`Inspector`: the database (SQLite file or PostgreSQL) and data folder of a running example server, read
  directly, to see sessions, blobs, temporary files and what would be left over after the GC command;
* :func:`worker_for_connection`: which gunicorn worker holds a given client connection (to ``kill -9`` it);
* :class:`ThrowawayPostgres`: an ``initdb`` + ``pg_ctl`` cluster on a free port in a temp folder, run as the
  ``postgres`` user, that a test can stop and start while a push is in flight;
* :func:`settings_env`: run the example project with a few ``SYLABS_LIBRARY`` settings changed (a settings module
  written to a temp folder that imports ``example_project.settings``).

Nothing here imports Django.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import random
import shutil
import socket
import sqlite3
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from ..sifdata import make_sif as sif_image
from .server import REPO_ROOT, ExampleServer, free_port

SETTINGS_ENV = "SYLABS_FAULTS_LIBRARY_SETTINGS"
APP = "django_sylabs_library"


# --- settings -------------------------------------------------------------------------------------------


def settings_env(tmp_dir: str | os.PathLike[str], overrides: Mapping[str, Any]) -> dict[str, str]:
    """Environment that runs the example project with ``SYLABS_LIBRARY`` updated by ``overrides``.

    The overrides travel as JSON in ``SYLABS_FAULTS_LIBRARY_SETTINGS``, so a management command can be run with
    other values (``env={**server.env, SETTINGS_ENV: ...}``)."""
    folder = Path(tmp_dir) / "fault_settings"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sylabs_fault_settings.py").write_text(
        "import json, os\n"
        "from example_project.settings import *  # noqa: F403\n"
        "from example_project.settings import SYLABS_LIBRARY as _BASE\n"
        f"SYLABS_LIBRARY = {{**_BASE, **json.loads(os.environ.get({SETTINGS_ENV!r}) or '{{}}')}}\n"
        # Concurrent writers on SQLite: BEGIN IMMEDIATE waits for the lock (the timeout) where a deferred
        # transaction that upgrades its lock fails at once with "database is locked" (503).
        "import django\n"
        "if DATABASES['default']['ENGINE'].endswith('sqlite3') and django.VERSION >= (5, 1):\n"
        "    DATABASES['default'].setdefault('OPTIONS', {})['transaction_mode'] = 'IMMEDIATE'\n"
    )
    path = os.pathsep.join([str(folder), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {
        "DJANGO_SETTINGS_MODULE": "sylabs_fault_settings",
        "PYTHONPATH": path,
        SETTINGS_ENV: json.dumps(dict(overrides)),
    }


# --- test images ----------------------------------------------------------------------------------------

def make_sif(size: int, arch: str = "amd64") -> bytes:
    """A well-formed SIF image of exactly ``size`` bytes: one partition of random bytes."""
    return sif_image(arch, size)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the push protocol ----------------------------------------------------------------------------------


class ProtocolError(AssertionError):
    def __init__(self, step: str, response: requests.Response) -> None:
        super().__init__(
            f"{step}: {response.request.method} {response.url} -> {response.status_code} {response.text[:300]}"
        )
        self.response = response


@dataclass
class Push:
    """One image being pushed: its bytes, ids, and the upload state of the protocol."""

    ref: str  # entity/collection/container
    data: bytes
    arch: str = "amd64"
    container_id: str = ""
    image_id: str = ""
    uploaded: bool = False
    upload_url: str = ""
    upload_id: str = ""
    part_size: int = 0
    total_parts: int = 0
    etags: dict[int, str] = field(default_factory=dict)

    _sha: str = ""

    @property
    def sha(self) -> str:
        if not self._sha:
            self._sha = sha256_hex(self.data)
        return self._sha

    @property
    def hash_ref(self) -> str:
        return f"{self.ref}:sha256.{self.sha}"

    def part(self, number: int) -> bytes:
        start = (number - 1) * self.part_size
        return self.data[start : start + self.part_size]


class Library:
    """The client side of spec 8.3 against ``url`` with ``token``; each step is a method."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    # plumbing
    def call(self, step: str, method: str, path: str, body: Any = None, ok: Sequence[int] = (200,)) -> Any:
        response = self.http.request(method, f"{self.url}/{path}", json=body, timeout=60)
        if response.status_code not in ok:
            raise ProtocolError(step, response)
        return response.json().get("data") if response.content else None

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(f"{self.url}/{path}", timeout=60, **kwargs)

    # steps
    def prepare(self, push: Push) -> Push:
        """Entity, collection, container and image records (spec 8.3 steps 2-5)."""
        entity, collection, container = push.ref.split("/")
        if self.get(f"v1/entities/{entity}").status_code == 404:
            self.call("create entity", "POST", "v1/entities", {"name": entity, "description": ""}, (200, 201))
        ent = self.call("get entity", "GET", f"v1/entities/{entity}")
        if self.get(f"v1/collections/{entity}/{collection}").status_code == 404:
            body = {"name": collection, "entity": ent["id"], "description": "", "private": False}
            self.call("create collection", "POST", "v1/collections", body, (200, 201))
        col = self.call("get collection", "GET", f"v1/collections/{entity}/{collection}")
        if self.get(f"v1/containers/{push.ref}").status_code == 404:
            body = {"name": container, "collection": col["id"], "description": "", "private": False}
            self.call("create container", "POST", "v1/containers", body, (200, 201))
        con = self.call("get container", "GET", f"v1/containers/{push.ref}")
        push.container_id = con["id"]
        response = self.get(f"v1/images/{push.hash_ref}?arch={push.arch}")
        if response.status_code == 404:
            body = {"hash": f"sha256.{push.sha}", "container": con["id"], "description": ""}
            img = self.call("create image", "POST", "v1/images", body, (200, 201))
        elif response.status_code == 200:
            img = response.json()["data"]
        else:
            raise ProtocolError("get image", response)
        push.image_id, push.uploaded = img["id"], bool(img["uploaded"])
        return push

    def v1_request(self, push: Push) -> tuple[str, dict[str, str], bytes]:
        return "POST", f"{self.url}/v1/imagefile/{push.image_id}", push.data

    def start_single(self, push: Push) -> str:
        body = {"filesize": len(push.data), "sha256sum": push.sha, "md5sum": hashlib.md5(push.data).hexdigest()}
        push.upload_url = self.call("start upload", "POST", f"v2/imagefile/{push.image_id}", body, (200, 201))[
            "uploadURL"
        ]
        return push.upload_url

    def complete_request(self, push: Push) -> tuple[str, str, bytes]:
        return "PUT", f"{self.url}/v2/imagefile/{push.image_id}/_complete", b"{}"

    def start_multipart(self, push: Push) -> None:
        body = {"filesize": len(push.data)}
        started = self.call("start multipart", "POST", f"v2/imagefile/{push.image_id}/_multipart", body, (200, 201))
        push.upload_id, push.part_size, push.total_parts = (
            started["uploadID"],
            started["partSize"],
            started["totalParts"],
        )
        push.etags = {}

    def part_url(self, push: Push, number: int) -> str:
        body = {"uploadID": push.upload_id, "partNumber": number, "partSize": len(push.part(number)), "sha256sum": ""}
        return self.call("part URL", "PUT", f"v2/imagefile/{push.image_id}/_multipart", body, (200, 204))[
            "presignedURL"
        ]

    def put_part(self, push: Push, number: int) -> None:
        url = self.part_url(push, number)
        response = requests.put(url, data=push.part(number), timeout=120)
        if response.status_code != 200:
            raise ProtocolError(f"part {number} PUT", response)
        push.etags[number] = response.headers["ETag"]

    def multipart_complete_request(self, push: Push) -> tuple[str, str, bytes]:
        parts = [{"partNumber": n, "token": t} for n, t in sorted(push.etags.items())]
        body = json.dumps({"uploadID": push.upload_id, "completedParts": parts}).encode()
        return "PUT", f"{self.url}/v2/imagefile/{push.image_id}/_multipart_complete", body

    def send(self, step: str, request: tuple[str, str, bytes], ok: Sequence[int] = (200,)) -> requests.Response:
        method, url, body = request
        headers = {} if "/_upload/" in url or "/_part/" in url else None
        session = requests if headers is not None else self.http
        response = session.request(method, url, data=body, timeout=120)
        if response.status_code not in ok:
            raise ProtocolError(step, response)
        return response

    def tag(self, push: Push, tags: Sequence[str] = ("latest",)) -> None:
        self.call("version", "GET", "version")
        self.call("get tags", "GET", f"v2/tags/{push.container_id}")
        for tag in tags:
            body = {"Arch": push.arch, "Tag": tag, "ImageID": push.image_id}
            self.call("set tag", "POST", f"v2/tags/{push.container_id}", body)

    def push(self, push: Push, path: str, tags: Sequence[str] = ("latest",)) -> None:
        """The whole push (``path``: ``v1``, ``single`` or ``multipart``), as the client does it."""
        self.prepare(push)
        if not push.uploaded:
            self.call("version", "GET", "version")
            if path == "v1":
                method, url, body = self.v1_request(push)
                self.send("v1 upload", (method, url, body))
            elif path == "single":
                url = self.start_single(push)
                response = requests.put(
                    url, data=push.data, headers={"Content-Type": "application/octet-stream"}, timeout=120
                )
                if response.status_code != 200:
                    raise ProtocolError("upload PUT", response)
                self.send("complete", self.complete_request(push), (200, 204))
            elif path == "multipart":
                self.start_multipart(push)
                for number in range(1, push.total_parts + 1):
                    self.put_part(push, number)
                self.send("multipart complete", self.multipart_complete_request(push), (200, 204))
            else:
                raise ValueError(path)
        self.tag(push, tags)

    # reading back
    def pull(self, ref: str, arch: str = "amd64") -> bytes | None:
        """``GET v1/imagefile/<ref>`` (303s followed); ``None`` on 404."""
        response = self.get(f"v1/imagefile/{ref}?arch={arch}", allow_redirects=False)
        if response.status_code in (302, 303, 307):
            response = requests.get(response.headers["Location"], timeout=120)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProtocolError("pull", response)
        return response.content

    def image(self, ref: str, arch: str = "amd64") -> dict[str, Any] | None:
        response = self.get(f"v1/images/{ref}?arch={arch}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProtocolError("get image", response)
        return response.json()["data"]

    def tags(self, push: Push) -> dict[str, str]:
        found = self.call("get tags", "GET", f"v2/tags/{push.container_id}") or {}
        return found.get(push.arch) or {}


# --- raw-socket cuts ------------------------------------------------------------------------------------


def request_head(method: str, url: str, length: int, headers: Mapping[str, str]) -> tuple[tuple[str, int], bytes]:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    port = parts.port or 80
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.hostname}:{port}", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return (parts.hostname or "127.0.0.1", port), ("\r\n".join(lines) + "\r\n\r\n").encode()


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def open_request(
    method: str,
    url: str,
    body: bytes,
    cut: int,
    headers: Mapping[str, str] | None = None,
    *,
    head_cut: int | None = None,
) -> socket.socket:
    """Connect, send the headers (announcing the whole body) and ``body[:cut]``; return the open socket.

    ``head_cut`` instead cuts the request inside its head: only that many bytes of headers + body are sent."""
    address, head = request_head(method, url, len(body), headers or {})
    sock = socket.create_connection(address, timeout=30)
    if head_cut is not None:
        sock.sendall((head + body)[:head_cut])
    else:
        sock.sendall(head)
        sock.sendall(memoryview(body)[:cut])
    return sock


def send_cut(
    method: str,
    url: str,
    body: bytes,
    cut: int,
    mode: str,
    headers: Mapping[str, str] | None = None,
    *,
    head_cut: int | None = None,
) -> None:
    """Send ``body[:cut]`` (or ``head_cut`` bytes of the whole request) and end the connection: ``close`` (FIN)
    or ``reset`` (RST). ``vanish`` (with the whole request sent) closes without reading the answer: a FIN, since
    an RST would make the kernel drop whatever the server had not read yet."""
    sock = open_request(method, url, body, cut, headers, head_cut=head_cut)
    if mode in ("close", "vanish"):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        sock.close()
    else:
        _reset(sock)


def read_response(sock: socket.socket, timeout: float = 60) -> tuple[int, bytes]:
    """Status and body of the answer on ``sock`` (Content-Length bodies only, as Django's are)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before the answer was complete: {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, rest


def offsets(rng: random.Random, length: int, count: int) -> list[int]:
    """``count`` distinct cut offsets in ``[0, length)``: always 0, 1, the middle and ``length - 1``, the rest
    drawn from ``rng``."""
    chosen = {0, min(1, length - 1), length // 2, max(0, length - 1)}
    target = min(count, length)
    while len(chosen) < target:
        chosen.add(rng.randrange(length))
    return sorted(chosen)


# --- processes ------------------------------------------------------------------------------------------


def _socket_inodes(local_port: int, remote_port: int) -> set[str]:
    """Inodes of the server-side sockets of the loopback connection ``remote_port`` -> ``local_port``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            next(fh)
            for line in fh:
                cols = line.split()
                local, remote, inode = cols[1], cols[2], cols[9]
                if int(local.rsplit(":", 1)[1], 16) == local_port and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                    inodes.add(inode)
    return inodes


def worker_for_connection(server: ExampleServer, client: socket.socket) -> int | None:
    """PID of the gunicorn worker that holds the server side of ``client``'s connection."""
    server_port = client.getpeername()[1]
    wanted = {f"socket:[{inode}]" for inode in _socket_inodes(server_port, client.getsockname()[1])}
    for pid in server.worker_pids():
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            with contextlib.suppress(OSError):
                if os.readlink(fd) in wanted:
                    return pid
    return None


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes so far (``/proc/<pid>/stat``), for the figures."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def kill_server(server: ExampleServer) -> list[int]:
    """``kill -9`` the gunicorn master and all its workers; return the PIDs killed."""
    pids = [server.pid, *server.worker_pids()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    server.process.wait(timeout=30)
    for pid in pids[1:]:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return pids


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --- looking inside -------------------------------------------------------------------------------------

OPEN_STATES = ("open", "receiving", "received")


class Inspector:
    """Read the database and data folder of an example server (SQLite file or PostgreSQL ``DATABASE_URL``)."""

    def __init__(self, server: ExampleServer, s3: Any = None) -> None:
        self.server = server
        self.s3 = s3
        self.db_url = server.env.get("DATABASE_URL", "")

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self.db_url:
            import psycopg

            parts = urlsplit(self.db_url)
            with (
                psycopg.connect(
                    host=parts.hostname,
                    port=parts.port,
                    user=parts.username,
                    dbname=parts.path.lstrip("/"),
                    autocommit=True,
                ) as conn,
                conn.cursor() as cur,
            ):
                yield cur
        else:
            conn = sqlite3.connect(f"file:{self.server.data_dir / 'db.sqlite3'}?mode=ro", uri=True, timeout=30)
            try:
                yield conn.cursor()
            finally:
                conn.close()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        sql = sql.replace("{app}", APP)
        if self.db_url:
            sql = sql.replace("?", "%s")
        with self._cursor() as cur:
            cur.execute(sql, tuple(params))
            return list(cur.fetchall())

    def sessions(self, image_id: str | int | None = None) -> list[tuple[str, str, str]]:
        """``(kind, state, temp_name)`` of the upload sessions (of one image)."""
        where, params = ("WHERE image_id = ?", [int(image_id)]) if image_id is not None else ("", [])
        return [
            tuple(r) for r in self.rows(f"SELECT kind, state, temp_name FROM {{app}}_uploadsession {where}", params)
        ]

    def busy(self, image_id: str | int) -> bool:
        """Is the server still handling a body or a completion for this image?"""
        busy = self.rows(
            "SELECT COUNT(*) FROM {app}_uploadsession WHERE image_id = ? AND state = 'receiving'", [int(image_id)]
        )[0][0]
        parts = self.rows(
            "SELECT COUNT(*) FROM {app}_uploadpart p JOIN {app}_uploadsession s ON p.session_id = s.id "
            "WHERE s.image_id = ? AND p.state = 'receiving'",
            [int(image_id)],
        )[0][0]
        return bool(busy or parts)

    def latest_expiry(self) -> datetime | None:
        """When the last unfinished upload's URL expires (on S3 GC leaves a session alone until then: a PUT to a
        presigned URL is invisible to us until it ends)."""
        value = self.rows(
            "SELECT MAX(expires_at) FROM {app}_uploadsession WHERE state IN ('open', 'receiving', 'received', 'failed')"
        )[0][0]
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

    @property
    def images_dir(self) -> Path:
        return self.server.data_dir / "images"

    def temp_files(self) -> list[str]:
        folder = self.images_dir / ".uploads"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def leftovers(self) -> dict[str, list[Any]]:
        """What must be gone after GC: temporary files/objects, open sessions, blobs no image references, blob
        files without a record (and records without a file, which would be data loss)."""
        found: dict[str, list[Any]] = {
            "temp_files": self.temp_files(),
            "open_sessions": self.rows(
                "SELECT upload_id, kind, state FROM {app}_uploadsession WHERE state IN ('open', 'receiving', 'received')"
            ),
            "orphan_blob_rows": self.rows(
                "SELECT b.sha256 FROM {app}_blob b WHERE NOT EXISTS "
                "(SELECT 1 FROM {app}_image i WHERE i.blob_id = b.id)"
            ),
        }
        names = {r[0] for r in self.rows("SELECT storage_name FROM {app}_blob")}
        if self.s3 is None:
            root = self.images_dir
            stored = {str(p.relative_to(root)) for p in (root / "blobs").rglob("*") if p.is_file()}
        else:
            client, bucket = self.s3.client(), self.s3.bucket
            stored = set()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if key.startswith("uploads/") or "/uploads/" in key:
                        found.setdefault("temp_objects", []).append(key)
                    else:
                        stored.add(key)
            uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
            found["open_multipart_uploads"] = [u["Key"] for u in uploads]
            found.setdefault("temp_objects", [])
        found["blob_files_without_row"] = sorted(stored - names)
        found["blob_rows_without_file"] = sorted(names - stored)
        return found


# --- a throwaway PostgreSQL cluster ---------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``initdb`` and ``pg_ctl``."""
    found = [
        p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists() and (p / "pg_ctl").exists()
    ]
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0) if found else None


class ThrowawayPostgres:
    """A private cluster: ``initdb`` in a temp folder, ``pg_ctl start/stop`` on a free loopback port.

    initdb refuses to run as root, so everything runs as the ``postgres`` user (``runuser``) and the folder is
    theirs. Never touches another server."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="sylabs-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._user = "postgres"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{log}")
        return proc

    def init(self) -> None:
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self._user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# --- the interruption harness ---------------------------------------------------------------------------


@dataclass
class PathFigures:
    """What one upload path went through (printed as one summary line)."""

    path: str
    offsets: int = 0
    modes: dict[str, int] = field(default_factory=dict)
    interruptions: int = 0
    completed_anyway: int = 0
    retries: int = 0
    seconds: float = 0.0
    case: str = ""  # the interruption in progress, for failure messages

    def line(self) -> str:
        modes = " ".join(f"{k}={v}" for k, v in sorted(self.modes.items()))
        return (
            f"fault-summary path={self.path} offsets={self.offsets} interruptions={self.interruptions} ({modes}) "
            f"completed_by_server={self.completed_anyway} retries_ok={self.retries} seconds={self.seconds:.1f}"
        )


class Harness:
    """Interrupt pushes of one container at chosen points, check the registry after each, retry.

    The container's ``latest`` tag is set up first; after every interruption it must still point at the last
    image that was pushed completely, the interrupted image must not be pullable (unless the server received the
    whole request and finished it, in which case its bytes must be exactly right), and the same push, repeated,
    must succeed and pull back byte-identical."""

    def __init__(self, lib: Library, inspector: Inspector, ref: str, server: ExampleServer | None = None) -> None:
        self.lib = lib
        self.inspector = inspector
        self.ref = ref
        self.server = server
        self.current: Push | None = None
        self.figures = PathFigures(ref)
        self._marks = 0

    def setup(self, size: int, path: str) -> None:
        base = Push(self.ref, make_sif(size))
        self.lib.push(base, path)
        assert self.lib.pull(f"{self.ref}:latest") == base.data
        self.current = base

    def fresh(self, size: int) -> Push:
        """A new image record in the container (the client's ``POST v1/images``; the namespace exists)."""
        assert self.current is not None
        push = Push(self.ref, make_sif(size), container_id=self.current.container_id)
        body = {"hash": f"sha256.{push.sha}", "container": push.container_id, "description": ""}
        image = self.lib.call("create image", "POST", "v1/images", body, (200, 201))
        push.image_id, push.uploaded = image["id"], bool(image["uploaded"])
        assert not push.uploaded
        return push

    def marked(self, url: str) -> tuple[str, str]:
        """``url`` with a unique ``fault=`` query, to find the request in gunicorn's access log (the app
        ignores the parameter). Not for presigned store URLs, whose query is signed."""
        self._marks += 1
        mark = f"fault={os.getpid()}-{self._marks}-{random.getrandbits(32):08x}"
        return url + ("&" if "?" in url else "?") + mark, mark

    def wait_handled(self, mark: str, timeout: float = 60) -> None:
        """Until the server has finished the cut request (gunicorn logs it after the app returns)."""
        assert self.server is not None
        wait_for(lambda: any(mark in line for line in self.server.access_lines()), timeout, f"request {mark}")

    def cut(
        self,
        method: str,
        url: str,
        body: bytes,
        cut: int,
        mode: str,
        headers: Mapping[str, str],
        *,
        own: bool = True,
        head: bool = False,
    ) -> None:
        """Send and cut one request. ``own``: our server (wait until it handled the request); ``head``: ``cut``
        counts bytes of the whole request (head and body) instead of the body."""
        mark = ""
        if own:
            url, mark = self.marked(url)
        address, head_bytes = request_head(method, url, len(body), headers)
        if head:
            send_cut(method, url, body, 0, mode, headers, head_cut=cut)
            reached_app = cut >= len(head_bytes)
        else:
            send_cut(method, url, body, cut, mode, headers)
            reached_app = True
        if own and reached_app:
            self.wait_handled(mark)

    def check(self, push: Push, may_complete: bool) -> bool:
        """The registry after an interruption; returns whether the server finished the upload anyway."""
        assert self.current is not None
        tags = self.lib.tags(push)
        assert tags.get("latest") == self.current.image_id, f"tag moved: {tags} (expected {self.current.image_id})"
        latest = self.lib.image(f"{self.ref}:latest")
        assert latest is not None and latest["id"] == self.current.image_id and latest["uploaded"], latest
        image = self.lib.image(push.hash_ref)
        pulled = self.lib.pull(push.hash_ref)
        if image is not None and image["uploaded"]:
            assert may_complete, f"interrupted image {push.image_id} became uploaded"
            assert pulled == push.data, "image completed by the server pulls different bytes"
            return True
        assert pulled is None, f"image {push.image_id} is not uploaded but its file can be pulled"
        return False

    def retry(self, push: Push, path: str) -> None:
        again = Push(self.ref, push.data)
        self.lib.push(again, path)
        assert again.image_id == push.image_id, "the retry created a second image record for the same hash"
        assert self.lib.pull(f"{self.ref}:latest") == push.data, "the retried push pulls different bytes"
        self.current = again
