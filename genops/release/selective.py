"""Which groups a regeneration must redo: the workspace's inputs against the parent release's.

The parent's input hashes are in its manifest and its input files in its commit. Compared:
- requirements by ID (specs/*.md, parsed): added, removed, text changed. A changed or removed
  one regenerates the groups listing it; an added one (or a changed one no group lists) is
  placed by a limited blueprint-update request. Prose outside requirement lines changing is a
  change to everything.
- ADRs (added, removed, changed): the groups their requirements name and the groups whose files
  their rules' module or path patterns cover. An ADR with no such scope touches everything.
- templates: system, context, blueprint, group and single shape every request: full run.
- genops.toml [project], [models], [ladder], [synthesis] (a model pin, sampling): full run.
- specs/principles.md: full run.
- nothing at all: a full run here; `genops regenerate` does not get this far (nothing to do,
  `genops.release.planning.up_to_date`) unless `--full` is given or the parent is a rollback
  whose restored tree was made from other inputs.

A full run says why (`Choice.full_reason`). `--full` forces one.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import git

from genops.errors import ConfigError
from genops.ledger.pricing import UNPRICED_PROVIDERS, billed_price, price_for
from genops.release.manifest import config_sections
from genops.store import gitops
from genops.store.releases import current_release, load_manifest
from genops.synthesis.apisummary import module_name
from genops.synthesis.selective import Selection
from genops.workspace import Workspace
from genops.workspace.adr import load_adr
from genops.workspace.rules_schema import RULE_KINDS
from genops.workspace.specs import parse_requirements_text, prose_outside_requirements

FULL_TEMPLATES = ("system", "context", "blueprint", "group", "single")
FULL_SECTIONS = ("project", "models", "ladder", "synthesis")
# Keys that change how a request travels, not what it asks or which model answers it.
IGNORED_KEYS = frozenset({"selective_context_chars", "base_url", "api_key_env", "timeout_s",
                          "context_window", "concurrency", "on_failure", "on_budget",
                          "gate_repairs"})
PRINCIPLES = "specs/principles.md"


@dataclass
class Choice:
    """Selective (with its Selection) or full (with the reason)."""

    selection: Selection | None
    full_reason: str | None
    changed_inputs: list[str] = field(default_factory=list)

    @property
    def selective(self) -> bool:
        return self.selection is not None


def choose(ws: Workspace, *, full: bool = False) -> Choice:
    """Selective when a parent release with a blueprint exists and nothing global changed."""
    parent = current_release(ws.root)
    if parent is None:
        return Choice(None, "there is no previous release")
    if full:
        return Choice(None, "--full was given")
    if ws.config.synthesis.strategy != "multi":
        return Choice(None, "strategy 'single' regenerates everything in one request")
    manifest = load_manifest(ws.root, parent)
    blueprint = manifest.get("blueprint")
    if not blueprint or not blueprint.get("groups"):
        return Choice(None, f"release {parent} has no blueprint to reuse")
    recorded, now = manifest.get("inputs") or {}, ws.input_hashes()
    changed = sorted(p for p in set(now) | set(recorded) if now.get(p) != recorded.get(p))
    if not changed:
        return Choice(None, f"no input changed since {parent}: nothing to select by, so every "
                            "group is asked again")
    reason = _global_change(ws, manifest, changed)
    if reason:
        return Choice(None, reason, changed)
    repo = gitops.open_repo(ws.root)
    old = _ParentInputs(repo, gitops.release_ref(repo, parent, ws.root), ws.root)
    selection = Selection(parent=parent, blueprint=blueprint, seeds={})
    reason = _spec_changes(ws, old, changed, selection)
    reason = reason or _adr_changes(ws, old, changed, selection)
    if reason:
        return Choice(None, reason, changed)
    return Choice(selection, None, changed)


def _global_change(ws: Workspace, manifest: dict[str, Any], changed: list[str]) -> str | None:
    """The reason a change touches every group, if one does."""
    if PRINCIPLES in changed:
        return f"{PRINCIPLES} changed (every group follows the principles)"
    for path in changed:
        name = Path(path).name
        if path.startswith("prompts/") and name.endswith(".j2") and name[:-3] in FULL_TEMPLATES:
            return f"{path} changed (it shapes every request)"
    old = (manifest.get("config") or {}).get("sections") or {}
    new = config_sections(ws.config)
    for section in FULL_SECTIONS:
        keys = _changed_keys(old.get(section), new.get(section), section)
        if keys:
            what = "a model pin" if section in ("models", "ladder") else "the synthesis settings"
            return f"genops.toml {what} changed ({', '.join(keys[:3])})"
    return None


def _changed_keys(old: Any, new: Any, prefix: str) -> list[str]:
    """Dotted keys whose value differs; keys the parent did not record (newer genops) are skipped."""
    if old is None:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            if key in IGNORED_KEYS or key not in old:
                continue
            found.extend(_changed_keys(old[key], new.get(key), f"{prefix}.{key}") if key in new
                         else [f"{prefix}.{key}"])
        return found
    return [] if old == new else [prefix]


class _ParentInputs:
    """The parent release's copy of an input file, from its commit."""

    def __init__(self, repo: git.Repo, ref: str, root: Path) -> None:
        self.repo, self.ref, self.root = repo, ref, root

    def text(self, path: str) -> str | None:
        rel = (self.root / path).resolve().relative_to(Path(self.repo.working_tree_dir or self.root).resolve())
        try:
            return str(self.repo.git.show(f"{self.ref}:{rel.as_posix()}", strip_newline_in_stdout=False))
        except Exception:  # noqa: BLE001 - absent in that commit
            return None


def _groups_listing(selection: Selection, req_id: str) -> list[str]:
    return [g["name"] for g in selection.blueprint["groups"] if req_id in g.get("requirements", [])]


def _seed(selection: Selection, group: str, reason: str) -> None:
    reasons = selection.seeds.setdefault(group, [])
    if reason not in reasons:
        reasons.append(reason)


def _spec_changes(ws: Workspace, old: _ParentInputs, changed: list[str],
                  selection: Selection) -> str | None:
    """Map changed requirements to groups; prose changes outside requirements are global."""
    now = {r.id: r for r in ws.requirements}
    for path in (p for p in changed if p.startswith("specs/") and p.endswith(".md")):
        before_text = old.text(path) or ""
        after_text = ws.spec_texts.get(path, "")
        if prose_outside_requirements(before_text) != prose_outside_requirements(after_text):
            return f"{path} changed outside its requirement lines"
        before = {r.id: r.text for r in parse_requirements_text(before_text, path)}
        after = {r.id: r.text for r in parse_requirements_text(after_text, path)}
        for rid in sorted(set(before) | set(after)):
            if rid in before and rid in after and before[rid] == after[rid]:
                continue
            kind = "removed" if rid not in after else "added" if rid not in before else "changed"
            if kind == "removed" and rid in now:
                continue  # moved to another spec file; judged there
            if kind == "added" and rid in _all_requirements(old, changed, path):
                kind = "changed"
            selection.requirements[rid] = kind
            groups = _groups_listing(selection, rid)
            for group in groups:
                _seed(selection, group, f"{rid} {'text changed' if kind == 'changed' else kind}")
            if kind != "removed" and not groups and rid not in selection.unplaced:
                selection.unplaced.append(rid)
    return None


def _all_requirements(old: _ParentInputs, changed: list[str], skip: str) -> dict[str, str]:
    """Requirements the parent defined in the other changed spec files (moves between files)."""
    found: dict[str, str] = {}
    for path in changed:
        if path.startswith("specs/") and path.endswith(".md") and path != skip:
            found.update({r.id: r.text for r in parse_requirements_text(old.text(path) or "", path)})
    return found


def _adr_changes(ws: Workspace, old: _ParentInputs, changed: list[str],
                 selection: Selection) -> str | None:
    """Changed ADRs regenerate the groups they scope; an unscoped ADR is global."""
    current = {a.file: a for a in ws.adrs}
    for path in (p for p in changed if p.startswith("adr/")):
        versions = [current[path]] if path in current else []
        text = old.text(path)
        if text is not None:
            with tempfile.TemporaryDirectory(prefix="genops-adr-") as tmp:
                copy = Path(tmp) / Path(path).name
                copy.write_text(text, encoding="utf-8")
                try:
                    versions.append(load_adr(copy, path))
                except Exception:  # noqa: BLE001 - the parent's copy no longer loads: judge the new
                    pass
        groups: set[str] = set()
        for adr in versions:
            scope = _adr_scope(adr, selection)
            if scope is None:
                return f"{path} changed and has no scope (no requirements or module rules)"
            groups |= scope
        ident = versions[0].id if versions else path
        for group in sorted(groups):
            _seed(selection, group, f"{ident} changed")
        if not groups:
            selection.notes.append(f"{path} changed; no group is in its scope")
    return None


def _adr_scope(adr: Any, selection: Selection) -> set[str] | None:
    """Groups an ADR scopes: by its requirements and its rules' patterns; None when unscoped."""
    if not adr.requirements and not adr.rules:
        return None
    groups: set[str] = set()
    for rid in adr.requirements:
        groups.update(_groups_listing(selection, rid))
    for rule in adr.rules:
        modules, globs = _rule_patterns(rule)
        if not modules and not globs:
            return None
        for g in selection.blueprint["groups"]:
            if any(_covers(f, modules, globs) for f in g["files"]):
                groups.add(g["name"])
    return groups


def _rule_patterns(rule: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The module patterns and path globs a rule names (see genops.workspace.rules_schema)."""
    modules: list[str] = []
    globs: list[str] = []
    for spec in RULE_KINDS.get(rule.get("kind", ""), ()):
        value = rule.get(spec.name)
        if value is None or spec.type not in ("modules", "module", "layers", "globs"):
            continue
        flat = _flatten(value)
        (globs if spec.type == "globs" else modules).extend(flat)
    return modules, globs


def _flatten(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _flatten(v)]
    if isinstance(value, list):
        return [s for v in value for s in _flatten(v)]
    return []


def _covers(path: str, modules: list[str], globs: list[str]) -> bool:
    if any(fnmatchcase(path, g) for g in globs):
        return True
    if not path.endswith(".py"):
        return False
    name = module_name(path)
    return any(fnmatchcase(name, p) or fnmatchcase(name, p + ".*") for p in modules)


def _priced_release(root: Path, parent: str | None) -> tuple[str | None, list[dict[str, Any]]]:
    """The release whose recorded synthesis calls price an estimate: the parent, or for a parent
    that made no synthesis (a rollback, a patch) the release its tree came from."""
    release, seen = parent, set()
    while release is not None and release not in seen:
        seen.add(release)
        manifest = load_manifest(root, release)
        if manifest.get("kind") not in ("rollback", "patch") and manifest.get("calls"):
            return release, list(manifest["calls"])
        release = manifest.get("rollback_of") or manifest.get("parent")
    return None, []


def estimate(ws: Workspace, choice: Choice) -> dict[str, Any]:
    """Dry-run figures: the groups a run would regenerate and its cost against a full run.

    Priced from a release's recorded tokens per unit at today's prices (the parent's; for a
    rollback or patch parent, the release its tree came from); consumers an API change would
    pull in are not known before the answers. When nothing recorded can price it (a first run,
    no release with synthesis calls, a model without a pinned price), the estimate is None and
    `unknown` says why: never $0 for a cost that is not known.
    """
    parent = current_release(ws.root)
    priced_by, calls = _priced_release(ws.root, parent)
    unknown: str | None = None
    if parent is None:
        unknown = "there is no previous release whose recorded tokens could price it"
    elif priced_by is None:
        unknown = f"no release before {parent} recorded synthesis calls to price it from"
    per_unit: dict[str, float] = {}
    for call in calls:
        unit = call["label"].split(".")[0]
        tokens = call["tokens"]
        try:  # what the model it recorded costs at today's pinned price: a run sends to it,
            # even when the recorded answer was given by hand (manual) or replayed ($0 then)
            price = price_for(ws.config, call["model"]) if call.get("provider") in \
                UNPRICED_PROVIDERS else billed_price(ws.config, call.get("provider", ""), call["model"])
        except ConfigError:
            unknown = unknown or f"no price pinned for {call['model']} in genops.toml"
            continue
        paid = 0.0 if price is None else \
            (tokens["input"] * price.input + tokens["output"] * price.output) / 1e6
        per_unit[unit] = per_unit.get(unit, 0.0) + paid
    full = sum(per_unit.values())
    groups: dict[str, list[str]] = {}
    if choice.selection is not None:
        groups = {name: list(why) for name, why in choice.selection.seeds.items()}
        if choice.selection.unplaced:
            groups.setdefault("placement", []).append(
                "places " + ", ".join(choice.selection.unplaced))
    cost: float | None = full
    if choice.selective:
        unpriced = [name for name in groups if name not in per_unit and "blueprint" not in per_unit]
        if unpriced and not unknown:
            unknown = f"{priced_by} recorded no call for {', '.join(unpriced)}"
        cost = sum(per_unit.get(name, per_unit.get("blueprint", 0.0)) for name in groups)
    if unknown and (groups or not choice.selective):  # no request to send costs $0, known
        cost = None
    full_usd = None if unknown else round(full, 6)
    return {"mode": "selective" if choice.selective else "full",
            "full_reason": choice.full_reason, "groups": groups,
            "requirements": dict(choice.selection.requirements) if choice.selection else {},
            "notes": list(choice.selection.notes) if choice.selection else [],
            "estimated_usd": None if cost is None else round(cost, 6), "full_usd": full_usd,
            "priced_by": priced_by, "unknown": unknown if cost is None or full_usd is None
            else None,
            "ratio": round(cost / full, 4) if cost is not None and full and full_usd else None}
