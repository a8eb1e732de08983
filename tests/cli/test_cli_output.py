"""Output conventions seen by a user: text in brackets survives, pipes get whole lines, --version.

Every command here runs as a real subprocess with stdout and stderr piped, as in CI logs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from genops.workspace.scaffold import init_workspace


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "genops.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / ("w" * 60) / ("deep" * 25) / "ws"  # a path over 200 characters
    init_workspace(root, name="hello", provider="anthropic", git=True)  # dry runs send nothing
    assert len(str(root)) > 200
    return root


def _set_toml(root: Path, old: str, new: str) -> None:
    toml = root / "genops.toml"
    text = toml.read_text(encoding="utf-8")
    assert old in text
    toml.write_text(text.replace(old, new), encoding="utf-8")


# (what to break in genops.toml, text in brackets that must reach the user verbatim)
BRACKET_CASES = [
    pytest.param('rungs = ["senior", "fallback"]', 'rungs = ["senior", "nosuch"]', "under [models]",
                 id="unknown-rung"),
    pytest.param('[prices."claude-sonnet-4-5-20250929"]', '[prices."other-model"]',
                 '[prices."claude-sonnet-4-5-20250929"]', id="missing-price"),
]


@pytest.mark.parametrize(("old", "new", "expected"), BRACKET_CASES)
def test_errors_print_bracketed_text_verbatim(workspace: Path, old: str, new: str, expected: str) -> None:
    _set_toml(workspace, old, new)
    result = run(workspace, "regenerate", "--dry-run")
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr, result.stderr


def test_piped_output_is_not_cut_at_80_columns(workspace: Path) -> None:
    result = run(workspace, "regenerate", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    assert not any("…" in line for line in lines), lines
    # the model id is printed whole, whatever the width of a pipe
    assert "anthropic claude-sonnet-4-5-20250929" in result.stdout, result.stdout


def test_version(tmp_path: Path) -> None:
    result = run(tmp_path, "--version")
    assert result.returncode == 0
    assert re.fullmatch(r"genops \d+\.\d+\.\d+\S*\n", result.stdout), result.stdout
