"""How much reading SIF metadata adds to a push (issue: "not more than a few percent").

Makes an N MiB SIF with the conformance driver's ``mksif`` (signed, with labels), then times,
median of several rounds, in the same run:

* ``inspect_file`` (what the server runs once per upload: header, descriptors, small objects);
* a SHA-256 pass over the whole file in 1 MiB reads (the least work any push costs the server,
  which hashes every byte it receives).

Prints both and, as the last line, ``metadata_ms=<..> hash_ms=<..> overhead_percent=<..>``.

usage: python bench/sif_metadata.py [--size-mb 1024] [--rounds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import django

    django.setup()
    from django_sylabs_library.flows.metadata import inspect_file
    from tests.integration.server import build_driver

    work = Path(tempfile.mkdtemp(prefix="sif-metadata-bench-"))
    try:
        free = shutil.disk_usage(work).free
        if free < (args.size_mb + 256) * 1024 * 1024:
            print(f"not enough free disk in {work}: need {args.size_mb + 256} MiB", file=sys.stderr)
            return 2
        driver = build_driver(work / "bin")
        key = work / "key.asc"
        subprocess.run([str(driver), "genkey", "--out", str(key)], check=True, capture_output=True)
        image = work / "bench.sif"
        subprocess.run(
            [str(driver), "mksif", "--out", str(image), "--size-mb", str(args.size_mb),
             "--label", "org.example.bench=1", "--sign-key", str(key)],
            check=True, capture_output=True,
        )  # fmt: skip
        meta_times, hash_times = [], []
        metadata = {}
        for _ in range(args.rounds):
            t = time.perf_counter()
            metadata = inspect_file(image)
            meta_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            digest = hashlib.sha256()
            with open(image, "rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    digest.update(chunk)
            hash_times.append(time.perf_counter() - t)
        meta_ms = statistics.median(meta_times) * 1000
        hash_ms = statistics.median(hash_times) * 1000
        print(
            f"image: {image.stat().st_size} bytes, arch={metadata.get('arch')} signed={metadata.get('signed')} "
            f"labels={metadata.get('labels')}"
        )
        print(f"metadata read: median {meta_ms:.2f} ms over {args.rounds} rounds")
        print(f"sha256 pass:   median {hash_ms:.1f} ms over {args.rounds} rounds (page cache warm)")
        print(f"metadata_ms={meta_ms:.2f} hash_ms={hash_ms:.1f} overhead_percent={100 * meta_ms / hash_ms:.3f}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
