"""Output trees as data: the sha256 of every file, the tree hash, and safe copies.

The tree hash is the sha256 of the sorted lines `"<path>\\0<sha256 of the file>\\n"` (paths
relative POSIX, UTF-8), so two trees with the same files at the same paths have the same hash
whatever the filesystem's order, mtimes or modes. A symlink is hashed as `"symlink:<target>"`
so it can never pass for the file it points at.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

# Never part of an output tree: interpreter and tool caches a test run may leave behind.
from genops.treeignore import IGNORED_DIRS


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry_hash(path: Path) -> str:
    if path.is_symlink():
        return sha256_bytes(b"symlink:" + os.fsencode(os.readlink(path)))
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_files(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` by relative POSIX path; {} when `root` does not exist."""
    if not root.is_dir():
        return {}
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):  # never follows symlinked directories
        base = Path(dirpath)
        links = [d for d in dirnames if (base / d).is_symlink()]
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS and d not in links)
        for name in [*filenames, *links]:
            path = base / name
            found[path.relative_to(root).as_posix()] = _entry_hash(path)
    return dict(sorted(found.items()))


def tree_hash(files: dict[str, str]) -> str:
    """The tree hash of a `tree_files` mapping (see the module docstring)."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{files[path]}\n".encode())
    return digest.hexdigest()


def hash_tree(root: Path) -> str:
    return tree_hash(tree_files(root))


def first_difference(expected: dict[str, str], actual: dict[str, str]) -> tuple[str, str] | None:
    """The first path (sorted) whose content differs, with why; None when the trees match."""
    for path in sorted(set(expected) | set(actual)):
        if path not in actual:
            return path, "missing from the rebuilt tree"
        if path not in expected:
            return path, "not in the release (extra file)"
        if expected[path] != actual[path]:
            return path, f"content differs (expected sha256 {expected[path][:12]}, got {actual[path][:12]})"
    return None


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a tree without following symlinks and without caches; `dst` must not exist."""
    shutil.copytree(src, dst, symlinks=True,
                    ignore=shutil.ignore_patterns(*IGNORED_DIRS))


def remove_tree(path: Path) -> None:
    """Remove a file, a symlink or a directory tree if present."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
