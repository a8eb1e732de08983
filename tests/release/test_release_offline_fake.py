"""The offline fake provider serves any workspace (issue 24): on a workspace `genops init` made,
with no scripted replies, `genops stability --provider fake` (the README's and `--help`'s
example) runs, `genops regenerate --provider fake` makes releases that pass every gate and replay
byte for byte, and what the fake cannot answer stops with advice for a person, never a hint
meant for a model. Real CLI in subprocesses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from release_helpers import commit_all, genops, manifest


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A workspace as a new user has it: `genops init`, its default (hosted) models, no script."""
    made = genops(tmp_path, "init", "shop")
    assert made.returncode == 0, made.stderr
    root = tmp_path / "shop"
    if not (root / ".git").is_dir():
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    commit_all(root, "a new workspace")
    assert not (root / ".genops" / "fake-responses.json").exists()
    return root


def test_stability_with_the_fake_runs_on_a_workspace_of_ones_own(fresh: Path) -> None:
    result = genops(fresh, "stability", "--runs", "2", "--provider", "fake", "--json")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert [r["tests"]["rate"] for r in report["runs"]] == [1.0, 1.0]
    assert report["pairs"][0]["counts"] == {"identical": 3}  # deterministic
    assert "answer with" not in result.stderr


def test_regenerate_with_the_fake_releases_and_places_a_new_requirement(fresh: Path) -> None:
    first = genops(fresh, "regenerate", "--provider", "fake", "-m", "first")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    gates = {g["gate"]: g["verdict"] for g in manifest(fresh, "r0001")["gates"]}
    assert gates["tests"] == "pass" and gates["traceability"] == "pass", gates
    tests = (fresh / "generated" / "tests" / "test_requirements.py").read_text()
    assert "def test_req_greet_1" in tests and "from shop import requirement" in tests

    spec = fresh / "specs" / "requirements.md"
    spec.write_text(spec.read_text() + "- **REQ-GREET-3** `greet` strips spaces.\n")
    commit_all(fresh, "a new requirement")
    second = genops(fresh, "regenerate", "--provider", "fake", "-m", "placed")
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    release = manifest(fresh, "r0002")
    assert release["selection"]["mode"] == "selective"
    assert {g["gate"]: g["verdict"] for g in release["gates"]}["traceability"] == "pass"
    replayed = genops(fresh, "replay", "r0002", "--no-gates")
    assert replayed.returncode == 0, replayed.stdout[-2000:] + replayed.stderr[-2000:]


def test_what_the_fake_cannot_answer_stops_with_advice_for_a_person(fresh: Path) -> None:
    assert genops(fresh, "regenerate", "--provider", "fake", "-m", "first").returncode == 0
    result = genops(fresh, "patch", "--provider", "fake", "make the greeting louder")
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    said = " ".join(result.stderr.split())
    assert "edits-patch-r1: the answer of rung 'senior' (fake " in said
    assert "fake provider" in said and "genops help providers" in said
    assert "answer with" not in said  # the repair request's instruction to the model
