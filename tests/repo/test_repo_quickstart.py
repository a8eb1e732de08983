"""The README's main job, for real: a fresh clone of this repository replays its current release
offline, with no key, byte for byte, through every gate; and `genops check` passes on it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


def _current_release() -> str | None:
    releases = sorted(p.name for p in (REPO / ".genops" / "releases").glob("r*")
                      if (p / "manifest.json").is_file())
    return releases[-1] if releases else None


pytestmark = pytest.mark.skipif(
    _current_release() is None or not (REPO / ".git").exists() or shutil.which("git") is None,
    reason="this checkout has no genops release (or is not a git clone)")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True)
    return target


def _genops(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    # No key: every answer must come from the archive. (The test gate still installs the tree's
    # pinned dependencies from the package index into its cached venv, as a user would.)
    return subprocess.run([sys.executable, "-m", "genops.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1200)


def _outcome(stdout: str) -> dict:
    """`replay --json` streams progress events (JSON lines), then the outcome object."""
    body = "\n".join(line for line in stdout.splitlines() if not line.startswith('{"event"'))
    return json.loads(body)


def test_fresh_clone_replays_the_current_release_byte_for_byte(clone: Path) -> None:
    result = _genops(["regenerate", "--replay", "--json"], clone)  # the README's main job
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    outcome = _outcome(result.stdout)
    manifest = json.loads((clone / ".genops" / "releases" / _current_release() / "manifest.json")
                          .read_text())
    assert outcome["reproduced"] is True
    assert outcome["first_difference"] is None
    assert outcome["actual_tree_sha256"] == outcome["expected_tree_sha256"]
    assert outcome["expected_tree_sha256"] in json.dumps(manifest)
    verdicts = {g["gate"]: g["verdict"] for g in outcome["gates"]}
    assert {"paths", "parse", "adr_rules", "tests", "traceability", "budget"} <= set(verdicts)
    assert "fail" not in verdicts.values(), verdicts
    assert verdicts["tests"] == "pass"


def test_check_passes_on_this_repository(clone: Path) -> None:
    result = _genops(["check", "--format", "json"], clone)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report


def test_replay_in_a_shallow_clone_without_tags(tmp_path: Path) -> None:
    """CI systems clone with --depth 1 and no tags. The current release is found from its manifest;
    its parent's tree (the previous tree its requests were rendered against) needs history, so a
    depth-1 clone gets exit 2 with the fix, and after `git fetch --unshallow` replay reproduces it."""
    target = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--no-tags", "--depth", "1", f"file://{REPO}",
                    str(target)], check=True)
    manifest = json.loads((target / ".genops" / "releases" / _current(target) / "manifest.json")
                          .read_text(encoding="utf-8"))
    result = _genops(["replay", "--json"], target)
    if manifest.get("parent"):
        assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
        error = json.loads(result.stdout)
        assert "git fetch --unshallow" in error["hint"]
        subprocess.run(["git", "-C", str(target), "fetch", "-q", "--unshallow", "--no-tags"],
                       check=True)
        result = _genops(["replay", "--json"], target)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _outcome(result.stdout)["reproduced"] is True


def _current(root: Path) -> str:
    return sorted(p.name for p in (root / ".genops" / "releases").iterdir() if p.is_dir())[-1]
