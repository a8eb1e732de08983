"""Output trees as data: the sha256 of every file, the tree hash, and safe copies.

The tree hash is the sha256 of the sorted lines `"<path>\\0<sha256 of the file>\\n"` (paths
relative POSIX, UTF-8), so two trees with the same files at the same paths have the same hash
whatever the filesystem's order, mtimes or modes. A symlink is hashed as `"symlink:<target>"`
so it can never pass for the file it points at. Names the tree ignores (`genops.treeignore`:
caches, version control, environments, build leftovers) are not part of a tree; `seal_files`
lists everything on disk, ignored names too, so a sealed tree cannot gain even those unnoticed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from genops.treeignore import is_ignored_dir, is_ignored_file, kept_dirs


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
    return _walk(root, everything=False)


def seal_files(root: Path) -> dict[str, str]:
    """Like `tree_files`, but with every entry on disk, ignored names included (the seal)."""
    return _walk(root, everything=True)


def _walk(root: Path, *, everything: bool) -> dict[str, str]:
    if not root.is_dir():
        return {}
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):  # never follows symlinked directories
        base = Path(dirpath)
        links = [d for d in dirnames if (base / d).is_symlink()]
        real = [d for d in dirnames if d not in links]
        dirnames[:] = sorted(real) if everything else kept_dirs(real, top=base == root)
        for name in [*filenames, *links]:
            if everything or not is_ignored_file(name):
                path = base / name
                found[path.relative_to(root).as_posix()] = _entry_hash(path)
        if everything and not filenames and not dirnames and base != root:
            found[base.relative_to(root).as_posix() + "/"] = "directory"  # empty dirs count
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


def changed_paths(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Every path added, removed or changed between two listings, sorted."""
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a tree without following symlinks and without ignored names; `dst` must not exist."""
    def ignore(directory: str, names: list[str]) -> set[str]:
        top = Path(directory) == src
        return {n for n in names if is_ignored_file(n)
                or (is_ignored_dir(n, top=top) and os.path.isdir(os.path.join(directory, n)))}

    shutil.copytree(src, dst, symlinks=True, ignore=ignore)


def remove_tree(path: Path) -> None:
    """Remove a file, a symlink or a directory tree if present."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
