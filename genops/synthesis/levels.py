"""One synthesis in progress, and how one dependency level of blueprint groups is generated.

Both a full run (`genops.synthesis.engine`) and a selective one (`genops.synthesis.selective`)
generate groups level by level with the same request, parser and parallelism, so that lives here,
below both.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from genops.calls import Message
from genops.pathpolicy import PathPolicy
from genops.protocol.files import ParsedOutput, ProtocolError, parse_protocol
from genops.providers.manual import ManualPending
from genops.synthesis.blueprint import Blueprint, Group
from genops.synthesis.context import (
    dependency_interfaces,
    prefix_cache_key,
    previous_contents,
    render_template,
    request_context,
)
from genops.synthesis.conversation import RunSettings, Unit
from genops.synthesis.progress import CallRecord
from genops.workspace import Workspace
from genops.workspace.config import ModelConfig


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
class SynthesisRun:
    """One synthesis in progress: the workspace, its settings and the base template context."""

    ws: Workspace
    settings: RunSettings
    context: dict[str, Any]
    previous_tree: Path | None
    concurrency: int
    policy: PathPolicy


def group_unit(run: SynthesisRun, blueprint: Blueprint, group: Group, group_context: dict[str, Any],
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


def _group_parser(run: SynthesisRun, blueprint: Blueprint, group: Group
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


def run_level(run: SynthesisRun, blueprint: Blueprint, level: list[Group],
               group_context: dict[str, Any], prefix: tuple[Message, Message],
               generated: dict[str, str], *, contexts: dict[str, dict[str, Any]] | None = None
               ) -> list[tuple[Unit, ParsedOutput, str]]:
    """Generate one dependency level's groups in parallel; results in blueprint order.

    `contexts` gives a group its own template context (selective runs: its instruction).

    Every group of the level runs even when one waits for a manual answer, so the person gets
    the whole level's requests at once. Any other error stops the level (groups not started are
    cancelled) and the first failing group's error, in blueprint order, is raised.
    """
    units = [group_unit(run, blueprint, g, (contexts or {}).get(g.name, group_context), prefix,
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
