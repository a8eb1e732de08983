"""What attack and bad-input tests compare before and after: a workspace's files, by content.

"Nothing outside the run's folder changed" is asserted as `workspace_files(root, skip)` being equal
before and after, with `skip` naming the folders a run may write (its runs folder, git's own).
"""

from __future__ import annotations

from pathlib import Path


def workspace_files(root: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file under `root` by relative POSIX path, except paths starting with a `skip` prefix."""
    return {rel: path.read_bytes() for path in sorted(root.rglob("*"))
            if path.is_file() and not (rel := path.relative_to(root).as_posix()).startswith(skip)}
