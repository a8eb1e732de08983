"""Replay on a fresh `git clone`, with no key and no network: the same tree, byte for byte."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from release_helpers import (
    clean_env,
    genops,
    in_process_env,
    make_louder,
    make_workspace,
    manifest,
    workspace,
)

from genops.release.history import rollback
from genops.release.pipeline import regenerate
from genops.release.replay import replay

OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "ALL_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> Path:
    """A workspace with r0001, r0002 (spec change) and r0003 (rollback to r0001)."""
    base = tmp_path_factory.mktemp("replay")
    with in_process_env(venv_cache):
        root = make_workspace(base)
        regenerate(workspace(root), reason="first")
        make_louder(root)
        regenerate(workspace(root), reason="louder")
        rollback(workspace(root), "r0001", reason="back")
    return root


def _clone(root: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(root), str(dest)], check=True)
    (dest / ".genops/fake-responses.json").unlink()  # the scripted model is not there to ask
    return dest


def test_replay_on_a_fresh_clone_reproduces_the_tree(released: Path, tmp_path: Path) -> None:
    clone = _clone(released, tmp_path / "clone")
    assert not (clone / ".genops/ledger.db").exists()
    expected = manifest(released, "r0002")["output"]["tree_sha256"]
    result = genops(clone, "replay", "r0002", env=clean_env(**OFFLINE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reproduced byte-for-byte" in result.stdout
    assert expected in result.stdout
    assert "tests" in result.stdout and "pass" in result.stdout


def test_replay_json_reports_each_gate(released: Path, tmp_path: Path) -> None:
    clone = _clone(released, tmp_path / "clone")
    result = genops(clone, "replay", "r1", "--json", env=clean_env(**OFFLINE))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout[result.stdout.index('{\n'):])
    assert data["reproduced"] is True and data["first_difference"] is None
    assert data["actual_tree_sha256"] == manifest(released, "r0001")["output"]["tree_sha256"]
    assert data["calls"] == 3
    assert {g["gate"]: g["verdict"] for g in data["gates"]}["tests"] == "pass"


def test_replay_of_a_rollback_rebuilds_its_source(released: Path) -> None:
    outcome = replay(released, "r0003", gates=False)
    assert outcome.reproduced and outcome.kind == "rollback"
    assert outcome.actual_tree == manifest(released, "r0001")["output"]["tree_sha256"]


def test_regenerate_replay_checks_the_current_release(released: Path) -> None:
    result = genops(released, "regenerate", "--replay", env=clean_env(**OFFLINE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reproduced byte-for-byte: r0003" in result.stdout


def test_replay_names_the_first_file_that_differs(released: Path, tmp_path: Path) -> None:
    clone = _clone(released, tmp_path / "clone")
    path = clone / ".genops/releases/r0002/manifest.json"
    data = json.loads(path.read_text())
    data["output"]["files"]["hello/__init__.py"] = "0" * 64
    data["output"]["tree_sha256"] = "f" * 64
    path.write_text(json.dumps(data))
    result = genops(clone, "replay", "r0002", "--no-gates", env=clean_env(**OFFLINE))
    assert result.returncode == 1
    assert "not reproduced" in result.stdout and "hello/__init__.py" in result.stdout
