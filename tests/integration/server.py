"""Start the example project under gunicorn for integration tests, measurements and benchmarks.

Usage::

    with running_example_server(tmp_dir) as server:
        token = server.token("alice")           # creates the user and an API token
        requests.get(server.url + "/version")

The server runs from the repository root with a fresh ``SYLABS_EXAMPLE_DATA_DIR`` inside ``tmp_dir`` (SQLite
there, images under ``images/``). When ``DATABASE_URL`` names a PostgreSQL server, a throwaway database is
created on it for the run and dropped afterwards, so runs never share users or tokens.

Nothing here imports Django: the server and the management commands run in subprocesses with
``sys.executable``, so this module also works from plain scripts (``scripts/measure_memory.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
MANAGE_PY = REPO_ROOT / "example_project" / "manage.py"

__all__ = [
    "REPO_ROOT",
    "ExampleServer",
    "build_driver",
    "free_port",
    "rss_kib",
    "running_example_server",
    "shared_dir",
]


def shared_dir() -> Path:
    """The ``shared/`` folder with the conformance driver: ``$SYLABS_SHARED_DIR``, else beside the checkout."""
    env = os.environ.get("SYLABS_SHARED_DIR")
    return Path(env).resolve() if env else REPO_ROOT.parent / "shared"


def build_driver(out_dir: str | os.PathLike[str]) -> Path:
    """Build ``libconform`` with ``shared/conformance/build.sh`` into ``out_dir``; return the binary's path."""
    script = shared_dir() / "conformance" / "build.sh"
    if not script.is_file():
        raise RuntimeError(f"conformance driver sources not found: {script} (set SYLABS_SHARED_DIR)")
    out = Path(out_dir)
    proc = subprocess.run(["sh", str(script), str(out)], capture_output=True, text=True, timeout=900)
    binary = out / "libconform"
    if proc.returncode != 0 or not binary.is_file():
        raise RuntimeError(f"{script} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return binary


def rss_kib(pid: int) -> int | None:
    """Resident memory of a process in KiB (``VmRSS``), or None once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _is_postgres(url: str) -> bool:
    return url.split(":", 1)[0] in {"postgres", "postgresql", "pgsql", "postgis"}


def _admin_connect(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or None,
        port=parts.port or None,
        user=parts.username or None,
        password=parts.password or None,
        dbname=(parts.path.lstrip("/") or "postgres"),
        autocommit=True,
    )


@contextlib.contextmanager
def _throwaway_postgres(url: str) -> Iterator[str]:
    """Create a fresh database on the server of ``url``; yield its URL; drop it afterwards."""
    name = "sylabs_it_" + secrets.token_hex(4)
    with _admin_connect(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    finally:
        with contextlib.suppress(Exception), _admin_connect(url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class ExampleServer:
    """A running gunicorn serving ``example_project`` (see :func:`running_example_server`)."""

    url: str
    pid: int
    access_log: Path
    server_log: Path
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen = field(repr=False)

    # -- management commands ------------------------------------------------------------------------------
    @property
    def manage_command(self) -> str:
        """Shell prefix running ``manage.py`` (run it with :attr:`env` and the repository root as cwd)."""
        return f"{shlex.quote(sys.executable)} {shlex.quote(str(MANAGE_PY))}"

    def manage(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, str(MANAGE_PY), *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def token(self, username: str, *, create_user: bool = True, name: str | None = None) -> str:
        """Create an API token for ``username`` (and the user, by default); return the raw token."""
        args = ["sylabs_library_token", username]
        if create_user:
            args.append("--create-user")
        if name:
            args += ["--name", name]
        lines = [line.strip() for line in self.manage(*args).stdout.splitlines() if line.strip()]
        if not lines:
            raise RuntimeError(f"sylabs_library_token {username} printed nothing")
        return lines[-1]

    # -- process and logs ---------------------------------------------------------------------------------
    def worker_pids(self) -> list[int]:
        """PIDs of the gunicorn workers (the master's children)."""
        pids: list[int] = []
        for children in Path(f"/proc/{self.pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pids += [int(p) for p in children.read_text().split()]
        return sorted(set(pids))

    def access_lines(self) -> list[str]:
        try:
            return self.access_log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def server_errors(self) -> list[str]:
        """Access-log lines with a 5xx status."""
        return [line for line in self.access_lines() if re.search(r'" 5\d\d ', line)]

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.server_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _gunicorn_extra_args() -> list[str]:
    """Options that keep parallel servers apart (gunicorn >= 24 opens a control socket in ~/.gunicorn)."""
    try:
        from gunicorn.config import KNOWN_SETTINGS
    except ImportError:  # pragma: no cover - gunicorn missing: the Popen below reports it
        return []
    cli = {flag for setting in KNOWN_SETTINGS for flag in (setting.cli or [])}
    return ["--no-control-socket"] if "--no-control-socket" in cli else []


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(url + "/version", timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.25)
    raise RuntimeError(f"{url}/version not ready after {timeout}s ({last}):\n{log.read_text(errors='replace')[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextlib.contextmanager
def running_example_server(
    tmp_dir: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    workers: int = 2,
    threads: int = 4,
    *,
    fresh_database: bool = True,
    startup_timeout: float = 90,
    data_dir: str | os.PathLike[str] | None = None,
) -> Iterator[ExampleServer]:
    """Migrate a fresh data dir and run gunicorn on a free loopback port until the block ends.

    Args:
        tmp_dir: scratch folder; gets ``data/`` (``SYLABS_EXAMPLE_DATA_DIR``), ``access.log`` and ``server.log``.
        env: extra environment for the server and the management commands (e.g. ``DATABASE_URL``).
        workers: gunicorn worker processes (``-w``); ``threads`` per worker (``--threads``).
        fresh_database: with a PostgreSQL ``DATABASE_URL``, run on a throwaway database on that server.
        startup_timeout: seconds to wait for ``GET /version``.
        data_dir: ``SYLABS_EXAMPLE_DATA_DIR`` (default ``tmp_dir/data``); two servers given the same one share
            its SQLite database (a scale-out test with one database).
    """
    tmp = Path(tmp_dir).resolve()
    tmp.mkdir(parents=True, exist_ok=True)
    data_dir = Path(data_dir).resolve() if data_dir else tmp / "data"
    data_dir.mkdir(parents=True, exist_ok=True)

    full_env = dict(os.environ)
    # pytest-django exports DJANGO_SETTINGS_MODULE=tests.settings; the server must use the example's settings.
    full_env.update(
        {
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "SYLABS_EXAMPLE_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
            # example_project/gunicorn.conf.py: keep (redacted) query strings in the access log, where
            # tests find requests by a marker parameter.
            "SYLABS_EXAMPLE_ACCESS_LOG_QUERY": "1",
        }
    )
    # The app's and gunicorn's DEBUG lines too: test_logs.py checks that none of them carries a secret.
    full_env.setdefault("SYLABS_EXAMPLE_LOG_LEVEL", "DEBUG")
    full_env.pop("PYTHONDEVMODE", None)
    if env:
        full_env.update(env)

    with contextlib.ExitStack() as stack:
        db_url = full_env.get("DATABASE_URL", "")
        if db_url and fresh_database and _is_postgres(db_url):
            full_env["DATABASE_URL"] = stack.enter_context(_throwaway_postgres(db_url))

        migrate = subprocess.run(
            [sys.executable, str(MANAGE_PY), "migrate", "--noinput"],
            cwd=REPO_ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate failed ({migrate.returncode}):\n{migrate.stdout}\n{migrate.stderr}")

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        access_log = tmp / "access.log"
        server_log = tmp / "server.log"
        log_fh = stack.enter_context(open(server_log, "ab"))  # noqa: SIM115 - closed by the ExitStack
        cmd = [
            sys.executable, "-m", "gunicorn", "example_project.wsgi:application",
            # The deployment's config: the redacting logger class and the access-log format.
            "-c", str(REPO_ROOT / "example_project" / "gunicorn.conf.py"),
            "-w", str(workers), "--threads", str(threads), "--timeout", "600",
            "-b", f"127.0.0.1:{port}",
            "--access-logfile", str(access_log),
            "--error-logfile", "-",
            *_gunicorn_extra_args(),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=full_env, stdout=log_fh, stderr=subprocess.STDOUT)
        stack.callback(_stop, proc)
        _wait_ready(url, proc, server_log, startup_timeout)
        yield ExampleServer(
            url=url,
            pid=proc.pid,
            access_log=access_log,
            server_log=server_log,
            data_dir=data_dir,
            env=full_env,
            process=proc,
        )
