"""Scanning a tree: every regular file under a root with its size and sha256, safely.

Symlinks are followed only when they resolve inside the root (a link out of the tree is ignored,
and a directory reached twice is walked once); tool and VCS directories are skipped. Like git's
index, a file whose size and mtime match a remembered hash is not read again, unless it changed
within RACY_NS of the scan (a write in the same clock tick could keep both).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from genops.errors import UsageError
from genops.semdiff.cache import ModelCache
from genops.treeignore import is_ignored_dir, is_ignored_file

RACY_NS = 2_000_000_000
Known = dict[str, tuple[int, int, str]]  # path -> (size, mtime_ns, sha256)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a tree."""

    path: str  # possibly through an in-tree symlink
    size: int
    sha: str


@dataclass(slots=True)
class TreeScan:
    """All files of a tree by POSIX path relative to its root."""

    root: Path
    files: dict[str, FileEntry] = field(default_factory=dict)
    hashed: Known = field(default_factory=dict)  # hashes computed by this scan, safe to remember

    @property
    def python(self) -> dict[str, FileEntry]:
        """The `.py` files: the only ones the code model reads."""
        return {rel: entry for rel, entry in self.files.items() if rel.endswith(".py")}


def scan_tree(root: Path, known: Known | None = None) -> TreeScan:
    """Every regular file under `root` with its sha256; raise UsageError if root is no directory.

    `known` maps absolute paths to remembered (size, mtime_ns, sha256), see module docstring.
    """
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory", hint="pass a directory, a git ref or a release id")
    real_root = root.resolve()
    scan = TreeScan(root)
    settled = time.time_ns() - RACY_NS
    seen_dirs: set[str] = {str(real_root)}
    stack: list[tuple[str, str]] = [(str(real_root), "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue  # unreadable directory: nothing to compare in it
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_symlink():
                target = _inside(entry.path, real_root)
                if target is None:
                    continue
                if os.path.isdir(target):
                    if not is_ignored_dir(entry.name, top=not prefix) and target not in seen_dirs:
                        seen_dirs.add(target)
                        stack.append((entry.path, rel + "/"))
                    continue
            if entry.is_dir():
                if not is_ignored_dir(entry.name, top=not prefix):
                    stack.append((entry.path, rel + "/"))
            elif entry.is_file() and not is_ignored_file(entry.name):
                _add(scan, rel, entry, known, settled)
    scan.files = dict(sorted(scan.files.items()))
    return scan


def scan_trees(*roots: Path, cache: ModelCache | None = None) -> list[TreeScan]:
    """Scan several trees, reusing and then remembering file hashes in the cache (threads do not
    help here: the walk is bound by the interpreter, measured)."""
    scans = []
    for root in roots:
        known = cache.file_hashes(str(root.resolve())) if cache is not None and root.is_dir() else None
        scans.append(scan_tree(root, known))
    if cache is not None:
        cache.remember_hashes({path: row for scan in scans for path, row in scan.hashed.items()})
    return scans


def _inside(path: str, real_root: Path) -> str | None:
    """The resolved target of a symlink if it stays inside the tree, else None."""
    try:
        target = Path(path).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return str(target) if target == real_root or real_root in target.parents else None


def _add(scan: TreeScan, rel: str, entry: os.DirEntry[str], known: Known | None, settled: int) -> None:
    """Hash one file into the scan, reusing a remembered hash when size and mtime still match."""
    try:
        stat = entry.stat()
    except OSError:
        return
    path = entry.path
    if known is not None:
        hit = known.get(path)
        if hit is not None and hit[0] == stat.st_size and hit[1] == stat.st_mtime_ns and stat.st_mtime_ns < settled:
            scan.files[rel] = FileEntry(path, stat.st_size, hit[2])
            return
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return
    sha = hashlib.sha256(data).hexdigest()
    scan.files[rel] = FileEntry(path, len(data), sha)
    if stat.st_mtime_ns < settled and len(data) == stat.st_size:
        scan.hashed[path] = (stat.st_size, stat.st_mtime_ns, sha)


def text_stats(old: TreeScan, new: TreeScan) -> tuple[int, int]:
    """(files whose bytes differ or exist on one side only, lines added plus removed in them).

    Lines are counted like a diff without moves: common leading and trailing lines are set aside,
    then the rest is compared as multisets of lines, which is exact for edits in place and cheap
    on huge files. Binary files count as changed files with no lines.
    """
    files = lines = 0
    for rel in old.files.keys() | new.files.keys():
        before, after = old.files.get(rel), new.files.get(rel)
        if before is not None and after is not None and before.sha == after.sha:
            continue
        files += 1
        lines += _lines_changed(_lines(before), _lines(after))
    return files, lines


def _lines(entry: FileEntry | None) -> list[bytes]:
    """A text file's lines; nothing for an absent, unreadable or binary file."""
    if entry is None:
        return []
    try:
        with open(entry.path, "rb") as handle:
            data = handle.read()
    except OSError:
        return []
    return [] if b"\0" in data[:8192] else data.splitlines()


def _lines_changed(before: list[bytes], after: list[bytes]) -> int:
    """Lines removed plus lines added between two versions of a file."""
    start, end = 0, 0
    limit = min(len(before), len(after))
    while start < limit and before[start] == after[start]:
        start += 1
    while end < limit - start and before[-1 - end] == after[-1 - end]:
        end += 1
    old_mid = Counter(before[start:len(before) - end])
    new_mid = Counter(after[start:len(after) - end])
    return sum((old_mid - new_mid).values()) + sum((new_mid - old_mid).values())
