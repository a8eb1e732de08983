"""The stages every run shares: route the ladder to providers, preflight, gate, promote.

The regeneration pipeline (`genops.release.pipeline`) and the patch runs (`patch_run`,
`drift_patch`, `repair`) are built from these, so each stage has one implementation whatever
started the run.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from genops.audit.keys import signing_key
from genops.calls import Provider
from genops.errors import GateFailed, UsageError
from genops.faults import crashpoint
from genops.gates.base import Gate, GateContext, GateResult
from genops.gates.registry import GateObserver, first_failure, run_gates
from genops.providers.client import ModelClient
from genops.providers.manual import ManualPending, ManualProvider
from genops.providers.registry import make_provider
from genops.providers.replay import ReplayProvider
from genops.release.gateset import default_gates
from genops.release.manifest import ReleaseFacts
from genops.release.planning import RunPlan
from genops.release.publish import PublishedRelease, owned_paths, publish
from genops.release.recovery import startup_recovery
from genops.release.runs import RunState
from genops.release.seal import SealBroken, seal, verify_seal
from genops.review.narrative import write_narrative
from genops.store import gitops
from genops.store.releases import current_release, load_manifest
from genops.store.tree import hash_tree, tree_files
from genops.workspace import Workspace
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


def ladder(ws: Workspace, override: str | None) -> list[tuple[str, ModelConfig]]:
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


def route(ws: Workspace, override: str | None, run_dir: Path) -> Routing:
    """The ladder and the provider object answering each rung (see `ladder`)."""
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


def run_kind(ws: Workspace, kind: str, override: str | None) -> str:
    if kind != "regenerate":
        return kind
    if override == "replay":
        return "replay"
    if override == "manual" or all(c.provider == "manual" for _, c in ws.config.rung_models()):
        return "manual"
    return kind


def previous_tree(ws: Workspace) -> Path | None:
    return ws.output_dir if current_release(ws.root) and ws.output_dir.is_dir() else None


def preflight(ws: Workspace) -> Any:
    """Finish an interrupted promotion and refuse hand edits; returns the git repository.

    A signing key that could not sign the release (inside the workspace, missing, not Ed25519)
    is refused here, before anything is spent, rather than at promotion."""
    signing_key(ws.config.audit.signing_key, ws.root)
    startup_recovery(ws.root)
    repo = gitops.open_repo(ws.root)
    gitops.refuse_dirty(repo, owned_paths(ws), tree=ws.output_dir)
    return repo


def settled_calls(calls: Sequence[Any], ledger_rows: Sequence[Any]) -> list[Any]:
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


def tree_unchanged(ws: Workspace, parent: str | None, staged: Path) -> bool:
    """True when the new tree and the inputs equal the current release's: nothing to promote."""
    if parent is None:
        return False
    manifest = load_manifest(ws.root, parent)
    return bool(manifest["output"]["tree_sha256"] == hash_tree(staged)
                and manifest.get("inputs") == ws.input_hashes())


def gate(ws: Workspace, run: RunState, staged: Path, facts: ReleaseFacts, *,
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
                      previous=previous if previous is not None else previous_tree(ws),
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


def promote_run(ws: Workspace, run: RunState, staged: Path, facts: ReleaseFacts,
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


def narrate(ws: Workspace, staged: Path, facts: ReleaseFacts, results: list[GateResult], *,
            client: ModelClient, rungs: list[tuple[str, ModelConfig]]) -> None:
    """`[review] summary`: the model's narrative of the gated change, recorded in the manifest
    (`narrative`) for the reviewer summary. Its rung is `[review] summary_rung`, else the
    ladder's first, as routed for this run (so --provider manual makes it a request file)."""
    if not ws.config.review.summary:
        return
    name = ws.config.review.summary_rung or rungs[0][0]
    rung = next((r for r in rungs if r[0] == name), (name, ws.config.models[name]))
    narrative = write_narrative(ws, client, rung, previous=previous_tree(ws), staged=staged,
                                results=results)
    facts.extra["narrative"] = narrative.to_dict()


def wait_for_answers(run: RunState, pending: ManualPending) -> None:
    """A run waiting for manual answers: recorded as "awaiting"; a rejected answer (empty, not
    UTF-8, the wrong shape) is exit 2 naming its file, whichever stage asked (synthesis, a
    repair round, the narrative), and its request stays waiting."""
    run.update(stage="awaiting", pending=[str(p) for p in pending.pending])
    if pending.problems:
        raise pending.rejection(run.run_id) from None
