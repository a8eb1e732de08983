"""`genops patch --from-drift` applies the path policy before it reads the hand-edited tree.

Each case plants one entry no release may hold next to a wanted hand edit, and runs the real CLI:
exit 2 naming the path and what to do, no run folder, nothing else in the workspace changed, and
a symlink's target (a secret outside the workspace) is in no file and no git object. A hidden name
`[project] allow_hidden` lists is recorded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from release_helpers import (
    clean_env,
    commit_all,
    genops,
    in_process_env,
    make_workspace,
    manifest,
    workspace,
)

from genops.release.pipeline import regenerate

SECRET = "s3cr3t-d1ff3r3nt-from-everything-1f9c2b"
LOCAL = (".genops/runs/", ".genops/ledger.db")  # what a refused command may still touch


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> Path:
    """A workspace with release r0001, made once and copied per case."""
    base = tmp_path_factory.mktemp("drift-paths")
    with in_process_env(venv_cache):
        root = make_workspace(base)
        regenerate(workspace(root), reason="first")
    return root


def _outside(tmp: Path) -> Path:
    """A directory outside the workspace holding a file with the secret."""
    folder = tmp / "outside"
    folder.mkdir(exist_ok=True)
    (folder / "secret.txt").write_text(f"password = {SECRET}\n", encoding="utf-8")
    return folder


def _link_file(out: Path, tmp: Path) -> None:
    (out / "hello" / "leak.txt").symlink_to(_outside(tmp) / "secret.txt")


def _link_dir(out: Path, tmp: Path) -> None:
    (out / "hello" / "linked").symlink_to(_outside(tmp), target_is_directory=True)


def _link_inside(out: Path, tmp: Path) -> None:
    (out / "hello" / "alias.py").symlink_to("__init__.py")


def _hidden_file(out: Path, tmp: Path) -> None:
    (out / "hello" / ".env").write_text(f"TOKEN={SECRET}\n", encoding="utf-8")


def _hidden_dir(out: Path, tmp: Path) -> None:
    (out / ".config").mkdir()
    (out / ".config" / "settings.py").write_text("X = 1\n", encoding="utf-8")


def _pycache(out: Path, tmp: Path) -> None:
    (out / "hello" / "__pycache__").mkdir()
    (out / "hello" / "__pycache__" / "x.pyc").write_bytes(b"\x00compiled")


def _venv(out: Path, tmp: Path) -> None:
    (out / ".venv" / "lib").mkdir(parents=True)
    (out / ".venv" / "lib" / "site.py").write_text("import os\n", encoding="utf-8")


# (plant the entry, the path the refusal names under generated/, words saying what to do)
CASES: list[tuple[Callable[[Path, Path], None], str, tuple[str, ...]]] = [
    (_link_file, "hello/leak.txt", ("symlink", "regular file")),
    (_link_dir, "hello/linked", ("symlink", "regular file")),
    (_link_inside, "hello/alias.py", ("symlink", "regular file")),
    (_hidden_file, "hello/.env", ("hidden", "allow_hidden")),
    (_hidden_dir, ".config", ("hidden", "allow_hidden")),
    (_pycache, "hello/__pycache__", ("ignores", "delete it")),
    (_venv, ".venv", ("ignores", "delete it")),
]
IDS = ["symlink-to-outside-file", "symlinked-directory", "symlink-inside-tree", "hidden-file",
       "hidden-directory", "pycache", "venv"]


def _state(root: Path) -> dict[str, str]:
    """Every entry of the workspace (symlinks by target, never followed) outside local state."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = base / name
            rel = path.relative_to(root).as_posix()
            if rel.startswith(LOCAL) or rel == ".genops/runs":
                continue
            if path.is_symlink():
                found[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[rel] = "dir"
    return found


def _runs(root: Path) -> list[str]:
    """The run folders (the workspace lock beside them is taken by every command)."""
    folder = root / ".genops" / "runs"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _files_holding(root: Path, needle: bytes) -> list[str]:
    """Regular files under `root` (links never followed) whose bytes contain `needle`."""
    hits = []
    for dirpath, _dirs, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink() and path.is_file() and needle in path.read_bytes():
                hits.append(path.relative_to(root).as_posix())
    return hits


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          errors="replace", check=False).stdout


@pytest.mark.parametrize(("plant", "named", "todo"), CASES, ids=IDS)
def test_from_drift_refuses_what_the_path_policy_refuses(
        released: Path, tmp_path: Path, venv_cache: Path,
        plant: Callable[[Path, Path], None], named: str, todo: tuple[str, ...]) -> None:
    root = tmp_path / "ws"
    shutil.copytree(released, root, symlinks=True)
    out = root / "generated"
    init = out / "hello" / "__init__.py"  # a wanted hand edit, which alone would be recorded
    init.write_text(init.read_text().replace('"""Greetings."""', '"""Greetings, by hand."""'))
    plant(out, tmp_path)
    before, runs = _state(root), _runs(root)

    result = genops(root, "patch", "--from-drift", "--reason", "keep the edit",
                    env=clean_env(GENOPS_VENV_CACHE=str(venv_cache)))

    text = result.stdout + result.stderr
    assert result.returncode == 2, text[-3000:]
    line = next((ln for ln in text.splitlines() if f"generated/{named}:" in ln), None)
    assert line is not None, text[-3000:]
    assert all(word in line for word in todo), line
    assert "nothing was written" in text and "patch --from-drift" in text
    assert _runs(root) == runs  # no run folder: refused before anything was staged
    assert _state(root) == before  # nothing outside genops's local state changed
    assert _git(root, "tag", "--list") == "genops/r0001\n"
    assert _files_holding(root, SECRET.encode()) == (
        ["generated/hello/.env"] if plant is _hidden_file else [])
    assert SECRET not in _git(root, "log", "-p", "--all")
    assert SECRET not in _git(root, "grep", SECRET, *_git(root, "rev-list", "--all").split())
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=root,
                             capture_output=True, check=False).stdout
    assert SECRET.encode() not in objects


def test_a_hidden_name_allow_hidden_lists_is_recorded(released: Path, tmp_path: Path,
                                                      venv_cache: Path) -> None:
    """The policy is the workspace's: `[project] allow_hidden` lets a hidden name through."""
    root = tmp_path / "ws"
    shutil.copytree(released, root, symlinks=True)
    toml = root / "genops.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        "[project]\n", '[project]\nallow_hidden = [".editorconfig"]\n', 1), encoding="utf-8")
    commit_all(root, "allow .editorconfig")
    (root / "generated" / ".editorconfig").write_text("root = true\n", encoding="utf-8")

    result = genops(root, "patch", "--from-drift", "--reason", "keep the editorconfig",
                    env=clean_env(GENOPS_VENV_CACHE=str(venv_cache)))

    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert manifest(root, "r0002")["hand_edits"]["written"] == [".editorconfig"]
