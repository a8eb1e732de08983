"""Staging: materialise a synthesis result as a complete tree under `.genops/runs/<run>/staged/`.

The tree is built in `staged.tmp/` and renamed to `staged/` only when every file is written, so a
staged tree is always whole. `generated/` is never touched here. Every path and file size is
checked again against the path policy (`genops.pathpolicy`; the protocol parser checks first,
staging does not trust it) before anything is written, a path that is both a file and a directory
is refused naming both, and files are opened with O_NOFOLLOW so a symlink can never redirect a
write.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from genops.errors import GenopsError
from genops.fsutil import fsync_dir
from genops.pathpolicy import DEFAULT_POLICY, PathPolicy, PathRefused, file_dir_clashes
from genops.store.tree import copy_tree, remove_tree

STAGED = "staged"


class StagingError(GenopsError):
    """A result cannot be staged as a tree (bad path, file/directory clash, missing delete)."""


def _checked_paths(files: Mapping[str, str], deletes: Iterable[str], policy: PathPolicy
                   ) -> tuple[dict[str, str], list[str]]:
    """Normalized files and deletes, or StagingError naming the first refused path."""
    clean: dict[str, str] = {}
    for raw, content in files.items():
        try:
            path = policy.check_file(raw, content)
        except PathRefused as exc:
            raise StagingError(f"refused output path {raw!r}: {exc}") from None
        if path in clean:
            raise StagingError(f"output path {path!r} given twice")
        clean[path] = content
    removed: list[str] = []
    for raw in deletes:
        try:
            path = policy.check(raw)
        except PathRefused as exc:
            raise StagingError(f"refused delete path {raw!r}: {exc}") from None
        if path in clean:
            raise StagingError(f"output path {path!r} is both written and deleted")
        removed.append(path)
    clashes = file_dir_clashes(clean)
    if clashes:
        file, below = clashes[0]
        raise StagingError(f"output path {file!r} is a file and also the directory of {below!r}",
                           hint="the model must rename one of the two; nothing was staged")
    return clean, removed


def _write_file(root: Path, rel: str, content: str, policy: PathPolicy) -> None:
    """Write one file below `root`, refusing to pass through or write onto a symlink."""
    policy.check(rel, root=root)
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.is_dir():
        raise StagingError(f"output path {rel!r} is a symlink or directory in the base tree")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    fd = os.open(target, flags, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content.encode("utf-8"))


def _delete_file(root: Path, rel: str, policy: PathPolicy) -> None:
    target = root / rel
    policy.check(rel, root=root)
    if not (target.is_file() or target.is_symlink()):
        raise StagingError(f"cannot delete {rel!r}: no such file in the current release")
    target.unlink()
    parent = target.parent
    while parent != root and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def stage_tree(files: Mapping[str, str], deletes: Iterable[str], *, run_dir: Path,
               base: Path | None = None, policy: PathPolicy = DEFAULT_POLICY) -> Path:
    """Build `run_dir/staged/` from `files` (complete tree) or from `base` plus edits (a patch).

    With `base=None` the files are the whole tree and deletes are moot; with a base tree the
    staged tree starts as a copy of it, then deletes and writes apply. Returns the staged root.
    """
    clean, removed = _checked_paths(files, deletes, policy)
    staged = run_dir / STAGED
    tmp = run_dir / f"{STAGED}.tmp"
    remove_tree(tmp)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        if base is not None and base.is_dir():
            copy_tree(base, tmp)
        else:
            tmp.mkdir()
        if base is not None:
            for rel in removed:
                _delete_file(tmp, rel, policy)
        for rel in sorted(clean):
            _write_file(tmp, rel, clean[rel], policy)
    except (OSError, ValueError) as exc:
        remove_tree(tmp)
        raise StagingError(f"could not stage the result: {exc}") from None
    except BaseException:
        remove_tree(tmp)
        raise
    remove_tree(staged)
    os.replace(tmp, staged)
    fsync_dir(run_dir)
    return staged
