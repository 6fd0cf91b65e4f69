"""Disk full, for real: the example project's images and its upload folder on small tmpfs mounts.

Layout: the blob storage (``data/images``) on an 8 MiB tmpfs and ``UPLOAD_TEMP_DIR`` on a 16 MiB tmpfs of its own,
so both places where an upload writes can fill up:

* a 12 MiB image fits the upload folder but not the storage: the copy into the storage (across filesystems) hits
  ENOSPC (``storage.store_blob`` removes its partial file);
* a 20 MiB image fills the upload folder itself, over v1, v2 single-part and v2 multipart.

Each must answer 507 in the client's JSON envelope, leave no temporary or partial file, no new blob or uploaded
image, and the image pushed before must still pull byte-identical. After "freeing space" (a remount with a larger
size) the same pushes succeed. Needs root (mount); skipped otherwise. The SQLite database stays outside the mounts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from ..conftest import collection_body, container_body, entity_body, image_body, make_sif
from .server import REPO_ROOT, ExampleServer, running_example_server

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
MAX_SIZE = 64 * MiB


# --- mounts -----------------------------------------------------------------------------------------------


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True, capture_output=True)


def _resize(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True, capture_output=True)


@contextlib.contextmanager
def _tmpfs_mounts(*mounts: tuple[Path, str]) -> Iterator[None]:
    done: list[Path] = []
    try:
        for path, size in mounts:
            try:
                _mount_tmpfs(path, size)
            except (OSError, subprocess.CalledProcessError) as exc:
                detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace").strip()
                pytest.skip(f"cannot mount a tmpfs at {path}: {exc} {detail}")
            done.append(path)
        yield
    finally:
        for path in reversed(done):
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _settings_env(tmp: Path, upload_temp_dir: Path) -> dict[str, str]:
    """The example project's settings with ``UPLOAD_TEMP_DIR`` and ``MAX_IMAGE_SIZE`` set (a settings module in ``tmp``)."""
    folder = tmp / "settings"
    folder.mkdir(exist_ok=True)
    (folder / "disk_full_settings.py").write_text(
        "from example_project.settings import *  # noqa: F403\n"
        "from example_project.settings import SYLABS_LIBRARY as _BASE\n"
        f"SYLABS_LIBRARY = {{**_BASE, 'UPLOAD_TEMP_DIR': {str(upload_temp_dir)!r}, 'MAX_IMAGE_SIZE': {MAX_SIZE}}}\n"
    )
    path = os.pathsep.join(p for p in [str(folder), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")] if p)
    return {"DJANGO_SETTINGS_MODULE": "disk_full_settings", "PYTHONPATH": path}


@pytest.fixture(scope="module")
def full_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ExampleServer, Path, Path]]:
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    tmp = tmp_path_factory.mktemp("disk-full")
    data_dir = tmp / "data"
    images, temp = data_dir / "images", tmp / "upload-temp"
    with _tmpfs_mounts((images, "8m"), (temp, "16m")):
        env = _settings_env(tmp, temp)
        # SQLite in data_dir, outside the mounts: only the image bytes run out of space.
        env["DATABASE_URL"] = ""
        with running_example_server(tmp, env=env, data_dir=data_dir, workers=1, threads=4) as server:
            yield server, images, temp


# --- the push protocol (spec 8.3), with requests ------------------------------------------------------------


@dataclass
class Push:
    ref: str  # entity/collection/container
    data: bytes
    image_id: str = ""
    container_id: str = ""
    uploaded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def hash_ref(self) -> str:
        return f"{self.ref}:sha256.{self.sha}"


class Client:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        response = self.http.request(method, f"{self.url}/{path}", json=body, timeout=120)
        assert response.status_code in ok, (method, path, response.status_code, response.text[:300])
        return response.json().get("data") if response.content else None

    def prepare(self, push: Push) -> None:
        entity, collection, container = push.ref.split("/")
        if self.http.get(f"{self.url}/v1/entities/{entity}", timeout=60).status_code == 404:
            self.call("POST", "v1/entities", entity_body(entity))
        ent = self.call("GET", f"v1/entities/{entity}")
        if self.http.get(f"{self.url}/v1/collections/{entity}/{collection}", timeout=60).status_code == 404:
            self.call("POST", "v1/collections", collection_body(collection, ent["id"]))
        col = self.call("GET", f"v1/collections/{entity}/{collection}")
        if self.http.get(f"{self.url}/v1/containers/{push.ref}", timeout=60).status_code == 404:
            self.call("POST", "v1/containers", container_body(container, col["id"]))
        push.container_id = self.call("GET", f"v1/containers/{push.ref}")["id"]
        response = self.http.get(f"{self.url}/v1/images/{push.hash_ref}?arch=amd64", timeout=60)
        if response.status_code == 404:
            image = self.call("POST", "v1/images", image_body(f"sha256.{push.sha}", push.container_id))
        else:
            image = response.json()["data"]
        push.image_id, push.uploaded = image["id"], image["uploaded"]

    def upload(self, push: Push, path: str) -> requests.Response:
        """One upload over ``path`` (v1, single, multipart) up to its first answer that is not a success."""
        self.prepare(push)
        assert not push.uploaded
        if path == "v1":
            return self.http.post(f"{self.url}/v1/imagefile/{push.image_id}", data=push.data, timeout=120)
        if path == "single":
            body = {"filesize": len(push.data), "sha256sum": push.sha, "md5sum": hashlib.md5(push.data).hexdigest()}
            url = self.call("POST", f"v2/imagefile/{push.image_id}", body)["uploadURL"]
            response = requests.put(url, data=push.data, timeout=120)
            if response.status_code != 200:
                return response
            return self.http.put(f"{self.url}/v2/imagefile/{push.image_id}/_complete", json={}, timeout=120)
        started = self.call("POST", f"v2/imagefile/{push.image_id}/_multipart", {"filesize": len(push.data)})
        size, etags = started["partSize"], []
        for number in range(1, started["totalParts"] + 1):
            chunk = push.data[(number - 1) * size : number * size]
            body = {"uploadID": started["uploadID"], "partNumber": number, "partSize": len(chunk), "sha256sum": ""}
            url = self.call("PUT", f"v2/imagefile/{push.image_id}/_multipart", body, (200,))["presignedURL"]
            response = requests.put(url, data=chunk, timeout=120)
            if response.status_code != 200:
                return response
            etags.append({"partNumber": number, "token": response.headers["ETag"]})
        body = {"uploadID": started["uploadID"], "completedParts": etags}
        return self.http.put(f"{self.url}/v2/imagefile/{push.image_id}/_multipart_complete", json=body, timeout=120)

    def push(self, push: Push, path: str) -> None:
        response = self.upload(push, path)
        assert response.status_code in (200, 204), (path, response.status_code, response.text[:300])
        self.call("POST", f"v2/tags/{push.container_id}", {"Arch": "amd64", "Tag": "latest", "ImageID": push.image_id})

    def pull(self, ref: str) -> bytes | None:
        response = self.http.get(f"{self.url}/v1/imagefile/{ref}?arch=amd64", timeout=120)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, (ref, response.status_code, response.text[:300])
        return response.content


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _rows(server: ExampleServer, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(server.data_dir / "db.sqlite3", timeout=30)) as db:
        return db.execute(sql).fetchall()


def _assert_507(response: requests.Response) -> None:
    assert response.status_code == 507, (response.status_code, response.text[:300])
    body = response.json()
    assert body["error"]["code"] == 507 and "insufficient storage" in body["error"]["message"]


def test_disk_full_answers_507_leaves_nothing_and_keeps_serving(full_server: tuple[ExampleServer, Path, Path]) -> None:
    server, images, temp = full_server
    lib = Client(server.url, server.token("alice"))
    small = Push("alice/disk/small", make_sif("amd64", 1 * MiB))
    lib.push(small, "single")
    assert lib.pull(f"{small.ref}:latest") == small.data
    stored_before = _files(images)
    blobs_before = _rows(server, "SELECT sha256 FROM django_sylabs_library_blob")

    # 12 MiB: received into the upload folder, then the copy into the 8 MiB storage fails.
    # 20 MiB: the upload folder itself fills up, on every upload path.
    attempts = [
        (Push("alice/disk/big", make_sif("amd64", 12 * MiB)), "single"),
        (Push("alice/disk/big", make_sif("amd64", 12 * MiB)), "v1"),
        (Push("alice/disk/huge", make_sif("amd64", 20 * MiB)), "single"),
        (Push("alice/disk/huge", make_sif("amd64", 20 * MiB)), "multipart"),
        (Push("alice/disk/huge", make_sif("amd64", 20 * MiB)), "v1"),
    ]
    for push, path in attempts:
        _assert_507(lib.upload(push, path))
        assert _files(temp) == [], (path, _files(temp))
        assert _files(images) == stored_before, (path, _files(images))
        assert _rows(server, "SELECT sha256 FROM django_sylabs_library_blob") == blobs_before
        uploaded = _rows(
            server, f"SELECT id FROM django_sylabs_library_image WHERE hash = 'sha256.{push.sha}' AND uploaded"
        )
        assert uploaded == [], path
        assert lib.pull(push.hash_ref) is None
        assert lib.pull(f"{small.ref}:latest") == small.data  # pulls keep working
    assert lib.pull("alice/disk/big:latest") is None and lib.pull("alice/disk/huge:latest") is None
    assert [line for line in server.server_errors() if '" 507 ' not in line] == []

    # Space freed: the same pushes go through, and nothing was left behind to clean.
    _resize(images, "64m")
    _resize(temp, "64m")
    for push, path in [(attempts[0][0], "single"), (attempts[3][0], "multipart")]:
        lib.push(Push(push.ref, push.data), path)
        assert lib.pull(f"{push.ref}:latest") == push.data
    gc = server.manage("sylabs_library_gc", "--grace", "0", "--no-progress").stdout
    assert "0 temporary file(s)" in gc and "0 orphan blob(s), 0 orphan file(s)" in gc, gc
    verify = server.manage("sylabs_library_verify", "--no-progress").stdout
    assert "checked 3 blob(s)" in verify and "0 mismatched, 0 missing" in verify, verify


def test_max_image_size_answers_413_on_the_headers_alone(full_server: tuple[ExampleServer, Path, Path]) -> None:
    """gunicorn gets headers declaring 1 GiB more than MAX_IMAGE_SIZE and no body at all: the 413 comes back
    at once, so nothing can have been read or stored."""
    server, images, temp = full_server
    token = server.token("bob")
    lib = Client(server.url, token)
    push = Push("bob/limits/box", make_sif("amd64", 4096))
    lib.prepare(push)
    stored_before = _files(images)
    declared = MAX_SIZE + 1024**3
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /v1/imagefile/{push.image_id} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    for path, body in (
        (f"v2/imagefile/{push.image_id}", {"filesize": declared, "sha256sum": push.sha}),
        (f"v2/imagefile/{push.image_id}/_multipart", {"filesize": declared}),
    ):
        response = lib.http.post(f"{server.url}/{path}", json=body, timeout=30)
        assert response.status_code == 413 and response.json()["error"]["code"] == 413, response.text[:300]
    assert _files(temp) == [] and _files(images) == stored_before
    sessions = _rows(
        server, f"SELECT count(*) FROM django_sylabs_library_uploadsession WHERE image_id = {push.image_id}"
    )
    assert sessions == [(0,)]
    lib.push(push, "v1")  # a size within the limit still goes through
    assert lib.pull(f"{push.ref}:latest") == push.data
