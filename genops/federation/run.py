"""`genops regenerate` at a federation root: the affected members, wave by wave, one budget.

Each wave of the affected plan (`genops.federation.affected`) runs its members in parallel (up to
`[federation] concurrency` threads); a member whose provider failed or is still waiting is not
started. Before a member runs, the interfaces it consumes are written into its workspace as
read-only snapshots (`interfaces/<provider>/interface.json`, from each provider's current release
tree), which its synthesis shows the model and its path policy keeps out of its tree.

One budget covers the whole run (`[federation] budget_usd`): a member starts only with an
allotment of it (its own per-run budget, at most what the federation has left), and runs with its
per-run budget lowered to that allotment, so its own reservations (`genops.ledger.budget`) stop it
before the federation's spend plus every member's allotment could cross the federation budget.
Unspent allotment goes back when the member ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.errors import BudgetExceeded, GenopsError
from genops.federation.affected import AffectedPlan, affected_plan
from genops.fsutil import write_atomic
from genops.providers.manual import ManualPending
from genops.release import pipeline
from genops.semdiff.interface import surface
from genops.store import gitops
from genops.store.releases import current_release
from genops.workspace import load_workspace
from genops.workspace.federation import (SNAPSHOT_DIR, SNAPSHOT_FILE, Federation, Member,
                                         load_federation, member_output, snapshot_text)


@dataclass
class MemberRun:
    name: str
    status: str  # promoted, unchanged, awaiting, failed, refused, skipped, carried
    detail: str = ""
    release: str | None = None
    run_id: str | None = None
    cost_usd: float = 0.0
    calls: int = 0
    allotment_usd: float = 0.0
    exit_code: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail,
                "release": self.release, "run": self.run_id, "cost_usd": round(self.cost_usd, 6),
                "calls": self.calls, "allotment_usd": round(self.allotment_usd, 6)}


@dataclass
class FederationRun:
    federation: str
    plan: AffectedPlan
    members: list[MemberRun] = field(default_factory=list)
    budget_usd: float = 0.0

    @property
    def spent_usd(self) -> float:
        return sum(m.cost_usd for m in self.members)

    def to_dict(self) -> dict[str, Any]:
        return {"federation": self.federation, "plan": self.plan.to_dict(),
                "members": [m.to_dict() for m in self.members],
                "budget_usd": self.budget_usd, "spent_usd": round(self.spent_usd, 6)}


class FederationBudget:
    """The federation's money: allotments handed to member runs, settled when each ends."""

    def __init__(self, limit_usd: float) -> None:
        self.limit = limit_usd
        self.held = 0.0
        self.spent = 0.0
        self._lock = threading.Lock()

    def allot(self, member: str, wanted_usd: float) -> float:
        with self._lock:
            left = self.limit - self.spent - self.held
            if left <= 0:
                raise BudgetExceeded(f"budget: member {member} not started: the federation has "
                                     f"spent ${self.spent:.4f} and holds ${self.held:.4f} for "
                                     f"running members, of its ${self.limit:.2f} budget",
                                     hint="raise [federation] budget_usd in the root genops.toml")
            amount = min(wanted_usd, left)
            self.held += amount
            return amount

    def settle(self, allotted: float, spent: float) -> None:
        with self._lock:
            self.held -= allotted
            self.spent += spent


def snapshot(federation: Federation, consumer: Member) -> list[Path]:
    """Write the read-only snapshots of what `consumer` consumes; the files that changed."""
    written = []
    for name in sorted(consumer.consumes):
        provider = federation.member(name)
        assert provider.provides is not None
        now = surface(provider.provides, member_output(provider), provider.path)
        data = {"provider": name, "version": provider.provides.version,
                "release": current_release(provider.path) or "",
                "range": consumer.consumes[name].range, "python": list(provider.provides.python),
                "surface": now.text, "schemas": now.schemas, "digest": now.digest}
        path = consumer.path / SNAPSHOT_DIR / name / SNAPSHOT_FILE
        text = snapshot_text(data)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text)
            written.append(path)
    return written


def _commit_snapshots(federation: Federation, paths: list[Path]) -> None:
    """Commit rewritten snapshots (inputs must be committed before a member's run)."""
    if not paths:
        return
    repo = gitops.open_repo(federation.root)
    with gitops.hooks_off(repo) as run:
        rel = [str(p.resolve().relative_to(Path(repo.working_tree_dir or "").resolve()))
               for p in paths]
        run().add("--", *rel)
        run("commit").commit("--no-verify", "-m", "federation: refresh consumed interface "
                             "snapshots", "--", *rel)


def run_member(federation: Federation, member: Member, budget: FederationBudget, *,
               reason: str, provider: str | None, allow_breaking: bool = False) -> MemberRun:
    ws = load_workspace(member.path)
    wanted = ws.config.budget.per_run_usd
    try:
        allotment = budget.allot(member.name, wanted)
    except BudgetExceeded as exc:
        return MemberRun(member.name, "refused", exc.message, exit_code=int(exc.exit_code))
    if allotment < wanted:
        ws.config = ws.config.model_copy(update={"budget": ws.config.budget.model_copy(
            update={"per_run_usd": allotment})})
    result = MemberRun(member.name, "failed", allotment_usd=allotment)
    try:
        chosen = _waiting_run(ws)
        outcome = pipeline.resume(ws, chosen.run_id) if chosen is not None else \
            pipeline.regenerate(ws, reason=reason or f"federation {federation.name}",
                                provider_override=provider, allow_breaking=allow_breaking)
        result.status = outcome.status
        result.run_id = outcome.run_id
        result.cost_usd = outcome.cost_usd
        result.calls = outcome.calls
        if outcome.release is not None:
            result.release = outcome.release.release
        if outcome.status == "awaiting":
            result.detail = f"{len(outcome.pending)} request(s) wait in {outcome.responses_dir}"
    except ManualPending as exc:
        result.status, result.detail = "awaiting", exc.message
        result.exit_code = int(exc.exit_code)
    except GenopsError as exc:
        result.status = "refused" if isinstance(exc, BudgetExceeded) else "failed"
        result.detail, result.exit_code = exc.message, int(exc.exit_code)
    finally:
        budget.settle(allotment, result.cost_usd)
    return result


def _waiting_run(ws: Any) -> Any:
    """The member's newest run on its current release that waits for manual answers, if any.

    Only a run awaiting answers is continued: a run whose gates failed (an interface bump
    refused, say) is left for `genops resume RUN` in the member, and a new run starts on the
    fixed inputs (the archive answers what was already asked, at no cost).
    """
    try:
        run = pipeline.pick_run(ws)
    except GenopsError:
        return None
    return run if run.stage == "awaiting" else None


def run_federation(root: Path, *, reason: str = "", provider: str | None = None,
                   base: str | None = None, allow_breaking: bool = False,
                   on_member: Callable[[MemberRun], None] | None = None) -> FederationRun:
    federation = load_federation(root)
    plan = affected_plan(root, base)
    result = FederationRun(federation.name, plan, budget_usd=federation.budget_usd)
    budget = FederationBudget(federation.budget_usd)
    blocked: dict[str, str] = {}
    for member_plan in plan.members:
        if not member_plan.affected:
            result.members.append(MemberRun(member_plan.name, "carried", "not affected"))
    for wave in plan.order:
        runnable = []
        for name in wave:
            member = federation.member(name)
            stuck = [p for p in member.consumes if p in blocked]
            if stuck:
                entry = MemberRun(name, "skipped", f"provider {stuck[0]} {blocked[stuck[0]]}")
                result.members.append(entry)
                blocked[name] = "was skipped"
                continue
            _commit_snapshots(federation, snapshot(federation, member))
            runnable.append(member)
        with ThreadPoolExecutor(max_workers=federation.concurrency) as pool:
            futures = [pool.submit(run_member, federation, m, budget, reason=reason,
                                   provider=provider, allow_breaking=allow_breaking)
                       for m in runnable]
            for future in futures:
                entry = future.result()
                result.members.append(entry)
                if on_member is not None:
                    on_member(entry)
                if entry.status not in ("promoted", "unchanged"):
                    blocked[entry.name] = f"ended {entry.status}"
    order = {m.name: i for i, m in enumerate(federation.members)}
    result.members.sort(key=lambda m: order[m.name])
    return result
