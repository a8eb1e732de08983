"""Atomic promotion: a crash at any instant leaves `generated/` holding the old release or the new one.

Everything a release needs (manifest, evidence, diffs) is written inside the run directory first;
nothing live changes until the journal `.genops/promote.journal` (written to a temp file, fsynced,
renamed) records the plan. From then on the plan is only ever rolled forward, and every step is
idempotent, judged from the filesystem and git rather than from a progress counter:

    0. check the seal: the staged tree must still be what the gates judged (else the promotion
       is abandoned: the old tree is put back, the journal removed, SealBroken raised)
    1. rename generated/          -> .genops/trash/<release>/   (skipped when staged/ is gone)
    2. rename runs/<run>/staged/  -> generated/                 (one rename: the atomic instant)
    3. rename runs/<run>/release/ -> .genops/releases/<release>/, and the diffs into diffs/
    4. git commit (skipped when HEAD already carries the release trailer), tag genops/<release>
    5. remove the trash, then the journal

`recover_interrupted(root)`, called at the start of every genops command, replays the plan of a
journal left behind by a killed process. A lock file serialises promotions and recovery.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from genops.errors import UsageError
from genops.faults import crashpoint
from genops.fsutil import fsync_dir, write_atomic
from genops.release.seal import SealBroken, verify_seal
from genops.store import gitops
from genops.store.releases import load_manifest
from genops.store.tree import remove_tree

JOURNAL = "promote.journal"
LOCK = "promote.lock"
JOURNAL_VERSION = 1


@dataclass
class PromotionPlan:
    """What a promotion does; paths are relative to the workspace root."""

    release: str
    staged: str
    output: str
    trash: str
    moves: list[tuple[str, str]]  # (source in the run directory, destination in the workspace)
    commit_paths: list[str]
    message: str
    tag_message: str
    version: int = JOURNAL_VERSION
    sealed: dict[str, str] = field(default_factory=dict)  # the staged tree the gates judged

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromotionPlan:
        moves = [(str(src), str(dst)) for src, dst in data["moves"]]
        return cls(**{**data, "moves": moves})


@dataclass(frozen=True)
class PromotionOutcome:
    release: str
    commit: str
    recovered: bool = False


def journal_path(root: Path) -> Path:
    return root / ".genops" / JOURNAL


@contextmanager
def promotion_lock(root: Path) -> Iterator[None]:
    """Hold the workspace's promotion lock (blocks while another genops promotes)."""
    path = root / ".genops" / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_journal(root: Path, plan: PromotionPlan) -> None:
    """Durably record the plan: temp file, fsync, rename, fsync the directory."""
    path = journal_path(root)
    write_atomic(path, json.dumps(asdict(plan), indent=2) + "\n")


def read_journal(root: Path) -> PromotionPlan | None:
    path = journal_path(root)
    if not path.is_file():
        return None
    try:
        return PromotionPlan.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise UsageError(f"{path} is unreadable ({exc}); an interrupted promotion cannot be "
                         "finished automatically",
                         hint="compare generated/ with the staged tree named in it, then delete "
                         "the journal") from None


def _rename(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.rename(src, dst)
    fsync_dir(dst.parent)
    if src.parent != dst.parent:
        fsync_dir(src.parent)


def _swap(root: Path, plan: PromotionPlan) -> None:
    staged, output, trash = root / plan.staged, root / plan.output, root / plan.trash
    if not staged.exists():
        if not output.exists():
            raise UsageError(f"promotion of {plan.release} cannot finish: neither the staged "
                             f"tree {plan.staged} nor {plan.output}/ exists",
                             hint=f"restore {plan.output}/ with `git checkout -- {plan.output}` "
                             f"and delete {journal_path(root)}")
        return  # step 2 already happened
    _check_seal(root, plan)
    if output.exists() or output.is_symlink():
        if trash.exists():
            raise UsageError(f"promotion of {plan.release}: both {plan.output}/ and {plan.trash} "
                             "exist while the staged tree is still waiting",
                             hint="inspect both trees, keep one, then run genops again")
        _rename(output, trash)
    crashpoint("after-trash")
    _rename(staged, output)
    crashpoint("after-swap")


def _check_seal(root: Path, plan: PromotionPlan) -> None:
    """Abandon the promotion (old tree back, journal gone) if the staged tree was changed."""
    if not plan.sealed:
        return  # a journal written before sealing existed
    try:
        verify_seal(root / plan.staged, plan.sealed, when="after the gates, before the swap")
    except SealBroken:
        output, trash = root / plan.output, root / plan.trash
        if trash.exists() and not (output.exists() or output.is_symlink()):
            _rename(trash, output)  # step 1 had happened: undo it
        journal_path(root).unlink(missing_ok=True)
        fsync_dir(journal_path(root).parent)
        raise


def _publish(root: Path, plan: PromotionPlan) -> None:
    for src_rel, dst_rel in plan.moves:
        src, dst = root / src_rel, root / dst_rel
        if src.exists():
            remove_tree(dst)  # a destination without its source can only be a stale copy
            _rename(src, dst)
        elif not dst.exists():
            raise UsageError(f"promotion of {plan.release}: {src_rel} is missing and {dst_rel} "
                             "was never written")
        crashpoint("after-release-dir" if dst_rel.startswith(".genops/") else "after-diffs")


def _commit(root: Path, plan: PromotionPlan) -> str:
    repo = gitops.open_repo(root)
    crashpoint("before-commit")
    listed = load_manifest(root, plan.release).get("output", {}).get("files", {})
    sha = gitops.commit_release(repo, [root / p for p in plan.commit_paths],
                                release=plan.release, message=plan.message,
                                exact={root / plan.output: sorted(listed)})
    crashpoint("after-commit")
    if gitops.tags_releases(repo, root):  # a member in a subfolder writes no tag
        gitops.tag_release(repo, plan.release, sha, plan.tag_message)
    crashpoint("after-tag")
    return sha


def apply_plan(root: Path, plan: PromotionPlan) -> str:
    """Run (or finish) every step of `plan`; returns the release commit. Idempotent."""
    _swap(root, plan)
    _publish(root, plan)
    sha = _commit(root, plan)
    remove_tree(root / plan.trash)
    crashpoint("after-trash-removed")
    journal_path(root).unlink(missing_ok=True)
    fsync_dir(journal_path(root).parent)
    return sha


def run_promotion(root: Path, plan: PromotionPlan) -> PromotionOutcome:
    """Journal `plan`, then carry it out. Call with the promotion lock held."""
    if read_journal(root) is not None:
        raise UsageError("an interrupted promotion is pending",
                         hint="run any genops command again: it finishes it first")
    write_journal(root, plan)
    crashpoint("after-journal")
    return PromotionOutcome(plan.release, apply_plan(root, plan))


def recover_interrupted(root: Path) -> PromotionOutcome | None:
    """Finish a promotion a killed process left half done; None when there was none."""
    if not journal_path(root).is_file():
        return None
    with promotion_lock(root):
        plan = read_journal(root)
        if plan is None:  # another process finished it while we waited for the lock
            return None
        return PromotionOutcome(plan.release, apply_plan(root, plan), recovered=True)
