"""The facts behind ARCHITECTURE.md: ADRs, the released tree's module graph, requirement map.

Built from what a release commits (the output tree, the ADRs, the manifest's blueprint and the
traceability evidence), so `genops check` can rebuild the same facts and say when the committed
ARCHITECTURE.md is stale. `genops.render.architecture` turns them into markdown.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.gates.traceability import is_test_file
from genops.semdiff.architecture import cycles
from genops.semdiff.build import import_graph
from genops.synthesis.apisummary import list_tree, module_name
from genops.workspace import Workspace
from genops.workspace.adr import effective_status

ARCHITECTURE = "ARCHITECTURE.md"
STDLIB = frozenset(sys.stdlib_module_names)


@dataclass
class ModuleFacts:
    """One module of the released tree (tests excluded)."""

    name: str
    file: str
    package: str
    lines: int
    layer: str | None = None
    third_party: list[str] = field(default_factory=list)


@dataclass
class ArchitectureFacts:
    """Everything ARCHITECTURE.md shows, already sorted."""

    project: str
    release: str | None
    adrs: list[dict[str, Any]]
    modules: list[ModuleFacts]
    edges: list[tuple[str, str]]
    cycles: list[list[str]]
    layers: list[dict[str, Any]]  # {"adr", "name", "layers": [[module patterns]]}
    requirements: list[dict[str, Any]]  # {"id", "modules": [...], "status"}
    test_files: int = 0


def active_adrs(adrs: list[Any]) -> list[Any]:
    """The ADRs in force: accepted and not superseded by an accepted one."""
    status = effective_status(adrs)
    return [a for a in adrs if status.get(a.id) == "accepted"]


def _package(name: str, is_package: bool) -> str:
    return name if is_package or "." not in name else name.rsplit(".", 1)[0]


def _layer_rules(adrs: list[Any]) -> list[dict[str, Any]]:
    rules = []
    for adr in adrs:
        for rule in adr.rules:
            if rule.get("kind") == "layers":
                layers = [[x] if isinstance(x, str) else list(x) for x in rule.get("layers", [])]
                rules.append({"adr": adr.id, "name": rule.get("name") or "layers", "layers": layers})
    return rules


def layer_of(module: str, layer_rules: list[dict[str, Any]]) -> str | None:
    """`ADR-0001 L3` for a module a layers rule places (its own entry or a parent package's)."""
    for rule in layer_rules:
        for index, members in enumerate(rule["layers"], start=1):
            if any(module == m or module.startswith(m + ".") for m in members):
                return f"{rule['adr']} L{index}"
    return None


def adr_entries(adrs: list[Any]) -> list[dict[str, Any]]:
    """Each ADR with its effective status, rules and supersession links."""
    status = effective_status(adrs)
    by_target = {t: a.id for a in adrs if a.status == "accepted" for t in a.supersedes}
    return [{"id": a.id, "title": a.title, "status": status.get(a.id, a.status), "file": a.file,
             "rules": list(a.rules), "requirements": list(a.requirements),
             "superseded_by": a.superseded_by or by_target.get(a.id),
             "supersedes": list(a.supersedes)} for a in adrs]


def _requirement_map(evidence: Path | None, blueprint: Any) -> list[dict[str, Any]]:
    path = evidence / "traceability.json" if evidence else None
    rows = json.loads(path.read_text(encoding="utf-8")).get("requirements", []) \
        if path is not None and path.is_file() else []
    groups = (blueprint or {}).get("groups", []) if isinstance(blueprint, dict) else []
    files = {g.get("name"): [f for f in g.get("files", []) if f.endswith(".py")] for g in groups}
    out = []
    for row in rows:
        mods = sorted({module_name(f) for g in row.get("groups") or [] for f in files.get(g, [])
                       if not is_test_file(f)})
        out.append({"id": row["id"], "modules": mods, "tested": bool(row.get("tests"))})
    return out


def architecture_facts(ws: Workspace, tree: Path, *, release: str | None, blueprint: Any,
                       evidence: Path | None) -> ArchitectureFacts:
    """The facts of the released `tree`; the same inputs give the same facts."""
    layer_rules = _layer_rules(active_adrs(ws.adrs))
    files = [p for p in list_tree(tree) if p.endswith(".py")]
    ours = {module_name(p): p for p in files if not is_test_file(p)}
    graph = import_graph(tree) if ours else {}
    modules, edges = [], set()
    own = {n.split(".")[0] for n in ours}
    for name, rel in sorted(ours.items()):
        targets = {t for t, _ in graph.get(name, set())}
        internal = {t for t in targets if t in ours and t != name}
        edges |= {(name, t) for t in internal}
        top = sorted({t.split(".")[0] for t in targets - set(ours)} - own - STDLIB)
        text = (tree / rel).read_text(encoding="utf-8", errors="replace")
        modules.append(ModuleFacts(name, rel, _package(name, rel.endswith("__init__.py")),
                                   len(text.splitlines()), layer_of(name, layer_rules), top))
    return ArchitectureFacts(
        project=ws.config.project.name, release=release, adrs=adr_entries(ws.adrs),
        modules=modules, edges=sorted(edges), cycles=sorted(sorted(c) for c in cycles(edges)),
        layers=layer_rules, requirements=_requirement_map(evidence, blueprint),
        test_files=sum(1 for p in files if is_test_file(p)))
