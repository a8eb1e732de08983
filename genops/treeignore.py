"""What is never part of a tree's content, in one place: every part of genops (tree hashes, drift,
semantic diff, ADR rules, context fit, API summaries, the path policy) must agree on which files
make up a tree.

Three kinds of names are ignored: tool caches and version control, environments, and build
leftovers (what `pip install -e .`, `python -m build`, pytest and coverage leave in a project).
`build/` and `dist/` are leftovers only at the top of a tree (a `mad/build/` package is source);
every other name is ignored at any depth. The model may never write inside an ignored name
(`genops.pathpolicy`), so ignoring them can never hide generated code from a gate.
"""

from __future__ import annotations

from collections.abc import Iterable

IGNORED_DIRS = frozenset({
    "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",  # tool caches
    ".git", ".hg", ".svn",  # version control
    ".venv", "venv", ".tox", ".nox", ".eggs", "node_modules",  # environments
    ".genops",  # genops's own state, when a workspace is diffed as a tree
    "htmlcov",  # coverage's HTML report
})
IGNORED_DIR_SUFFIXES = (".egg-info",)  # setuptools metadata (`pip install -e .`)
IGNORED_TOP_DIRS = frozenset({"build", "dist"})  # build output, at the top of a tree only
IGNORED_FILES = frozenset({".coverage", ".DS_Store"})
IGNORED_FILE_PREFIXES = (".coverage.",)  # coverage's parallel data files
IGNORED_SUFFIXES = (".pyc", ".pyo")

# The same leftovers as .gitignore lines, for `genops init` (build/ and dist/ at any depth there:
# promotion adds every release file with `git add -f`, so a broad line can never hide one).
GITIGNORE_LINES = ("__pycache__/", "*.py[co]", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/",
                   "*.egg-info/", ".eggs/", "build/", "dist/", ".coverage", ".coverage.*",
                   "htmlcov/", ".tox/", ".nox/", ".venv/", "venv/", "node_modules/",
                   ".DS_Store")


def is_ignored_dir(name: str, *, top: bool = False) -> bool:
    """True for a directory name that is never part of a tree (`top`: directly under the root)."""
    return (name in IGNORED_DIRS or name.endswith(IGNORED_DIR_SUFFIXES)
            or (top and name in IGNORED_TOP_DIRS))


def is_ignored_file(name: str) -> bool:
    """True for a file name that is never part of a tree."""
    return (name in IGNORED_FILES or name.startswith(IGNORED_FILE_PREFIXES)
            or name.endswith(IGNORED_SUFFIXES))


def ignored_component(rel: str) -> str | None:
    """The component of a relative POSIX file path that makes it ignored, or None."""
    parts = rel.split("/")
    for index, part in enumerate(parts[:-1]):
        if is_ignored_dir(part, top=index == 0):
            return part
    return parts[-1] if parts and is_ignored_file(parts[-1]) else None


def kept_dirs(dirnames: Iterable[str], *, top: bool) -> list[str]:
    """The directories of one `os.walk` step that are part of the tree, sorted (for pruning)."""
    return sorted(d for d in dirnames if not is_ignored_dir(d, top=top))


def kept_files(filenames: Iterable[str]) -> list[str]:
    """The files of one `os.walk` step that are part of the tree, sorted."""
    return sorted(f for f in filenames if not is_ignored_file(f))
