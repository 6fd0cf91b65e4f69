#!/usr/bin/env python
"""Figures for docs/operations.md: ``sylabs_library_verify`` throughput and ``sylabs_library_gc`` run time.

Runs the example project's management commands on a throwaway data folder (SQLite, or a throwaway database on
the PostgreSQL server named by ``--database-url``) and prints one line per figure::

    python scripts/measure_maintenance.py                       # 1 GiB blob, 10,000 images
    python scripts/measure_maintenance.py --blob-mib 256 --images 2000 --database-url postgres://postgres@127.0.0.1/test

1. verify: one blob of ``--blob-mib`` MiB of random bytes (written straight into the storage folder, its row
   inserted), re-hashed by ``sylabs_library_verify`` (the command's own MB/s figure, and the wall time of the
   whole command including Django's start-up). The file is in the page cache right after it is written: run with
   ``--drop-caches`` (root) for a cold read.
2. gc: ``--images`` tagged images sharing ``--images/10`` blobs, plus ``--orphans`` orphan blob rows with files,
   as many files without rows, and as many abandoned upload sessions with temporary files; then
   ``sylabs_library_gc --grace 0`` (time), and a second run with nothing to remove (time of a routine run).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.integration.server import MANAGE_PY, _is_postgres, _throwaway_postgres  # noqa: E402

SETUP = r"""
import os, hashlib, datetime
from django.utils import timezone
from django.contrib.auth import get_user_model
from django_sylabs_library.models import *
from django_sylabs_library.storage import blob_name, image_storage, upload_temp_dir
n_images, n_orphans = int(os.environ["N_IMAGES"]), int(os.environ["N_ORPHANS"])
old = timezone.now() - datetime.timedelta(days=2)
user = get_user_model().objects.create(username="measure")
entity = Entity.objects.create(name="measure", owner=user)
collection = Collection.objects.create(entity=entity, name="c")
location = image_storage().location
def blob(i, tag):
    data = f"{tag}{i}".encode()
    sha = hashlib.sha256(data).hexdigest()
    path = os.path.join(location, blob_name(sha))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    os.utime(path, (old.timestamp(), old.timestamp()))
    return Blob(sha256=sha, size=len(data), storage_name=blob_name(sha), created_at=old)
shared = Blob.objects.bulk_create([blob(i, "shared") for i in range(max(1, n_images // 10))])
containers = Container.objects.bulk_create([Container(collection=collection, name=f"k{i}") for i in range(max(1, n_images // 100))])
images = Image.objects.bulk_create([
    Image(container=containers[i % len(containers)], hash=f"sha256.{i:064x}", size=shared[i % len(shared)].size,
          uploaded=True, blob=shared[i % len(shared)], created_at=old)
    for i in range(n_images)])
Tag.objects.bulk_create([Tag(container=im.container, name=f"t{i}", arch="amd64", image=im) for i, im in enumerate(images)])
Blob.objects.bulk_create([blob(i, "orphan") for i in range(n_orphans)])
for i in range(n_orphans):
    blob(i, "norow")  # a file without a row
sessions = UploadSession.objects.bulk_create([
    UploadSession(image=images[i % len(images)], kind="legacy", state="receiving", expected_size=10,
                  expected_sha256="0" * 64, temp_name=f"{i:032x}.upload", expires_at=old)
    for i in range(n_orphans)])
UploadSession.objects.update(updated_at=old)
folder = upload_temp_dir()
for s in sessions:
    (folder / s.temp_name).write_bytes(b"partial")
print("setup done")
"""

VERIFY_BLOB = r"""
import os, hashlib
from django_sylabs_library.models import Blob
from django_sylabs_library.storage import blob_name
Blob.objects.create(sha256=os.environ["SHA"], size=int(os.environ["SIZE"]), storage_name=blob_name(os.environ["SHA"]))
"""


def manage(env: dict[str, str], *args: str) -> tuple[str, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(MANAGE_PY), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"manage.py {args[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout, elapsed


def write_blob(location: Path, mib: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    tmp = location / "blob.tmp"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    chunk = os.urandom(4 * 1024 * 1024)
    with open(tmp, "wb") as fh:
        for i in range(mib // 4):
            piece = chunk[:-8] + i.to_bytes(8, "big")  # not one repeated block
            digest.update(piece)
            fh.write(piece)
    sha = digest.hexdigest()
    target = location / "blobs" / "sha256" / sha[:2] / sha
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(target)
    return sha, (mib // 4) * 4 * 1024 * 1024


def hash_rate(mib: int = 256) -> float:
    """SHA-256 speed of this machine right now (MB/s), to read the verify figure against."""
    data = os.urandom(mib * 1024 * 1024)
    started = time.monotonic()
    hashlib.sha256(data).hexdigest()
    return len(data) / 1e6 / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blob-mib", type=int, default=1024)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--orphans", type=int, default=1_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--drop-caches", action="store_true", help="echo 3 > /proc/sys/vm/drop_caches before verify")
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sylabs-measure-") as tmp:
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="example_project.settings", SYLABS_EXAMPLE_DATA_DIR=tmp)
        env.pop("DATABASE_URL", None)
        with _throwaway_postgres(opts.database_url) if _is_postgres(opts.database_url) else _nothing() as url:
            if url:
                env["DATABASE_URL"] = url
            database = "PostgreSQL" if url else "SQLite"
            manage(env, "migrate", "--noinput")
            images = Path(tmp) / "images"

            sha, size = write_blob(images, opts.blob_mib)
            manage({**env, "SHA": sha, "SIZE": str(size)}, "shell", "-c", VERIFY_BLOB)
            if opts.drop_caches:
                subprocess.run(["sync"], check=True)
                Path("/proc/sys/vm/drop_caches").write_text("3\n")
            reference = hash_rate()
            out, wall = manage(env, "sylabs_library_verify", "--no-progress")
            rate = re.search(r"\(([\d.]+) MB/s\)", out)
            print(
                f"verify: {size / 1024**2:.0f} MiB blob, {rate.group(1) if rate else '?'} MB/s "
                f"(command wall time {wall:.1f} s, {'cold' if opts.drop_caches else 'page cache warm'}; "
                f"hashlib.sha256 alone just before: {reference:.0f} MB/s; load average {os.getloadavg()[0]:.1f})"
            )
            (images / "blobs" / "sha256" / sha[:2] / sha).unlink()
            manage(env, "shell", "-c", "from django_sylabs_library.models import Blob; Blob.objects.all().delete()")

            n = str(opts.images)
            _, setup = manage({**env, "N_IMAGES": n, "N_ORPHANS": str(opts.orphans)}, "shell", "-c", SETUP)
            out, wall = manage(env, "sylabs_library_gc", "--grace", "0", "--no-progress", "-v", "0")
            print(
                f"gc ({database}): {opts.images} tagged images on {max(1, opts.images // 10)} shared blobs, "
                f"{opts.orphans} orphan rows + {opts.orphans} files without rows + {opts.orphans} abandoned "
                f"uploads: {wall:.1f} s wall; {out.strip().splitlines()[-1]}"
            )
            out, wall = manage(env, "sylabs_library_gc", "--no-progress", "-v", "0")
            print(f"gc ({database}), nothing to remove: {wall:.1f} s wall; {out.strip().splitlines()[-1]}")


class _nothing:
    def __enter__(self) -> str:
        return ""

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    main()
