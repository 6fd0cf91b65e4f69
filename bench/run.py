"""Transfer benchmark: our server path against nginx (or SeaweedFS), and the real client end to end.

usage: python bench/run.py [--size-mb 1024] [--storage fs|s3] [--rounds 5]

Builds the conformance driver (``shared/conformance/build.sh``), installs Debian's ``nginx-light`` when missing
(filesystem runs), checks free disk space, writes an N MiB SIF with ``libconform mksif`` and starts, in the same
run, the example project under gunicorn (``-w 2 --threads 4``; with ``--storage s3`` on a fresh SeaweedFS) and
the baseline: nginx (``sendfile on``, one worker, DAV ``PUT``) on 127.0.0.1 holding the same file, or for
``--storage s3`` the same curl transfers straight to SeaweedFS with presigned URLs. Medians of ``--rounds``
rounds (fresh image record each round, deleted afterwards, so every round stores the blob anew):

1. server path, curl on both sides: ``PUT`` of the file to our v2 upload URL then ``PUT _complete`` (timed
   together) against ``curl -T`` to nginx; ``GET v1/imagefile/<ref>`` (following the 303 when there is one)
   against ``GET`` from nginx; both written to disk;
2. end to end with the real client: ``libconform bench`` push and pull MB/s; and the client's hashing ceiling
   (it reads the whole file once for MD5 and SHA-256 in parallel before uploading), measured here with the
   same two hashes in two threads;
3. peak RSS of each gunicorn worker during 1 and 2, against the same worker idle after a warm-up.

Prints a table; the very last line of stdout is
``push_ratio=<..> pull_ratio=<..> rss_growth_mib=<..> client_push_mbps=<..> client_pull_mbps=<..>``.
Results and the deployment they belong to: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.integration.seaweedfs import running_seaweedfs  # noqa: E402
from tests.integration.server import build_driver, free_port, rss_kib, running_example_server  # noqa: E402

MIB = 1024 * 1024


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- memory -------------------------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """VmRSS of some processes every 50 ms; ``peak(pid)`` since the last ``reset``."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peaks: dict[int, int] = dict.fromkeys(pids, 0)
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._halt.is_set():
            for pid in self.pids:
                value = rss_kib(pid) or 0
                with self._lock:
                    self.peaks[pid] = max(self.peaks[pid], value)
            self._halt.wait(0.05)

    def stop(self) -> None:
        self._halt.set()
        self.join()


# --- helpers ------------------------------------------------------------------------------------------------


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise SystemExit(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (and their threads) so far."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in task.read_text().split()]
    return found


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    run(cmd)
    return time.perf_counter() - start


def ensure_nginx() -> str:
    for candidate in ("/usr/sbin/nginx", shutil.which("nginx")):
        if candidate and os.path.exists(candidate):
            return candidate
    if os.geteuid() != 0:
        raise SystemExit("nginx is missing and we are not root: apt-get install nginx-light")
    log("installing nginx-light ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx-light"], env=env)
    return "/usr/sbin/nginx"


@contextlib.contextmanager
def running_nginx(root: Path):
    """nginx-light as the baseline: one worker, sendfile on, DAV PUT into ``root/dav``."""
    nginx = ensure_nginx()
    port = free_port()
    (root / "dav").mkdir(parents=True, exist_ok=True)
    (root / "body-temp").mkdir(exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(
        f"""
user root;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_max_body_size 0;
  client_body_temp_path {root}/body-temp;
  server {{
    listen 127.0.0.1:{port};
    root {root}/dav;
    location / {{ dav_methods PUT DELETE; create_full_put_path on; }}
  }}
}}
"""
    )
    run([nginx, "-p", str(root), "-c", str(conf)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", root / "dav"
    finally:
        with contextlib.suppress(Exception):
            pid = int((root / "nginx.pid").read_text())
            os.kill(pid, signal.SIGQUIT)
            time.sleep(0.5)


def client_hash_ceiling(path: Path, size: int) -> float:
    """MB/s of one read of the file hashed with MD5 and SHA-256 in parallel (what the client does first)."""

    def digest(name: str) -> None:
        h = hashlib.new(name)
        with open(path, "rb") as fh:
            while chunk := fh.read(4 * MIB):
                h.update(chunk)

    start = time.perf_counter()
    threads = [threading.Thread(target=digest, args=(n,)) for n in ("md5", "sha256")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return size / (time.perf_counter() - start) / 1e6


class Library:
    """The few API calls a push needs (the client's steps 1-4), with ``requests``."""

    def __init__(self, url: str, token: str, user: str) -> None:
        import requests

        self.url = url
        self.user = user
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.container_id: str | None = None
        self.collection = "bench"

    def call(self, method: str, path: str, body: dict | None = None, ok=(200, 201)) -> dict:
        response = self.http.request(method, f"{self.url}/{path}", data=json.dumps(body) if body is not None else None)
        if response.status_code not in ok:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json().get("data", {}) if response.content else {}

    def prepare_container(self, name: str = "bench") -> None:
        entity = self.http.get(f"{self.url}/v1/entities/{self.user}")
        if entity.status_code == 404:
            ent = self.call("POST", "v1/entities", {"name": self.user})
        else:
            ent = entity.json()["data"]
        col = self.call("POST", "v1/collections", {"entity": ent["id"], "name": self.collection, "private": False})
        self.container_id = self.call("POST", "v1/containers", {"collection": col["id"], "name": name})["id"]

    def new_image(self, digest: str) -> str:
        image = self.call("POST", "v1/images", {"container": self.container_id, "hash": f"sha256.{digest}"})
        if image.get("uploaded"):
            raise SystemExit("the image is already uploaded: the previous round was not cleaned up")
        return image["id"]

    def ref(self, digest: str) -> str:
        return f"{self.user}/{self.collection}/bench:sha256.{digest}"

    def delete(self, digest: str) -> None:
        self.call("DELETE", f"v1/images/{self.ref(digest)}", ok=(200,))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


# --- main ---------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--storage", choices=("fs", "s3"), default="fs")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per measurement (at least 5 for the record)")
    parser.add_argument("--client-rounds", type=int, default=None, help="libconform bench rounds (default: --rounds)")
    parser.add_argument("--tmp", help="scratch folder on the disk under test (default: a new temp dir)")
    parser.add_argument("--driver", help="a built libconform binary (default: build one)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    size = args.size_mb * MIB
    tmp = Path(args.tmp or tempfile.mkdtemp(prefix="sylabs-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    # source + baseline copy + stored blob (+ upload temp) + download target, and the client's image and pull
    need = 6 * size + 2 * 1024 * MIB
    free = shutil.disk_usage(tmp).free
    if free < need:
        print(f"not enough disk in {tmp}: {free // MIB} MiB free, need {need // MIB} MiB", file=sys.stderr)
        return 2
    if args.storage == "fs":
        ensure_nginx()

    try:
        driver = args.driver or str(build_driver(tmp / "bin"))
        src = tmp / "image.sif"
        log(f"writing a {args.size_mb} MiB SIF ...")
        run([driver, "mksif", "--out", str(src), "--size-mb", str(args.size_mb), "--seed", "bench"])
        size = src.stat().st_size
        h = hashlib.sha256()
        with open(src, "rb") as fh:
            while chunk := fh.read(8 * MIB):
                h.update(chunk)
        digest = h.hexdigest()
        out = tmp / "download.bin"
        with contextlib.ExitStack() as stack:
            env: dict[str, str] = {}
            store = None
            if args.storage == "s3":
                store = stack.enter_context(running_seaweedfs(tmp / "seaweedfs"))
                env.update(store.example_env())
            server = stack.enter_context(
                running_example_server(tmp / "server", env=env, workers=args.workers, threads=args.threads)
            )
            token = server.token("bench")
            lib = Library(server.url, token, "bench")
            lib.prepare_container()
            workers = server.worker_pids()

            # Baseline endpoints.
            if args.storage == "fs":
                base_url, dav = stack.enter_context(running_nginx(tmp / "nginx"))
                nginx_pid = int((tmp / "nginx" / "nginx.pid").read_text())
                baseline_name = "nginx"

                def base_put() -> float:
                    return timed(["curl", "-sS", "-f", "-o", "/dev/null", "-T", str(src), f"{base_url}/put.bin"])

                shutil.copyfile(src, dav / "image.sif")

                def base_get() -> float:
                    return timed(["curl", "-sS", "-f", "-o", str(out), f"{base_url}/image.sif"])

                def base_cleanup() -> None:
                    (dav / "put.bin").unlink(missing_ok=True)
            else:
                baseline_name = "seaweedfs"
                client = store.client()
                client.upload_file(str(src), store.bucket, "baseline/image.sif")

                def presign(method: str, key: str) -> str:
                    op = "put_object" if method == "PUT" else "get_object"
                    return client.generate_presigned_url(
                        op, Params={"Bucket": store.bucket, "Key": key}, ExpiresIn=3600, HttpMethod=method
                    )

                def base_put() -> float:
                    return timed(
                        ["curl", "-sS", "-f", "-o", "/dev/null", "-T", str(src), presign("PUT", "baseline/put.bin")]
                    )

                def base_get() -> float:
                    return timed(["curl", "-sS", "-f", "-o", str(out), presign("GET", "baseline/image.sif")])

                def base_cleanup() -> None:
                    client.delete_object(Bucket=store.bucket, Key="baseline/put.bin")

            def our_push() -> float:
                image_id = lib.new_image(digest)
                url = lib.call("POST", f"v2/imagefile/{image_id}", {"filesize": size, "sha256sum": digest})["uploadURL"]
                start = time.perf_counter()
                run(
                    [
                        "curl",
                        "-sS",
                        "-f",
                        "-o",
                        "/dev/null",
                        "-T",
                        str(src),
                        "-H",
                        "Content-Type: application/octet-stream",
                        url,
                    ]
                )
                run(["curl", "-sS", "-f", "-o", "/dev/null", "-X", "PUT", "-H", f"Authorization: Bearer {token}",
                     "--data-binary", "{}", f"{server.url}/v2/imagefile/{image_id}/_complete"])  # fmt: skip
                return time.perf_counter() - start

            def our_get() -> float:
                return timed(
                    ["curl", "-sS", "-f", "-L", "-o", str(out), f"{server.url}/v1/imagefile/{lib.ref(digest)}"]
                )

            def check_download() -> None:
                if out.stat().st_size != size:
                    raise SystemExit(f"download has {out.stat().st_size} bytes, expected {size}")

            load_start = os.getloadavg()[0]
            # Warm-up (also brings the source into the page cache), then idle RSS.
            log("warm-up round ...")
            our_push()
            our_get()
            check_download()
            lib.delete(digest)
            base_put()
            base_cleanup()
            base_get()
            time.sleep(1.5)
            idle = {pid: rss_kib(pid) or 0 for pid in workers}
            sampler = Sampler(workers)
            sampler.start()

            results: dict[str, list[float]] = {"ours_put": [], "base_put": [], "ours_get": [], "base_get": []}
            # Server-side CPU seconds per GiB of each transfer: unlike wall time, hardly changed by other load.
            cpu: dict[str, list[float]] = {k: [] for k in results}
            ours_pids = workers + ([store.process.pid] if store is not None else [])
            base_pids = children(nginx_pid) if args.storage == "fs" else [store.process.pid]
            gib = size / 1024**3

            def measure(key: str, fn, pids: list[int]) -> None:
                before = cpu_seconds(pids)
                seconds = fn()
                cpu[key].append((cpu_seconds(pids) - before) / gib)
                results[key].append(size / seconds / 1e6)

            for i in range(args.rounds):
                os.sync()
                # Alternate who goes first, so drift (page cache, writeback) hits both sides alike.
                order = ("ours", "base") if i % 2 == 0 else ("base", "ours")
                for side in order:
                    if side == "ours":
                        measure("ours_put", our_push, ours_pids)
                    else:
                        measure("base_put", base_put, base_pids)
                        base_cleanup()
                # Write back what the PUTs left dirty, so that neither GET pays for the other side's writeback
                # (nginx's PUT target is deleted at once, our blob stays: without this only we would).
                os.sync()
                for side in order:
                    if side == "ours":
                        measure("ours_get", our_get, ours_pids)
                    else:
                        measure("base_get", base_get, base_pids)
                    check_download()
                    out.unlink()
                lib.delete(digest)
                time.sleep(0.5)  # the blob is removed after the delete commits
                log(
                    f"round {i + 1}: PUT ours {results['ours_put'][-1]:.0f} / {baseline_name} "
                    f"{results['base_put'][-1]:.0f} MB/s, GET ours {results['ours_get'][-1]:.0f} / "
                    f"{baseline_name} {results['base_get'][-1]:.0f} MB/s"
                )

            log("libconform bench ...")
            count = args.client_rounds or args.rounds
            client_dir = tmp / "client"
            client_dir.mkdir(exist_ok=True)
            bench = run(
                [driver, "bench", "--url", server.url, "--token", token, "--size-mb", str(args.size_mb),
                 "--count", str(count), "--pid", str(server.pid), "--workdir", str(client_dir)],
                timeout=4 * 3600,
            ).stdout  # fmt: skip
            sampler.stop()
            push_match = re.search(r"push median: ([\d.]+) MB/s", bench)
            pull_match = re.search(r"pull median: ([\d.]+) MB/s", bench)
            client_push = float(push_match.group(1)) if push_match else 0.0
            client_pull = float(pull_match.group(1)) if pull_match else 0.0
            hash_ceiling = statistics.median(client_hash_ceiling(src, size) for _ in range(3))
            growth = max((sampler.peaks[pid] - idle[pid]) / 1024 for pid in workers)
            load_end = os.getloadavg()[0]
            errors = server.server_errors()
            if errors:
                raise SystemExit(f"server answered 5xx: {errors[:5]}")

        med = {k: median(v) for k, v in results.items()}
        cpu_med = {k: median(v) for k, v in cpu.items()}
        push_ratio = med["ours_put"] / med["base_put"]
        pull_ratio = med["ours_get"] / med["base_get"]
        rows = [
            ("storage", args.storage, f"gunicorn -w {args.workers} --threads {args.threads}"),
            ("image", f"{size / MIB:.0f} MiB", f"{args.rounds} rounds, medians"),
            (
                "curl PUT + _complete, ours",
                f"{med['ours_put']:.0f} MB/s",
                " ".join(f"{v:.0f}" for v in results["ours_put"]),
            ),
            (
                f"curl PUT, {baseline_name}",
                f"{med['base_put']:.0f} MB/s",
                " ".join(f"{v:.0f}" for v in results["base_put"]),
            ),
            ("push_ratio", f"{push_ratio:.2f}", ""),
            ("curl GET (-L), ours", f"{med['ours_get']:.0f} MB/s", " ".join(f"{v:.0f}" for v in results["ours_get"])),
            (
                f"curl GET, {baseline_name}",
                f"{med['base_get']:.0f} MB/s",
                " ".join(f"{v:.0f}" for v in results["base_get"]),
            ),
            ("pull_ratio", f"{pull_ratio:.2f}", ""),
            (
                "server CPU s/GiB: PUT ours / base",
                f"{cpu_med['ours_put']:.2f} / {cpu_med['base_put']:.2f}",
                "gunicorn workers (+ weed for s3) against the baseline's server processes",
            ),
            ("server CPU s/GiB: GET ours / base", f"{cpu_med['ours_get']:.2f} / {cpu_med['base_get']:.2f}", ""),
            ("libconform push (median)", f"{client_push:.0f} MB/s", f"{count} rounds; includes the client's hashing"),
            ("libconform pull (median)", f"{client_pull:.0f} MB/s", "3 streams x 5 MiB ranges when redirected"),
            ("client hashing ceiling", f"{hash_ceiling:.0f} MB/s", "one read, MD5 and SHA-256 in parallel"),
            ("worker RSS idle", ", ".join(f"{idle[p] / 1024:.0f}" for p in workers) + " MiB", ""),
            ("worker RSS peak", ", ".join(f"{sampler.peaks[p] / 1024:.0f}" for p in workers) + " MiB", ""),
            ("rss_growth_mib", f"{growth:.1f}", "largest peak minus idle of one worker"),
            (
                "load average (1 min)",
                f"{load_start:.2f} -> {load_end:.2f}",
                f"{os.cpu_count()} CPUs; other processes share them",
            ),
        ]
        width = max(len(r[0]) for r in rows)
        print(f"{'measure'.ljust(width)} | value      | rounds / notes")
        print(f"{'-' * width}-|------------|---------------")
        for name, value, note in rows:
            print(f"{name.ljust(width)} | {value.ljust(10)} | {note}")
        print(
            f"push_ratio={push_ratio:.2f} pull_ratio={pull_ratio:.2f} rss_growth_mib={growth:.1f} "
            f"client_push_mbps={client_push:.0f} client_pull_mbps={client_pull:.0f}",
            flush=True,
        )
        return 0
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
