"""The archive's rules for runs: which answers a later run may be served (docs: `genops help
releases`, "The answer archive").

Every answer is archived under its request's key before anything else happens to it, and a later
request with the same key is answered from the archive at no cost. That is right for an answer a
release was made from (replay reads exactly those) and for a run that stopped without judging its
answers (a crash, Ctrl-C, a provider failure, the budget, a manual answer still to come). It is
wrong for an answer that failed: served again, it fails again, and "try again" could never re-ask.

So when a run fails on its answers (the answer format, staging, the patch scope, a gate), the
answers it used that no release records leave the archive for the run's folder
(`.genops/runs/<run>/answers/`: each entry as archived, plus `<label>.txt` with the answer's text
for a person to read). They are never committed, and the next `genops regenerate` or `genops
patch` asks the model again. `genops resume <run>` puts them back first, so continuing that run
(with `--repair`, say) pays for nothing twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.errors import BudgetExceeded, GenopsError, ProviderError
from genops.ledger.archive import Archive
from genops.ledger.db import Ledger
from genops.protocol.files import ResponseFormatError
from genops.release.runs import RunState
from genops.store.releases import load_manifest, release_ids

ANSWERS_DIR = "answers"
FAILED_STAGES = ("failed", "gates_failed")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def released_keys(root: Path) -> set[str]:
    """Every archive key any release's manifest records (synthesis, patch rounds, repairs, the
    review panel, the narrative): answers replay reads, which never leave the archive. Any
    64-hex-digit string of a manifest counts; a file hash among them matches no archive key."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if _HEX64.match(value):
                found.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for release in release_ids(root):
        try:
            walk(load_manifest(root, release))
        except (OSError, ValueError, KeyError):
            continue
    return found


def failed_on_answers(run: RunState, exc: BaseException) -> bool:
    """Whether `run` failed on what its answers are, rather than stopping before judging them
    (a provider failure, the budget, a waiting manual answer, an interrupt)."""
    return (run.stage in FAILED_STAGES and isinstance(exc, GenopsError)
            and not isinstance(exc, (ProviderError, BudgetExceeded)))


@dataclass
class SetAside:
    """What `set_aside` moved out of the archive: the folder and each answer's text file."""

    folder: Path
    texts: dict[str, Path] = field(default_factory=dict)  # label -> answer text file

    def __bool__(self) -> bool:
        return bool(self.texts)


def _used_keys(root: Path, run_id: str) -> list[tuple[str, str]]:
    """(label, key) of every answered call of the run, paid or from the archive, oldest first."""
    ledger = Ledger.for_workspace(root)
    try:
        rows = ledger.calls(run_id)
    finally:
        ledger.close()
    seen: dict[str, str] = {}
    for row in rows:
        if row.status in ("ok", "archive_hit") and row.archive_key and row.archive_key not in seen:
            seen[row.archive_key] = row.label or row.rung or "call"
    return [(label, key) for key, label in seen.items()]


def set_aside(root: Path, run: RunState) -> SetAside:
    """Move the answers `run` used, except those a release records, out of the archive into the
    run's `answers/` folder, each with a readable `<label>.txt` of its text."""
    folder = run.dir / ANSWERS_DIR
    moved = SetAside(folder)
    keep = released_keys(root)
    archive = Archive.for_workspace(root)
    for label, key in _used_keys(root, run.run_id):
        if key in keep:
            continue
        entry = archive.get_entry(key)
        if entry is None or archive.set_aside(key, folder) is None:
            continue
        name = _UNSAFE.sub("-", label).strip("-.") or "answer"
        text = folder / f"{name}.txt"
        text.write_text(str((entry.get("response") or {}).get("text", "")), encoding="utf-8")
        moved.texts[label] = text
    if moved:
        index = {label: path.name for label, path in moved.texts.items()}
        (folder / "index.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return moved


def take_back(root: Path, run: RunState) -> list[str]:
    """Before `run` continues (`genops resume`): return its set-aside answers to the archive."""
    return Archive.for_workspace(root).take_back(run.dir / ANSWERS_DIR)


def _shown(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def after_failure(root: Path, run: RunState, exc: BaseException, *, again: str) -> None:
    """When `run` failed on its answers: set them aside and say so in the error's hint (where
    they are kept and what re-running does). `again` is the command that starts afresh."""
    if not failed_on_answers(run, exc):
        return
    assert isinstance(exc, GenopsError)
    try:
        moved = set_aside(root, run)
    except OSError as problem:  # the run's own error matters more: say so, and keep it
        note = f"its answers could not be taken out of the archive ({problem})"
        exc.hint = f"{exc.hint}; {note}" if exc.hint else note
        return
    # An answer the format refused would be refused again: resuming is no way out of that one.
    resume = "" if isinstance(exc, ResponseFormatError) else \
        f"; `genops resume {run.run_id}` continues this run with them"
    if moved:
        names = ", ".join([p.name for p in moved.texts.values()][:4])
        more = len(moved.texts) - min(4, len(moved.texts))
        kept = (f"the model's answers of run {run.run_id} are kept in "
                f"{_shown(root, moved.folder)}/ ({names}" + (f" and {more} more" if more > 0
                                                             else "")
                + f") and no longer answer from the archive: `{again}` asks the model again "
                f"(new, paid requests){resume}")
    else:
        kept = f"`{again}` asks the model again{resume}"
    exc.hint = f"{exc.hint}; {kept}" if exc.hint else kept
