"""Helpers for the semantic diff tests: write trees, diff them, read findings as plain tuples."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from genops.semdiff import DiffResult, diff_trees

FIXTURES = Path(__file__).parent / "fixtures"
Tree = dict[str, str | bytes]


def write_tree(root: Path, files: Tree) -> Path:
    """Create `root` holding `files` (path -> text, dedented, or bytes)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


def diff(tmp_path: Path, old: Tree, new: Tree, **options: Any) -> DiffResult:
    """Diff two trees written under tmp_path, with a private cache."""
    options.setdefault("cache_dir", tmp_path / "cache")
    return diff_trees(write_tree(tmp_path / "old", old), write_tree(tmp_path / "new", new), **options)


def findings(result: DiffResult, *, cosmetic: bool = True) -> set[tuple[str, str, bool]]:
    """(kind, path, breaking) of every change."""
    return {(c.kind.value, c.path, c.breaking) for c in result.changes
            if cosmetic or c.category.value != "cosmetic"}


def module(source: str) -> Tree:
    """A one-module package tree `pkg/mod.py`."""
    return {"pkg/__init__.py": "", "pkg/mod.py": source}
