"""Read-only tokens and the audit log with Apptainer's own library and key clients (``libconform``) against
the example project under gunicorn: the client shows our "read-only" message, reads still work, and the audit
log names the token, the user and the loopback address of each change, and nothing for refused ones."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from .server import REPO_ROOT, ExampleServer

pytestmark = pytest.mark.integration


def run(driver: Path, server: ExampleServer, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(driver), *args], cwd=REPO_ROOT, env=server.env, capture_output=True, text=True, timeout=300
    )
    if check:
        assert proc.returncode == 0, (args[0], proc.stdout[-2000:], proc.stderr[-2000:])
    return proc


def audit_events(server: ExampleServer) -> list[dict[str, object]]:
    code = (
        "import json; from django_sylabs_library.models import AuditEvent as E; "
        "print(json.dumps(list(E.objects.order_by('pk').values("
        "'action', 'actor_name', 'object_ref', 'remote_addr', 'via'))))"
    )
    return json.loads(server.manage("shell", "-c", code).stdout.strip().splitlines()[-1])


def test_read_only_token_with_the_real_client(libconform: Path, example_server: ExampleServer, tmp_path: Path) -> None:
    url = example_server.url
    writer = example_server.token("scoped")
    made = example_server.manage("sylabs_library_token", "scoped", "--name", "ci", "--read-only")
    reader = made.stdout.strip().splitlines()[-1]
    sif = tmp_path / "a.sif"
    run(libconform, example_server, "mksif", "--out", str(sif), "--size-mb", "1")
    ref = "library://scoped/tools/demo:latest"
    run(libconform, example_server, "push", "--url", url, "--token", writer, str(sif), ref)
    before = audit_events(example_server)
    prefix = writer[:12]
    pushed = [e for e in before if e["via"] == prefix]
    assert [e["action"] for e in pushed] == ["collection.create", "container.create", "image.push", "tag.set"]
    assert all(e["actor_name"] == "scoped" and e["remote_addr"] == "127.0.0.1" for e in pushed)

    # Reads with the read-only token: login, metadata, search, tags, pull (bytes identical).
    run(libconform, example_server, "login", "--url", url, "--token", reader)
    run(libconform, example_server, "get", "--url", url, "--token", reader, ref)
    run(libconform, example_server, "search", "--url", url, "--token", reader, "demo")
    run(libconform, example_server, "tags", "--url", url, "--token", reader, "scoped/tools/demo")
    out = tmp_path / "pulled.sif"
    run(libconform, example_server, "pull", "--url", url, "--token", reader, ref, "--out", str(out))
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(sif.read_bytes()).digest()

    # Changes with the read-only token: the client fails and shows our message; nothing is written.
    other = tmp_path / "b.sif"
    run(libconform, example_server, "mksif", "--out", str(other), "--size-mb", "1", "--seed", "7")
    key = tmp_path / "key.asc"
    run(libconform, example_server, "genkey", "--out", str(key), "--name", "S", "--email", "s@example.org")
    refused = [
        run(libconform, example_server, "push", "--url", url, "--token", reader, str(other), ref, check=False),
        run(libconform, example_server, "delete", "--url", url, "--token", reader, ref, check=False),
        run(libconform, example_server, "key-push", "--url", url, "--token", reader, str(key), check=False),
    ]
    for proc in refused:
        assert proc.returncode != 0
        assert "read-only" in (proc.stdout + proc.stderr), (proc.stdout[-1000:], proc.stderr[-1000:])
    assert audit_events(example_server) == before
    run(libconform, example_server, "pull", "--url", url, "--token", reader, ref, "--out", str(out))
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(sif.read_bytes()).digest()
    assert example_server.server_errors() == []
