"""A real workspace in a temp git repository, answered by the fake provider through its file.

The fake provider reads `.genops/fake-responses.json` ({substring of the last user message:
reply}), so the same scripted model answers in-process calls and `genops` subprocesses alike.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import git
import pytest

from genops.protocol.files import format_protocol
from genops.store.releases import load_manifest
from genops.store.tree import hash_tree
from genops.workspace import Workspace, load_workspace
from genops.workspace.scaffold import init_workspace

PYPROJECT = """\
[project]
name = "hello"
version = "0.1.0"
dependencies = []

[project.optional-dependencies]
test = ["pytest"]
"""

GREET = '''\
"""Greetings."""


def greet(name: str) -> str:
    """REQ-GREET-1: say hello; REQ-GREET-2: a name is required."""
    if not name:
        raise ValueError("a name is required")
    return f"Hello, {name}{punct}"
'''

TESTS = '''\
"""REQ-GREET-1, REQ-GREET-2."""
import os

import pytest

from hello import greet


def test_greet():
    assert greet("Ada") == "Hello, Ada{expected}"


def test_empty_name():
    with pytest.raises(ValueError):
        greet("")


def test_no_provider_key_in_environment():
    assert not [k for k in os.environ if k.endswith("_API_KEY") or k.startswith("OPENAI_")]
'''

BLUEPRINT = {"groups": [
    {"name": "core", "description": "the hello package", "files": ["hello/__init__.py",
                                                                    "pyproject.toml"],
     "requirements": ["REQ-GREET-1", "REQ-GREET-2"], "depends_on": []},
    {"name": "tests", "description": "the test suite", "files": ["tests/test_greet.py"],
     "requirements": ["REQ-GREET-1", "REQ-GREET-2"], "depends_on": ["core"]},
]}


def tree_files(punct: str = "!", expected: str | None = None) -> dict[str, str]:
    """The generated tree the scripted model returns; tests fail when `expected` != `punct`."""
    return {"hello/__init__.py": GREET.replace("{punct}", punct),
            "pyproject.toml": PYPROJECT,
            "tests/test_greet.py": TESTS.replace("{expected}", punct if expected is None
                                                 else expected)}


def script_model(root: Path, files: dict[str, str] | None = None, *,
                 core_reply: str | None = None) -> None:
    """Write the fake provider's replies: the blueprint, then each group's files."""
    files = files or tree_files()
    core = {p: files[p] for p in BLUEPRINT["groups"][0]["files"]}
    tests = {p: files[p] for p in BLUEPRINT["groups"][1]["files"]}
    defined = re.findall(r"\*\*(REQ-[A-Z]+-\d+)\*\*",
                         (root / "specs" / "requirements.md").read_text(encoding="utf-8")) \
        if (root / "specs" / "requirements.md").is_file() else []
    # A selective run places a new requirement: both groups implement every requirement.
    placed = {"groups": [{**g, "requirements": defined or g["requirements"]}
                         for g in BLUEPRINT["groups"]]}
    replies = {
        "Place new requirements": json.dumps(placed),
        "Plan the complete source tree": json.dumps(BLUEPRINT),
        "Write the files of group `core`": core_reply or format_protocol(core),
        "Write the files of group `tests`": format_protocol(tests),
        "Write the complete source tree": format_protocol(files),
    }
    path = root / ".genops" / "fake-responses.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(replies, indent=2), encoding="utf-8")


def make_workspace(tmp_path: Path, *, name: str = "ws", strategy: str = "multi",
                   test_timeout: float = 120.0) -> Path:
    """`genops init` with the fake provider, one rung, priced so calls cost something."""
    root = tmp_path / name
    init_workspace(root, name="hello", provider="fake", git=True)
    toml = (root / "genops.toml").read_text(encoding="utf-8")
    toml = toml.replace('rungs = ["senior", "fallback"]', 'rungs = ["senior"]')
    toml = toml.replace('strategy = "multi"', f'strategy = "{strategy}"')
    toml = re.sub(r'\[prices\."fake-1"\]\ninput = 0.0\noutput = 0.0',
                  '[prices."fake-1"]\ninput = 1.0\noutput = 2.0', toml)
    toml = toml.replace("timeout_s = 900", f"timeout_s = {test_timeout}")
    (root / "genops.toml").write_text(toml, encoding="utf-8")
    (root / "specs" / "requirements.md").write_text(
        "# Requirements\n\n## Greeting (GREET)\n"
        "- **REQ-GREET-1** `greet(name)` returns `\"Hello, <name>!\"`.\n"
        "- **REQ-GREET-2** `greet(\"\")` raises `ValueError`.\n", encoding="utf-8")
    script_model(root)
    commit_all(root, "workspace set up for tests")
    return root


def commit_all(root: Path, message: str) -> None:
    repo = git.Repo(root)
    repo.git.add("-A")
    repo.git.commit("-m", message, "--allow-empty")


def change_spec(root: Path, text: str, *, files: dict[str, str] | None = None) -> None:
    """Edit the requirements (an input) and script the model's new answer; commit the spec."""
    path = root / "specs" / "requirements.md"
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
    script_model(root, files)
    commit_all(root, "spec change")


def make_louder(root: Path) -> dict[str, str]:
    """The spec change most tests use: REQ-GREET-3, a louder greeting, scripted and committed;
    returns the tree the model now answers with."""
    files = tree_files(punct="!!")
    change_spec(root, "- **REQ-GREET-3** louder.\n", files=files)
    return files


def workspace(root: Path) -> Workspace:
    return load_workspace(root)


def output_hash(root: Path) -> str:
    return hash_tree(root / "generated")


def manifest(root: Path, release: str) -> dict[str, Any]:
    return load_manifest(root, release)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a `genops` subprocess: no provider keys, a git identity."""
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_API_KEY") and not k.startswith(("OPENAI_", "ANTHROPIC_", "GEMINI_"))}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    env.update(extra)
    return env


@contextmanager
def in_process_env(venv_cache: Path) -> Iterator[None]:
    """For module-scoped fixtures (no monkeypatch): the git identity and the shared venv cache."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in clean_env(GENOPS_VENV_CACHE=str(venv_cache)).items():
            if key.startswith(("GIT_", "GENOPS_")):
                patch.setenv(key, value)
        yield


def genops(root: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess."""
    return subprocess.run([sys.executable, "-m", "genops.cli.main", *args], cwd=root,
                          env=env or clean_env(), capture_output=True, text=True, timeout=timeout)


def paid_keys(root: Path) -> list[str]:
    """Archive keys of every paid ('ok') ledger row, duplicates kept."""
    from genops.ledger.db import Ledger

    return [c.archive_key for c in Ledger.for_workspace(root).calls() if c.status == "ok"]


def tags(root: Path) -> list[str]:
    return sorted(t.name for t in git.Repo(root).tags)


# Local state a run may write; everything else in a workspace changes only through a release.
LOCAL_STATE = (".git/", ".genops/runs/", ".genops/ledger.db")


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file outside genops's local state, plus git HEAD and the tags."""
    import hashlib

    found = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}
    state = {k: v for k, v in found.items() if not k.startswith(LOCAL_STATE)}
    repo = git.Repo(root)
    state["<HEAD>"] = repo.head.commit.hexsha
    state["<tags>"] = ",".join(tags(root))
    return state


def start_genops(root: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start the real CLI in its own process group (so a group kill spares the test)."""
    return subprocess.Popen([sys.executable, "-m", "genops.cli.main", *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_paused(flag: Path, *procs: subprocess.Popen[str], timeout: float = 120.0) -> int:
    """Wait until a process stopped at GENOPS_PAUSE_AT (it writes `<flag>.paused`); its pid."""
    import time

    marker = Path(f"{flag}.paused")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.is_file() and marker.read_text():
            return int(marker.read_text())
        if procs and all(p.poll() is not None for p in procs):
            raise AssertionError("every process ended before pausing: "
                                 + " | ".join((p.stderr.read() if p.stderr else "") for p in procs))
        time.sleep(0.01)
    raise AssertionError(f"no process paused at {flag}")
