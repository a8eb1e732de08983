"""End to end through the real Anthropic SDK: `genops regenerate` over HTTP against the emulator.

Six groups generated in parallel behind a rate limiter that answers 429 (with retry-after) beyond
two requests in flight, one group cut off at the output limit (continued by assistant prefill and
stitched), one group answered in broken file protocol (repaired once). The release must promote a
tree equal to the scripted files, and the key must appear in no file genops wrote.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from genops.protocol.files import format_protocol
from genops.testing.emulator import Emulator, Fault, Pacing, Recorded, Reply, texts_of
from genops.store.tree import hash_tree
from release_helpers import clean_env, commit_all

KEY = "sk-ant-e2e-SECRET-0123456789abcdef"
GROUPS = [f"m{i}" for i in range(1, 7)]


def module(i: int) -> str:
    return (f'"""Module {i}: implements REQ-MOD-{i}."""\n\n\n'
            f"def value_{i}() -> int:\n    return {i}\n")


def _test_file(i: int) -> str:
    return (f'"""REQ-MOD-{i}."""\nfrom pkg.m{i} import value_{i}\n\n\n'
            f"def test_value_{i}():\n    assert value_{i}() == {i}\n")


def scripted_files() -> dict[str, str]:
    files = {"pkg/__init__.py": '"""The package."""\n'}
    for i in range(1, 7):
        files[f"pkg/m{i}.py"] = module(i)
        files[f"tests/test_m{i}.py"] = _test_file(i)
    return files


def group_files(name: str) -> dict[str, str]:
    files = scripted_files()
    i = int(name[1:])
    paths = [f"pkg/m{i}.py", f"tests/test_m{i}.py"] + (["pkg/__init__.py"] if i == 1 else [])
    return {p: files[p] for p in paths}


BLUEPRINT = {"groups": [
    {"name": name, "description": f"module {name}", "files": sorted(group_files(name)),
     "requirements": [f"REQ-MOD-{name[1:]}"], "depends_on": []} for name in GROUPS]}


class Model:
    """A scripted model answering by content: m3 is cut off once, m4 is malformed once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.continued = self.repaired = 0

    def __call__(self, req: Recorded) -> Reply:
        text = "\n".join(texts_of(req.body))
        if "Plan the complete source tree" in text and "Write the files of group" not in text:
            return Reply(text=json.dumps(BLUEPRINT), input_tokens=900)
        name = re.search(r"Write the files of group `(\w+)`", text).group(1)  # type: ignore[union-attr]
        with self.lock:
            self.calls[name] = n = self.calls.get(name, 0) + 1
        answer = format_protocol(group_files(name))
        last = req.body["messages"][-1]
        if name == "m3":
            cut = len(answer) // 2
            if n == 1:
                return Reply(text=answer[:cut], stop="max_tokens", input_tokens=1200)
            assert last["role"] == "assistant", "a cut-off answer is continued by prefill"
            self.continued += 1
            prefix = "".join(b["text"] for b in last["content"])
            return Reply(text=answer[len(prefix):], input_tokens=1300)
        if name == "m4" and n == 1:
            return Reply(text=answer.replace("</file>", "", 1), input_tokens=1200)
        if name == "m4":
            self.repaired += 1
        return Reply(text=answer, input_tokens=1200)


@pytest.fixture()
def workspace(tmp_path: Path, emulator: Emulator) -> Path:
    from genops.workspace.scaffold import init_workspace

    root = init_workspace(tmp_path / "ws", name="e2e", provider="anthropic", git=True).root
    toml = (root / "genops.toml").read_text()
    toml = toml.replace("max_output_tokens = 32000\n",
                        f'max_output_tokens = 4000\nbase_url = "{emulator.base_url("anthropic")}"\n', 1)
    toml = toml.replace('rungs = ["senior", "fallback"]', 'rungs = ["senior"]')
    toml = toml.replace("concurrency = 4", "concurrency = 6")
    toml = toml.replace("max_attempts = 6", "max_attempts = 30")
    toml = toml.replace("base_delay_s = 1.0", "base_delay_s = 0.02")
    toml = toml.replace("max_delay_s = 60.0", "max_delay_s = 0.2")
    toml = toml.replace("timeout_s = 900", "timeout_s = 120\nuse_venv = false")
    (root / "genops.toml").write_text(toml)
    reqs = "\n".join(f"- **REQ-MOD-{i}** `value_{i}()` returns {i}." for i in range(1, 7))
    (root / "specs" / "requirements.md").write_text(f"# Requirements\n\n{reqs}\n")
    (root / "adr" / "ADR-0001-standard-library-only.yaml").write_text(
        "id: ADR-0001\ntitle: Standard library only\nstatus: accepted\n"
        "decision: Only the standard library (and pytest for tests).\n"
        "rules:\n  - kind: allowed_dependencies\n    packages: [pytest]\n")
    commit_all(root, "e2e workspace")
    return root


@pytest.fixture()
def emulator() -> Emulator:
    with Emulator(max_in_flight=2, busy_retry_after=0.05, pacing=Pacing(ttft_s=0.3)) as emu:
        yield emu


def test_regenerate_through_the_anthropic_sdk_with_storm_truncation_and_repair(
        workspace: Path, emulator: Emulator) -> None:
    model = Model()
    emulator.responder(model, "anthropic")
    # The storm: the first requests are refused outright, on top of the in-flight limiter.
    emulator.fault("anthropic", *[Fault(status=429, retry_after=0.05) for _ in range(3)])
    env = clean_env(ANTHROPIC_API_KEY=KEY)
    result = subprocess.run([sys.executable, "-m", "genops.cli.main", "regenerate", "--reason",
                             "e2e through the SDK", "--json"], cwd=workspace, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    files = {p.relative_to(workspace / "generated").as_posix(): p.read_text()
             for p in (workspace / "generated").rglob("*") if p.is_file()}
    assert files == scripted_files()
    assert model.continued == 1 and model.repaired == 1
    assert emulator.busy_rejections > 0  # the limiter really refused requests beyond 2 in flight
    statuses = [r.body.get("model") for r in emulator.requests_for("anthropic")]
    assert statuses and set(statuses) == {"claude-sonnet-4-5-20250929"}

    manifest = json.loads((workspace / ".genops" / "releases" / "r0001" / "manifest.json")
                          .read_text())
    assert manifest["kind"] == "regenerate"
    assert {g["gate"] if isinstance(g, dict) else g for g in manifest["gates"]} >= {"tests", "parse"}
    assert hash_tree(workspace / "generated") in json.dumps(manifest)

    for path in workspace.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert KEY.encode() not in path.read_bytes(), f"key leaked into {path}"
