#!/usr/bin/env python
"""Soak run: mixed push/pull/search/delete with the real client for N minutes; zero errors, flat memory.

Starts the example project under gunicorn (fresh data dir; a throwaway PostgreSQL database when
``--database-url``/``DATABASE_URL`` names a server, else SQLite), then runs ``--clients`` concurrent loops that
drive ``libconform`` (the Apptainer library client): push a fresh image, push an image again under a new tag
(the "already uploaded" path), pull (bytes checked against the SHA-256), get, search, and delete. Every gunicorn
worker's resident memory (VmRSS) is sampled every few seconds. At the end it prints the count of each
operation, the errors (must be 0), the 5xx answers in the access log (must be 0), and RSS at start (after a
warm-up), peak and end, and exits 1 on any error or when the workers together grew by more than
``--rss-limit-mib``. The last line is::

    soak: ops=N errors=0 rss_growth_mib=X minutes=M

    python scripts/soak.py                          # 10 minutes
    python scripts/soak.py --minutes 2 --clients 4  # what tests/integration/test_soak.py runs
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.integration.server import ExampleServer, build_driver, rss_kib, running_example_server  # noqa: E402

MIB = 1024 * 1024
MAX_MINUTES = 180
ENTITY = "soak"  # a user's entity is named after the user
DEFAULT_DRIVER = Path("/tmp/libconform-bin/libconform")
# Relative weights of the operations in the mix.
MIX = {"push": 4, "retag": 1, "pull": 4, "get": 2, "search": 2, "delete": 2}
KEEP_IMAGES = 6  # per client: above this many, the next operation is a delete (bounded disk use)


class RssSampler(threading.Thread):
    """Every ``interval`` seconds: VmRSS of each gunicorn worker (KiB), keyed by pid."""

    def __init__(self, server: ExampleServer, interval: float) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.interval = interval
        self.samples: list[tuple[float, dict[int, int]]] = []
        self._halt = threading.Event()

    def sample(self) -> dict[int, int]:
        values = {pid: rss_kib(pid) for pid in self.server.worker_pids()}
        reading = {pid: kib for pid, kib in values.items() if kib is not None}
        self.samples.append((time.monotonic(), reading))
        return reading

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join()


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    ops: collections.Counter = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)
    seconds: collections.Counter = field(default_factory=collections.Counter)

    def done(self, op: str, elapsed: float) -> None:
        with self.lock:
            self.ops[op] += 1
            self.seconds[op] += elapsed

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)
        print(f"ERROR {message}", file=sys.stderr, flush=True)


@dataclass
class Pushed:
    tags: list[str]
    sha256: str
    size: int
    path: Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


class Loop(threading.Thread):
    """One client: a random mix of operations on its own collection until the deadline."""

    def __init__(self, index: int, driver: Path, server: ExampleServer, token: str, work: Path, args, stats: Stats):
        super().__init__(daemon=True, name=f"soak-{index}")
        self.index = index
        self.driver = str(driver)
        self.auth = ["--url", server.url, "--token", token]
        self.env = server.env
        self.work = work / f"client-{index}"
        self.work.mkdir(parents=True, exist_ok=True)
        self.size_mb = args.size_mb
        self.stats = stats
        self.rng = random.Random(f"{args.seed}-{index}")
        self.images: list[Pushed] = []
        self.counter = 0
        self.deadline = 0.0
        self.collection = f"soak-c{index}"

    def ref(self, tag: str) -> str:
        return f"library://{ENTITY}/{self.collection}/img:{tag}"

    def libconform(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.driver, *args], capture_output=True, text=True, timeout=timeout, env=self.env, cwd=self.work
        )

    def check(self, op: str, proc: subprocess.CompletedProcess[str]) -> bool:
        if proc.returncode == 0:
            return True
        self.stats.error(f"{op} exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-400:]}")
        return False

    def new_tag(self) -> str:
        self.counter += 1
        return f"t{self.counter}"

    # -- operations ---------------------------------------------------------------------------------------
    def op_push(self) -> None:
        tag = self.new_tag()
        path = self.work / f"{tag}.sif"
        made = self.libconform(
            "mksif",
            "--out",
            str(path),
            "--size-mb",
            str(self.size_mb),
            "--seed",
            f"{self.collection}-{tag}-{time.time()}",
        )
        if not self.check("mksif", made):
            return
        if self.check("push", self.libconform("push", str(path), self.ref(tag), *self.auth)):
            self.images.append(Pushed([tag], sha256_file(path), path.stat().st_size, path))

    def op_retag(self) -> None:
        """Push the bytes of an image already here under another tag: the client finds it uploaded."""
        if not self.images:
            return self.op_push()
        image = self.rng.choice(self.images)
        tag = self.new_tag()
        if self.check("retag", self.libconform("push", str(image.path), self.ref(tag), *self.auth)):
            image.tags.append(tag)

    def op_pull(self) -> None:
        if not self.images:
            return self.op_push()
        image = self.rng.choice(self.images)
        out = self.work / "pulled.sif"
        proc = self.libconform("pull", self.ref(self.rng.choice(image.tags)), "--out", str(out), *self.auth)
        if self.check("pull", proc):
            got = sha256_file(out)
            if got != image.sha256 or out.stat().st_size != image.size:
                self.stats.error(f"pull of {image.tags} gave sha256 {got}, expected {image.sha256}")
        out.unlink(missing_ok=True)

    def op_get(self) -> None:
        if not self.images:
            return self.op_push()
        image = self.rng.choice(self.images)
        proc = self.libconform("get", self.ref(self.rng.choice(image.tags)), *self.auth)
        if self.check("get", proc):
            record = json.loads(proc.stdout)
            if record.get("hash") != f"sha256.{image.sha256}" or not record.get("uploaded"):
                self.stats.error(f"get {image.tags}: {proc.stdout[:300]}")

    def op_search(self) -> None:
        proc = self.libconform("search", self.collection, *self.auth)
        if self.check("search", proc) and self.images and self.collection not in proc.stdout:
            self.stats.error(f"search {self.collection} did not list it: {proc.stdout[:300]}")

    def op_delete(self) -> None:
        if not self.images:
            return self.op_push()
        image = self.images.pop(self.rng.randrange(len(self.images)))
        ref = self.ref(self.rng.choice(image.tags))
        if self.check("delete", self.libconform("delete", ref, *self.auth)):
            gone = self.libconform("get", ref, *self.auth)
            if gone.returncode == 0:
                self.stats.error(f"{ref} still answers after delete: {gone.stdout[:200]}")
        image.path.unlink(missing_ok=True)

    def step(self, op: str | None = None) -> None:
        if op is None:
            if len(self.images) > KEEP_IMAGES:
                op = "delete"
            else:
                op = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        started = time.monotonic()
        try:
            getattr(self, f"op_{op}")()
        except Exception as exc:  # a timeout or bad JSON from the driver counts as an error, never a crash
            self.stats.error(f"{op}: {type(exc).__name__}: {exc}")
        self.stats.done(op, time.monotonic() - started)

    def run(self) -> None:
        while time.monotonic() < self.deadline:
            self.step()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help=f"duration (default 10, at most {MAX_MINUTES})")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client loops (default 4)")
    parser.add_argument("--size-mb", type=int, default=2, help="size of each pushed image (default 2 MiB)")
    parser.add_argument("--rss-limit-mib", type=float, default=64, help="allowed RSS growth of all workers (64)")
    parser.add_argument("--sample-seconds", type=float, default=3, help="RSS sampling interval (default 3 s)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    parser.add_argument("--driver", help=f"libconform binary (default {DEFAULT_DRIVER}, else built)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""), help="PostgreSQL server URL")
    parser.add_argument("--seed", default="soak", help="seed of the operation mix")
    parser.add_argument("--tmp", help="scratch folder (default: a new temp dir, removed afterwards)")
    args = parser.parse_args()
    if not 0 < args.minutes <= MAX_MINUTES:
        parser.error(f"--minutes must be above 0 and at most {MAX_MINUTES}")
    if not 1 <= args.clients <= 64:
        parser.error("--clients must be between 1 and 64")

    tmp = Path(args.tmp or tempfile.mkdtemp(prefix="sylabs-soak-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        if args.driver:
            driver = Path(args.driver)
        elif DEFAULT_DRIVER.is_file():
            driver = DEFAULT_DRIVER
        else:
            print(f"building libconform in {tmp / 'bin'} ...", flush=True)
            driver = build_driver(tmp / "bin")
        env = {"SYLABS_EXAMPLE_LOG_LEVEL": "INFO"}  # as in production: no per-request debug lines
        if args.database_url:
            env["DATABASE_URL"] = args.database_url
        database = "PostgreSQL" if args.database_url else "SQLite"
        with running_example_server(tmp / "server", env=env, workers=args.workers, threads=args.threads) as server:
            return soak(server, driver, tmp / "work", args, database)
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def soak(server: ExampleServer, driver: Path, work: Path, args, database: str) -> int:
    token = server.token(ENTITY)
    stats = Stats()
    loops = [Loop(i, driver, server, token, work, args, stats) for i in range(args.clients)]
    print(
        f"soak: {args.minutes:g} min, {args.clients} clients, {args.size_mb} MiB images, gunicorn {args.workers}x"
        f"{args.threads} on {database}, {server.url}",
        flush=True,
    )
    # Warm-up (not counted): every operation once per client, so imports, connections and caches are loaded
    # before the first reading.
    for loop in loops:
        for op in ("push", "retag", "pull", "get", "search", "push", "delete"):
            loop.step(op)
    stats.ops.clear()
    stats.seconds.clear()
    if stats.errors:
        print(f"soak: the warm-up failed: {stats.errors[:3]}", file=sys.stderr)
    time.sleep(1)
    sampler = RssSampler(server, args.sample_seconds)
    start_rss = sampler.sample()
    pids = sorted(start_rss)
    sampler.start()
    started = time.monotonic()
    deadline = started + args.minutes * 60
    for loop in loops:
        loop.deadline = deadline
        loop.start()
    next_report = started + 60
    while any(loop.is_alive() for loop in loops):
        time.sleep(1)
        if time.monotonic() >= next_report:
            next_report += 60
            reading = sampler.samples[-1][1] if sampler.samples else {}
            print(
                f"  {int((time.monotonic() - started) // 60)} min: ops={sum(stats.ops.values())} "
                f"errors={len(stats.errors)} rss_mib={sum(reading.values()) / 1024:.1f}",
                flush=True,
            )
    for loop in loops:
        loop.join()
    elapsed = time.monotonic() - started
    time.sleep(1)
    sampler.stop()
    end_rss = sampler.sample()

    replaced = sorted(set(end_rss) ^ set(pids))
    errors_5xx = server.server_errors()
    total_ops = sum(stats.ops.values())
    print(f"operations in {elapsed / 60:.1f} min ({total_ops / elapsed:.1f}/s):")
    for op in MIX:
        n = stats.ops[op]
        mean = stats.seconds[op] / n if n else 0.0
        print(f"  {op:<7} {n:>6}  mean {mean * 1000:.0f} ms")
    print(f"errors: {len(stats.errors)}")
    for message in stats.errors[:20]:
        print(f"  {message}")
    print(f"5xx in the access log: {len(errors_5xx)} (of {len(server.access_lines())} requests)")
    for line in errors_5xx[:10]:
        print(f"  {line}")

    growth_kib = 0
    print(f"worker RSS (MiB), {len(sampler.samples)} samples every {args.sample_seconds:g} s:")
    for pid in pids:
        series = [reading[pid] for _, reading in sampler.samples if pid in reading]
        start, end = start_rss[pid], end_rss.get(pid, series[-1] if series else start_rss[pid])
        growth_kib += end - start
        print(
            f"  pid {pid}: start {start / 1024:.1f}  peak {max(series, default=start) / 1024:.1f}  "
            f"end {end / 1024:.1f}  growth {(end - start) / 1024:+.1f}"
        )
    growth_mib = growth_kib / 1024
    print(f"total RSS growth: {growth_mib:+.1f} MiB (limit {args.rss_limit_mib:g} MiB)")
    if replaced:
        print(f"gunicorn workers were replaced during the run: {replaced} (see {server.server_log})")
    errors = len(stats.errors) + len(errors_5xx)  # client failures and 5xx answers
    ok = not errors and not replaced and growth_mib <= args.rss_limit_mib
    print(f"soak: ops={total_ops} errors={errors} rss_growth_mib={growth_mib:.1f} minutes={args.minutes:g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
