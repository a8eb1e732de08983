"""The CI workflow `genops init` writes for every user is supply-chain hardened (issue 22).

Every action is pinned by commit digest (a moved tag cannot change what runs in CI), checkout
leaves no token behind, the workflow grants nothing by default, and zizmor and the GitHub
workflow schema accept both the written workflow and this repository's own.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
PIN_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*\S+@[0-9a-f]{40} # v\d+(?:\.\d+)*\s*$")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workflow as a user gets it: `genops init` through the real CLI, in a subprocess."""
    root = tmp_path_factory.mktemp("init") / "project"
    made = subprocess.run([sys.executable, "-m", "genops.cli.main", "init", str(root),
                           "--provider", "fake", "--no-git"],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    workflow = root / ".github" / "workflows" / "genops.yml"
    assert workflow.is_file()
    return workflow


def _workflows(written: Path) -> list[Path]:
    return [written, *sorted((REPO / ".github" / "workflows").glob("*.yml"))]


def _steps(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [step for job in data["jobs"].values() for step in job.get("steps", [])]


def test_every_action_is_pinned_by_digest_with_its_tag(written: Path) -> None:
    for path in _workflows(written):
        uses = [step["uses"] for step in _steps(path) if "uses" in step]
        assert uses, path
        assert all(PINNED.match(u) for u in uses), (path, uses)
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines()
                 if re.match(r"^\s*(?:-\s+)?uses:", ln)]
        assert len(lines) == len(uses) and all(PIN_LINE.match(ln) for ln in lines), (path, lines)


def test_checkout_persists_no_credentials(written: Path) -> None:
    for path in _workflows(written):
        checkouts = [s for s in _steps(path) if s.get("uses", "").startswith("actions/checkout@")]
        assert checkouts, path
        assert all(s.get("with", {}).get("persist-credentials") is False for s in checkouts), path


def test_workflow_grants_nothing_by_default(written: Path) -> None:
    for path in _workflows(written):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert data["permissions"] == {}, path
        for name, job in data["jobs"].items():
            assert "permissions" in job, (path, name)
            assert job["permissions"].get("contents") == "read", (path, name)


def test_no_expression_is_expanded_inside_a_run_script(written: Path) -> None:
    for path in _workflows(written):
        scripts = [s["run"] for s in _steps(path) if "run" in s]
        assert scripts and not any("${{" in script for script in scripts), path


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not on PATH (.ci/run installs it with pip)")
    return found


def test_zizmor_finds_nothing(written: Path) -> None:
    zizmor = _tool("zizmor")
    for path in _workflows(written):
        result = subprocess.run([zizmor, "--offline", "--no-progress", "--color", "never",
                                 "--min-severity", "low", str(path)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr


def test_github_workflow_schema_accepts_it(written: Path) -> None:
    checker = _tool("check-jsonschema")
    for path in _workflows(written):
        result = subprocess.run([checker, "--builtin-schema", "vendor.github-workflows", str(path)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
