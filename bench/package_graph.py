"""Measure genops's package graph (package -> package edges and cycles) from its real imports.

Uses genops's own import extraction (`genops.semdiff.build.import_graph`), which sees every
import statement, late ones inside functions included. Run from the repository root:
`python bench/package_graph.py [--modules] [--late] [--source DIR]`.

`--late` also lists the genops imports made inside functions, split into the CLI's (its commands
load the library when they run) and the rest. `--source DIR` measures another copy of the
package, e.g. an older commit: `git worktree add /tmp/old 87d1a1e` then
`python bench/package_graph.py --source /tmp/old/genops`.
"""

from __future__ import annotations

import ast
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


def late_imports(source: Path) -> list[tuple[str, int, str]]:
    """(file, line, module) of every `import genops...` / `from genops... import` in a function."""
    found = []
    for path in sorted(source.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genops"):
                    found.append((path.relative_to(source.parent).as_posix(), node.lineno,
                                  node.module or ""))
                elif isinstance(node, ast.Import):
                    found += [(path.relative_to(source.parent).as_posix(), node.lineno, a.name)
                              for a in node.names if a.name.startswith("genops")]
    return sorted(set(found))


def main(argv: list[str]) -> int:
    source = Path(argv[argv.index("--source") + 1]).resolve() if "--source" in argv \
        else ROOT / "genops"
    graph = genops_graph(source)
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
    if "--late" in argv:
        late = late_imports(source)
        cli = [x for x in late if x[0].startswith("genops/cli/")]
        below = [x for x in late if not x[0].startswith("genops/cli/")]
        print(f"genops imports inside functions: {len(cli)} in the CLI, {len(below)} below it")
        for file, line, module in below:
            print(f"  {file}:{line}: {module}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
