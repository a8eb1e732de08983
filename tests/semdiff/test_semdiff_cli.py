"""`genops diff` end to end: directories, git refs and release ids of a real workspace repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from semdiff_helpers import write_tree
from typer.testing import CliRunner

from genops.cli.diff import register
from genops.errors import UsageError

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def app() -> typer.Typer:
    """A tiny app holding only the diff command, as genops' main registers it."""
    application = typer.Typer()
    register(application)

    @application.callback()
    def _root() -> None:
        """Root, so `diff` stays a subcommand."""

    return application


def run(*args: str, cwd: Path | None = None) -> tuple[int, str, BaseException | None]:
    """Invoke `diff` in-process (from `cwd`); returns (exit code, stdout, exception)."""
    here = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(app(), ["diff", *args])
    finally:
        os.chdir(here)
    return result.exit_code, result.stdout, result.exception


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    old = write_tree(tmp_path / "old", {"m.py": "def f(a, b=1):\n    return a\n\ndef g():\n    return 1\n"})
    new = write_tree(tmp_path / "new", {"m.py": "def f(a):\n    return a\n\ndef g():\n    return 2\n"})
    return old, new


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A git workspace with release r0001 tagged, and generated/ edited since."""
    ws = write_tree(tmp_path / "ws", {
        "genops.toml": "[project]\nname = 'demo'\noutput = 'out'\n",
        "out/mad/__init__.py": "", "out/mad/bus.py": "def publish(msg, timeout=5.0):\n    return msg\n",
        ".genops/releases/r0001/manifest.json": "{}"})
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "r0001")
    git(ws, "tag", "-a", "genops/r0001", "-m", "release r0001")
    (ws / "out" / "mad" / "bus.py").write_text("def publish(msg):\n    return msg\n")
    return ws


def test_directories_json(trees: tuple[Path, Path], tmp_path: Path) -> None:
    code, out, _ = run(str(trees[0]), str(trees[1]), "--format", "json", "--cache-dir", str(tmp_path / "c"))
    data = json.loads(out)
    assert code == 0 and data["old"] == str(trees[0])
    assert {(c["kind"], c["path"]) for c in data["changes"]} == {("parameter_removed", "m.f"),
                                                                 ("body_changed", "m.g")}


@pytest.mark.parametrize(("level", "code"), [("breaking", 1), ("api", 1), ("behaviour", 1), ("any", 1)])
def test_fail_on_matches(trees: tuple[Path, Path], tmp_path: Path, level: str, code: int) -> None:
    assert run(str(trees[0]), str(trees[1]), "--fail-on", level, "--no-cache")[0] == code


def test_fail_on_levels_are_nested(tmp_path: Path) -> None:
    old = write_tree(tmp_path / "o", {"m.py": "def g():\n    return 1\n"})
    body = write_tree(tmp_path / "b", {"m.py": "def g():\n    return 2\n"})
    cosmetic = write_tree(tmp_path / "c", {"m.py": "def g():\n    return 1  # why\n"})
    assert [run(str(old), str(body), "--fail-on", level, "--no-cache")[0]
            for level in ("breaking", "api", "behaviour", "any")] == [0, 0, 1, 1]
    assert [run(str(old), str(cosmetic), "--fail-on", level, "--no-cache")[0]
            for level in ("breaking", "api", "behaviour", "any")] == [0, 0, 0, 1]


def test_output_file_and_formats(trees: tuple[Path, Path], tmp_path: Path) -> None:
    for fmt in ("text", "markdown", "github", "sarif"):
        target = tmp_path / f"out.{fmt}"
        code, out, _ = run(str(trees[0]), str(trees[1]), "-f", fmt, "-o", str(target), "--no-cache")
        assert code == 0 and out == "" and "m.f" in target.read_text()


def test_bad_arguments_are_usage_errors(trees: tuple[Path, Path], tmp_path: Path) -> None:
    _, _, error = run(str(trees[0]), str(tmp_path / "missing"), cwd=tmp_path)
    assert isinstance(error, UsageError) and error.exit_code == 2 and "not a directory" in str(error)
    assert run(str(trees[0]), str(trees[1]), "--format", "html")[0] == 2
    assert run(str(trees[0]), str(trees[1]), "--fail-on", "everything")[0] == 2
    _, _, error = run(cwd=tmp_path)
    assert isinstance(error, UsageError) and "genops.toml" in str(error)


def test_no_arguments_diffs_the_current_release_against_the_output(workspace: Path) -> None:
    code, out, error = run("-f", "json", "--fail-on", "breaking", cwd=workspace)
    data = json.loads(out)
    assert error is None or isinstance(error, SystemExit)
    assert code == 1 and (data["old"], data["new"]) == ("r0001", "out")
    assert [(c["kind"], c["path"], c["parameter"]) for c in data["changes"]] == [
        ("parameter_removed", "mad.bus.publish", "timeout")]
    assert (workspace / ".genops" / "cache" / "semdiff").is_dir()


def test_git_refs_and_release_ids(workspace: Path) -> None:
    git(workspace, "commit", "-qam", "edit")
    (workspace / "out" / "mad" / "bus.py").write_text("def publish(msg, *, retries=3):\n    return msg\n")
    cases = {("r0001", "HEAD"): {"parameter_removed"}, ("HEAD~1", "HEAD"): {"parameter_removed"},
             ("HEAD",): {"parameter_added"}, ("r0001", "out"): {"parameter_removed", "parameter_added"},
             ("HEAD:out/mad", "r0001:out/mad"): {"parameter_added"}, ("current", "HEAD"): {"parameter_removed"}}
    for args, kinds in cases.items():
        code, out, error = run(*args, "-f", "json", cwd=workspace)
        assert code == 0, (args, error)
        assert {c["kind"] for c in json.loads(out)["changes"]} == kinds, args


def test_github_paths_are_repository_paths(workspace: Path) -> None:
    _, out, _ = run("-f", "github", cwd=workspace)
    assert out.startswith("::error file=out/mad/bus.py,line=1,")


def test_unknown_ref_and_missing_path(workspace: Path) -> None:
    _, _, error = run("no-such-ref", cwd=workspace)
    assert isinstance(error, UsageError)
    _, _, error = run("HEAD:nowhere", cwd=workspace)
    assert isinstance(error, UsageError) and "has no nowhere" in str(error)


def test_real_entry_point_exit_codes(trees: tuple[Path, Path], tmp_path: Path) -> None:
    command = [sys.executable, "-m", "genops.cli.main", "diff", str(trees[0]), str(trees[1]), "--no-cache"]
    assert subprocess.run([*command, "--fail-on", "breaking"], check=False, capture_output=True).returncode == 1
    assert subprocess.run(command, check=False, capture_output=True).returncode == 0
    missing = subprocess.run([*command[:4], str(tmp_path / "nope"), str(trees[1])], check=False,
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "not a directory" in missing.stderr
