"""The real-client conformance suite (``shared/conformance``) against the example project under gunicorn."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .server import REPO_ROOT, ExampleServer
from .test_logs import leaks

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GROUPS = (
    "discovery,auth,push,arch,large,search,delete,anon,errors,user2,private,frozen,frozen-tag,interrupt,sign,"
    "shub,keys"
)
# Streaming downloads with 200 is valid for every client version; the driver reports the ranged case as SKIP then.
ALLOWED_SKIPS = {"pull.concurrent-ranged": "answered 200"}
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$")


def test_libconform_suite(libconform: Path, example_server: ExampleServer, tmp_path: Path) -> None:
    token1 = example_server.token("conform1")
    token2 = example_server.token("conform2")
    manage = example_server.manage_command
    cmd = [
        str(libconform), "run",
        "--url", example_server.url,
        "--token", token1,
        "--token2", token2,
        "--large-mb", "128",
        "--freeze-cmd", f"{manage} sylabs_library_freeze {{ref}}",
        "--unfreeze-cmd", f"{manage} sylabs_library_freeze --unfreeze {{ref}}",
        "--only", GROUPS,
        # shub: push into user 1's own entity; the two-segment shub path resolves to its unique collection.
        "--shub-entity", "conform1",
        # keys: a push without a token must be refused with 401 (and the key must not be stored).
        "--keys-require-auth",
    ]  # fmt: skip
    # The freeze commands inherit the server's environment (data dir, DATABASE_URL, settings module).
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=example_server.env, capture_output=True, text=True, timeout=60 * 60)
    report = tmp_path / "conformance.txt"
    report.write_text(proc.stdout)
    (tmp_path / "conformance.stderr.txt").write_text(proc.stderr)
    print(proc.stdout)  # shown by pytest on failure (and with -s)

    lines = [line.rstrip() for line in proc.stdout.splitlines() if line.strip()]
    fails = [line for line in lines if line.startswith("FAIL")]
    bad_skips = []
    for line in lines:
        if not line.startswith("SKIP "):
            continue
        case, _, reason = line[len("SKIP ") :].partition(": ")
        allowed = ALLOWED_SKIPS.get(case)
        if allowed is None or allowed not in reason:
            bad_skips.append(line)
    errors_5xx = example_server.server_errors()
    summary = SUMMARY.match(lines[-1]) if lines else None

    problems = []
    if proc.returncode != 0:
        problems.append(f"libconform exited with {proc.returncode}")
    if summary is None:
        problems.append(f"no summary line; last line: {lines[-1] if lines else '<no output>'!r}")
    elif summary.group(2) != "0":
        problems.append(f"summary: {lines[-1]}")
    if fails:
        problems.append("failed cases:\n  " + "\n  ".join(fails))
    if bad_skips:
        problems.append("unexpected skips:\n  " + "\n  ".join(bad_skips))
    if errors_5xx:
        problems.append(f"{len(errors_5xx)} answers with status 5xx:\n  " + "\n  ".join(errors_5xx[:20]))
    # Everything the server logged during the run (access log, gunicorn debug, app DEBUG, django.request):
    # no token, upload secret or signed URL (test_logs.py).
    leaked = leaks(example_server, [token1, token2])
    if leaked:
        problems.append(f"{len(leaked)} log lines with secrets:\n  " + "\n  ".join(leaked[:20]))
    if problems:
        problems.append("libconform stderr (tail):\n" + "\n".join(proc.stderr.splitlines()[-20:]))
        problems.append("server log (tail):\n" + example_server.log_tail(80))
        problems.append(f"full report: {report}")
    assert not problems, "\n\n".join(problems)
