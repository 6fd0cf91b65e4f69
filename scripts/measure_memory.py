#!/usr/bin/env python
"""Memory proof: a 1 GiB push and pull must not grow the gunicorn worker by 64 MiB or more.

Starts the example project under gunicorn with ONE worker (``-w 1 --threads 4``, fresh data dir; PostgreSQL
when ``DATABASE_URL`` is set), builds the conformance driver, writes a SIF of ``--size-mb`` with
``libconform mksif``, samples the worker's resident memory (``VmRSS``) every 50 ms, and pushes and pulls the
file with the real client. Prints idle RSS (after a small warm-up push and pull), the peaks during push and
pull, and the growth; exits 1 when the growth reaches the limit or the pulled bytes differ.

    python scripts/measure_memory.py                 # 1024 MiB
    python scripts/measure_memory.py --size-mb 256   # quicker

Needs about three times the image size free in the temp folder (original, stored copy, pulled copy).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.integration.server import build_driver, rss_kib, running_example_server  # noqa: E402

MIB = 1024 * 1024
ENTITY = "memtest"  # a user's entity is named after the user


class Sampler(threading.Thread):
    """Samples VmRSS of one process every ``interval`` seconds; ``peak()`` over a time window."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            value = rss_kib(self.pid)
            if value is not None:
                self.samples.append((time.monotonic(), value))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak(self, start: float, end: float) -> int:
        values = [v for t, v in self.samples if start <= t <= end]
        return max(values) if values else 0


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(4 * MIB):
            h.update(chunk)
    return h.hexdigest()


def run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="image payload in MiB (default 1024)")
    parser.add_argument("--limit-mib", type=float, default=64, help="allowed worker growth in MiB (default 64)")
    parser.add_argument("--tmp", help="scratch folder (default: a new temp dir, removed afterwards)")
    args = parser.parse_args()

    tmp = Path(args.tmp or tempfile.mkdtemp(prefix="sylabs-memory-"))
    tmp.mkdir(parents=True, exist_ok=True)
    need = 3 * args.size_mb * MIB + 256 * MIB
    free = shutil.disk_usage(tmp).free
    if free < need:
        print(f"not enough disk in {tmp}: {free // MIB} MiB free, need {need // MIB} MiB", file=sys.stderr)
        return 2

    try:
        print(f"building libconform in {tmp / 'bin'} ...", flush=True)
        driver = str(build_driver(tmp / "bin"))
        big, pulled = tmp / "big.sif", tmp / "pulled.sif"
        small, small_pulled = tmp / "warm.sif", tmp / "warm-pulled.sif"
        print(f"writing a {args.size_mb} MiB SIF ...", flush=True)
        run([driver, "mksif", "--out", str(big), "--size-mb", str(args.size_mb)])
        run([driver, "mksif", "--out", str(small), "--size-mb", "4"])
        digest = sha256(big)

        with running_example_server(tmp / "server", workers=1, threads=4) as server:
            workers = server.worker_pids()
            if len(workers) != 1:
                print(f"expected one gunicorn worker, found {workers}", file=sys.stderr)
                return 2
            worker = workers[0]
            token = server.token(ENTITY)
            auth = ["--url", server.url, "--token", token]
            ref = f"library://{ENTITY}/memtest/img:v1"

            # Warm-up: imports, DB connections and caches are loaded before the idle reading.
            run([driver, "push", str(small), f"library://{ENTITY}/memtest/warm:v1", *auth])
            run([driver, "pull", f"library://{ENTITY}/memtest/warm:v1", "--out", str(small_pulled), *auth])
            time.sleep(1.0)
            idle = rss_kib(worker) or 0

            sampler = Sampler(worker)
            sampler.start()
            t0 = time.monotonic()
            run([driver, "push", str(big), ref, *auth])
            t1 = time.monotonic()
            run([driver, "pull", ref, "--out", str(pulled), *auth])
            t2 = time.monotonic()
            sampler.stop()
            if server.worker_pids() != [worker]:
                print(f"the worker was replaced during the run ({server.worker_pids()}); see {server.server_log}")
                return 1
            errors_5xx = server.server_errors()

        same = sha256(pulled) == digest
        peak_push = sampler.peak(t0, t1)
        peak_pull = sampler.peak(t1, t2)
        growth_mib = (max(peak_push, peak_pull) - idle) / 1024
        size_mib = args.size_mb

        print(f"image:            {size_mib} MiB, sha256 {digest[:16]}..., pulled copy identical: {same}")
        print(f"push:             {t1 - t0:.1f} s ({size_mib / max(t1 - t0, 1e-9):.0f} MiB/s)")
        print(f"pull:             {t2 - t1:.1f} s ({size_mib / max(t2 - t1, 1e-9):.0f} MiB/s)")
        print(f"idle RSS:         {idle / 1024:.1f} MiB  (worker pid {worker}, {len(sampler.samples)} samples)")
        print(f"peak during push: {peak_push / 1024:.1f} MiB")
        print(f"peak during pull: {peak_pull / 1024:.1f} MiB")
        print(f"growth:           {growth_mib:.1f} MiB (limit {args.limit_mib:g} MiB)")
        ok = same and growth_mib < args.limit_mib and not errors_5xx
        if errors_5xx:
            print(f"{len(errors_5xx)} answers with status 5xx", file=sys.stderr)
        print("RESULT: " + ("PASS" if ok else "FAIL"))
        return 0 if ok else 1
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
