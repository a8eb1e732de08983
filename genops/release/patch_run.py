"""`genops patch "instruction"`: targeted model edits, all-or-nothing, gated and promoted.

    preflight ─► choose context ─► [--dry-run: plan, stop] ─► run (run.json, context.json)
      ─► edit rounds (genops.patch.engine) ─► scope guard ─► stage (parent tree + edits)
      ─► gates (with repair rounds when allowed) ─► promote as release kind `patch`

Everything goes through the regeneration pipeline's own pieces (routing, ModelClient, staging,
`gate`, `promote_run`), so path policy, sealed staging and the promotion lock apply unchanged. A
manual rung ends the run as "awaiting"; `genops resume` re-runs it (every answered request is an
archive hit). The manifest's `patch` entry records the instruction, the context chosen and every
round, which is all `genops replay` needs besides the parent tree and the archive.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.errors import GateFailed, GenopsError, UsageError
from genops.gates.adr_rules import check_rules
from genops.gates.registry import GateObserver
from genops.ledger.budget import workspace_input_ratio
from genops.ledger.pricing import (billed_price, estimate_request_tokens, reserved_input_tokens,
                                   worst_case_usd)
from genops.patch.context import Selection
from genops.patch.engine import PatchJob, PatchResult, choose, round_messages, run_patch
from genops.patch.match import tree_changes
from genops.pathpolicy import PathPolicy
from genops.providers.client import ModelClient
from genops.providers.manual import ManualPending
from genops.release import answers
from genops.release.attribution import earlier_runs
from genops.release.drift_patch import read_tree_text
from genops.release.manifest import ReleaseFacts
from genops.release.planning import check_prices
from genops.release.repair import gate_or_repair
from genops.release.runs import RunState
from genops.release.stages import (RunOutcome, ladder, narrate, preflight, promote_run, route,
                                   settled_calls, wait_for_answers)
from genops.release.staging import stage_tree
from genops.store.releases import current_release, load_manifest
from genops.store.tree import remove_tree
from genops.synthesis.context import base_context
from genops.synthesis.conversation import build_request
from genops.workspace import Workspace

SOURCE = "model"
CONTEXT_FILE = "context.json"
DIFF_FILE = "patch.diff"


@dataclass
class PatchPlan:
    """`genops patch --dry-run`: what would be sent and what it could cost at worst."""

    selection: Selection
    rows: list[dict[str, Any]]
    rounds: int
    worst_case_usd: float
    per_run_usd: float

    def to_dict(self) -> dict[str, Any]:
        return {"selection": self.selection.to_dict(), "requests": self.rows,
                "max_rounds": self.rounds, "worst_case_usd": round(self.worst_case_usd, 6),
                "per_run_usd": self.per_run_usd,
                "within_budget": self.worst_case_usd <= self.per_run_usd}


@dataclass
class PatchOutcome(RunOutcome):
    diff: str = ""
    selection: Selection | None = None
    patch_plan: PatchPlan | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)


def unified_diff(base: Mapping[str, str], written: Mapping[str, str], deleted: list[str],
                 output: str) -> str:
    """The edits as a unified diff with paths under the output dir."""
    chunks: list[str] = []
    for path in sorted({*written, *deleted}):
        old = base.get(path, "")
        new = written.get(path, "")
        chunks.extend(difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True),
            fromfile=f"a/{output}/{path}" if path in base else "/dev/null",
            tofile=f"b/{output}/{path}" if path not in deleted else "/dev/null"))
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in chunks)


def _base(ws: Workspace) -> tuple[str, dict[str, str]]:
    release = current_release(ws.root)
    if release is None or not ws.output_dir.is_dir():
        raise UsageError("there is no release to patch yet",
                         hint="make the first release with `genops regenerate`")
    return release, read_tree_text(ws.output_dir)


def _job(ws: Workspace, run_dir: Path, instruction: str, base: dict[str, str], release: str,
         rungs: list[Any], client: ModelClient | None = None, progress: Any = None) -> PatchJob:
    return PatchJob(ws=ws, client=client, rungs=rungs, base=base, base_root=ws.output_dir,
                    instruction=instruction, run_dir=run_dir, release=release, progress=progress)


def plan_patch(ws: Workspace, instruction: str, override: str | None) -> PatchPlan:
    """Render the first round's request on every rung and price it; sends nothing."""
    release, base = _base(ws)
    rungs = ladder(ws, override)
    job = _job(ws, ws.root, instruction, base, release, rungs)
    selection = choose(job)
    messages = round_messages(job, base_context(ws, None, release=release), selection, base, [])
    rounds = ws.config.patch.max_repairs + 1
    rows: list[dict[str, Any]] = []
    for rung, cfg in rungs:
        tokens = estimate_request_tokens(build_request(cfg, messages, cache_key="", label="patch"))
        price = billed_price(ws.config, cfg.provider, cfg.model)  # as the run bills it
        held = reserved_input_tokens(tokens, workspace_input_ratio(
            ws.root, ws.config.budget.estimate_margin, cfg.provider, cfg.model))
        worst = None if price is None else worst_case_usd(held, cfg.max_output_tokens, price)
        rows.append({"rung": rung, "provider": cfg.provider, "model": cfg.model,
                     "input_tokens": tokens, "max_output_tokens": cfg.max_output_tokens,
                     "worst_usd_per_round": worst})
    first = rows[0]["worst_usd_per_round"] or 0.0
    return PatchPlan(selection, rows, rounds, first * rounds, ws.config.budget.per_run_usd)


def start_patch(ws: Workspace, *, instruction: str, reason: str, provider_override: str | None = None,
                allow_breaking: bool = False, source: str = "instruction", progress: Any = None,
                gate_observer: GateObserver | None = None) -> PatchOutcome:
    """Start a patch run for `instruction` and carry it as far as it goes."""
    preflight(ws)
    if not instruction.strip():
        raise UsageError("the patch instruction is empty",
                         hint='genops patch "what to change" (or --file, or --from-test)')
    _base(ws)
    check_prices(ws, ladder(ws, provider_override))  # what `--dry-run` refuses, the run refuses
    first_line = next(line.strip() for line in instruction.splitlines() if line.strip())
    run = RunState.create(ws.root, kind="patch", reason=reason or first_line,  # whole, never cut
                          params={"source": SOURCE, "origin": source, "instruction": instruction,
                                  "provider": provider_override, "allow_breaking": allow_breaking},
                          inputs=ws.input_hashes())
    return execute_patch(ws, run, progress=progress, gate_observer=gate_observer)


def execute_patch(ws: Workspace, run: RunState, *, progress: Any = None,
                  gate_observer: GateObserver | None = None) -> PatchOutcome:
    """Edit rounds, scope guard, staging, gates (and repairs), promotion; resumable. A run that
    fails on its answers sets them aside (`genops.release.answers`): a new run asks again."""
    try:
        return _execute_patch(ws, run, progress=progress, gate_observer=gate_observer)
    except Exception as exc:
        answers.after_failure(ws.root, run, exc, again="genops patch")
        raise


def _execute_patch(ws: Workspace, run: RunState, *, progress: Any,
                   gate_observer: GateObserver | None) -> PatchOutcome:
    release, base = _base(ws)
    routing = route(ws, run.params.get("provider"), run.dir)
    client = ModelClient(ws.root, ws.config, run_id=run.run_id, providers=routing.providers,
                         offline=routing.offline)
    job = _job(ws, run.dir, run.params["instruction"], base, release, routing.rungs, client,
               progress)
    selection = choose(job)
    (run.dir / CONTEXT_FILE).write_text(json.dumps(selection.to_dict(), indent=1) + "\n",
                                        encoding="utf-8")
    run.update(stage="synthesizing", error=None)
    try:
        result = run_patch(job, selection)
        written, deleted = result.changes
        check_scope(ws, base, result, allow_breaking=bool(run.params.get("allow_breaking")))
    except ManualPending as pending:
        wait_for_answers(run, pending)
        return PatchOutcome("awaiting", run_id=run.run_id, pending=list(pending.pending),
                            responses_dir=pending.responses_dir, selection=selection)
    except Exception as exc:
        run.update(stage="failed", error=str(exc))
        raise
    try:
        staged = stage_tree(written, deleted, run_dir=run.dir, base=ws.output_dir,
                            policy=PathPolicy.of(ws))
    except GenopsError as exc:
        run.update(stage="failed", error=str(exc))
        raise
    run.update(stage="staged", pending=[])
    facts = _facts(ws, run, result, client, release)
    try:
        results, staged = gate_or_repair(ws, run, staged, facts, client=client,
                                         rungs=routing.rungs, progress=progress,
                                         observer=gate_observer)
        narrate(ws, staged, facts, results, client=client, rungs=routing.rungs)
    except ManualPending as pending:
        wait_for_answers(run, pending)
        return PatchOutcome("awaiting", run_id=run.run_id, pending=list(pending.pending),
                            responses_dir=pending.responses_dir, selection=selection)
    final = read_tree_text(staged)
    diff = unified_diff(base, *_changes(base, final), str(ws.config.project.output))
    evidence = run.dir / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    (evidence / DIFF_FILE).write_text(diff, encoding="utf-8")
    published = promote_run(ws, run, staged, facts, results)
    return PatchOutcome("promoted", run_id=run.run_id, release=published, gates=results,
                        cost_usd=facts.cost_usd, calls=len(facts.calls), diff=diff,
                        selection=selection, rounds=[r.to_dict() for r in result.rounds])


def _changes(base: dict[str, str], final: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    return tree_changes(base, final)


def _facts(ws: Workspace, run: RunState, result: PatchResult, client: ModelClient, parent: str) -> ReleaseFacts:
    calls = settled_calls(result.calls, client.ledger.calls(run.run_id))
    written, deleted = result.changes
    flags = {"source": SOURCE, "allow_breaking": bool(run.params.get("allow_breaking"))}
    earlier = earlier_runs(ws.root, run)  # the runs on this parent that led here, and their cost
    facts = ReleaseFacts(
        kind="patch", reason=run.reason, run_id=run.run_id, calls=calls,
        blueprint=load_manifest(ws.root, parent).get("blueprint"),  # the layout is unchanged
        rung_by_group={}, cost_usd=client.ledger.run_total(run.run_id),
        month_spend_usd=client.ledger.month_total(), inputs=run.inputs,
        extra={"flags": flags,
               "patch": {"instruction": run.params["instruction"],
                         "origin": run.params.get("origin", "instruction"),
                         "context": result.selection.to_dict(),
                         "rounds": [r.to_dict() for r in result.rounds],
                         "files_written": sorted(written), "files_deleted": deleted,
                         "diff": f"evidence/{DIFF_FILE}"}})
    if earlier:
        facts.extra["earlier_runs"] = earlier
    return facts


class ScopeRefused(GateFailed):
    """A patch too large, or breaking a protected API: that is a regeneration, not a fix."""


def changed_lines(base: Mapping[str, str], written: Mapping[str, str], deleted: list[str]) -> int:
    """Lines added plus lines removed, over every written and deleted file."""
    total = 0
    for path in {*written, *deleted}:
        old = base.get(path, "").splitlines()
        new = written.get(path, "").splitlines()
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
            if op != "equal":
                total += (i2 - i1) + (j2 - j1)
    return total


def check_scope(ws: Workspace, base: dict[str, str], result: PatchResult, *,
                allow_breaking: bool = False) -> None:
    """Refuse a patch over `[patch] max_share` of the tree's lines or breaking a protected API."""
    written, deleted = result.changes
    if not written and not deleted:
        raise UsageError("the edits change nothing", hint="say more precisely what to change")
    tree_lines = max(1, sum(len(t.splitlines()) for t in base.values()))
    changed = changed_lines(base, written, deleted)
    share = ws.config.patch.max_share
    advice = "change specs/ or adr/ and run `genops regenerate`"
    if changed > share * tree_lines:
        raise ScopeRefused(f"the patch changes {changed} of {tree_lines} lines "
                           f"({changed / tree_lines:.0%}), more than [patch] max_share "
                           f"({share:.0%}): that is a regeneration, not a patch", hint=advice)
    broken = [] if allow_breaking else protected_api_breaks(ws, base, result.tree)
    if broken:
        raise ScopeRefused("the patch changes an ADR-protected API: " + "; ".join(broken[:5]),
                           hint=advice + " (with an ADR that allows the change)")


def protected_api_breaks(ws: Workspace, base: dict[str, str], tree: dict[str, str]) -> list[str]:
    """Messages of protected_api violations the patched tree has against the base tree."""
    adrs = list(ws.active_adrs())
    if not any(rule.get("kind") == "protected_api" for adr in adrs for rule in adr.rules):
        return []
    import tempfile

    with tempfile.TemporaryDirectory(prefix="genops-scope-") as scratch:
        old, new = Path(scratch) / "old", Path(scratch) / "new"
        for root, files in ((old, base), (new, tree)):
            for rel, text in files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(text, encoding="utf-8")
        report = check_rules(adrs, new, previous=old)
        remove_tree(new)
    return [v.message for v in report.violations if v.rule.kind == "protected_api"]
