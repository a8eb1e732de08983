"""Third-party dependencies of a tree: imports that leave it, and what its packaging files declare.

Imported dependencies are named by their top-level module (`yaml`), declared ones by their
normalized distribution name (`pyyaml`) from the tree root's pyproject.toml (`[project]`
dependencies and optional dependencies, `[tool.poetry]` dependencies) and requirements*.txt.
The standard library and `__future__` are not dependencies.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from genops.semdiff.build import TreeModel
from genops.semdiff.changes import Change, Kind

STDLIB = frozenset(sys.stdlib_module_names) | {"__future__", "__main__"}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True, slots=True)
class Dependency:
    """A dependency with where it was first seen."""

    name: str
    spec: str
    file: str
    line: int


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def imported(tree: TreeModel) -> dict[str, Dependency]:
    """Top-level modules imported from outside the tree and the stdlib -> first import site."""
    local = {name.split(".", 1)[0] for name in tree.modules}
    found: dict[str, Dependency] = {}
    for module in sorted(tree.modules.values(), key=lambda m: m.file):
        for base, line, _names, _top in module.raw_imports():
            head = base.split(".", 1)[0]
            if not head or head in local or head in STDLIB:
                continue
            current = found.get(head)
            if current is None:
                found[head] = Dependency(head, f"import {head}", module.file, line)
    return found


def declared(root: Path) -> dict[str, Dependency]:
    """Dependencies declared by pyproject.toml and requirements*.txt at the tree root."""
    found: dict[str, Dependency] = {}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        text = pyproject.read_text(encoding="utf-8", errors="replace")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            data = {}
        for spec in _pyproject_specs(data):
            _record(found, spec, "pyproject.toml", _line_of(text, spec))
    for requirements in sorted(root.glob("requirements*.txt")):
        lines = requirements.read_text(encoding="utf-8", errors="replace").splitlines()
        for number, raw in enumerate(lines, 1):
            line = raw.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                _record(found, line, requirements.name, number)
    return found


def _pyproject_specs(data: dict[str, object]) -> list[str]:
    """Requirement strings of PEP 621 and Poetry tables."""
    project = data.get("project")
    specs: list[str] = []
    if isinstance(project, dict):
        specs.extend(s for s in project.get("dependencies", []) if isinstance(s, str))
        for group in (project.get("optional-dependencies") or {}).values():
            specs.extend(s for s in group if isinstance(s, str))
    tool = data.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    if isinstance(poetry, dict):
        for name, value in (poetry.get("dependencies") or {}).items():
            if name.lower() != "python":
                specs.append(f"{name} {value}" if isinstance(value, str) else name)
    return specs


def _record(found: dict[str, Dependency], spec: str, file: str, line: int) -> None:
    """Add one requirement string under its normalized name."""
    match = _NAME.match(spec)
    if match:
        name = normalize(match.group(1))
        found.setdefault(name, Dependency(name, " ".join(spec.split()), file, line))


def _line_of(text: str, needle: str) -> int:
    """1-based line of the first occurrence of a string (1 when absent)."""
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def dependency_changes(old: TreeModel, new: TreeModel) -> list[Change]:
    """Declared and imported dependencies added, removed or changed."""
    changes = _diff(declared(old.root), declared(new.root), "declared")
    old_imports, new_imports = imported(old), imported(new)
    declared_names = {normalize(n) for n in (*declared(old.root), *declared(new.root))}
    for change in _diff(old_imports, new_imports, "imported"):
        if normalize(change.path) not in declared_names:
            changes.append(change)
    return changes


def _diff(old: dict[str, Dependency], new: dict[str, Dependency], how: str) -> list[Change]:
    """Compare two dependency maps."""
    changes = []
    for name, dep in old.items():
        if name not in new:
            changes.append(Change(Kind.DEPENDENCY_REMOVED, name, f"no longer {how}", old=dep.spec,
                                  file=dep.file, line=dep.line))
        elif how == "declared" and new[name].spec != dep.spec:
            changes.append(Change(Kind.DEPENDENCY_CHANGED, name, "requirement changed", old=dep.spec,
                                  new=new[name].spec, file=new[name].file, line=new[name].line))
    for name, dep in new.items():
        if name not in old:
            changes.append(Change(Kind.DEPENDENCY_ADDED, name, f"newly {how}", new=dep.spec, file=dep.file,
                                  line=dep.line))
    return changes
