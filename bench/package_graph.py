"""Measure genops's package graph (package -> package edges and cycles) from its real imports.

Uses genops's own import extraction (`genops.semdiff.build.import_graph`), which sees every
import statement, late ones inside functions included. Run from the repository root:
`python bench/package_graph.py [--modules]`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from genops.semdiff.build import import_graph

ROOT = Path(__file__).resolve().parent.parent


def package_of(module: str) -> str:
    """The first-level package of a genops module (`genops.gates.drift` -> `gates`)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[0] == "genops") else parts[0]


def genops_graph(source: Path) -> dict[str, set[tuple[str, int]]]:
    """The import graph of a copy of `source` (the genops package), modules named genops.*."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(source, Path(tmp) / "genops",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return import_graph(Path(tmp))


def package_edges(graph: dict[str, set[tuple[str, int]]]) -> dict[tuple[str, str], list[str]]:
    """(from package, to package) -> the module edges behind it, as `module -> target:line`."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, targets in graph.items():
        for target, line in targets:
            if target not in graph:
                continue
            a, b = package_of(module), package_of(target)
            if a != b:
                edges[(a, b)].append(f"{module} -> {target}:{line}")
    return dict(edges)


def cycles(nodes: set[str], adjacent: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(adjacent.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


def main(argv: list[str]) -> int:
    graph = genops_graph(ROOT / "genops")
    edges = package_edges(graph)
    adjacent: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        adjacent[a].add(b)
    packages = {package_of(m) for m in graph}
    print(f"packages: {len(packages)}  package edges: {len(edges)}")
    for (a, b), behind in sorted(edges.items()):
        print(f"  {a} -> {b}  ({len(behind)} import(s))")
        if "--modules" in argv:
            for item in sorted(behind):
                print(f"      {item}")
    pkg_cycles = cycles(packages, adjacent)
    print(f"package cycles (strongly connected sets): {len(pkg_cycles)}")
    for comp in pkg_cycles:
        print("  {" + ", ".join(comp) + "}")
        for a in comp:
            for b in comp:
                if (a, b) in edges:
                    print(f"      {a} -> {b}: {sorted(edges[(a, b)])[0]}"
                          + (f" (+{len(edges[(a, b)]) - 1})" if len(edges[(a, b)]) > 1 else ""))
    mod_adj = {m: {t for t, _ in ts if t in graph and t != m} for m, ts in graph.items()}
    mod_cycles = cycles(set(graph), mod_adj)
    print(f"module cycles (strongly connected sets): {len(mod_cycles)}")
    for comp in mod_cycles:
        print(f"  {len(comp)} modules: {', '.join(comp)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
