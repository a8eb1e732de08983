"""The repair loop: a failed gate's findings become a patch request on the staged tree.

When the tests, adr_rules, parse or traceability gate fails and `[synthesis] gate_repairs` (or
`genops resume RUN --repair`) allows another round, the findings are written up as an instruction
(failing tests with their JUnit failure text, each rule violation with file:line, each uncovered
requirement), `run_patch` edits the staged tree in memory, the result is staged again through the
same staging function and every gate runs again. Each round's instruction is recorded in the
manifest (`repairs`), so replay re-sends the very same requests and gets the archived answers.
Failure output is normalized (scratch paths, durations) so a re-run asks the same question.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genops.errors import GateFailed
from genops.gates.base import GateResult
from genops.patch.engine import PatchJob, run_patch
from genops.patch.failures import junit_failures, normalize
from genops.pathpolicy import PathPolicy
from genops.providers.client import ModelClient
from genops.release.drift_patch import read_tree_text
from genops.release.manifest import ReleaseFacts
from genops.release.runs import RunState
from genops.release.seal import SealBroken
from genops.release.stages import gate
from genops.release.staging import stage_tree
from genops.store.releases import current_release
from genops.workspace import Workspace

REPAIRABLE = ("parse", "adr_rules", "tests", "traceability")
MAX_FINDINGS = 20
def _junit_path(result: GateResult, root: Path) -> Path | None:
    for rel in result.evidence:
        if rel.endswith("junit.xml"):
            path = Path(rel)
            return path if path.is_absolute() else root / path
    return None


def gate_instruction(results: list[GateResult], root: Path, paths: list[str]) -> str | None:
    """The instruction that asks for a fix of every repairable failed gate, or None if none."""
    failed = [r for r in results if not r.passed and r.gate in REPAIRABLE]
    if not failed:
        return None
    parts = ["The release candidate failed these checks. Fix the code (or the tests, where a "
             "test is wrong about the specification) so that they pass; change nothing else."]
    for result in failed:
        parts.append(f"\n## Gate `{result.gate}`: {normalize(result.summary, paths)}")
        junit = _junit_path(result, root) if result.gate == "tests" else None
        failures = junit_failures(junit, paths) if junit is not None else []
        if failures:
            parts.extend(failures[:MAX_FINDINGS])
            continue
        for finding in result.findings[:MAX_FINDINGS]:
            where = f"{finding.file}:{finding.line}: " if finding.file and finding.line else \
                f"{finding.file}: " if finding.file else ""
            rule = f" [{finding.rule}]" if finding.rule else ""
            parts.append(f"- {normalize(where + finding.message, paths)}{rule}")
    return "\n".join(parts) + "\n"


def repairable(exc: GateFailed) -> bool:
    return any(isinstance(r, GateResult) and not r.passed and r.gate in REPAIRABLE
               for r in exc.results)


def _repair_once(ws: Workspace, run: RunState, staged: Path, facts: ReleaseFacts, exc: GateFailed, number: int, *,
                 client: ModelClient, rungs: list[Any], progress: Any) -> Path:
    """One repair round: findings -> patch on the staged tree -> staged again; facts updated."""
    base = read_tree_text(staged)
    instruction = gate_instruction([r for r in exc.results if isinstance(r, GateResult)],
                                   ws.root, sorted(base))
    assert instruction is not None  # repairable() checked there is a repairable failure
    if progress is not None:
        progress.message(f"repair round {number}: asking for a patch ({exc.message})")
    job = PatchJob(ws=ws, client=client, rungs=rungs, base=base, base_root=staged,
                   instruction=instruction, run_dir=run.dir, label=repair_label(number),
                   release=current_release(ws.root), progress=progress)
    result = run_patch(job)
    written, deleted = result.changes
    staged = stage_tree(written, deleted, run_dir=run.dir, base=staged, policy=PathPolicy.of(ws))
    facts.calls = [*facts.calls, *result.calls]
    facts.cost_usd = client.ledger.run_total(run.run_id)
    facts.month_spend_usd = client.ledger.month_total()
    facts.extra.setdefault("repairs", []).append({
        "round": number, "gates": [r.gate for r in exc.results
                                   if isinstance(r, GateResult) and not r.passed],
        "instruction": instruction, "rounds": [r.to_dict() for r in result.rounds],
        "files_written": sorted(written), "files_deleted": deleted})
    return staged


def repair_label(number: int) -> str:
    return f"repair{number}"


def gate_or_repair(ws: Workspace, run: RunState, staged: Path, facts: ReleaseFacts, *,
                   client: ModelClient, rungs: list[Any], progress: Any = None,
                   observer: Any = None, gates: Any = None) -> tuple[list[GateResult], Path]:
    """Gate `staged`; while a repairable gate fails and rounds are left, patch and gate again."""
    limit = int(run.params.get("gate_repairs") or ws.config.synthesis.gate_repairs)
    number = 0
    while True:
        try:
            return gate(ws, run, staged, facts, observer=observer, gates=gates), staged
        except GateFailed as exc:
            number += 1
            # a broken seal means something wrote into the tree: never patch over that
            if number > limit or isinstance(exc, SealBroken) or not repairable(exc):
                raise
            staged = _repair_once(ws, run, staged, facts, exc, number, client=client,
                                  rungs=rungs, progress=progress)


def replay_repairs(ws: Workspace, client: ModelClient, rungs: list[Any], staged: Path, repairs: list[Any], *,
                   run_dir: Path, release: str | None) -> tuple[Path, int]:
    """Re-apply a release's recorded repair rounds on a rebuilt tree; (staged, calls made)."""
    calls = 0
    for entry in repairs:
        job = PatchJob(ws=ws, client=client, rungs=rungs, base=read_tree_text(staged),
                       base_root=staged, instruction=entry["instruction"], run_dir=run_dir,
                       label=repair_label(int(entry["round"])), release=release)
        result = run_patch(job)
        written, deleted = result.changes
        staged = stage_tree(written, deleted, run_dir=run_dir, base=staged,
                            policy=PathPolicy.of(ws))
        calls += len(result.calls)
    return staged, calls
