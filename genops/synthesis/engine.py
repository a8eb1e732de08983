"""`synthesize`: the whole tree from the workspace, through the model ladder.

Strategies:
- `single`: one request returns every file.
- `multi`: a blueprint request returns the file groups (genops.synthesis.blueprint); then the
  groups are generated level by level of their `depends_on` graph, in parallel within a level up
  to `concurrency`. A group's request carries the public interfaces its dependencies generated.

The result is the complete tree: staging writes `files` into an empty scratch tree, so a file of
the previous release that is not in `files` is gone; `deletes` only records explicit
`<delete>` blocks. Nothing here writes outside `run_dir` (the journal).

Resume is re-running `synthesize` with the same inputs and run_dir: every request is rendered
from the inputs and the archived answers before it, so each finished call is an archive hit.
With a manual rung, every request of one dependency level is written before `ManualPending` is
raised, so a person answers a level at a time (blueprint, then level 0 groups, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genops.calls import CompletionRequest
from genops.errors import UsageError
from genops.pathpolicy import PathPolicy
from genops.protocol.files import ParsedOutput, ProtocolError, parse_protocol
from genops.synthesis.blueprint import Blueprint, BlueprintLimits, parse_blueprint
from genops.synthesis.context import (
    base_context,
    prefix_cache_key,
    render_template,
    request_context,
    shared_prefix,
    task_messages,
)
from genops.synthesis.conversation import ClientLike, RunSettings, Unit, build_request
from genops.synthesis.journal import RunJournal
from genops.synthesis.levels import SynthesisResult, SynthesisRun, run_level
from genops.synthesis.progress import NullProgress, Progress
from genops.synthesis.selective import Selection, synthesize_selected
from genops.workspace import Workspace
from genops.workspace.config import ModelConfig

STRATEGIES = ("single", "multi")


def synthesize(ws: Workspace, *, client: ClientLike, rungs: list[tuple[str, ModelConfig]],
               previous_tree: Path | None, run_dir: Path, strategy: str | None = None,
               concurrency: int | None = None, progress: Progress | None = None,
               on_budget: str | None = None, on_failure: str | None = None,
               release: str | None = None, selection: Selection | None = None
               ) -> SynthesisResult:
    """Generate the complete tree from `ws` with the ladder `rungs` (first rung first).

    With a `selection` (multi only), only its groups are regenerated over `previous_tree`.
    """
    strategy = strategy or ws.config.synthesis.strategy
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown synthesis strategy {strategy!r}",
                         hint="use one of: " + ", ".join(STRATEGIES))
    if not rungs:
        raise UsageError("no model to synthesize with", hint="set [ladder] rungs in genops.toml")
    context = base_context(ws, previous_tree, release=release)

    def render(name: str, overrides: dict[str, Any]) -> str:
        return render_template(ws, name, request_context(context, **overrides))

    settings = RunSettings(
        client=client, rungs=rungs, journal=RunJournal(run_dir),
        progress=progress or NullProgress(), render=render,
        max_continuations=ws.config.synthesis.max_continuations,
        max_repairs=ws.config.synthesis.max_repairs,
        on_failure=on_failure or ws.config.ladder.on_failure,
        on_budget=on_budget or ws.config.ladder.on_budget)
    workers = concurrency or ws.config.synthesis.concurrency
    if any(cfg.provider == "manual" for _, cfg in rungs):
        workers = 1  # request files are numbered in the order they are written
    run = SynthesisRun(ws, settings, context, previous_tree, max(1, workers), PathPolicy.of(ws))
    if selection is not None and strategy == "multi" and previous_tree is not None:
        return synthesize_selected(run, selection)
    return _single(run) if strategy == "single" else _multi(run)


def first_request(ws: Workspace, cfg: ModelConfig, *, previous_tree: Path | None,
                  strategy: str | None = None, release: str | None = None) -> CompletionRequest:
    """The first request `synthesize` sends on `cfg` (blueprint or single), for planning."""
    task = "single" if (strategy or ws.config.synthesis.strategy) == "single" else "blueprint"
    messages = task_messages(ws, task, base_context(ws, previous_tree, release=release))
    return build_request(cfg, messages, cache_key=prefix_cache_key(messages[:2]), label=task)


def _result(files: dict[str, str], deletes: list[str], blueprint: Blueprint | None,
            units: list[Unit], rung_by_group: dict[str, str],
            rungs: list[tuple[str, ModelConfig]]) -> SynthesisResult:
    calls = [record for unit in units for record in unit.records]
    used = {call.rung for call in calls}
    return SynthesisResult(
        files={path: files[path] for path in sorted(files)},
        deletes=sorted(set(deletes)), blueprint=blueprint, calls=calls,
        rung_by_group=rung_by_group,
        models={name: cfg for name, cfg in rungs if name in used})


def _single(run: SynthesisRun) -> SynthesisResult:
    messages = task_messages(run.ws, "single", run.context)
    unit = Unit(run.settings, "single", messages, cache_key=prefix_cache_key(messages[:2]),
                repair_instruction="Send your complete answer again, corrected: every file in "
                                   "its own <file> block, each path once.")

    def parse(text: str) -> ParsedOutput:
        parsed = parse_protocol(text, root=run.previous_tree, policy=run.policy)
        if not parsed.files:
            raise ProtocolError("the answer holds no <file> blocks")
        return parsed

    parsed, rung = unit.run(parse)
    return _result(parsed.files, parsed.deletes, None, [unit], {"single": rung},
                   run.settings.rungs)


def _multi(run: SynthesisRun) -> SynthesisResult:
    messages = task_messages(run.ws, "blueprint", run.context)
    blueprint_unit = Unit(run.settings, "blueprint", messages,
                          cache_key=prefix_cache_key(messages[:2]),
                          repair_instruction="Send the complete blueprint JSON object again, "
                                             "corrected, and nothing else.")
    requirement_ids = {r.id for r in run.ws.requirements}
    bounds = run.ws.config.synthesis
    limits = BlueprintLimits(bounds.max_groups, bounds.max_files_per_group, bounds.max_depth)
    blueprint, rung = blueprint_unit.run(
        lambda text: parse_blueprint(text, requirement_ids, root=run.previous_tree,
                                     limits=limits, policy=run.policy))
    rung_by_group = {"blueprint": rung}
    units: list[Unit] = [blueprint_unit]
    files: dict[str, str] = {}
    deletes: list[str] = []
    group_context = request_context(run.context, blueprint=blueprint.model_dump())
    prefix = shared_prefix(run.ws, group_context)
    for level in blueprint.levels():
        outcomes = run_level(run, blueprint, level, group_context, prefix, files)
        for group, (unit, parsed, group_rung) in zip(level, outcomes, strict=True):
            units.append(unit)
            files.update(parsed.files)
            deletes.extend(parsed.deletes)
            rung_by_group[group.name] = group_rung
    return _result(files, deletes, blueprint, units, rung_by_group, run.settings.rungs)
