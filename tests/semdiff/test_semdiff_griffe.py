"""genops against griffe on a real library pair, and against formatters on a real library."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from griffe_reference import griffe_breakages, patched_griffe, unmatched
from semdiff_helpers import FIXTURES

from genops.semdiff import Category, diff_trees

OLD, NEW = FIXTURES / "packaging-21.3", FIXTURES / "packaging-22.0"


def test_every_griffe_breaking_change_is_reported(tmp_path: Path) -> None:
    pytest.importorskip("griffe")
    with patched_griffe():
        reference = griffe_breakages(OLD, NEW, "packaging")
    assert len(reference) >= 30  # the pair really breaks things
    result = diff_trees(OLD, NEW, cache_dir=tmp_path / "cache")
    assert unmatched(reference, result) == []


def test_griffe_matches_on_a_synthetic_pair(tmp_path: Path) -> None:
    pytest.importorskip("griffe")
    old = tmp_path / "old" / "lib"
    new = tmp_path / "new" / "lib"
    for root, source in ((old, OLD_LIB), (new, NEW_LIB)):
        root.mkdir(parents=True)
        (root / "__init__.py").write_text(source)
    reference = griffe_breakages(old.parent, new.parent, "lib")
    assert {kind for kind, _ in reference} >= {"PARAMETER_REMOVED", "PARAMETER_MOVED", "PARAMETER_CHANGED_KIND",
                                               "PARAMETER_CHANGED_DEFAULT", "PARAMETER_CHANGED_REQUIRED",
                                               "PARAMETER_ADDED_REQUIRED", "RETURN_CHANGED_TYPE",
                                               "OBJECT_REMOVED", "OBJECT_CHANGED_KIND", "CLASS_REMOVED_BASE"}
    result = diff_trees(old.parent, new.parent, cache_dir=tmp_path / "cache")
    assert unmatched(reference, result) == []


OLD_LIB = '''
class Base:
    def inherited(self):
        return 1

class Child(Base):
    def run(self, a, b, c=1, d=2, *, e=3) -> int:
        return a

def f(x, y=1):
    return x

def h(a, b):
    return a

def g():
    return 1

def gone():
    return 1
'''

NEW_LIB = '''
class Base:
    pass

class Child:
    def run(self, b, a, d, c=2, *, e, f):
        return a

def f(x):
    return x

def h(a, *, b):
    return a

g = 1
'''


def _formatters() -> list[tuple[str, list[str]]]:
    """Formatters available here, each with a command that reformats a directory aggressively."""
    found = []
    if shutil.which("ruff"):
        found.append(("ruff", ["ruff", "format", "--config", "line-length=40", "--config",
                               "format.quote-style='single'", "--config", "format.indent-style='tab'"]))
    try:
        import black  # noqa: F401
    except ImportError:
        pass
    else:
        found.append(("black", [sys.executable, "-m", "black", "-q", "-l", "40"]))
    return found


@pytest.mark.parametrize(("name", "command"), _formatters() or [pytest.param("none", [], marks=pytest.mark.skip(
    reason="neither ruff nor black is installed"))])
def test_formatted_copy_reports_only_cosmetic_changes(tmp_path: Path, name: str, command: list[str]) -> None:
    copy = tmp_path / "formatted"
    shutil.copytree(NEW, copy)
    for comment_me in copy.rglob("*.py"):
        comment_me.write_text("# re-commented\n" + comment_me.read_text(encoding="utf-8").replace(
            "\n\n\n", "\n\n\n# a comment between definitions\n"), encoding="utf-8")
    # run from outside the copy: `python -m black` inside it would import the fixture as `packaging`
    subprocess.run([*command, str(copy)], cwd=tmp_path, check=True, capture_output=True)
    result = diff_trees(NEW, copy, cache_dir=tmp_path / "cache")
    assert result.stats.files_textually_changed >= 5
    assert [c for c in result.changes if c.category is not Category.COSMETIC] == []
    assert result.stats.semantic_changes == 0
