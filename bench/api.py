"""API benchmark: requests per second and latency of ``GET v1/images/<ref>`` and ``v1/search`` with 100,000 images.

usage: python bench/api.py [--images 100000] [--duration 10] [--connections 16]

Starts the example project under gunicorn (``-w 2 --threads 4``; SQLite in a fresh data dir, or a throwaway
PostgreSQL database when ``DATABASE_URL`` is set), fills the database with ``bulk_create`` (one user, 100
collections x 10 containers, images spread over them, each image with a blob and a tag ``v<n>``), and drives it
with ``wrk`` (Debian package; installed when missing and root) for ``--duration`` seconds per endpoint:

* ``GET v1/images/<entity>/<collection>/<container>:<tag>?arch=amd64`` (a different image each request),
* ``GET v1/search?value=<a container name>`` (a narrow match) and ``v1/search?value=c`` (matches everything;
  each kind of result is capped at SEARCH_LIMIT).

SQL queries per request are counted in-process (Django test client + ``CaptureQueriesContext``) first with 1,000
images, then with the full set: they must not grow with the data. Prints a table; the last line is
``images_rps=<..> images_p50_ms=<..> images_p99_ms=<..> search_rps=<..> search_p50_ms=<..> search_p99_ms=<..>
queries_images=<..> queries_search=<..>``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.integration.server import running_example_server  # noqa: E402

COLLECTIONS = 100
CONTAINERS_PER_COLLECTION = 10

POPULATE = r"""
import hashlib, json, sys
from django.contrib.auth import get_user_model
from django.db import transaction
from django_sylabs_library.models import Blob, Collection, Container, Entity, Image, Tag

target = {target}
user = get_user_model().objects.get(username="bench")
entity, _ = Entity.objects.get_or_create(name="bench", defaults={{"owner": user, "personal": True}})
if not Collection.objects.filter(entity=entity).exists():
    Collection.objects.bulk_create(
        [Collection(entity=entity, name=f"col{{i}}", created_by=user) for i in range({collections})]
    )
    cols = list(Collection.objects.filter(entity=entity).order_by("pk"))
    Container.objects.bulk_create(
        [Container(collection=c, name=f"c{{c.name[3:]}}x{{j}}", created_by=user) for c in cols for j in range({per})]
    )
containers = list(Container.objects.filter(collection__entity=entity).order_by("pk"))
have = Image.objects.filter(container__collection__entity=entity).count()
batch = 5000
n = have
while n < target:
    upto = min(target, n + batch)
    with transaction.atomic():
        shas = [hashlib.sha256(f"bench-{{k}}".encode()).hexdigest() for k in range(n, upto)]
        Blob.objects.bulk_create([Blob(sha256=s, size=4096 + k, storage_name=f"blobs/sha256/{{s[:2]}}/{{s}}")
                                  for k, s in zip(range(n, upto), shas)])
        blobs = {{b.sha256: b for b in Blob.objects.filter(sha256__in=shas)}}
        images = [Image(container=containers[k % len(containers)], hash=f"sha256.{{s}}", size=4096 + k, arch="amd64",
                        uploaded=True, blob=blobs[s], pushed_by=user, description=f"image {{k}}")
                  for k, s in zip(range(n, upto), shas)]
        Image.objects.bulk_create(images)
        saved = Image.objects.filter(hash__in=[f"sha256.{{s}}" for s in shas]).values_list("pk", "container_id", "hash")
        order = {{f"sha256.{{s}}": k for k, s in zip(range(n, upto), shas)}}
        Tag.objects.bulk_create([Tag(container_id=cid, name=f"v{{order[h]}}", arch="amd64", image_id=pk)
                                 for pk, cid, h in saved])
    n = upto
print(json.dumps({{"images": Image.objects.count(), "tags": Tag.objects.count(), "containers": len(containers)}}))
"""

COUNT_QUERIES = r"""
import json
import time
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_sylabs_library.models import Container, Image, Tag

client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION="Bearer {token}")
tag = Tag.objects.select_related("container__collection__entity").order_by("-pk").first()
c = tag.container
paths = {{
    "images": f"/v1/images/{{c.collection.entity.name}}/{{c.collection.name}}/{{c.name}}:{{tag.name}}?arch=amd64",
    "search": f"/v1/search?value={{c.name}}",
    "search_wide": "/v1/search?value=c",
    # matches nothing: the cost of the queries alone, without serialising results
    "search_nomatch": "/v1/search?value=nomatch",
}}
out = {{}}
for name, path in paths.items():
    client.get(path)  # warm caches (content types, permissions)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:300])
    out[name] = len(ctx.captured_queries)
    # Single-threaded time per request in-process (no HTTP, no other load): compares the same request at
    # 1,000 and at 100,000 images, so it shows whether its cost grows with the data.
    started = time.perf_counter()
    for _ in range(5):
        client.get(path)
    out[name + "_ms"] = round((time.perf_counter() - started) / 5 * 1000, 1)
print(json.dumps(out))
"""

WRK_LUA = r"""
counter = 0
request = function()
  counter = counter + 1
  local k = (counter * 7919) % {images}
  local col = math.floor((k % ({collections} * {per})) / {per})
  local path = string.format("/v1/images/bench/col%d/c%dx%d:v%d?arch=amd64", col, col, k % {per}, k)
  return wrk.format("GET", path)
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: apt-get install wrk")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"], check=True, env=env)
    return shutil.which("wrk") or "/usr/bin/wrk"


def wrk(binary: str, url: str, token: str, duration: int, connections: int, script: Path | None = None) -> dict:
    cmd = [binary, "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "30s", "--latency"]
    cmd += ["-H", f"Authorization: Bearer {token}"]
    if script:
        cmd += ["-s", str(script)]
    proc = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration + 60)
    text = proc.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"rps": rps, "p50": latency("50"), "p99": latency("99"), "errors": int(non2xx.group(1)) if non2xx else 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    wrk_bin = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="sylabs-api-bench-"))
    try:
        with running_example_server(tmp / "server", workers=args.workers, threads=args.threads) as server:
            token = server.token("bench")

            def populate(target: int) -> dict:
                code = POPULATE.format(target=target, collections=COLLECTIONS, per=CONTAINERS_PER_COLLECTION)
                return json.loads(server.manage("shell", "-c", code, timeout=3600).stdout.strip().splitlines()[-1])

            def queries() -> dict:
                out = server.manage("shell", "-c", COUNT_QUERIES.format(token=token)).stdout
                return json.loads(out.strip().splitlines()[-1])

            small = populate(1000)
            q_small = queries()
            print(f"1,000 images: {small}; queries per request {q_small}", file=sys.stderr, flush=True)
            big = populate(args.images)
            q_big = queries()
            print(f"{args.images:,} images: {big}; queries per request {q_big}", file=sys.stderr, flush=True)
            server.manage("shell", "-c", "from django.db import connection; c=connection.cursor(); "
                          "c.execute('ANALYZE') if connection.vendor != 'sqlite' else c.execute('ANALYZE')")  # fmt: skip

            script = tmp / "images.lua"
            script.write_text(
                WRK_LUA.format(images=args.images, collections=COLLECTIONS, per=CONTAINERS_PER_COLLECTION)
            )
            results = {
                "images": wrk(wrk_bin, server.url, token, args.duration, args.connections, script),
                "search": wrk(wrk_bin, f"{server.url}/v1/search?value=c42x7", token, args.duration, args.connections),
                "search_wide": wrk(wrk_bin, f"{server.url}/v1/search?value=c", token, args.duration, args.connections),
            }
            errors = server.server_errors()
        rows = [
            ("database", os.environ.get("DATABASE_URL", "sqlite").split(":")[0], ""),
            ("images / tags", f"{big['images']:,} / {big['tags']:,}", f"{big['containers']} containers"),
            (
                "server",
                f"gunicorn -w {args.workers} --threads {args.threads}",
                f"wrk -t2 -c{args.connections} -d{args.duration}s",
            ),
        ]
        for name, label in (("images", "GET v1/images/<ref>"), ("search", "GET v1/search (narrow)"),
                            ("search_wide", "GET v1/search?value=c (wide)")):  # fmt: skip
            r = results[name]
            rows.append(
                (label, f"{r['rps']:.0f} req/s", f"p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, non-2xx {r['errors']}")
            )
        for name in ("images", "search", "search_wide", "search_nomatch"):
            rows.append((f"SQL queries: {name}", f"{q_big[name]}", f"with 1,000 images: {q_small[name]}"))
        for name in ("images", "search", "search_wide", "search_nomatch"):
            rows.append(
                (f"in-process ms: {name}", f"{q_big[name + '_ms']}", f"with 1,000 images: {q_small[name + '_ms']}")
            )
        width = max(len(r[0]) for r in rows)
        for name, value, note in rows:
            print(f"{name.ljust(width)} | {value.ljust(22)} | {note}")
        if errors:
            print(f"server errors: {errors[:5]}", file=sys.stderr)
        grew = [k for k in q_big if not k.endswith("_ms") and q_big[k] != q_small[k]]
        if grew:
            print(f"QUERIES GREW WITH THE DATA: {grew}", file=sys.stderr)
        i, s = results["images"], results["search"]
        print(
            f"images_rps={i['rps']:.0f} images_p50_ms={i['p50']:.1f} images_p99_ms={i['p99']:.1f} "
            f"search_rps={s['rps']:.0f} search_p50_ms={s['p50']:.1f} search_p99_ms={s['p99']:.1f} "
            f"queries_images={q_big['images']} queries_search={q_big['search']}",
            flush=True,
        )
        return 1 if grew or errors else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
