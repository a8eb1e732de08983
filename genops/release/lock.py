"""The workspace lock: one genops at a time spends, stages or promotes in a workspace.

`.genops/runs/workspace.lock` is held with `fcntl.flock` (exclusive, non-blocking) for a whole
command (it lives with the runs, local state git ignores, and is never deleted: removing a flocked
file would let two processes lock two different files);
the kernel drops it when the holder dies, however it dies, so a lock is never stale. While held,
the file says who holds it (pid, command, run id, since) so a refused second genops can name it.
Read-only commands (log, diff, cost, check) never wait on it.

A process holds at most one lock per workspace; `note_run` adds the run id once a run exists.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from genops.errors import UsageError

LOCK_NAME = "workspace.lock"


def lock_path(root: Path) -> Path:
    return Path(root) / ".genops" / "runs" / LOCK_NAME


@dataclass(frozen=True)
class Holder:
    """Who holds the workspace lock, as written into the lock file."""

    pid: int
    command: str
    since: str
    host: str = ""
    run_id: str | None = None

    def describe(self) -> str:
        run = f", run {self.run_id}" if self.run_id else ""
        return f"pid {self.pid} (genops {self.command}{run}, since {self.since})"


class WorkspaceLocked(UsageError):
    """Another genops holds the workspace lock (exit 2 at once; nothing was done)."""

    def __init__(self, root: Path, holder: Holder | None) -> None:
        self.holder = holder
        who = holder.describe() if holder else "another process (holder not yet recorded)"
        super().__init__(f"workspace is locked by {who}",
                         hint=f"wait for it to finish; read-only commands (log, diff, cost, check) "
                              f"work meanwhile. The lock is {lock_path(root)} and ends with its "
                              "process.")


class WorkspaceLock:
    """An acquired lock; release it with `release()` (or let the process end)."""

    def __init__(self, root: Path, handle: IO[str], holder: Holder) -> None:
        self.root = Path(root)
        self._handle = handle
        self.holder = holder

    def note_run(self, run_id: str) -> None:
        """Record the run this command works on, for whoever is refused next."""
        self.holder = replace(self.holder, run_id=run_id)
        _write_holder(self._handle, self.holder)

    def release(self) -> None:
        _HELD.pop(_key(self.root), None)
        self._handle.seek(0)
        self._handle.truncate()
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


_HELD: dict[str, WorkspaceLock] = {}


def _key(root: Path) -> str:
    return str(Path(root).resolve())


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _write_holder(handle: IO[str], holder: Holder) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(asdict(holder)) + "\n")
    handle.flush()


def read_holder(root: Path) -> Holder | None:
    """The holder recorded in the lock file, or None when none is recorded (or unreadable)."""
    try:
        data = json.loads(lock_path(root).read_text(encoding="utf-8"))
        return Holder(**{k: v for k, v in data.items() if k in Holder.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None


def try_acquire(root: Path, command: str) -> WorkspaceLock | None:
    """Take the lock if it is free; None when another process holds it. Never waits."""
    held = _HELD.get(_key(root))
    if held is not None:
        return held
    path = lock_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while held
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    holder = Holder(pid=os.getpid(), command=command, since=_now(), host=socket.gethostname())
    _write_holder(handle, holder)
    lock = WorkspaceLock(root, handle, holder)
    _HELD[_key(root)] = lock
    return lock


def acquire(root: Path, command: str) -> WorkspaceLock:
    """Take the lock or raise WorkspaceLocked naming its holder."""
    lock = try_acquire(root, command)
    if lock is None:
        raise WorkspaceLocked(root, read_holder(root))
    return lock


@contextmanager
def workspace_lock(root: Path, command: str) -> Iterator[WorkspaceLock]:
    """Hold the workspace lock for the block (re-entrant within one process)."""
    outer = _HELD.get(_key(root))
    lock = acquire(root, command)
    try:
        yield lock
    finally:
        if outer is None:
            lock.release()


def is_held(root: Path) -> bool:
    """Whether this process holds the lock of the workspace at `root`."""
    return _key(root) in _HELD


def note_run(root: Path, run_id: str) -> None:
    """Record `run_id` in the lock file if this process holds the lock (no-op otherwise)."""
    lock = _HELD.get(_key(root))
    if lock is not None:
        lock.note_run(run_id)
