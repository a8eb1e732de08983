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

from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from genops.errors import UsageError
from genops.pathpolicy import PathPolicy
from genops.calls import CompletionRequest, Message
from genops.providers.manual import ManualPending
from genops.synthesis.blueprint import Blueprint, BlueprintLimits, Group, parse_blueprint
from genops.synthesis.context import (base_context, dependency_interfaces, prefix_cache_key,
                                      previous_contents, render_template, request_context,
                                      shared_prefix, task_messages)
from genops.synthesis.conversation import ClientLike, RunSettings, Unit, build_request
from genops.synthesis.journal import RunJournal
from genops.synthesis.progress import CallRecord, NullProgress, Progress
from genops.protocol.files import ParsedOutput, ProtocolError, parse_protocol
from genops.synthesis.selective import Selection, synthesize_selected
from genops.workspace import Workspace
from genops.workspace.config import ModelConfig

STRATEGIES = ("single", "multi")


@dataclass
class SynthesisResult:
    """The synthesized tree and how it was made."""

    files: dict[str, str]  # path -> content, sorted by path
    deletes: list[str]
    blueprint: Blueprint | None
    calls: list[CallRecord]  # in unit order: blueprint, then groups level by level
    rung_by_group: dict[str, str]  # unit ("single", "blueprint" or a group name) -> rung
    models: dict[str, ModelConfig]  # every rung that answered a call
    base: Path | None = None  # selective: `files` are written over this tree (the parent's)
    selection: dict[str, Any] | None = None  # selective: per group regenerated or carried, why

    @property
    def cost_usd(self) -> float:
        return sum(call.cost_usd for call in self.calls)


@dataclass
class _Run:
    """One synthesis in progress: the workspace, its settings and the base template context."""

    ws: Workspace
    settings: RunSettings
    context: dict[str, Any]
    previous_tree: Path | None
    concurrency: int
    policy: PathPolicy


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
    run = _Run(ws, settings, context, previous_tree, max(1, workers), PathPolicy.of(ws))
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


def _single(run: _Run) -> SynthesisResult:
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


def _multi(run: _Run) -> SynthesisResult:
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
        outcomes = _run_level(run, blueprint, level, group_context, prefix, files)
        for group, (unit, parsed, group_rung) in zip(level, outcomes, strict=True):
            units.append(unit)
            files.update(parsed.files)
            deletes.extend(parsed.deletes)
            rung_by_group[group.name] = group_rung
    return _result(files, deletes, blueprint, units, rung_by_group, run.settings.rungs)


def _group_unit(run: _Run, blueprint: Blueprint, group: Group, group_context: dict[str, Any],
                prefix: tuple[Message, Message], generated: dict[str, str]) -> Unit:
    context = request_context(
        group_context, group=group.model_dump(),
        dependencies=dependency_interfaces(blueprint, group, generated),
        file_contents=previous_contents(run.previous_tree, group.files))
    task = Message("user", render_template(run.ws, "group", context))
    listing = ", ".join(group.files)
    return Unit(run.settings, group.name, (*prefix, task), cache_key=prefix_cache_key(prefix),
                repair_instruction=f"Send the complete answer for group {group.name!r} again, "
                                   f"corrected: exactly these files, each complete in its own "
                                   f"<file> block: {listing}.")


def _group_parser(run: _Run, blueprint: Blueprint, group: Group
                  ) -> Callable[[str], ParsedOutput]:
    """Parse a group's answer and check it returned exactly the group's blueprint files."""
    planned = set(blueprint.all_files())

    def parse(text: str) -> ParsedOutput:
        parsed = parse_protocol(text, root=run.previous_tree, policy=run.policy)
        missing = [p for p in group.files if p not in parsed.files]
        extra = sorted(set(parsed.files) - set(group.files))
        clash = sorted(set(parsed.deletes) & planned)
        problems = []
        if missing:
            problems.append("missing files: " + ", ".join(missing))
        if extra:
            problems.append("files not in this group: " + ", ".join(extra))
        if clash:
            problems.append("deletes files the blueprint keeps: " + ", ".join(clash))
        if problems:
            raise ProtocolError(f"group {group.name!r}: " + "; ".join(problems))
        return parsed

    return parse


def _expected_size(group: Group, previous_tree: Path | None) -> int:
    """A group's likely output size: the planner's estimate, else its files' previous size."""
    if group.estimated_tokens is not None:
        return group.estimated_tokens
    previous = previous_contents(previous_tree, group.files)
    known = sum(len(text) for text in previous.values()) // 4
    return known or 1000 * len(group.files)


def _run_level(run: _Run, blueprint: Blueprint, level: list[Group],
               group_context: dict[str, Any], prefix: tuple[Message, Message],
               generated: dict[str, str], *, contexts: dict[str, dict[str, Any]] | None = None
               ) -> list[tuple[Unit, ParsedOutput, str]]:
    """Generate one dependency level's groups in parallel; results in blueprint order.

    `contexts` gives a group its own template context (selective runs: its instruction).

    Every group of the level runs even when one waits for a manual answer, so the person gets
    the whole level's requests at once. Any other error stops the level (groups not started are
    cancelled) and the first failing group's error, in blueprint order, is raised.
    """
    units = [_group_unit(run, blueprint, g, (contexts or {}).get(g.name, group_context), prefix,
                         generated) for g in level]
    with ThreadPoolExecutor(max_workers=min(run.concurrency, len(level)),
                            thread_name_prefix="genops-group") as pool:
        order = sorted(range(len(level)), key=lambda i: -_expected_size(level[i], run.previous_tree))
        submitted = {i: pool.submit(units[i].run, _group_parser(run, blueprint, level[i]))
                     for i in order}
        futures: list[Future[tuple[ParsedOutput, str]]] = [submitted[i] for i in range(len(level))]
        for future in as_completed(futures):
            error = future.exception()
            if error is not None and not isinstance(error, ManualPending):
                for other in futures:
                    other.cancel()
                break
    pending: list[ManualPending] = []
    for future in futures:
        if future.cancelled():
            continue
        error = future.exception()
        if isinstance(error, ManualPending):
            pending.append(error)
        elif error is not None:
            raise error
    if pending:
        raise ManualPending.merge(pending)
    return [(unit, *future.result()) for unit, future in zip(units, futures, strict=True)]
