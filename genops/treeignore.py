"""What is never part of a tree's content, in one place: every part of genops (tree hashes, drift,
semantic diff, ADR rules, API summaries) must agree on which files make up a tree."""

from __future__ import annotations

IGNORED_DIRS = frozenset({
    "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",  # tool caches
    ".git", ".hg", ".svn",  # version control
    ".venv", "venv", ".tox", ".nox", ".eggs", "node_modules",  # environments
    ".genops",  # genops's own state, when a workspace is diffed as a tree
})
IGNORED_SUFFIXES = (".pyc", ".pyo")
