"""`genops partition --plan`: a proposed split of a workspace's tree into federation members.

Read-only: the plan is printed (or written to a file the person names) for a person to edit;
nothing in the workspace changes and nothing is ever applied.

**Graph.** Nodes are the tree's files. Python modules are joined by their imports
(genops.semdiff.build: every import, late ones included), weighted by the number of names
imported (at least 1); modules that implement the same requirement (genops.gates.traceability
`implementing_spans`: the ID in the code, or the release's blueprint group) get an affinity edge
of weight `REQ_WEIGHT`. A file that is not Python belongs to the package folder it lives in;
files at the tree's top (README, pyproject.toml) are `shared`: every member keeps its own copy,
so their tokens count in every part. Tokens are genops.ledger.pricing.estimate_tokens, the
estimate the context_fit gate uses.

**Algorithm** (deterministic: every tie is broken by name):
1. *Atoms.* Strongly connected components of the import graph (a cycle cut in two would be a
   cycle between members) merged with every other file of the same package folder.
2. *Greedy agglomeration.* While two clusters are joined by an edge and fit together within the
   cap (`share` × window), merge the pair with the highest edge weight relative to their combined
   size (weight / tokens, so small tightly coupled clusters merge first). Clusters left with no
   shared edge are then packed first-fit decreasing into the fewest parts that fit.
3. *Kernighan–Lin style refinement.* Repeatedly move the single atom whose move to another part
   lowers the cut weight most while both parts stay within the cap; stop when no move helps
   (bounded passes). An atom larger than the cap stays alone and is reported over the cap.

The interfaces the cut would create are the names each part imports from modules of another part.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from genops.gates.rules_tree import TreeFacts
from genops.gates.traceability import implementing_spans, is_test_file
from genops.ledger.pricing import estimate_tokens
from genops.semdiff.architecture import cycles
from genops.semdiff.build import build_model

REQ_WEIGHT = 1
MAX_PASSES = 50


@dataclass
class Graph:
    """What partitioning needs: tokens per file, weighted edges between files, the names each
    file imports from each other file, and the package folder of each file."""

    tokens: dict[str, int]
    edges: dict[tuple[str, str], int] = field(default_factory=dict)  # (a, b) with a < b
    names: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (importer, imported)
    folder: dict[str, str] = field(default_factory=dict)
    shared: list[str] = field(default_factory=list)  # top-level non-Python files
    requirements: dict[str, set[str]] = field(default_factory=dict)  # file -> REQ ids

    def add(self, a: str, b: str, weight: int) -> None:
        if a == b:
            return
        key = (a, b) if a < b else (b, a)
        self.edges[key] = self.edges.get(key, 0) + weight


def tree_graph(tree: Path, blueprint: Any = None) -> Graph:
    """The graph of a generated tree (see the module docstring)."""
    facts = TreeFacts(root=tree, graph={}, files={})
    tokens: dict[str, int] = {}
    for rel in facts.all_files:
        try:
            tokens[rel] = estimate_tokens((tree / rel).read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    graph = Graph(tokens)
    model = build_model(tree)
    by_name = {m.name: m for m in model.modules.values()}
    for module in model.modules.values():
        for base, _line, names, _top in module.raw_imports():
            hits = [(f"{base}.{n}", "*") for n in names if f"{base}.{n}" in by_name]
            if not hits:
                known = _longest(base, by_name)
                if known is None:
                    continue
                rest = base[len(known) + 1:]
                hits = [(known, ".".join(filter(None, [rest, n])) or known.rsplit(".", 1)[-1])
                        for n in (names or ("",))]
            for target, name in hits:
                other = by_name[target].file
                if other == module.file:
                    continue
                key = (module.file, other)
                graph.names.setdefault(key, set()).add(
                    target.rsplit(".", 1)[-1] if name == "*" else name)
    for (importer, imported), used in graph.names.items():
        graph.add(importer, imported, max(1, len(used)))
    for rel in tokens:
        parent = PurePosixPath(rel).parent.as_posix()
        if not rel.endswith(".py") and parent == ".":
            graph.shared.append(rel)
        graph.folder[rel] = parent
    by_req: dict[str, set[str]] = defaultdict(set)
    for req, spans in implementing_spans(tree, blueprint).items():
        for rel, _start, _end in spans:
            if rel in tokens:
                by_req[req].add(rel)
                graph.requirements.setdefault(rel, set()).add(req)
    for files in by_req.values():
        ordered = sorted(files)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                graph.add(a, b, REQ_WEIGHT)
    return graph


def _longest(name: str, known: dict[str, Any]) -> str | None:
    parts = name.split(".")
    while parts:
        if ".".join(parts) in known:
            return ".".join(parts)
        parts.pop()
    return None


# --- the partitioning ------------------------------------------------------------------------


def atoms(graph: Graph) -> list[list[str]]:
    """Files that move together: import cycles, merged with their package folder's files."""
    nodes = sorted(f for f in graph.tokens if f not in graph.shared)
    parent = {n: n for n in nodes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for component in cycles((a, b) for a, b in graph.names if a in parent and b in parent):
        for other in component[1:]:
            union(component[0], other)
    by_folder: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        if not is_test_file(node):
            by_folder[graph.folder.get(node, ".")].append(node)
    for folder, files in by_folder.items():
        if folder != ".":
            for other in files[1:]:
                union(files[0], other)
    tests = [n for n in nodes if is_test_file(n)]
    for test in tests:  # a test goes with the code it imports most; test support stays together
        weights: dict[str, int] = defaultdict(int)
        for (importer, imported), names in graph.names.items():
            if importer == test and not is_test_file(imported):
                weights[find(imported)] += max(1, len(names))
        if weights:
            union(test, max(sorted(weights), key=lambda k: weights[k]))
        elif tests[0] != test:
            union(tests[0], test)
    groups: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        groups[find(node)].append(node)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


def _weights(graph: Graph, owner: dict[str, int]) -> dict[tuple[int, int], int]:
    between: dict[tuple[int, int], int] = defaultdict(int)
    for (a, b), weight in graph.edges.items():
        if a in owner and b in owner and owner[a] != owner[b]:
            pa, pb = sorted((owner[a], owner[b]))
            between[(pa, pb)] += weight
    return between


def partition(graph: Graph, cap: int) -> list[list[str]]:
    """Parts (lists of files, shared ones aside), each within `cap` tokens where its atoms allow,
    with the cut weight kept low (see the module docstring)."""
    shared = sum(graph.tokens[f] for f in graph.shared)
    budget = max(1, cap - shared)
    units = atoms(graph)
    size = [sum(graph.tokens[f] for f in unit) for unit in units]
    clusters: dict[int, list[int]] = {i: [i] for i in range(len(units))}
    csize = {i: size[i] for i in clusters}
    owner = {f: i for i, unit in enumerate(units) for f in unit}
    while True:  # 2. greedy agglomeration along edges
        between = _weights(graph, owner)
        best = None
        for (a, b), weight in between.items():
            if csize[a] + csize[b] > budget:
                continue
            score = (weight / (csize[a] + csize[b] or 1), -(csize[a] + csize[b]), -a, -b)
            if best is None or score > best[0]:
                best = (score, a, b)
        if best is None:
            break
        _, a, b = best
        clusters[a] += clusters.pop(b)
        csize[a] += csize.pop(b)
        for unit in clusters[a]:
            for f in units[unit]:
                owner[f] = a
    bins: list[list[int]] = []  # then first-fit decreasing for what is left
    bsize: list[int] = []
    for cid in sorted(clusters, key=lambda c: (-csize[c], c)):
        slot = next((i for i, s in enumerate(bsize) if s + csize[cid] <= budget), None)
        if slot is None:
            bins.append([cid])
            bsize.append(csize[cid])
        else:
            bins[slot].append(cid)
            bsize[slot] += csize[cid]
    part_of_unit = {u: p for p, cids in enumerate(bins) for c in cids for u in clusters[c]}
    _refine(graph, units, size, part_of_unit, len(bins), budget)
    parts: dict[int, list[str]] = defaultdict(list)
    for unit, part in part_of_unit.items():
        parts[part].extend(units[unit])
    ordered = [sorted(files) for files in parts.values() if files]
    return sorted(ordered, key=lambda p: (-sum(graph.tokens[f] for f in p), p[0]))


def _refine(graph: Graph, units: list[list[str]], size: list[int], part: dict[int, int],
            count: int, budget: int) -> None:
    """3. Kernighan–Lin style single moves: the best cut-lowering move that keeps both parts
    within the budget, until none is left."""
    unit_of = {f: u for u, files in enumerate(units) for f in files}
    link: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for (a, b), weight in graph.edges.items():
        if a in unit_of and b in unit_of and unit_of[a] != unit_of[b]:
            link[unit_of[a]][unit_of[b]] += weight
            link[unit_of[b]][unit_of[a]] += weight
    load: dict[int, int] = defaultdict(int)
    for unit, p in part.items():
        load[p] += size[unit]
    for _ in range(MAX_PASSES * max(1, len(units))):
        best = None
        for unit in sorted(part):
            here = part[unit]
            towards: dict[int, int] = defaultdict(int)
            for other, weight in link[unit].items():
                towards[part[other]] += weight
            for target in range(count):
                if target == here or load[target] + size[unit] > budget:
                    continue
                gain = towards[target] - towards[here]
                if gain > 0 and (best is None or (gain, -unit, -target) > best[0]):
                    best = ((gain, -unit, -target), unit, target)
        if best is None:
            return
        _, unit, target = best
        load[part[unit]] -= size[unit]
        load[target] += size[unit]
        part[unit] = target


# --- the plan --------------------------------------------------------------------------------


@dataclass
class Part:
    name: str
    files: list[str]
    tokens: int  # its own files plus the shared ones
    requirements: list[str]
    provides: dict[str, list[str]] = field(default_factory=dict)  # module file -> names
    consumes: dict[str, int] = field(default_factory=dict)  # other part -> edges

    def to_dict(self, window: int) -> dict[str, Any]:
        return {"name": self.name, "tokens": self.tokens, "share": round(self.tokens / window, 4),
                "files": self.files, "requirements": self.requirements,
                "provides": self.provides, "consumes": self.consumes}


@dataclass
class Plan:
    tree: str
    window: int
    share: float
    tokens: int
    parts: list[Part]
    shared: list[str]
    shared_tokens: int
    cut_edges: int
    cut_weight: int
    split_requirements: dict[str, list[str]]

    @property
    def cap(self) -> int:
        return int(self.window * self.share)

    @property
    def over(self) -> list[str]:
        return [p.name for p in self.parts if p.tokens > self.cap]

    def to_dict(self) -> dict[str, Any]:
        return {"tree": self.tree, "context_window": self.window, "share": self.share,
                "cap_tokens": self.cap, "tree_tokens": self.tokens,
                "tree_share": round(self.tokens / self.window, 4), "shared": self.shared,
                "shared_tokens": self.shared_tokens, "cut_edges": self.cut_edges,
                "cut_weight": self.cut_weight, "over_cap": self.over,
                "split_requirements": self.split_requirements,
                "parts": [p.to_dict(self.window) for p in self.parts]}


def _part_name(files: list[str], taken: set[str]) -> str:
    """The deepest folder most of the part's tokens live in (a person renames it)."""
    counts: dict[str, int] = defaultdict(int)
    code = [f for f in files if f.endswith(".py") and not is_test_file(f)]
    for f in code or files:
        parts = PurePosixPath(f).parts
        counts["/".join(parts[:2]) if len(parts) > 2 else parts[0]] += 1
    best = max(sorted(counts), key=lambda k: counts[k])
    name = PurePosixPath(best).name.removesuffix(".py").replace("_", "-") or "part"
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return candidate


def make_plan(tree: Path, window: int, share: float, blueprint: Any = None,
              shown: str = "generated") -> Plan:
    graph = tree_graph(tree, blueprint)
    cap = int(window * share)
    files = partition(graph, cap)
    shared_tokens = sum(graph.tokens[f] for f in graph.shared)
    taken: set[str] = set()
    parts = [Part(_part_name(p, taken), p, sum(graph.tokens[f] for f in p) + shared_tokens,
                  sorted({r for f in p for r in graph.requirements.get(f, ())}))
             for p in files]
    owner = {f: part for part in parts for f in part.files}
    cut_edges = cut_weight = 0
    for (a, b), weight in graph.edges.items():
        if a in owner and b in owner and owner[a] is not owner[b]:
            cut_weight += weight
    for (importer, imported), names in sorted(graph.names.items()):
        user, provider = owner.get(importer), owner.get(imported)
        if user is None or provider is None or user is provider:
            continue
        cut_edges += 1
        provider.provides.setdefault(imported, [])
        provider.provides[imported] = sorted(set(provider.provides[imported]) | names)
        user.consumes[provider.name] = user.consumes.get(provider.name, 0) + 1
    by_req: dict[str, set[str]] = defaultdict(set)
    for part in parts:
        for req in part.requirements:
            by_req[req].add(part.name)
    split = {r: sorted(ps) for r, ps in sorted(by_req.items()) if len(ps) > 1}
    return Plan(shown, window, share, sum(graph.tokens.values()), parts, sorted(graph.shared),
                shared_tokens, cut_edges, cut_weight, split)


def plan_toml(plan: Plan) -> str:
    """The plan as TOML a person edits (then makes the members by hand or with genops init)."""
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["# genops partition --plan: a proposal, never applied. Edit it, then create the",
             "# members (genops init) and the federation root (docs/federation.md).",
             "[partition]", f"tree = {q(plan.tree)}", f"context_window = {plan.window}",
             f"share = {plan.share}", f"cap_tokens = {plan.cap}", f"tree_tokens = {plan.tokens}",
             f"cut_edges = {plan.cut_edges}",
             "shared = [" + ", ".join(q(s) for s in plan.shared) + "]", ""]
    for part in plan.parts:
        lines += [f"[parts.{q(part.name)}]", f"tokens = {part.tokens}",
                  "files = [", *(f"    {q(f)}," for f in part.files), "]",
                  "requirements = [" + ", ".join(q(r) for r in part.requirements) + "]",
                  "consumes = [" + ", ".join(q(c) for c in sorted(part.consumes)) + "]"]
        if part.provides:
            lines.append(f"[parts.{q(part.name)}.provides]")
            lines += [f"{q(mod)} = [" + ", ".join(q(n) for n in names) + "]"
                      for mod, names in sorted(part.provides.items())]
        lines.append("")
    return "\n".join(lines)
