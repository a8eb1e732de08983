"""The patch conversation: ask for edit blocks, apply them in memory, re-ask only the failures.

    round 1: system + patch.j2 (instruction, chosen files in full, map of the rest)
             ─► answer ─► parse_edits ─► apply_blocks (in memory)
    round n: the same request rendered on the tree as the applied blocks left it, with the failing
             blocks' reports (nearest lines, similarity) as `error`: blocks that applied are in the
             files shown and are never asked for again
    after `max_repairs` re-asks with failures left: PatchFailed naming every unmatched block.

Each round is one synthesis `Unit`, so it goes through the ladder, the client (archive, budget,
ledger), continuation of a cut-off answer and one format repair for a malformed answer, and a
manual rung raises ManualPending like any other unit. Every request follows from the instruction,
the base tree and the archived answers before it, so a re-run (resume, replay) sends the same keys.
Nothing here writes outside `run_dir` (the journal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.calls import Message
from genops.errors import GateFailed
from genops.patch.context import Chosen, Selection, select_context
from genops.patch.match import ApplyResult, BlockFailure, apply_blocks, tree_changes
from genops.protocol.edits import EDIT_LABEL_PREFIX, EditBlock, parse_edits, render_edit_help
from genops.synthesis.context import base_context, prefix_cache_key, render_template, request_context
from genops.synthesis.conversation import ClientLike, RunSettings, Unit, build_request
from genops.synthesis.journal import RunJournal
from genops.synthesis.progress import CallRecord, NullProgress, Progress
from genops.workspace import Workspace
from genops.workspace.catalog import sent_sampling
from genops.workspace.config import ModelConfig

REPAIR_INSTRUCTION = ("Send your edit blocks again, corrected: each <edit> closed with </edit>, "
                      "each block with its SEARCH, ======= and REPLACE markers.")


class PatchFailed(GateFailed):
    """Edit blocks still did not apply after the allowed re-asks; nothing was written."""

    def __init__(self, message: str, *, failures: list[BlockFailure], hint: str) -> None:
        super().__init__(message, hint=hint)
        self.failures = failures


@dataclass(frozen=True)
class PatchRound:
    number: int
    label: str
    calls: list[CallRecord]
    applied: list[dict[str, Any]]
    failed: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"round": self.number, "label": self.label, "calls": [c.key for c in self.calls],
                "applied": self.applied, "failed": self.failed}


@dataclass
class PatchResult:
    """The tree after every block applied, and how it was obtained."""

    base: dict[str, str]
    tree: dict[str, str]
    selection: Selection
    rounds: list[PatchRound] = field(default_factory=list)

    @property
    def calls(self) -> list[CallRecord]:
        return [call for r in self.rounds for call in r.calls]

    @property
    def changes(self) -> tuple[dict[str, str], list[str]]:
        return tree_changes(self.base, self.tree)


@dataclass
class PatchJob:
    """What one patch conversation needs: the workspace, the ladder, the base tree, the ask."""

    ws: Workspace
    client: ClientLike | None  # None: the job is only planned (priced), never sent
    rungs: list[tuple[str, ModelConfig]]
    base: dict[str, str]
    base_root: Path | None  # the base tree on disk, for the import graph
    instruction: str
    run_dir: Path
    label: str = "patch"
    release: str | None = None
    progress: Progress | None = None


def _settings(job: PatchJob, context: dict[str, Any]) -> RunSettings:
    cfg = job.ws.config
    if job.client is None:
        raise ValueError("a planned patch job has no client to send it with")

    def render(name: str, overrides: dict[str, Any]) -> str:
        return render_template(job.ws, name, request_context(context, **overrides))

    return RunSettings(client=job.client, rungs=job.rungs, journal=RunJournal(job.run_dir),
                       progress=job.progress or NullProgress(), render=render,
                       max_continuations=cfg.synthesis.max_continuations,
                       max_repairs=cfg.synthesis.max_repairs,
                       on_failure=cfg.ladder.on_failure,
                       on_budget=cfg.ladder.on_budget)


def choose(job: PatchJob) -> Selection:
    """The context selection for the job's instruction on its base tree."""
    return select_context(job.instruction, job.base, root=job.base_root,
                          budget_tokens=job.ws.config.patch.context_tokens,
                          output=str(job.ws.config.project.output))


def round_messages(job: PatchJob, context: dict[str, Any], selection: Selection,
                   tree: Mapping[str, str], failures: list[BlockFailure]) -> tuple[Message, ...]:
    """The request of one round: the system message and patch.j2 on the current tree."""
    shown = [c for c in selection.chosen if c.path in tree]
    for failure in failures:  # a failing block's file is shown even when not chosen
        if failure.block.path in tree and all(c.path != failure.block.path for c in shown):
            shown.append(Chosen(failure.block.path, f"edited by {failure.block.name}", 0))
    named = job.instruction + "".join(tree[c.path] for c in shown)
    overrides = {"instruction": job.instruction, "files": sorted(tree),
                 # only the requirements the instruction or the files shown name: a fix is local
                 "requirements": [r for r in context["requirements"] if r["id"] in named],
                 "api_summary": selection.map_text,
                 "selection": [{"path": c.path, "reason": c.reason} for c in shown],
                 "file_contents": {c.path: tree[c.path] for c in shown},
                 "protocol": render_edit_help(_example(selection, tree)),
                 "error": "\n\n".join(f.report() for f in failures)}
    full = request_context(context, **overrides)
    return (Message("system", render_template(job.ws, "system", full)),
            Message("user", render_template(job.ws, "patch", full)))


def _example(selection: Selection, tree: Mapping[str, str]) -> str | None:
    """The real file the edit protocol's example names: the file chosen first for the change
    (the likeliest to be edited), else the tree's first file; None for an empty tree."""
    chosen = [c.path for c in selection.chosen if c.path in tree]
    found = chosen or sorted(tree)
    return found[0] if found else None


def _describe(result: ApplyResult) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    applied = [{"block": a.block.number, "path": a.block.path, "kind": a.block.kind,
                "strategy": a.strategy, "line": a.line} for a in result.applied]
    failed = [{"block": f.block.number, "path": f.block.path, "reason": f.reason,
               "message": f.message} for f in result.failures]
    return applied, failed


def run_patch(job: PatchJob, selection: Selection | None = None) -> PatchResult:
    """Ask for edits until every block applies (at most 1 + `[patch] max_repairs` rounds)."""
    selection = selection or choose(job)
    context = base_context(job.ws, None, release=job.release)
    settings = _settings(job, context)
    result = PatchResult(base=dict(job.base), tree=dict(job.base), selection=selection)
    failures: list[BlockFailure] = []
    rounds = job.ws.config.patch.max_repairs + 1
    previous: str | None = None  # the key of the previous round's first request
    for number in range(1, rounds + 1):
        messages = round_messages(job, context, selection, result.tree, failures)
        name, cache_key = f"{EDIT_LABEL_PREFIX}{job.label}-r{number}", prefix_cache_key(messages[:1])
        key = build_request(job.rungs[0][1], messages, cache_key=cache_key, label=name).key()
        if key == previous:
            raise _repeated(job, number, failures)
        previous = key
        unit = Unit(settings, name, messages, cache_key=cache_key,
                    repair_instruction=REPAIR_INSTRUCTION)
        blocks: list[EditBlock]
        blocks, _rung = unit.run(parse_edits)
        applied = apply_blocks(result.tree, blocks)
        result.tree = applied.tree  # in memory only: nothing is staged until every block applied
        done, failed = _describe(applied)
        result.rounds.append(PatchRound(number, unit.name, list(unit.records), done, failed))
        failures = applied.failures
        if not failures:
            return result
        settings.progress.message(f"{unit.name}: {len(failures)} block(s) did not apply; "
                                  + ("asking again" if number < rounds else "giving up"))
    shown = "\n\n".join(f.report() for f in failures)
    raise PatchFailed(f"{len(failures)} edit block(s) still did not apply after {rounds} "
                      f"round(s); nothing was written:\n\n{shown}", failures=failures,
                      hint=f"{job.ws.config.project.output}/ is unchanged; make the instruction "
                           "more specific, raise [patch] max_repairs, or regenerate")


def _repeated(job: PatchJob, number: int, failures: list[BlockFailure]) -> PatchFailed:
    """Round `number` would send round `number - 1`'s request again, byte for byte: no block
    applied and the same blocks failed the same way. At temperature 0 the model answers it the
    same (and this run's archive would serve the recorded answer anyway), so it is not sent."""
    rung, cfg = job.rungs[0]
    temperature = sent_sampling(cfg)["temperature"]
    why = ("at temperature 0 the model would give the same answer" if temperature == 0 else
           "the archive answers a request it has already recorded with the same answer")
    shown = "\n\n".join(f.report() for f in failures)
    return PatchFailed(
        f"round {number}'s request would repeat round {number - 1}'s byte for byte (none of the "
        f"blocks applied and the same {len(failures)} block(s) failed the same way), and {why}, "
        f"so it was not sent; nothing was written:\n\n{shown}", failures=failures,
        hint=f"{job.ws.config.project.output}/ is unchanged; the model ({cfg.model} on rung "
             f"{rung!r}) keeps answering with blocks that match nothing: name the file and the "
             "lines to change in the instruction, use a more capable model, or regenerate")
