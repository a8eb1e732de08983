"""Import contracts: forbid_import, layers, independent and acyclic, direct or through chains.

As in import-linter, an import counts even when it is indirect: `a -> b -> c` breaks "a may not
import c". A violation names the whole chain with the file:line of each edge, the first edge
(the line to change) being where the finding points. Chains are shortest paths; they do not pass
through modules that the same rule already governs, because those edges are reported on their own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from typing import Any

from genops.gates.rules_tree import RuleRef, TreeFacts, Violation
from genops.workspace.rules_schema import as_list, matches

Chain = list[str]


def shortest_chain(facts: TreeFacts, start: str, is_target: Callable[[str], bool],
                   passable: Callable[[str], bool]) -> Chain | None:
    """The shortest import chain from `start` to a target, through passable modules only."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in facts.targets(node):
            if nxt in previous:
                continue
            previous[nxt] = node
            if is_target(nxt):
                return _unwind(previous, nxt)
            if facts.is_internal(nxt) and passable(nxt):
                queue.append(nxt)
    return None


def _unwind(previous: dict[str, str | None], end: str) -> Chain:
    chain = [end]
    while (step := previous[chain[-1]]) is not None:
        chain.append(step)
    return chain[::-1]


def describe_chain(chain: Chain) -> str:
    return " → ".join(chain)


def chain_edges(facts: TreeFacts, chain: Chain) -> str:
    """`; edges: a.py:2, b.py:7` for an indirect chain, nothing for a direct import."""
    if len(chain) <= 2:
        return ""
    edges = [f"{facts.file_of(a) or a}:{facts.edge_line(a, b) or '?'}"
             for a, b in pairwise(chain)]
    return f" (indirect; edges: {', '.join(edges)})"


def chain_violation(facts: TreeFacts, ref: RuleRef, chain: Chain, what: str) -> Violation:
    """A violation located at the first edge of a chain."""
    message = f"{ref.label}: {describe_chain(chain)} — {what}{chain_edges(facts, chain)}"
    return Violation(rule=ref, message=message, file=facts.file_of(chain[0]),
                     line=facts.edge_line(chain[0], chain[1]), subjects=(chain[0],),
                     chain=tuple(chain))


def _target_owner(facts: TreeFacts, to: list[str], members: list[str], name: str) -> str | None:
    """Which forbidden target `name` belongs to: a `to` member of the tree, or a third-party pattern."""
    hits = [m for m in members if matches(name, m)]
    if hits:
        return max(hits, key=len)
    if facts.is_internal(name):
        return None
    return next((p for p in to if matches(name, p)), None)


def _forbidden(owner: Callable[[str], str | None], skip: list[str], own: str | None,
               name: str) -> bool:
    """A target outside the source's own target member (a target may import itself)."""
    target = owner(name)
    return target is not None and target != own and not any(matches(name, s) for s in skip)


def check_forbid_import(facts: TreeFacts, ref: RuleRef, rule: dict[str, Any]) -> list[Violation]:
    """Modules covered by `from` may not import (even indirectly) anything covered by `to`.

    `to` wildcards expand to members as in `independent`, so `from: mad.mads.*, to: mad.mads.*`
    forbids imports between MADs while each MAD's modules still import each other.
    """
    to, skip = as_list(rule["to"]), as_list(rule.get("except"))
    members = [m for p in to for m in facts.expand(p)]
    owner = partial(_target_owner, facts, to, members)
    sources = sorted(facts.select(as_list(rule["from"]), skip))
    source_set = set(sources)
    direct_only = bool(rule.get("allow_indirect"))
    what = f"{_show(rule['from'])} may not import {_show(rule['to'])}"
    found = []
    for module in sources:
        chain = shortest_chain(facts, module, partial(_forbidden, owner, skip, owner(module)),
                               lambda m: not direct_only and m not in source_set)
        if chain:
            found.append(chain_violation(facts, ref, chain, what))
    return found


def layer_map(facts: TreeFacts, rule: dict[str, Any]) -> dict[str, int]:
    """Module -> layer index (0 = highest); the most specific matching pattern decides."""
    skip = as_list(rule.get("except"))
    best: dict[str, tuple[int, int]] = {}  # module -> (pattern length, layer)
    for index, layer in enumerate(rule["layers"]):
        for pattern in as_list(layer):
            for module in facts.select([pattern], skip):
                if module not in best or len(pattern) > best[module][0]:
                    best[module] = (len(pattern), index)
    return {m: layer for m, (_, layer) in best.items()}


def check_layers(facts: TreeFacts, ref: RuleRef, rule: dict[str, Any]) -> list[Violation]:
    """A module may import its own layer and lower ones, never a higher layer (indirectly too)."""
    layer_of = layer_map(facts, rule)
    names = [" | ".join(as_list(layer)) for layer in rule["layers"]]
    found = []
    for module in sorted(layer_of):
        own = layer_of[module]
        chain = shortest_chain(facts, module, partial(_above, layer_of, own),
                               lambda m: m not in layer_of)
        if chain:
            higher = layer_of[chain[-1]]
            what = (f"layer {own + 1} ({names[own]}) may not import the higher layer "
                    f"{higher + 1} ({names[higher]})")
            found.append(chain_violation(facts, ref, chain, what))
    return found


def _above(layer_of: dict[str, int], own: int, name: str) -> bool:
    return layer_of.get(name, own) < own


def sibling_members(facts: TreeFacts, rule: dict[str, Any]) -> list[str]:
    """The independent siblings a rule names, wildcards expanded, excepted ones left out."""
    skip = as_list(rule.get("except"))
    members = {m for p in as_list(rule["modules"]) for m in facts.expand(p)}
    return sorted(m for m in members if not any(matches(m, s) for s in skip))


def _member_of(members: list[str], module: str) -> str | None:
    hits = [m for m in members if matches(module, m)]
    return max(hits, key=len) if hits else None


def _other_member(owner: dict[str, str | None], mine: str, name: str) -> bool:
    return owner.get(name) not in (None, mine)


def check_independent(facts: TreeFacts, ref: RuleRef, rule: dict[str, Any]) -> list[Violation]:
    """No sibling imports another, in either direction, directly or through other modules."""
    members = sibling_members(facts, rule)
    skip = as_list(rule.get("except"))
    owner = {m: _member_of(members, m) for m in facts.modules}
    found = []
    for module in facts.modules:
        mine = owner[module]
        if mine is None or any(matches(module, s) for s in skip):
            continue
        chain = shortest_chain(facts, module, partial(_other_member, owner, mine),
                               lambda m: owner.get(m) is None)
        if chain:
            other = owner[chain[-1]]
            what = f"independent siblings {mine} and {other} may not import each other"
            found.append(chain_violation(facts, ref, chain, what))
    return found


def _cycle_from(facts: TreeFacts, start: str, inside: set[str]) -> Chain | None:
    """The shortest import cycle through `start` among `inside` modules."""
    for first in facts.targets(start):
        if first == start:
            return [start, start]
    best: Chain | None = None
    for first in facts.targets(start):
        if first not in inside:
            continue
        rest = shortest_chain(facts, first, lambda m: m == start, lambda m: m in inside)
        if rest and (best is None or len(rest) + 1 < len(best)):
            best = [start, *rest]
    return best


def check_acyclic(facts: TreeFacts, ref: RuleRef, rule: dict[str, Any]) -> list[Violation]:
    """No import cycle inside a package, among its modules or (`level: packages`) its members."""
    if rule.get("level", "modules") == "packages":
        return check_package_cycles(facts, ref, rule)
    return _module_cycles(facts, ref, rule)


def _module_cycles(facts: TreeFacts, ref: RuleRef, rule: dict[str, Any]) -> list[Violation]:
    """No import cycle among the modules inside a package (the package's __init__ excluded)."""
    found: list[Violation] = []
    seen: set[frozenset[str]] = set()
    for package in facts.expand(rule["package"]):
        inside = {m for m in facts.modules if m.startswith(package + ".")}
        for module in sorted(inside):
            cycle = _cycle_from(facts, module, inside)
            if not cycle or frozenset(cycle) in seen:
                continue
            seen.add(frozenset(cycle))
            message = (f"{ref.label}: import cycle {describe_chain(cycle)} — modules inside "
                       f"{package} may not import each other in a cycle{chain_edges(facts, cycle)}")
            found.append(Violation(rule=ref, message=message, file=facts.file_of(cycle[0]),
                                   line=facts.edge_line(cycle[0], cycle[1]),
                                   subjects=tuple(sorted(set(cycle))), chain=tuple(cycle)))
    return found


ModuleEdge = tuple[str, int, str]  # (importing module, line, imported module)


def package_edges(facts: TreeFacts, package: str) -> dict[tuple[str, str], list[ModuleEdge]]:
    """(member, member) -> the module edges behind it, the first module's first line first;
    members are `package`'s direct subpackages and modules (its own __init__ is no member)."""
    def member(module: str) -> str | None:
        if not module.startswith(package + "."):
            return None
        return ".".join(module.split(".")[:depth])

    depth = package.count(".") + 2
    edges: dict[tuple[str, str], list[ModuleEdge]] = {}
    for module in facts.modules:
        source = member(module)
        if source is None:
            continue
        for target, line in sorted(facts.graph[module], key=lambda e: (e[1], e[0])):
            into = member(target) if facts.is_internal(target) else None
            if into is not None and into != source:
                edges.setdefault((source, into), []).append((module, line, target))
    return edges


def _package_cycle(adjacent: dict[str, list[str]], start: str) -> Chain | None:
    """The shortest cycle through `start` in a package graph (breadth first)."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in adjacent.get(node, []):
            if nxt == start:
                return [*_unwind(previous, node), start]
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return None


def _blame_order(cycles: list[Chain], counts: dict[tuple[str, str], int]
                 ) -> list[tuple[tuple[str, str], list[Chain]]]:
    """Which package edge to report for which cycles: greedily, the edge on the most cycles
    (ties: the one with the fewest imports behind it, the likelier newcomer), until every cycle
    has an edge reported; so one stray import is one violation, however many cycles it closes."""
    left = list(cycles)
    order = []
    while left:
        on: dict[tuple[str, str], list[Chain]] = {}
        for cycle in left:
            for edge in set(pairwise(cycle)):
                on.setdefault(edge, []).append(cycle)
        edge = min(on, key=lambda e: (-len(on[e]), counts.get(e, 0), e))
        order.append((edge, on[edge]))
        left = [c for c in left if c not in on[edge]]
    return order


def _rotated(cycle: Chain, edge: tuple[str, str]) -> Chain:
    """The cycle written from `edge`'s source, so the reported edge comes first."""
    body = cycle[:-1]
    i = next(i for i, (a, b) in enumerate(pairwise(cycle)) if (a, b) == edge)
    return [*body[i:], *body[:i], body[i]]


def check_package_cycles(facts: TreeFacts, ref: RuleRef, rule: dict[str, Any]) -> list[Violation]:
    """No import cycle among a package's direct subpackages and modules, late imports included.

    Each violation points at one package edge (the importing module's line) that closes one or
    more cycles, and lists the module edge behind every package edge of the shortest of them.
    """
    found: list[Violation] = []
    for package in facts.expand(rule["package"]):
        edges = package_edges(facts, package)
        adjacent: dict[str, list[str]] = {}
        for source, target in sorted(edges):
            adjacent.setdefault(source, []).append(target)
        cycles: list[Chain] = []
        seen: set[frozenset[str]] = set()
        for start in sorted(adjacent):
            cycle = _package_cycle(adjacent, start)
            if cycle and frozenset(cycle) not in seen:
                seen.add(frozenset(cycle))
                cycles.append(cycle)
        counts = {edge: len(behind) for edge, behind in edges.items()}
        for edge, closed in _blame_order(cycles, counts):
            cycle = _rotated(min(closed, key=len), edge)
            behind = [edges[(a, b)][0] for a, b in pairwise(cycle)]
            shown = ", ".join(f"{facts.file_of(m) or m}:{line} {m} → {t}"
                              for m, line, t in behind)
            more = f"; this import is on {len(closed)} of the cycles found" if len(closed) > 1 else ""
            message = (f"{ref.label}: package import cycle {describe_chain(cycle)} — packages "
                       f"inside {package} may not import each other in a cycle{more} "
                       f"(edges: {shown})")
            first, line, _ = behind[0]
            found.append(Violation(rule=ref, message=message, file=facts.file_of(first),
                                   line=line, chain=tuple(cycle),
                                   subjects=tuple(sorted({*cycle, *(m for m, _, _ in behind)}))))
    return found


def _show(value: Any) -> str:
    return ", ".join(as_list(value))


IMPORT_CHECKS: dict[str, Callable[[TreeFacts, RuleRef, dict[str, Any]], list[Violation]]] = {
    "forbid_import": check_forbid_import,
    "layers": check_layers,
    "independent": check_independent,
    "acyclic": check_acyclic,
}
