"""`genops patch` and the repair loop end to end through the real Anthropic SDK and the emulator.

The scripted model answers by content: the whole tree for a synthesis request, scripted edit
blocks for patch and repair requests. Every run is the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from genops.protocol.files import format_protocol
from genops.testing.emulator import Emulator, Recorded, Reply, texts_of
from release_helpers import clean_env, commit_all, genops, manifest, output_hash, tree_files

KEY = "sk-ant-patch-e2e-0123456789"
S, D, R = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
GOOD = f'<edit path="hello/__init__.py">\n{S}\n"""Greetings."""\n{D}\n"""Greetings, loudly."""\n{R}\n</edit>\n'
BAD = (f'<edit path="hello/__init__.py">\n{S}\n    return f"Hi, {{name}}!"\n{D}\n'
       f'    return f"Hello, {{name}}!!"\n{R}\n</edit>\n')
FIXED = BAD.replace("Hi, {name}!", "Hello, {name}!")
TEST_TOO = (f'<edit path="tests/test_greet.py">\n{S}\n    assert greet("Ada") == "Hello, Ada!"\n{D}\n'
            f'    assert greet("Ada") == "Hello, Ada!!"\n{R}\n</edit>\n')


class Model:
    """Whole tree for synthesis; `patch` answers in order for patch requests, `repair` for repairs."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.patch: list[str] = []
        self.repair: list[str] = []
        self.edit_requests: list[str] = []

    def __call__(self, req: Recorded) -> Reply:
        text = "\n".join(texts_of(req.body))
        if "a targeted change to release" not in text:
            return Reply(text=format_protocol(self.files), input_tokens=800)
        self.edit_requests.append(text)
        script = self.repair if "failed these checks" in text else self.patch
        return Reply(text=script.pop(0) if len(script) > 1 else script[0], input_tokens=600)


@pytest.fixture()
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


def make_root(tmp_path: Path, emulator: Emulator, *, gate_repairs: int = 0) -> Path:
    from genops.workspace.scaffold import init_workspace

    root = init_workspace(tmp_path / "ws", name="hello", provider="anthropic", git=True).root
    toml = (root / "genops.toml").read_text()
    toml = toml.replace("max_output_tokens = 32000\n",
                        f'max_output_tokens = 4000\nbase_url = "{emulator.base_url("anthropic")}"\n', 1)
    toml = toml.replace('rungs = ["senior", "fallback"]', 'rungs = ["senior"]')
    toml = toml.replace('strategy = "multi"', 'strategy = "single"')
    toml = toml.replace("gate_repairs = 0", f"gate_repairs = {gate_repairs}")
    toml = toml.replace("timeout_s = 900", "timeout_s = 120\nuse_venv = false")
    (root / "genops.toml").write_text(toml)
    (root / "specs" / "requirements.md").write_text(
        "# Requirements\n\n- **REQ-GREET-1** `greet(name)` greets.\n"
        "- **REQ-GREET-2** `greet(\"\")` raises `ValueError`.\n")
    commit_all(root, "workspace")
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return genops(root, *args, env=clean_env(ANTHROPIC_API_KEY=KEY))


def released(tmp_path: Path, emulator: Emulator) -> tuple[Path, Model]:
    root = make_root(tmp_path, emulator)
    model = Model(tree_files())
    emulator.responder(model, "anthropic")
    first = run(root, "regenerate", "-m", "first")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return root, model


def test_only_the_failing_block_is_asked_again_and_the_patch_replays(
        tmp_path: Path, emulator: Emulator) -> None:
    root, model = released(tmp_path, emulator)
    model.patch = [GOOD + BAD + TEST_TOO, FIXED]
    result = run(root, "patch", "Greet with two exclamation marks in greet")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert len(model.edit_requests) == 2
    second = model.edit_requests[1]
    assert "block 2 (hello/__init__.py): SEARCH matches nothing" in second
    assert 'return f"Hi, {name}!"' in second  # the failing SEARCH is quoted back
    assert '"""Greetings."""' not in second  # the good block applied: the file shows its result
    assert '"""Greetings, loudly."""' in second and "similarity" in second
    assert "+    return f\"Hello, {name}!!\"" in result.stdout  # the unified diff is printed
    release = manifest(root, "r0002")
    assert release["kind"] == "patch" and release["parent"] == "r0001"
    assert [len(r["applied"]) for r in release["patch"]["rounds"]] == [2, 1]
    assert [c["label"] for c in release["calls"]] == ["edits-patch-r1", "edits-patch-r2"]
    generated = (root / "generated" / "hello" / "__init__.py").read_text()
    assert '"""Greetings, loudly."""' in generated and "Hello, {name}!!" in generated

    clone = tmp_path / "clone"
    git.Repo.clone_from(root, clone)
    replay = genops(clone, "replay", "r0002", "--json")  # no key, no emulator needed
    assert replay.returncode == 0, replay.stdout[-2000:] + replay.stderr[-2000:]
    body = "\n".join(line for line in replay.stdout.splitlines() if not line.startswith('{"event'))
    outcome = json.loads(body)
    assert outcome["reproduced"] is True and outcome["calls"] == 2
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert KEY.encode() not in path.read_bytes(), f"key leaked into {path}"


def test_a_patch_that_never_matches_fails_after_the_bound_with_nothing_written(
        tmp_path: Path, emulator: Emulator) -> None:
    root, model = released(tmp_path, emulator)
    model.patch = [BAD.replace("Hi,", word) for word in ("Hi,", "Hey,", "Yo,", "Hiya,", "Ho,")]
    before = output_hash(root)
    result = run(root, "patch", "Greet with two exclamation marks")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert len(model.edit_requests) == 4  # the first ask and max_repairs = 3 re-asks
    assert "still did not apply after 4 round(s)" in result.stderr
    assert "block 1 (hello/__init__.py)" in result.stderr and "Hiya," in result.stderr
    assert output_hash(root) == before
    changed = git.Repo(root).git.status("--porcelain", "--untracked-files=all").splitlines()
    assert [c for c in changed if not c[3:].startswith(".genops/archive/")] == []  # paid: archived
    assert "genops/r0002" not in [t.name for t in git.Repo(root).tags]


def test_a_patch_that_breaks_a_test_is_not_promoted(tmp_path: Path, emulator: Emulator) -> None:
    root, model = released(tmp_path, emulator)
    model.patch = [FIXED]  # the code changes, its test does not: the test gate fails
    before = output_hash(root)
    result = run(root, "patch", "Greet with two exclamation marks")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "gate 'tests' failed" in result.stderr
    assert output_hash(root) == before
    assert "genops/r0002" not in [t.name for t in git.Repo(root).tags]


def test_a_failing_generated_test_is_repaired_by_one_patch_round(
        tmp_path: Path, emulator: Emulator) -> None:
    root = make_root(tmp_path, emulator, gate_repairs=1)
    model = Model(tree_files(expected="?"))  # the generated test contradicts the code
    fix = (f'<edit path="tests/test_greet.py">\n{S}\n    assert greet("Ada") == "Hello, Ada?"\n{D}\n'
           f'    assert greet("Ada") == "Hello, Ada!"\n{R}\n</edit>\n')
    model.repair = [fix]
    emulator.responder(model, "anthropic")
    result = run(root, "regenerate", "-m", "first, repaired")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert len(model.edit_requests) == 1
    assert "test_greet" in model.edit_requests[0] and "Hello, Ada?" in model.edit_requests[0]
    release = manifest(root, "r0001")
    assert [c["label"] for c in release["calls"]] == ["single", "edits-repair1-r1"]
    assert release["repairs"][0]["gates"] == ["tests"]
    assert release["repairs"][0]["files_written"] == ["tests/test_greet.py"]
    assert {g["gate"]: g["verdict"] for g in release["gates"]}["tests"] == "pass"
    assert 'Hello, Ada!"' in (root / "generated" / "tests" / "test_greet.py").read_text()

    clone = tmp_path / "clone"
    git.Repo.clone_from(root, clone)
    replay = genops(clone, "replay", "r0001", "--json", "--no-gates")
    assert replay.returncode == 0, replay.stdout[-2000:] + replay.stderr[-2000:]
    body = "\n".join(line for line in replay.stdout.splitlines() if not line.startswith('{"event'))
    assert json.loads(body)["reproduced"] is True
