"""Startup recovery: what a killed genops left behind is cleared or finished before anything runs.

Two leftovers, handled in this order:
  1. git lock files (`index.lock`, `HEAD.lock`, `refs/**.lock`, `packed-refs.lock`) of a git that
     died with genops. They are removed only while this process holds the workspace lock (so no
     other genops is using git here) and no git process is alive whose working directory lies in
     the repository (so neither a user's git nor an orphaned child of genops is mid-operation).
  2. an interrupted promotion, rolled forward from its journal (`genops.release.promote`): this
     also commits a promoted but uncommitted tree and tags a committed but untagged release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genops.release import lock as wslock
from genops.release.promote import PromotionOutcome, journal_path, recover_interrupted

_PROC = Path("/proc")


@dataclass(frozen=True)
class Recovery:
    """What startup recovery did: git lock files removed, a promotion finished."""

    removed_locks: list[str] = field(default_factory=list)
    promotion: PromotionOutcome | None = None
    blocked_by: list[int] = field(default_factory=list)  # live git pids that kept the locks


def _git_dirs(root: Path) -> list[Path]:
    """The repository's git directory (and its common directory for a worktree)."""
    dot = Path(root) / ".git"
    for base in (Path(root), *Path(root).resolve().parents):
        dot = base / ".git"
        if dot.is_dir():
            return [dot]
        if dot.is_file():  # a worktree: "gitdir: <path>", refs live in the common directory
            text = dot.read_text(encoding="utf-8").strip()
            gitdir = (base / text.removeprefix("gitdir:").strip()).resolve()
            common = gitdir / "commondir"
            dirs = [gitdir]
            if common.is_file():
                dirs.append((gitdir / common.read_text(encoding="utf-8").strip()).resolve())
            return dirs
    return []


def git_lock_files(root: Path) -> list[Path]:
    """Lock files git leaves when killed mid-operation (none when git is idle)."""
    found: list[Path] = []
    for gitdir in _git_dirs(root):
        found += [gitdir / n for n in ("index.lock", "HEAD.lock", "packed-refs.lock")
                  if (gitdir / n).exists()]
        if (gitdir / "refs").is_dir():
            found += sorted((gitdir / "refs").rglob("*.lock"))
    return sorted(set(found))


def live_git_processes(repo_root: Path) -> list[int]:
    """Pids of git processes whose working directory is inside `repo_root` (unknown counts)."""
    top = Path(repo_root).resolve()
    pids: list[int] = []
    for entry in _PROC.iterdir() if _PROC.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "comm").read_text().strip().startswith("git"):
                continue
            if ") Z" in (entry / "stat").read_text():  # a zombie holds nothing
                continue
        except OSError:  # gone meanwhile
            continue
        try:
            cwd = Path(str((entry / "cwd").readlink()))
        except PermissionError:  # another user's git: we cannot tell, so assume it is ours
            pids.append(int(entry.name))
            continue
        except OSError:
            continue
        if cwd == top or top in cwd.parents:
            pids.append(int(entry.name))
    return pids


def clear_stale_git_locks(root: Path) -> tuple[list[str], list[int]]:
    """Remove git lock files left by a killed genops; returns (removed, blocking git pids)."""
    locks = git_lock_files(root)
    if not locks or not wslock.is_held(root):
        return [], []
    dirs = _git_dirs(root)
    repo_root = dirs[0].parent if dirs and dirs[0].name == ".git" else Path(root)
    alive = live_git_processes(repo_root)
    if alive:
        return [], alive
    for path in locks:
        path.unlink(missing_ok=True)
    return [str(p) for p in locks], []


def needs_recovery(root: Path) -> bool:
    """Cheap check (a few stats) for leftovers: a promotion journal or git lock files."""
    return journal_path(Path(root)).is_file() or bool(git_lock_files(root))


def startup_recovery(root: Path) -> Recovery:
    """Clear stale git locks (only under the workspace lock), then finish a pending promotion."""
    removed, blocked = clear_stale_git_locks(root)
    promotion = recover_interrupted(Path(root)) if journal_path(Path(root)).is_file() else None
    return Recovery(removed_locks=removed, promotion=promotion, blocked_by=blocked)
