"""A two-minute soak (``scripts/soak.py``): mixed push/pull/get/search/delete with the real client from four
concurrent loops, zero errors, no 5xx, and the gunicorn workers' memory flat (under 64 MiB growth in total).

The full run is ten minutes (``python scripts/soak.py``); CI runs this shorter one. PostgreSQL when
``SYLABS_IT_POSTGRES_URL`` is set (a throwaway database), else SQLite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .server import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LAST_LINE = re.compile(r"^soak: ops=(\d+) errors=(\d+) rss_growth_mib=(-?[\d.]+) minutes=([\d.]+)$")


def test_two_minute_soak(libconform: Path, tmp_path: Path) -> None:
    cmd = [
        sys.executable, str(REPO_ROOT / "scripts" / "soak.py"),
        "--minutes", "2", "--clients", "4", "--driver", str(libconform), "--tmp", str(tmp_path),
    ]  # fmt: skip
    postgres = os.environ.get("SYLABS_IT_POSTGRES_URL", "")
    if postgres:
        cmd += ["--database-url", postgres]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=15 * 60)
    print(proc.stdout)
    lines = proc.stdout.strip().splitlines()
    summary = LAST_LINE.match(lines[-1]) if lines else None
    assert summary, f"no summary line (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    ops, errors, growth = int(summary.group(1)), int(summary.group(2)), float(summary.group(3))
    assert errors == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert ops >= 100, f"only {ops} operations in two minutes"
    assert growth <= 64, proc.stdout[-2000:]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
