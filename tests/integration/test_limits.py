"""Quotas and rate limits against the example project under gunicorn (2 workers), with the real client.

* A push over the entity's quota fails in the Apptainer library client with our 507 message, after
  a push within it reported ``quota`` usage as the client reads it; nothing of the refused image
  becomes pullable.
* Rate limits count in a shared cache: with 2 workers, exactly the configured number of requests
  pass, then 429 with Retry-After in the JSON envelope.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import REPO_ROOT, ExampleServer, running_example_server

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServer]:
    env = {"DJANGO_SETTINGS_MODULE": "tests.integration.limits_settings"}
    with running_example_server(tmp_path_factory.mktemp("limits-server"), env=env) as srv:
        srv.manage("createcachetable")
        yield srv


def run(libconform: Path, server: ExampleServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(libconform), *args], cwd=REPO_ROOT, env=server.env, capture_output=True, text=True, timeout=300
    )


def mksif(libconform: Path, server: ExampleServer, path: Path, size_mb: int, seed: str) -> int:
    proc = run(libconform, server, "mksif", "--out", str(path), "--size-mb", str(size_mb), "--seed", seed)
    assert proc.returncode == 0, proc.stderr
    return path.stat().st_size


def test_push_over_quota_fails_in_the_client_with_the_message(
    libconform: Path, server: ExampleServer, tmp_path: Path
) -> None:
    token = server.token("quotauser")
    first, second, third = (tmp_path / f"{n}.sif" for n in ("a", "b", "c"))
    size_a = mksif(libconform, server, first, 2, "quota-a")
    size_b = mksif(libconform, server, second, 1, "quota-b")
    mksif(libconform, server, third, 2, "quota-c")
    common = ["--url", server.url, "--token", token]

    pushed = run(libconform, server, "push", *common, str(first), "library://quotauser/q/app:a")
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout)["response"]["quota"] == {"quotaTotal": 0, "quotaUsage": size_a}

    quota = size_a + size_b + MiB // 2
    server.manage(
        "shell", "-c",
        f"from django_sylabs_library.models import Entity; Entity.objects.filter(name='quotauser').update(quota={quota})",
    )  # fmt: skip
    pushed = run(libconform, server, "push", *common, str(second), "library://quotauser/q/app:b")
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout)["response"]["quota"] == {"quotaTotal": quota, "quotaUsage": size_a + size_b}

    refused = run(libconform, server, "push", *common, str(third), "library://quotauser/q/app:c")
    print(refused.stderr)
    assert refused.returncode != 0
    assert "storage quota exceeded" in refused.stderr and "507" in refused.stderr
    assert "quotauser" in refused.stderr
    pull = run(libconform, server, "pull", *common, "library://quotauser/q/app:c", "--out", str(tmp_path / "x.sif"))
    assert pull.returncode != 0
    assert not (tmp_path / "x.sif").exists() or (tmp_path / "x.sif").stat().st_size == 0


def test_rate_limit_is_shared_by_the_workers(server: ExampleServer) -> None:
    url = server.url + "/v1/search?value=nothing"
    statuses, retry_after, body = [], None, None
    for _ in range(16):  # spread over both workers by gunicorn's accept loop
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
            retry_after = exc.headers.get("Retry-After")
            body = json.loads(exc.read())
    print("statuses:", statuses)
    assert statuses == [200] * 5 + [429] * 11
    assert retry_after is not None and 1 <= int(retry_after) <= 60
    assert body["error"]["code"] == 429
    # /version is never limited: the client asks for it before every operation.
    with urllib.request.urlopen(server.url + "/version", timeout=30) as response:
        assert response.status == 200
