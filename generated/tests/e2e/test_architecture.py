"""The cell's shape, checked from the source: MADs talk only through the bus, risky powers stay put."""
from __future__ import annotations

import ast
import fnmatch
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MADS = ("mad.rogers", "mad.fiedler", "mad.turing", "mad.grace", "mad.marco", "mad.tools")


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted((ROOT / "mad").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = ast.parse(path.read_text(), str(path))
    return found


def imports(tree: ast.Module) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def owner(module: str) -> str | None:
    return next((m for m in MADS if module == m or module.startswith(m + ".")), None)


modules_cache = modules()


@pytest.mark.req("REQ-BUS-8")
def test_mads_never_import_each_other() -> None:
    for name, tree in modules_cache.items():
        mine = owner(name)
        for target in imports(tree):
            theirs = owner(target)
            if mine and theirs:
                assert theirs == mine, f"{name} imports {target}: MADs talk only through the bus"
            if name.startswith("mad.core"):
                assert not target.startswith("mad.") or target.startswith("mad.core"), (name, target)


@pytest.mark.req("REQ-BUS-8", "REQ-CELL-1")
def test_the_package_import_graph_is_acyclic() -> None:
    graph = {name: {t for t in imports(tree) if t in modules_cache} for name, tree in modules_cache.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join(path + [nxt])}"
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])


POWERS = [  # (imported module pattern, modules allowed to import it)
    ("cryptography*", ["mad.turing"]),
    ("redis*", ["mad.core.redis_bus"]),
    ("mcp*", ["mad.tools.mcp_server"]),
    ("http.server*", ["mad.grace.server"]),
    ("subprocess*", ["mad.marco.sandbox"]),
    ("urllib.request*", ["mad.marco.sandbox", "mad.fiedler.providers"]),
    ("http.client*", ["mad.marco.sandbox"]),
    ("socket*", ["mad.marco.sandbox"]),
]


@pytest.mark.req("REQ-BUS-8", "REQ-TURING-1", "REQ-MARCO-1", "REQ-TOOLS-2")
@pytest.mark.parametrize("pattern,allowed", POWERS)
def test_risky_powers_live_in_one_module_each(pattern: str, allowed: list[str]) -> None:
    for name, tree in modules_cache.items():
        for target in imports(tree):
            if fnmatch.fnmatchcase(target, pattern):
                assert name in allowed, f"{name} imports {target}; only {allowed} may"


@pytest.mark.req("REQ-MARCO-1")
def test_no_dynamic_code_or_shell_anywhere() -> None:
    banned = {("", "eval"), ("", "exec"), ("", "compile"), ("os", "system"), ("os", "popen"),
              ("pickle", "loads"), ("marshal", "loads")}
    for name, tree in modules_cache.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name):
                call = ("", func.id)
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                call = (func.value.id, func.attr)
            else:
                continue
            assert call not in banned, f"{name} calls {'.'.join(filter(None, call))}"


@pytest.mark.req("REQ-CELL-1")
def test_dependencies_are_few_pinned_and_files_small() -> None:
    stdlib = set(sys.stdlib_module_names)
    third_party = {t.split(".")[0] for tree in modules_cache.values() for t in imports(tree)} - stdlib - {"mad"}
    assert third_party == {"cryptography", "mcp", "redis"}
    pyproject = (ROOT / "pyproject.toml").read_text()
    deps = re.findall(r'"([A-Za-z0-9_.\-]+)([=<>!~]=?[^"]*)"', pyproject.split("[project.scripts]")[0])
    pinned = {name.lower(): spec for name, spec in deps if name.lower() != "setuptools"}
    assert set(pinned) == {"cryptography", "mcp", "redis", "pytest"}
    assert all(spec.startswith("==") for spec in pinned.values()), pinned
    for path in list((ROOT / "mad").rglob("*.py")) + list((ROOT / "tests").rglob("*.py")):
        assert len(path.read_text().splitlines()) <= 600, path
