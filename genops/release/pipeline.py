"""The regeneration pipeline: recover → run directory → plan → synthesize → stage → gates → promote.

`regenerate` starts a run, `resume` continues one from its `run.json`. A gate failure leaves
`generated/` untouched, keeps the staged tree and raises `GateFailed` naming the gate and why; a
manual provider waiting for answers ends the run as "awaiting" (the CLI exits 5) with the request files.
Every finished model call is archived, so re-running a run (resume, or after a crash) pays for no
request twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genops.errors import BudgetExceeded, GenopsError, UsageError
from genops.faults import crashpoint
from genops.gates.base import Gate
from genops.gates.registry import GateObserver
from genops.ledger.archive import Archive
from genops.ledger.db import Ledger
from genops.pathpolicy import PathPolicy
from genops.providers.client import ModelClient
from genops.providers.manual import ManualPending
from genops.release import answers, patch_fallback
from genops.release.attribution import earlier_runs
from genops.release.lock import note_run
from genops.release.manifest import ReleaseFacts
from genops.release.patch_run import execute_patch
from genops.release.planning import build_plan, check_prices, up_to_date
from genops.release.publish import owned_paths
from genops.release.recovery import startup_recovery
from genops.release.repair import gate_or_repair
from genops.release.runs import FINAL, RunState, latest_unfinished, list_runs
from genops.release.selective import choose, estimate
from genops.release.stages import (RunOutcome, ladder, narrate, preflight, previous_tree,
                                   promote_run, route, run_kind, settled_calls, tree_unchanged,
                                   wait_for_answers)
from genops.release.staging import stage_tree
from genops.store import gitops
from genops.store.releases import current_release, load_manifest, release_ids
from genops.synthesis.engine import synthesize
from genops.workspace import Workspace


def regenerate(ws: Workspace, *, reason: str, kind: str = "regenerate",
               provider_override: str | None = None, dry_run: bool = False,
               allow_breaking: bool = False, run_id: str | None = None,
               progress: Any = None, gate_observer: GateObserver | None = None,
               gates: Sequence[Gate] | None = None, full: bool = False) -> RunOutcome:
    """Synthesize the tree (selectively when a parent release exists) and promote it if every
    gate passes; `full` regenerates every group.

    `gates` replaces the default gate list (an embedding tool's own gates, or a test's).
    """
    preflight(ws)
    rungs = ladder(ws, provider_override)
    check_prices(ws, rungs)  # the plan and the run refuse the same configuration
    idle = None if full else up_to_date(ws)  # nothing changed: nothing to send or promote
    if dry_run:
        choice = None if idle else choose(ws, full=full)
        plan = build_plan(ws, rungs, previous_tree=previous_tree(ws),
                          release=current_release(ws.root),
                          month_spent_usd=Ledger.for_workspace(ws.root).month_total(),
                          choice=choice, idle=idle)
        scope = {"mode": "none", "reason": idle} if idle or choice is None \
            else estimate(ws, choice)
        return RunOutcome("planned", plan=plan, scope=scope)
    if idle:
        return RunOutcome("unchanged", scope={"mode": "none", "reason": idle})
    params: dict[str, Any] = {"provider": provider_override, "allow_breaking": allow_breaking}
    if full:
        params["full"] = True
    run = RunState.create(ws.root, kind=run_kind(ws, kind, provider_override), reason=reason,
                          params=params,
                          run_id=run_id, inputs=ws.input_hashes())
    crashpoint("after-run-created")
    try:
        return execute(ws, run, progress=progress, gate_observer=gate_observer, gates=gates)
    except BudgetExceeded as exc:  # a small spec change may be patched instead (docs/patch.md)
        if ws.config.ladder.on_budget == "patch":
            outcome: RunOutcome = patch_fallback.patch_instead(ws, run, exc, progress=progress,
                                                         gate_observer=gate_observer)
            return outcome
        raise patch_fallback.offer(ws, exc) from None


def pick_run(ws: Workspace, run_id: str | None = None) -> RunState:
    """The run `resume` continues: `run_id`, else the newest unfinished one on this release."""
    if run_id:
        run = RunState.load(ws.root, run_id)
        if run.stage == "cancelled":
            raise UsageError(f"run {run_id} was cancelled", hint="`genops regenerate` starts "
                             "a new run (archived answers are reused at no cost)")
        return run
    finished = _reconcile(ws.root)
    try:
        return latest_unfinished(ws.root, current_release(ws.root))
    except UsageError:
        if finished:  # its promotion was finished by recovery: resume reports it
            return finished[-1]
        raise


def _reconcile(root: Path) -> list[RunState]:
    """Mark runs whose release exists (promoted, then killed before saying so) as promoted."""
    done = []
    for run in list_runs(root):
        if run.stage in FINAL:
            continue
        released = _release_of_run(root, run.run_id)
        if released is not None:
            run.update(stage="promoted", release=released)
            done.append(run)
    return done


def cut_off_calls(ws: Workspace, run: RunState) -> list[Any]:
    """Calls of `run` a crash cut off after sending (may have been billed) and not archived since.

    These are the requests `resume` sends again; they are recorded in the run state.
    """

    ledger = Ledger.for_workspace(ws.root)
    try:
        cut = [c for c in ledger.unsettled(run.run_id) if c.may_have_been_billed]
    finally:
        ledger.close()
    archive = Archive.for_workspace(ws.root)
    resend = [c for c in cut if not c.archive_key or archive.get(c.archive_key) is None]
    if [c.id for c in cut] != run.may_have_been_billed:
        run.update(may_have_been_billed=[c.id for c in cut])
    return resend


def resume(ws: Workspace, run_id: str | None = None, *, progress: Any = None,
           gate_observer: GateObserver | None = None, repair: bool = False) -> RunOutcome:
    """Continue a run from where it stopped (default: the newest unfinished run on this release).

    `repair`: a run whose gates failed gets repair rounds (at least one) on the re-staged tree.
    """
    startup_recovery(ws.root)
    run = pick_run(ws, run_id)
    note_run(ws.root, run.run_id)
    released = _release_of_run(ws.root, run.run_id)
    if released is not None and run.stage != "promoted":
        run.update(stage="promoted", release=released)  # promoted, then killed before saying so
    if run.stage in ("promoted", "unchanged"):
        return RunOutcome(run.stage, run_id=run.run_id)  # type: ignore[arg-type]
    if repair:
        run.update(params={**run.params, "gate_repairs": max(
            1, int(run.params.get("gate_repairs") or ws.config.synthesis.gate_repairs))})
    model_patch = run.kind == "patch" and run.params.get("source") == "model"
    if run.kind in ("patch", "rollback") and not model_patch:
        raise UsageError(f"run {run.run_id} is a {run.kind}; start it again",
                         hint=f"`genops {run.kind}` re-uses archived answers, so nothing is paid twice")
    gitops.refuse_dirty(gitops.open_repo(ws.root), owned_paths(ws), tree=ws.output_dir)
    answers.take_back(ws.root, run)  # answers set aside when it failed answer it again
    if model_patch:

        return execute_patch(ws, run, progress=progress, gate_observer=gate_observer)
    return execute(ws, run, progress=progress, gate_observer=gate_observer)


def _release_of_run(root: Path, run_id: str) -> str | None:
    for release in reversed(release_ids(root)):
        if load_manifest(root, release).get("run") == run_id:
            return release
    return None


def _check_inputs(ws: Workspace, run: RunState) -> None:
    now = ws.input_hashes()
    if run.inputs is not None and run.inputs != now:
        changed = sorted(p for p in set(now) | set(run.inputs) if now.get(p) != run.inputs.get(p))
        raise UsageError(f"inputs changed since run {run.run_id} started: {', '.join(changed)}",
                         hint="start a new run with `genops regenerate`")


def execute(ws: Workspace, run: RunState, *, progress: Any = None,
            gate_observer: GateObserver | None = None,
            gates: Sequence[Gate] | None = None) -> RunOutcome:
    """Carry a run through synthesis, staging, gates and promotion. A run that fails on its
    answers sets them aside (`genops.release.answers`): a new run asks the model again."""

    _check_inputs(ws, run)
    try:
        return _execute(ws, run, progress=progress, gate_observer=gate_observer, gates=gates)
    except Exception as exc:
        answers.after_failure(ws.root, run, exc, again="genops regenerate")
        raise


def _execute(ws: Workspace, run: RunState, *, progress: Any,
             gate_observer: GateObserver | None, gates: Sequence[Gate] | None) -> RunOutcome:
    routing = route(ws, run.params.get("provider"), run.dir)
    client = ModelClient(ws.root, ws.config, run_id=run.run_id, providers=routing.providers,
                         offline=routing.offline)
    run.update(stage="synthesizing", error=None)
    parent = current_release(ws.root)
    try:
        choice = choose(ws, full=bool(run.params.get("full")))
        if progress is not None and choice.full_reason and parent is not None:
            progress.message(f"full regeneration: {choice.full_reason}")
        result = synthesize(ws, client=client, rungs=routing.rungs,
                            previous_tree=previous_tree(ws), run_dir=run.dir,
                            progress=progress, release=parent, selection=choice.selection)
    except ManualPending as pending:
        wait_for_answers(run, pending)
        return RunOutcome("awaiting", run_id=run.run_id, pending=list(pending.pending),
                          responses_dir=pending.responses_dir)
    except Exception as exc:
        run.update(stage="failed", error=str(exc))
        raise
    crashpoint("after-synthesis")
    try:
        staged = stage_tree(result.files, result.deletes, run_dir=run.dir, base=result.base,
                            policy=PathPolicy.of(ws))
    except GenopsError as exc:  # e.g. a file/directory clash across groups: never stuck
        run.update(stage="failed", error=str(exc))
        raise
    run.update(stage="staged", pending=[])
    selection = result.selection or {"mode": "full", "reason": choice.full_reason}
    crashpoint("after-staging")
    calls = settled_calls(result.calls, client.ledger.calls(run.run_id))
    cost = client.ledger.run_total(run.run_id)
    if tree_unchanged(ws, parent, staged):
        run.update(stage="unchanged")
        return RunOutcome("unchanged", run_id=run.run_id, cost_usd=cost, calls=len(calls),
                          staged=staged, scope=selection)
    facts = ReleaseFacts(kind=run.kind, reason=run.reason, run_id=run.run_id, calls=calls,
                         blueprint=result.blueprint, rung_by_group=dict(result.rung_by_group),
                         cost_usd=cost, month_spend_usd=client.ledger.month_total(),
                         inputs=run.inputs,
                         extra={"flags": dict(run.params), "selection": selection})
    earlier = earlier_runs(ws.root, run)  # the runs on this parent that led here, and their cost
    if earlier:
        facts.extra["earlier_runs"] = earlier

    try:
        results, staged = gate_or_repair(ws, run, staged, facts, client=client,
                                         rungs=routing.rungs, progress=progress,
                                         observer=gate_observer, gates=gates)
        narrate(ws, staged, facts, results, client=client, rungs=routing.rungs)
    except ManualPending as pending:  # a repair round or the narrative waits for an answer
        wait_for_answers(run, pending)
        return RunOutcome("awaiting", run_id=run.run_id, pending=list(pending.pending),
                          responses_dir=pending.responses_dir, scope=selection)
    published = promote_run(ws, run, staged, facts, results)
    return RunOutcome("promoted", run_id=run.run_id, release=published, gates=results,
                      cost_usd=facts.cost_usd, calls=len(facts.calls), staged=None,
                      scope=selection)

