"""Run directories: `.genops/runs/<run>/run.json` says what a run was asked and how far it got.

`genops resume <run>` reads it to carry on: the parameters are replayed, finished model calls are
archive hits, and the stage tells what is left (synthesis, staging, gates, promotion). `base` is
the release that was current when the run started ("" before the first release; missing in runs
from older genops): `genops resume` without an id only takes a run whose base is the current
release, since a run built on an older tree would be gated against the wrong parent.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from genops.errors import UsageError
from genops.fsutil import write_atomic
from genops.ledger.db import LEDGER_NAME, Ledger
from genops.release.lock import note_run
from genops.store.releases import current_release

RUN_FILE = "run.json"
STAGES = ("created", "synthesizing", "awaiting", "staged", "unchanged", "gates_failed", "gated",
          "promoting", "promoted", "failed", "cancelled")
FINAL = ("promoted", "unchanged", "cancelled")


def runs_dir(root: Path) -> Path:
    return root / ".genops" / "runs"


def new_run_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def _created() -> str:
    """Creation time to the microsecond: two runs started in the same second still sort in order."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class RunState:
    """A run's parameters and progress, saved atomically after every stage."""

    run_id: str
    kind: str
    reason: str
    params: dict[str, Any]
    stage: str = "created"
    created: str = field(default_factory=_created)
    updated: str = field(default_factory=_now)
    release: str | None = None
    inputs: dict[str, str] | None = None
    pending: list[str] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    base: str | None = None  # the release current at the start; "" for none, None if unknown
    may_have_been_billed: list[int] = field(default_factory=list)  # ledger rows cut off by a kill
    root: Path = field(default=Path("."), repr=False)

    @property
    def dir(self) -> Path:
        return runs_dir(self.root) / self.run_id

    @classmethod
    def create(cls, root: Path, *, kind: str, reason: str, params: dict[str, Any],
               run_id: str | None = None, inputs: dict[str, str] | None = None) -> RunState:
        run = cls(run_id=run_id or new_run_id(), kind=kind, reason=reason, params=params,
                  inputs=inputs, root=root, base=current_release(root) or "")
        if (run.dir / RUN_FILE).exists():
            raise UsageError(f"run {run.run_id} already exists",
                             hint=f"`genops resume {run.run_id}` continues it")
        run.save()
        note_run(root, run.run_id)
        return run

    @classmethod
    def load(cls, root: Path, run_id: str) -> RunState:
        path = runs_dir(root) / run_id / RUN_FILE
        if not path.is_file():
            known = ", ".join(r.run_id for r in list_runs(root)[-5:]) or "none"
            raise UsageError(f"no run {run_id!r} in {runs_dir(root)}",
                             hint=f"recent runs: {known}")
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__}, root=root)

    def save(self) -> None:
        self.updated = _now()
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in asdict(self).items() if k != "root"}
        write_atomic(self.dir / RUN_FILE, json.dumps(data, indent=2, default=str) + "\n")

    def update(self, **changes: Any) -> None:
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise AttributeError(name)
            setattr(self, name, value)
        self.save()


def list_runs(root: Path) -> list[RunState]:
    """Every run with a readable run.json, oldest first (by creation time, then id)."""
    folder = runs_dir(root)
    found = []
    for path in sorted(folder.glob(f"*/{RUN_FILE}")) if folder.is_dir() else []:
        try:
            found.append(RunState.load(root, path.parent.name))
        except (json.JSONDecodeError, TypeError):
            continue
    return sorted(found, key=lambda run: (run.created, run.run_id))


def latest_unfinished(root: Path, base: str | None) -> RunState:
    """The newest unfinished run started on release `base` (what `genops resume` continues).

    `base` is the current release (None before the first). Runs started on another release, or
    whose base is unknown, are never taken implicitly: they are named in the error instead.
    """
    unfinished = [run for run in list_runs(root) if run.stage not in FINAL]
    for run in reversed(unfinished):
        if run.base is not None and (run.base or None) == base:
            return run
    if not unfinished:
        raise UsageError("no unfinished run to resume", hint="`genops regenerate` starts one")
    others = ", ".join(f"{r.run_id} (on {_base_label(r)})" for r in unfinished[-3:])
    raise UsageError(f"no unfinished run started on the current release "
                     f"({base or 'none'}); other unfinished runs: {others}",
                     hint="`genops resume RUN` continues one of them explicitly (its gates "
                          "compare against the current release); `genops runs cancel RUN` "
                          "abandons it; `genops regenerate` starts afresh")


def _base_label(run: RunState) -> str:
    if run.base is None:
        return "an unknown release"
    return run.base or "no release"


def cancel(root: Path, run_id: str) -> RunState:
    """Abandon an unfinished run: it is never resumed; its folder stays for inspection."""
    run = RunState.load(root, run_id)
    if run.stage in ("promoted", "unchanged"):
        raise UsageError(f"run {run_id} is already {run.stage}; there is nothing to cancel",
                         hint="`genops rollback RELEASE` goes back to an earlier release")
    if run.stage != "cancelled":
        run.update(stage="cancelled", pending=[])
    return run


def run_summaries(root: Path) -> list[dict[str, Any]]:
    """What `genops runs` shows, newest first: state, base release, waiting requests, and the
    calls a crash cut off (may have been billed). Reads only; a missing ledger is not created."""
    current = current_release(root) or ""
    cut: dict[str, int] = {}
    if (root / ".genops" / LEDGER_NAME).is_file():
        ledger = Ledger(root / ".genops" / LEDGER_NAME)
        try:
            for call in ledger.unsettled():
                if call.may_have_been_billed:
                    cut[call.run_id] = cut.get(call.run_id, 0) + 1
        finally:
            ledger.close()
    rows = []
    for run in reversed(list_runs(root)):
        waiting = [_shown(root, p) for p in run.pending] if run.stage == "awaiting" else []
        rows.append({"run": run.run_id, "kind": run.kind, "stage": run.stage,
                     "base": run.base if run.base is None else (run.base or None),
                     "base_known": run.base is not None,
                     "on_current_release": run.base is not None and run.base == current,
                     "release": run.release, "created": run.created, "updated": run.updated,
                     "reason": run.reason, "waiting": waiting,
                     "may_have_been_billed": cut.get(run.run_id, 0),
                     "resumable": run.stage not in FINAL})
    return rows


def _shown(root: Path, path: str) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return path
