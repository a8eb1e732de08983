"""The architecture view: modules added, removed or moved, import edges, package edges, cycles.

Edges are between modules of the tree (third-party imports are the dependency view). Cycles are
strongly connected components of the imports that run at import time (module level, outside
`if TYPE_CHECKING:`), since only those can fail at import; imports inside functions are edges
but never cycles.
"""

from __future__ import annotations

from collections.abc import Iterable

from genops.semdiff.build import TreeModel
from genops.semdiff.changes import Change, Kind
from genops.semdiff.imports import resolve_targets
from genops.semdiff.model import Module

FUZZY_MOVE = 0.5  # share of top-level names two same-named modules need in common to count as a move
Edge = tuple[str, str]


def match_modules(old: dict[str, Module], new: dict[str, Module]) -> tuple[dict[str, str], dict[str, str]]:
    """(old name -> new name for modules on both sides or moved, the moved subset)."""
    mapping = {name: name for name in old if name in new}
    removed = [m for n, m in old.items() if n not in new]
    added = [m for n, m in new.items() if n not in old]
    moved: dict[str, str] = {}
    by_content: dict[str, list[Module]] = {}
    for module in added:
        if module.model.objects:
            by_content.setdefault(module.model.content, []).append(module)
    olds_by_content: dict[str, int] = {}
    for module in removed:
        olds_by_content[module.model.content] = olds_by_content.get(module.model.content, 0) + 1
    for module in removed:
        hits = by_content.get(module.model.content, [])
        if module.model.objects and len(hits) == 1 and olds_by_content[module.model.content] == 1:
            moved[module.name] = hits[0].name
    taken = set(moved.values())
    for module in removed:
        if module.name in moved:
            continue
        best = _fuzzy_match(module, [m for m in added if m.name not in taken])
        if best is not None:
            moved[module.name] = best.name
            taken.add(best.name)
    mapping.update(moved)
    return mapping, moved


def _fuzzy_match(module: Module, candidates: list[Module]) -> Module | None:
    """The one added module with the same last name and enough top-level names in common."""
    short = module.name.rpartition(".")[2]
    names = {q for q in module.model.objects if "." not in q}
    if not names:
        return None
    scored = []
    for other in candidates:
        if other.name.rpartition(".")[2] != short:
            continue
        theirs = {q for q in other.model.objects if "." not in q}
        score = len(names & theirs) / len(names | theirs) if theirs else 0.0
        if score >= FUZZY_MOVE:
            scored.append((score, other))
    scored.sort(key=lambda pair: -pair[0])
    if len(scored) == 1 or (len(scored) > 1 and scored[0][0] > scored[1][0]):
        return scored[0][1]
    return None


def module_changes(old: TreeModel, new: TreeModel, moved: dict[str, str], public: set[str]) -> list[Change]:
    """Modules removed, added and moved; removing or moving a public module is breaking."""
    changes = []
    targets = set(moved.values())
    for name, module in old.modules.items():
        if name in moved:
            target = new.modules[moved[name]]
            changes.append(Change(Kind.MODULE_MOVED, name, f"module moved to {target.name}", name in public,
                                  module.file, target.file, target.file, 1, new_path=target.name))
        elif name not in new.modules:
            changes.append(Change(Kind.MODULE_REMOVED, name, "module removed", name in public, module.file, None,
                                  module.file, 1))
    for name, module in new.modules.items():
        if name not in old.modules and name not in targets:
            changes.append(Change(Kind.MODULE_ADDED, name, "module added", False, None, module.file, module.file, 1))
    return changes


def edges(tree: TreeModel) -> tuple[dict[Edge, int], dict[Edge, int]]:
    """Import edges between modules of the tree -> first line: (all imports, import-time only)."""
    names = set(tree.modules)
    every: dict[Edge, int] = {}
    runtime: dict[Edge, int] = {}
    for module in tree.modules.values():
        raw = module.raw_imports()
        for out, selected in ((every, raw), (runtime, [r for r in raw if r[3]])):
            for target, line in resolve_targets(selected, names):
                if target in names and target != module.name:
                    key = (module.name, target)
                    if key not in out or line < out[key]:
                        out[key] = line
    return every, runtime


def edge_changes(old: TreeModel, new: TreeModel, mapping: dict[str, str], old_graph: tuple[dict[Edge, int], ...],
                 new_graph: tuple[dict[Edge, int], ...]) -> list[Change]:
    """Import edges and package (layer) edges added or removed between surviving modules.

    A moved module keeps its own edges (sources are mapped), but its importers now import another
    module (targets are not): they report the edge to the old name removed and to the new one added."""
    old_edges, new_edges = old_graph[0], new_graph[0]
    inverse = {v: k for k, v in mapping.items()}
    mapped = {(mapping.get(s, s), d): (s, d, line) for (s, d), line in old_edges.items()}
    changes = []
    for key, (s, d, line) in mapped.items():
        if key not in new_edges and s in mapping:
            changes.append(Change(Kind.IMPORT_EDGE_REMOVED, s, f"no longer imports {d}", file=old.modules[s].file,
                                  line=line, target=d))
    for (s, d), line in new_edges.items():
        if (s, d) not in mapped and s in inverse:
            changes.append(Change(Kind.IMPORT_EDGE_ADDED, s, f"now imports {d}", file=new.modules[s].file,
                                  line=line, target=d))
    old_pkg = _package_edges({(mapping.get(s, s), d): (s, line) for (s, d), line in old_edges.items()},
                             new, old)
    new_pkg = _package_edges({key: (key[0], line) for key, line in new_edges.items()}, new, old)
    for (s, d), (module, line) in sorted(old_pkg.items()):
        if (s, d) not in new_pkg:
            changes.append(Change(Kind.PACKAGE_EDGE_REMOVED, s, f"package {s} no longer imports package {d}",
                                  file=old.modules[module].file, line=line, target=d))
    for (s, d), (module, line) in sorted(new_pkg.items()):
        if (s, d) not in old_pkg:
            changes.append(Change(Kind.PACKAGE_EDGE_ADDED, s, f"package {s} now imports package {d}",
                                  file=new.modules[module].file, line=line, target=d))
    return changes


def _package_edges(module_edges: dict[Edge, tuple[str, int]], new: TreeModel, old: TreeModel
                   ) -> dict[Edge, tuple[str, int]]:
    """Collapse module edges to edges between the packages holding the modules, keeping one witness
    (source module on its own side, line)."""
    out: dict[Edge, tuple[str, int]] = {}
    for (s, d), witness in sorted(module_edges.items()):
        ps, pd = _package(s, new, old), _package(d, new, old)
        if ps != pd and (ps, pd) not in out:
            out[(ps, pd)] = witness
    return out


def _package(name: str, *trees: TreeModel) -> str:
    """The package a module belongs to (a package is its own); top-level modules belong to `<root>`."""
    for tree in trees:
        module = tree.modules.get(name)
        if module is not None:
            return name if module.is_package else (name.rpartition(".")[0] or "<root>")
    return name.rpartition(".")[0] or "<root>"


def cycle_changes(old: TreeModel, new: TreeModel, mapping: dict[str, str], old_graph: tuple[dict[Edge, int], ...],
                  new_graph: tuple[dict[Edge, int], ...]) -> list[Change]:
    """Import cycles (at import time) that appear or disappear.

    A cycle is a strongly connected component of the import-time graph. One that is new (or grew out
    of smaller ones) is introduced; one whose modules are no longer in one cycle together is removed
    (saying what is left of it); and a new import inside a component that exists on both sides (or
    is what is left of an old one) closes a new cycle there, so it is introduced too, at the
    importing module with the import as its target."""
    inverse = {v: k for k, v in mapping.items()}
    old_runtime, new_runtime = old_graph[1], new_graph[1]
    old_cycles = {frozenset(mapping.get(m, m) for m in c) for c in cycles(old_runtime)}
    new_cycles = {frozenset(c) for c in cycles(new_runtime)}
    changes = []
    shrunk = {c for c in new_cycles - old_cycles if any(c < o for o in old_cycles)}
    for cycle in sorted(new_cycles - old_cycles - shrunk, key=sorted):
        first = min(cycle)
        grown = [c for c in old_cycles if c < cycle]
        detail = f"import cycle among {len(cycle)} modules"
        if grown:
            detail += f" (grown out of {' and '.join(f'a cycle of {len(c)}' for c in sorted(grown, key=sorted))})"
        changes.append(Change(Kind.CYCLE_INTRODUCED, first, detail, new=", ".join(sorted(cycle)),
                              file=new.modules[first].file, line=_line_into(new_runtime, first, cycle)))
    old_mapped = {(mapping.get(s, s), mapping.get(d, d)) for s, d in old_runtime}
    for cycle in sorted((new_cycles & old_cycles) | shrunk, key=sorted):
        for (s, d), line in sorted(new_runtime.items()):
            if s in cycle and d in cycle and (s, d) not in old_mapped:
                changes.append(Change(Kind.CYCLE_INTRODUCED, s, f"importing {d} closes a new cycle inside an "
                                      f"import cycle of {len(cycle)} modules", new=", ".join(sorted(cycle)),
                                      file=new.modules[s].file, line=line, target=d))
    for cycle in sorted(old_cycles - new_cycles, key=sorted):
        if any(cycle < c for c in new_cycles):
            continue  # grown into a larger cycle, reported as introduced
        names = sorted(inverse.get(m, m) for m in cycle)
        left = [c for c in shrunk if c < cycle]
        rest = f" ({' and '.join(f'{len(c)} of them still form a cycle' for c in left)})" if left else ""
        changes.append(Change(Kind.CYCLE_REMOVED, names[0], f"import cycle among {len(cycle)} modules is gone{rest}",
                              old=", ".join(names), file=old.modules[names[0]].file,
                              line=_line_into(old_runtime, names[0], set(names))))
    return changes


def _line_into(graph: dict[Edge, int], source: str, members: Iterable[str]) -> int:
    """The line where a module imports another member of its cycle."""
    lines = [line for (s, d), line in graph.items() if s == source and d in members]
    return min(lines) if lines else 1


def cycles(graph: dict[Edge, int] | Iterable[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    adjacency: dict[str, list[str]] = {}
    for s, d in graph:
        adjacency.setdefault(s, []).append(d)
        adjacency.setdefault(d, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(adjacency):
        if root in index:
            continue
        work = [(root, iter(sorted(adjacency[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(adjacency[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found
