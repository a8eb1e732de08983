"""Latency of the MAD ecosystem's HTTP surface under load, on any release's tree (issue 26).

    python bench/mad_load.py TREE [TREE ...] [--python VENV_PYTHON] [--conversations 4000]
                             [--requests 2000] [--concurrency 20]

TREE is a release's `generated/` folder (for an old release: `git archive <commit> generated |
tar -x -C DIR`). For each tree, in a fresh data folder, with the Python of a venv holding the
tree's dependencies (the tests gate's venv, or any with cryptography, mcp and redis):

1. starts the whole ecosystem (`mad.app.Ecosystem`, in-memory bus, rate limits lifted so the
   limiter is not what is measured) on a free port;
2. opens `--conversations` conversations owned by one user, through Grace's own bus calls;
3. sends `--requests` requests at `--concurrency` (a thread each, one HTTP/1.1 connection per
   request, as a browser's burst does) to `GET /healthz` and to `GET /api/conversations`, and
   prints p50, p99, max, requests a second and errors of each, and the list's size in bytes.

Run by hand; the figures depend on the machine (2 cores here).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

DRIVER = textwrap.dedent('''
    import http.client, json, statistics, sys, tempfile, threading, time
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path
    from mad.app import Config, Ecosystem

    conversations, requests, concurrency = (int(a) for a in sys.argv[1:4])
    token = "bench-token-0123456789abcdef"
    data = Path(tempfile.mkdtemp())
    eco = Ecosystem(Config(data_dir=data, port=0, users={"alice": {"token": token}},
                           rate=1e9, burst=10**9, login_burst=10**9)).start()
    grace = eco.mads["grace"]
    started = time.monotonic()
    for i in range(conversations):
        grace.ask("rogers", "open", owner="alice", title=f"conversation {i}")
    seeded = time.monotonic() - started
    host, port = eco.url.split("//", 1)[1].rstrip("/").split(":")

    def one(path, auth):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        t0 = time.monotonic()
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + token} if auth else {})
            resp = conn.getresponse()
            body = resp.read()
            return time.monotonic() - t0, resp.status, len(body)
        except OSError:
            return time.monotonic() - t0, 0, 0
        finally:
            conn.close()

    out = {"seed_s": round(seeded, 2)}
    for name, path, auth in (("healthz", "/healthz", False),
                             ("conversations", "/api/conversations", True)):
        one(path, auth)  # warm
        t0 = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(lambda _: one(path, auth), range(requests)))
        wall = time.monotonic() - t0
        lat = sorted(r[0] for r in results)
        q = statistics.quantiles(lat, n=100)
        out[name] = {"p50_ms": round(q[49] * 1000, 1), "p99_ms": round(q[98] * 1000, 1),
                     "max_ms": round(lat[-1] * 1000, 1), "rps": round(requests / wall, 1),
                     "errors": sum(1 for r in results if r[1] != 200),
                     "bytes": max(r[2] for r in results)}
    eco.stop()
    print(json.dumps(out))
''')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--conversations", type=int, default=4000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    print(f"{args.conversations} conversations, {args.requests} requests at concurrency "
          f"{args.concurrency}")
    print(f"{'tree':<28} {'endpoint':<14} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'req/s':>7} {'errors':>6} {'bytes':>8}")
    for tree in args.trees:
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "driver.py"
            script.write_text(DRIVER)
            done = subprocess.run([args.python, str(script), str(args.conversations),
                                   str(args.requests), str(args.concurrency)],
                                  cwd=tree, capture_output=True, text=True, check=False,
                                  env={"PYTHONPATH": str(tree.resolve()), "PATH": "/usr/bin:/bin"})
        if done.returncode != 0:
            print(f"{tree}: failed\n{done.stderr[-2000:]}")
            continue
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        for name in ("healthz", "conversations"):
            f = figures[name]
            print(f"{str(tree)[-28:]:<28} {name:<14} {f['p50_ms']:>8} {f['p99_ms']:>8} "
                  f"{f['max_ms']:>8} {f['rps']:>7} {f['errors']:>6} {f['bytes']:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
