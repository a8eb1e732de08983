"""Hostile model output (path traversal, absolute paths, symlinks, duplicates) writes nothing."""

from __future__ import annotations

from pathlib import Path

import git
import pytest
from release_helpers import (
    commit_all,
    genops,
    make_workspace,
    output_hash,
    script_model,
    tags,
    tree_files,
    workspace,
)

from genops.errors import GenopsError
from genops.release.pipeline import regenerate
from genops.release.staging import StagingError, stage_tree

GOOD_CORE = tree_files()


def _core(*blocks: str) -> str:
    return "\n".join(blocks) + "\n"


def _file(path: str, text: str = "x = 1\n") -> str:
    return f'<file path="{path}">\n{text}</file>'


ATTACKS = {
    "traversal": lambda out: _core(_file("hello/__init__.py"), _file("pyproject.toml"),
                                   _file("../escape.py")),
    "absolute": lambda out: _core(_file("hello/__init__.py"), _file("pyproject.toml"),
                                  _file(f"{out}/absolute.py")),
    "duplicate": lambda out: _core(_file("hello/__init__.py"), _file("pyproject.toml"),
                                   _file("hello/__init__.py", "evil = True\n")),
    "unclosed": lambda out: _core(_file("pyproject.toml"), '<file path="hello/__init__.py">\nx = 1\n'),
    "backslash": lambda out: _core(_file("hello/__init__.py"), _file("pyproject.toml"),
                                   _file("..\\escape.py")),
    "delete-outside": lambda out: _core(_file("hello/__init__.py"), _file("pyproject.toml"),
                                        '<delete path="../specs/requirements.md"/>'),
}


def _everything(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.parts and ".genops" not in p.parts}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_hostile_output_writes_nothing(tmp_path: Path, attack: str) -> None:
    root = make_workspace(tmp_path)
    regenerate(workspace(root), reason="first")
    outside = tmp_path / "outside"
    outside.mkdir()
    script_model(root, core_reply=ATTACKS[attack](outside))
    commit_all(root, f"script the {attack} attack")
    before, tree = _everything(tmp_path), output_hash(root)
    with pytest.raises(GenopsError) as refused:
        regenerate(workspace(root), reason=attack, full=True)
    assert refused.value.exit_code == 2  # refused (after the engine's one repair request)
    assert _everything(tmp_path) == before  # not one byte anywhere outside .genops/ and .git/
    assert output_hash(root) == tree
    assert not list(outside.iterdir())
    assert not list((root / ".genops/runs").glob("*/staged"))
    assert tags(root) == ["genops/r0001"]
    cli = genops(root, "regenerate", "--full", "--reason", attack)
    assert cli.returncode == 2 and "error:" in cli.stderr


def test_path_through_a_committed_symlink_is_refused(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    regenerate(workspace(root), reason="first")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "generated/hello/out").symlink_to(outside)
    git.Repo(root).git.add("generated/hello/out")
    git.Repo(root).git.commit("-m", "someone committed a symlink")
    core = dict(GOOD_CORE)
    core["hello/out/evil.py"] = "import os\n"
    script_model(root, core_reply=_core(*(_file(p, core[p]) for p in
                                          ("hello/__init__.py", "pyproject.toml", "hello/out/evil.py"))))
    commit_all(root, "script the symlink attack")
    with pytest.raises(GenopsError) as refused:
        regenerate(workspace(root), reason="symlink", full=True)
    assert refused.value.exit_code == 2
    assert not list(outside.iterdir())
    assert tags(root) == ["genops/r0001"]


def test_staging_refuses_on_its_own_too(tmp_path: Path) -> None:
    """Staging does not trust the parser: each bad path is refused before any write."""
    outside = tmp_path / "outside"
    outside.mkdir()
    base = tmp_path / "base"
    (base / "pkg").mkdir(parents=True)
    (base / "pkg" / "link").symlink_to(outside)
    cases = [({"../x.py": ""}, []), ({"/abs.py": ""}, []), ({"a": "", "a/b.py": ""}, []),
             ({"ok.py": ""}, ["../../etc/passwd"]), ({"pkg/link/evil.py": ""}, [])]
    for files, deletes in cases:
        with pytest.raises(StagingError):
            stage_tree(files, deletes, run_dir=tmp_path / "run", base=base)
        assert not (tmp_path / "run" / "staged").exists()
        assert not (tmp_path / "run" / "staged.tmp").exists()
    assert not list(outside.iterdir())
    assert not (tmp_path / "x.py").exists()
