"""The regeneration pipeline: recover → run directory → plan → synthesize → stage → gates → promote.

`regenerate` starts a run, `resume` continues one from its `run.json`. A gate failure leaves
`generated/` untouched, keeps the staged tree and raises `GateFailed` naming the gate and why; a
manual provider waiting for answers ends the run as "awaiting" (the CLI exits 5) with the request files.
Every finished model call is archived, so re-running a run (resume, or after a crash) pays for no
request twice.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from genops.errors import BudgetExceeded, GateFailed, GenopsError, UsageError
from genops.gates.base import Gate, GateContext, GateResult
from genops.pathpolicy import PathPolicy
from genops.gates.registry import GateObserver, default_gates, first_failure, run_gates
from genops.providers.base import Provider
from genops.release import gitops
from genops.release.faults import crashpoint
from genops.release.manifest import ReleaseFacts
from genops.release.planning import RunPlan, build_plan
from genops.release.lock import note_run
from genops.release.publish import PublishedRelease, owned_paths, publish
from genops.release.recovery import startup_recovery
from genops.release.runs import FINAL, RunState, latest_unfinished, list_runs
from genops.release.staging import stage_tree
from genops.release.store import current_release, load_manifest, release_ids
from genops.release.seal import SealBroken, seal, verify_seal
from genops.release.tree import hash_tree, tree_files
from genops.workspace.config import PROVIDER_NAMES, ModelConfig

Status = Literal["promoted", "awaiting", "planned", "unchanged"]


@dataclass
class RunOutcome:
    """How a run ended (a gate failure raises GateFailed instead)."""

    status: Status
    run_id: str | None = None
    release: PublishedRelease | None = None
    plan: RunPlan | None = None
    gates: list[GateResult] = field(default_factory=list)
    pending: list[Path] = field(default_factory=list)
    responses_dir: Path | None = None
    cost_usd: float = 0.0
    calls: int = 0
    staged: Path | None = None
    scope: dict[str, Any] | None = None  # selective or full, and why (genops.release.selective)


@dataclass(frozen=True)
class Routing:
    """Which model answers each rung and through which provider object."""

    rungs: list[tuple[str, ModelConfig]]
    providers: dict[str, Provider]
    offline: bool


def ladder(ws: Any, override: str | None) -> list[tuple[str, ModelConfig]]:
    """The ladder's rungs, each sent to provider `override` when given (`--provider NAME`).

    `replay` keeps each rung's pinned provider and model in the requests, so their archive keys
    match the recorded run; any other override rewrites the rungs' provider.
    """
    rungs: list[tuple[str, ModelConfig]] = ws.config.rung_models()
    if override is None or override == "replay":
        return rungs
    if override not in PROVIDER_NAMES:
        raise UsageError(f"unknown provider {override!r}",
                         hint="one of: " + ", ".join(PROVIDER_NAMES))
    return [(name, cfg.model_copy(update={"provider": override})) for name, cfg in rungs]


def route(ws: Any, override: str | None, run_dir: Path) -> Routing:
    """The ladder and the provider object answering each rung (see `ladder`)."""
    from genops.providers.manual import ManualProvider
    from genops.providers.registry import make_provider
    from genops.providers.replay import ReplayProvider

    rungs = ladder(ws, override)
    if override == "replay":
        return Routing(rungs, {name: ReplayProvider(ws.root) for name, _ in rungs}, True)
    providers: dict[str, Provider] = {}
    for name, cfg in rungs:
        if cfg.provider == "manual":  # request and response files live in the run directory
            providers[name] = ManualProvider(ws.root, run_dir)
        elif override is not None:
            providers[name] = make_provider(cfg, workspace_root=ws.root)
    return Routing(rungs, providers, False)


def run_kind(ws: Any, kind: str, override: str | None) -> str:
    if kind != "regenerate":
        return kind
    if override == "replay":
        return "replay"
    if override == "manual" or all(c.provider == "manual" for _, c in ws.config.rung_models()):
        return "manual"
    return kind


def _previous_tree(ws: Any) -> Path | None:
    return ws.output_dir if current_release(ws.root) and ws.output_dir.is_dir() else None


def preflight(ws: Any) -> Any:
    """Finish an interrupted promotion and refuse hand edits; returns the git repository."""
    startup_recovery(ws.root)
    repo = gitops.open_repo(ws.root)
    gitops.refuse_dirty(repo, owned_paths(ws), tree=ws.output_dir)
    return repo


def regenerate(ws: Any, *, reason: str, kind: str = "regenerate",
               provider_override: str | None = None, dry_run: bool = False,
               allow_breaking: bool = False, run_id: str | None = None,
               progress: Any = None, gate_observer: GateObserver | None = None,
               gates: Sequence[Gate] | None = None, full: bool = False) -> RunOutcome:
    """Synthesize the tree (selectively when a parent release exists) and promote it if every
    gate passes; `full` regenerates every group.

    `gates` replaces the default gate list (an embedding tool's own gates, or a test's).
    """
    preflight(ws)
    if dry_run:
        from genops.ledger.db import Ledger
        from genops.release.selective import choose, estimate

        plan = build_plan(ws, ladder(ws, provider_override), previous_tree=_previous_tree(ws),
                          release=current_release(ws.root),
                          month_spent_usd=Ledger.for_workspace(ws.root).month_total())
        return RunOutcome("planned", plan=plan, scope=estimate(ws, choose(ws, full=full)))
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
        from genops.patch import fallback

        if ws.config.ladder.on_budget == "patch":
            outcome: RunOutcome = fallback.patch_instead(ws, run, exc, progress=progress,
                                                         gate_observer=gate_observer)
            return outcome
        raise fallback.offer(ws, exc) from None


def pick_run(ws: Any, run_id: str | None = None) -> RunState:
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


def cut_off_calls(ws: Any, run: RunState) -> list[Any]:
    """Calls of `run` a crash cut off after sending (may have been billed) and not archived since.

    These are the requests `resume` sends again; they are recorded in the run state.
    """
    from genops.ledger.archive import Archive
    from genops.ledger.db import Ledger

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


def resume(ws: Any, run_id: str | None = None, *, progress: Any = None,
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
    if model_patch:
        from genops.patch.pipeline import execute_patch

        return execute_patch(ws, run, progress=progress, gate_observer=gate_observer)
    return execute(ws, run, progress=progress, gate_observer=gate_observer)


def _release_of_run(root: Path, run_id: str) -> str | None:
    for release in reversed(release_ids(root)):
        if load_manifest(root, release).get("run") == run_id:
            return release
    return None


def _check_inputs(ws: Any, run: RunState) -> None:
    now = ws.input_hashes()
    if run.inputs is not None and run.inputs != now:
        changed = sorted(p for p in set(now) | set(run.inputs) if now.get(p) != run.inputs.get(p))
        raise UsageError(f"inputs changed since run {run.run_id} started: {', '.join(changed)}",
                         hint="start a new run with `genops regenerate`")


def _settled_calls(calls: Sequence[Any], ledger_rows: Sequence[Any]) -> list[Any]:
    """Calls of this synthesis; those paid earlier in the same run keep their real cost."""
    paid = {r.archive_key: r for r in ledger_rows if r.status == "ok"}
    settled = []
    for call in calls:
        row = paid.get(call.key)
        if call.from_archive and row is not None:
            call = dataclasses.replace(call, cost_usd=row.cost_usd, latency_s=row.latency_s,
                                       usage=row.usage, from_archive=False)
        settled.append(call)
    return settled


def execute(ws: Any, run: RunState, *, progress: Any = None,
            gate_observer: GateObserver | None = None,
            gates: Sequence[Gate] | None = None) -> RunOutcome:
    """Carry a run through synthesis, staging, gates and promotion."""
    from genops.providers.client import ModelClient
    from genops.providers.manual import ManualPending
    from genops.release.selective import choose
    from genops.synthesis.engine import synthesize

    _check_inputs(ws, run)
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
                            previous_tree=_previous_tree(ws), run_dir=run.dir,
                            progress=progress, release=parent, selection=choice.selection)
    except ManualPending as pending:
        run.update(stage="awaiting", pending=[str(p) for p in pending.pending])
        if pending.problems:  # a rejected answer: exit 2 naming it; the request stays waiting
            raise pending.rejection(run.run_id) from None
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
    calls = _settled_calls(result.calls, client.ledger.calls(run.run_id))
    cost = client.ledger.run_total(run.run_id)
    if _unchanged(ws, parent, staged):
        run.update(stage="unchanged")
        return RunOutcome("unchanged", run_id=run.run_id, cost_usd=cost, calls=len(calls),
                          staged=staged, scope=selection)
    facts = ReleaseFacts(kind=run.kind, reason=run.reason, run_id=run.run_id, calls=calls,
                         blueprint=result.blueprint, rung_by_group=dict(result.rung_by_group),
                         cost_usd=cost, month_spend_usd=client.ledger.month_total(),
                         inputs=run.inputs,
                         extra={"flags": dict(run.params), "selection": selection})
    from genops.patch.repair import gate_or_repair  # gate; on failure maybe patch and re-gate

    try:
        results, staged = gate_or_repair(ws, run, staged, facts, client=client,
                                         rungs=routing.rungs, progress=progress,
                                         observer=gate_observer, gates=gates)
    except ManualPending as pending:  # a repair round waits for a manual answer
        run.update(stage="awaiting", pending=[str(p) for p in pending.pending])
        return RunOutcome("awaiting", run_id=run.run_id, pending=list(pending.pending),
                          responses_dir=pending.responses_dir, scope=selection)
    published = _promote(ws, run, staged, facts, results)
    return RunOutcome("promoted", run_id=run.run_id, release=published, gates=results,
                      cost_usd=facts.cost_usd, calls=len(facts.calls), staged=None,
                      scope=selection)


def _unchanged(ws: Any, parent: str | None, staged: Path) -> bool:
    """True when the new tree and the inputs equal the current release's: nothing to promote."""
    if parent is None:
        return False
    manifest = load_manifest(ws.root, parent)
    return bool(manifest["output"]["tree_sha256"] == hash_tree(staged)
                and manifest.get("inputs") == ws.input_hashes())


def gate(ws: Any, run: RunState, staged: Path, facts: ReleaseFacts, *,
         observer: GateObserver | None = None, extra: dict[str, Any] | None = None,
         gates: Sequence[Gate] | None = None, previous: Path | None = None) -> list[GateResult]:
    """Seal `staged`, run the gates (default: every default gate) on it and check the seal.

    `previous` is the current release's tree (default: `generated/`; a caller whose
    `generated/` holds something else, such as hand edits, passes the release's own tree).

    Raises GateFailed (generated/ untouched) if a gate fails, SealBroken if the tree changed
    while it was judged; `facts` receives the sealed listing and the gated file hashes.
    """
    evidence = run.dir / "evidence"
    shutil.rmtree(evidence, ignore_errors=True)
    ctx = GateContext(workspace=ws, staged=staged,
                      previous=previous if previous is not None else _previous_tree(ws),
                      evidence_dir=evidence,
                      run={"run_id": run.run_id, "kind": run.kind, "cost_usd": facts.cost_usd,
                           "month_spend_usd": facts.month_spend_usd,
                           "allow_breaking": bool(run.params.get("allow_breaking")),
                           "blueprint": facts.blueprint, "rung_by_group": facts.rung_by_group,
                           "calls": list(facts.calls), **(extra or {})})
    facts.sealed, facts.gated_files = seal(staged), tree_files(staged)
    results = run_gates(ctx, default_gates(ws) if gates is None else gates, observer=observer)
    try:
        verify_seal(staged, facts.sealed, when="while the gates ran")
    except SealBroken as broken:
        run.update(stage="gates_failed", gates=[r.to_dict() for r in results],
                   error=str(broken))
        broken.results = list(results)
        raise
    failed = first_failure(results)
    run.update(stage="gates_failed" if failed else "gated",
               gates=[r.to_dict() for r in results])
    crashpoint("after-gates")
    if failed is not None:
        staged_rel = staged.relative_to(ws.root).as_posix()
        raise GateFailed(f"gate {failed.gate!r} failed: {failed.summary}", results=list(results),
                         hint=f"{ws.config.project.output}/ is unchanged; the staged tree is kept "
                              f"at {staged_rel} and the evidence under "
                              f"{evidence.relative_to(ws.root).as_posix()}")
    return results


def _promote(ws: Any, run: RunState, staged: Path, facts: ReleaseFacts,
             results: list[GateResult]) -> PublishedRelease:
    """Publish the gated tree; a broken seal at the swap fails the run (nothing promoted)."""
    run.update(stage="promoting")
    try:
        published = publish(ws, facts, run_dir=run.dir, staged=staged, gates=results)
    except SealBroken as broken:
        run.update(stage="failed", error=str(broken))
        raise
    run.update(stage="promoted", release=published.release)
    return published
