"""Selective synthesis: regenerate only the groups a change touches, carry the rest byte for byte.

A `Selection` (made by `genops.release.selective` from the workspace and the parent release)
names the parent's blueprint, the groups to regenerate with their reasons, and the requirements
no group places yet. Here:

1. Requirement IDs that no longer exist are dropped from the parent's blueprint.
2. Unplaced requirements get one limited blueprint-update request (`place.j2`): the answer lists
   only the groups it adds or changes; they are merged into the blueprint and regenerated.
3. Levels run in dependency order. Only selected groups are requested; every other group's files
   stand as the parent's, so a selected group sees its dependencies' interfaces exactly as a full
   run would, plus the whole text of its direct dependencies' files within
   `synthesis.selective_context_chars` as read-only context.
4. After a level, each regenerated group's files are semantically diffed against the parent's;
   an API change pulls in the groups that depend on it (next levels).

Everything follows from the inputs, the parent tree and the archived answers, so replay of a
selective release with its recorded selection sends the same requests (archive hits).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from genops.calls import Message
from genops.pathpolicy import DEFAULT_POLICY, PathPolicy
from genops.protocol.answers import PLACEMENT_LABEL
from genops.protocol.blueprint_json import BlueprintError, extract_json
from genops.protocol.files import format_protocol
from genops.semdiff import diff_trees
from genops.semdiff.changes import Change, Kind
from genops.synthesis.blueprint import Blueprint, BlueprintLimits, Group, validate_blueprint
from genops.synthesis.context import (
    prefix_cache_key,
    previous_contents,
    render_template,
    request_context,
    shared_prefix,
)
from genops.synthesis.conversation import Unit
from genops.synthesis.levels import SynthesisResult, SynthesisRun, run_level



@dataclass
class Selection:
    """Which groups of the parent's blueprint a selective run regenerates, and why."""

    parent: str
    blueprint: dict[str, Any]  # the parent release's blueprint (JSON)
    seeds: dict[str, list[str]]  # group -> reasons it is regenerated
    requirements: dict[str, str] = field(default_factory=dict)  # changed ID -> added|removed|changed
    unplaced: list[str] = field(default_factory=list)  # IDs no group lists: placement request
    notes: list[str] = field(default_factory=list)  # input changes that regenerate nothing

    def to_dict(self) -> dict[str, Any]:
        return {"parent": self.parent, "blueprint": self.blueprint,
                "seeds": {k: list(v) for k, v in sorted(self.seeds.items())},
                "requirements": dict(sorted(self.requirements.items())),
                "unplaced": list(self.unplaced), "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Selection:
        return cls(parent=data["parent"], blueprint=data["blueprint"],
                   seeds={k: list(v) for k, v in data["seeds"].items()},
                   requirements=dict(data.get("requirements", {})),
                   unplaced=list(data.get("unplaced", [])), notes=list(data.get("notes", [])))


def base_blueprint(selection: Selection, requirement_ids: set[str],
                   limits: BlueprintLimits) -> Blueprint:
    """The parent's blueprint without requirement IDs the specs no longer define."""
    groups = [{**g, "requirements": [r for r in g.get("requirements", []) if r in requirement_ids]}
              for g in selection.blueprint["groups"]]
    try:
        blueprint = Blueprint.model_validate({"groups": groups})
    except ValidationError as exc:
        raise BlueprintError(f"release {selection.parent}'s blueprint is not valid: "
                             f"{exc.errors()[0]['msg']}") from None
    return validate_blueprint(blueprint, requirement_ids, limits=limits)


def merge_placement(blueprint: Blueprint, data: Any, unplaced: list[str],
                    requirement_ids: set[str], limits: BlueprintLimits,
                    root: Path | None, policy: PathPolicy = DEFAULT_POLICY
                    ) -> tuple[Blueprint, list[str]]:
    """Apply a placement answer ({"groups": [changed or new groups]}); names the groups touched."""
    try:
        update = Blueprint.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise BlueprintError(f"placement {loc}: {err['msg']}") from None
    by_name = {g.name: g for g in update.groups}
    merged = [by_name.pop(g.name, g) for g in blueprint.groups] + list(by_name.values())
    result = validate_blueprint(Blueprint(groups=merged), requirement_ids, root=root,
                                limits=limits, policy=policy)
    placed = {r for g in result.groups for r in g.requirements}
    missing = [r for r in unplaced if r not in placed]
    if missing:
        raise BlueprintError("the placement leaves requirements in no group: " + ", ".join(missing),
                             hint="add each to an existing group's requirements or a new group")
    old = {g.name: g for g in blueprint.groups}
    touched = [g.name for g in result.groups if old.get(g.name) != g]
    return result, touched


def _place(run: SynthesisRun, blueprint: Blueprint, selection: Selection,
           group_context: dict[str, Any]) -> tuple[Blueprint, list[str], Unit]:
    """The limited blueprint-update request placing new requirements into groups."""
    texts = {r.id: r.text for r in run.ws.requirements}
    listing = "\n".join(f"- {rid}: {texts.get(rid, '')}" for rid in selection.unplaced)
    prefix = shared_prefix(run.ws, group_context)
    task = render_template(run.ws, "place", request_context(group_context, instruction=listing))
    unit = Unit(run.settings, PLACEMENT_LABEL, (*prefix, Message("user", task)),
                cache_key=prefix_cache_key(prefix),
                repair_instruction="Send the placement JSON object again, corrected: only the "
                                   "groups you add or change, and nothing else.")
    bounds = run.ws.config.synthesis
    limits = BlueprintLimits(bounds.max_groups, bounds.max_files_per_group, bounds.max_depth)
    ids = {r.id for r in run.ws.requirements}
    (merged, touched), _rung = unit.run(lambda text: merge_placement(
        blueprint, extract_json(text), selection.unplaced, ids, limits, run.previous_tree,
        run.policy))
    return merged, touched, unit


def readonly_block(blueprint: Blueprint, group: Group, files: dict[str, str],
                   budget: int, selected: set[str]) -> str:
    """Whole text of the carried files `group` depends on directly, smallest first, within budget."""
    carried = [(len(files[p]), p) for dep in group.depends_on if dep not in selected
               for p in blueprint.group(dep).files if p in files]
    chosen: dict[str, str] = {}
    used = 0
    for size, path in sorted(carried):
        if used + size > budget:
            break
        chosen[path] = files[path]
        used += size
    if not chosen:
        return ""
    return ("Read-only context: these files of the groups it depends on are carried unchanged; "
            "do not write them, use them as they are:\n" + format_protocol(dict(sorted(chosen.items()))))


def instruction_for(selection: Selection, group: Group, reasons: list[str], readonly: str) -> str:
    """What a regenerated group is told: why it is regenerated, and what is read-only."""
    lines = [f"Selective regeneration from release {selection.parent}: only some groups are "
             "regenerated; every other file is carried byte for byte. This group is regenerated "
             "because: " + "; ".join(reasons) + "."]
    if readonly:
        lines.append(readonly)
    return "\n\n".join(lines)


# Changes that leave every consumer's code valid: non-breaking additions (a new function, class
# or module; a parameter with a default), and a constant's new value (a page's text, a tool
# list: the semantic diff calls a public value change breaking, as griffe does, since a caller
# may rely on the old value, but the consumer's code still imports and reads it). A consumer is
# regenerated for them only if a requirement asks it to be.
ADDITIONS = frozenset({Kind.OBJECT_ADDED, Kind.MODULE_ADDED, Kind.PARAMETER_ADDED})


def pulls_consumers(change: Change) -> bool:
    """Whether `change` (an API change of a regenerated group) can invalidate a consumer's code."""
    if change.kind is Kind.ATTRIBUTE_VALUE_CHANGED:
        return False
    return change.breaking or change.kind not in ADDITIONS


def api_changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Dotted paths whose public API differs between two versions of a group's files in a way
    that can invalidate a consumer's code (`pulls_consumers`)."""
    with tempfile.TemporaryDirectory(prefix="genops-sel-") as tmp:
        roots = (Path(tmp) / "old", Path(tmp) / "new")
        for root, files in zip(roots, (old, new), strict=True):
            root.mkdir()
            for rel, text in files.items():
                if rel.endswith(".py"):
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                    (root / rel).write_text(text, encoding="utf-8")
        result = diff_trees(roots[0], roots[1], use_cache=False)
    return sorted({c.path for c in result.changes if c.category.value == "api"
                   and pulls_consumers(c)})


def synthesize_selected(run: SynthesisRun, selection: Selection) -> SynthesisResult:
    """Regenerate the selected groups (and API consumers) over the parent's tree."""
    bounds = run.ws.config.synthesis
    limits = BlueprintLimits(bounds.max_groups, bounds.max_files_per_group, bounds.max_depth)
    ids = {r.id for r in run.ws.requirements}
    blueprint = base_blueprint(selection, ids, limits)
    reasons = {name: list(why) for name, why in selection.seeds.items()}
    units: list[Unit] = []
    rung_by_group: dict[str, str] = {}
    if selection.unplaced:
        context = request_context(run.context, blueprint=blueprint.model_dump())
        blueprint, touched, unit = _place(run, blueprint, selection, context)
        units.append(unit)
        rung_by_group[PLACEMENT_LABEL] = unit.records[-1].rung if unit.records else ""
        for name in touched:
            placed = [r for r in blueprint.group(name).requirements if r in selection.unplaced]
            reasons.setdefault(name, []).append(
                "places " + ", ".join(placed) if placed else "changed by the placement")
    parent_files = previous_contents(run.previous_tree, blueprint.all_files())
    files = dict(parent_files)
    group_context = request_context(run.context, blueprint=blueprint.model_dump())
    prefix = shared_prefix(run.ws, group_context)
    regenerated: dict[str, str] = {}
    deletes: list[str] = []
    for level in blueprint.levels():
        chosen = [g for g in level if g.name in reasons]
        if not chosen:
            continue
        selected = set(reasons)
        contexts = {g.name: request_context(group_context, instruction=instruction_for(
            selection, g, reasons[g.name],
            readonly_block(blueprint, g, files, bounds.selective_context_chars, selected)))
            for g in chosen}
        outcomes = run_level(run, blueprint, chosen, group_context, prefix, files,
                              contexts=contexts)
        for group, (unit, parsed, group_rung) in zip(chosen, outcomes, strict=True):
            units.append(unit)
            files.update(parsed.files)
            regenerated.update(parsed.files)
            deletes.extend(parsed.deletes)
            rung_by_group[group.name] = group_rung
            _pull_consumers(blueprint, group, parent_files, parsed.files, reasons)
    calls = [record for unit in units for record in unit.records]
    used = {call.rung for call in calls}
    record = selection_record(selection, blueprint, reasons)
    return SynthesisResult(files={p: regenerated[p] for p in sorted(regenerated)},
                           deletes=sorted(set(deletes)), blueprint=blueprint, calls=calls,
                           rung_by_group=rung_by_group,
                           models={n: c for n, c in run.settings.rungs if n in used},
                           base=run.previous_tree, selection=record)


def _pull_consumers(blueprint: Blueprint, group: Group, parent_files: dict[str, str],
                    new_files: dict[str, str], reasons: dict[str, list[str]]) -> None:
    """Groups depending on `group` are regenerated when its public API changed."""
    old = {p: parent_files[p] for p in group.files if p in parent_files}
    changed = api_changes(old, {p: new_files[p] for p in group.files if p in new_files})
    if not changed:
        return
    shown = ", ".join(changed[:5]) + (f" (+{len(changed) - 5} more)" if len(changed) > 5 else "")
    for consumer in blueprint.groups:
        if group.name in consumer.depends_on:
            reasons.setdefault(consumer.name, []).append(
                f"consumes group {group.name}'s changed API: {shown}")


def selection_record(selection: Selection, blueprint: Blueprint,
                     reasons: dict[str, list[str]]) -> dict[str, Any]:
    """The manifest's `selection`: the recorded plan, and per group regenerated or carried."""
    groups = {g.name: ({"status": "regenerated", "reasons": reasons[g.name]} if g.name in reasons
                       else {"status": "carried", "reasons": ["no input it depends on changed"]})
              for g in blueprint.groups}
    return {"mode": "selective", "plan": selection.to_dict(), "groups": groups,
            "blueprint_sha256": _sha(blueprint.model_dump())}


def _sha(data: Any) -> str:
    import hashlib

    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
