"""A federation member's published interface: its surface, its digest, and how it changed.

The interface is what `interface.toml`'s `[provides]` names: the public surface of some Python
modules of the member's generated tree, and JSON Schema files (messages on a bus) kept in the
member's own folders. `surface` renders it as deterministic text (what a consumer's model is
shown, read-only, and what the digest is taken of); `classify` compares two versions of it:

    breaking   a caller of the old interface can fail against the new one (the semantic diff's
               breaking API changes inside the interface modules, an interface module gone; a
               schema removed, a property removed, a property newly required, a type narrowed
               or changed, an enum value removed, additional properties closed)  -> major
    addition   anything else the interface gained or changed compatibly (an API addition, a new
               optional property, a new schema file, an enum value added)         -> minor
    none       the surface did not change (bodies may have)                       -> no bump
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.semdiff.changes import Category, Kind
from genops.semdiff.engine import diff_trees
from genops.workspace.federation import Provides, parse_semver

LEVELS = ("none", "addition", "breaking")


@dataclass(frozen=True)
class InterfaceChange:
    where: str  # a dotted python path or `schemas/<file>#/<pointer>`
    detail: str
    breaking: bool

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "detail": self.detail, "breaking": self.breaking}


@dataclass
class Classification:
    level: str = "none"
    changes: list[InterfaceChange] = field(default_factory=list)

    def add(self, where: str, detail: str, breaking: bool) -> None:
        self.changes.append(InterfaceChange(where, detail, breaking))
        rank = LEVELS.index("breaking" if breaking else "addition")
        if rank > LEVELS.index(self.level):
            self.level = LEVELS[rank]

    def first(self) -> InterfaceChange | None:
        return next((c for c in self.changes if c.breaking), self.changes[0] if self.changes
                    else None)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "changes": [c.to_dict() for c in self.changes]}


@dataclass(frozen=True)
class Surface:
    text: str  # the python surface, module by module
    schemas: dict[str, str]  # "<folder>/<file>" -> text
    digest: str


def module_file(tree: Path, module: str) -> Path | None:
    base = tree.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _public(name: str) -> bool:
    return not name.startswith("_") or name == "__init__"


def _doc(node: ast.AST) -> str:
    text = ast.get_docstring(node) if isinstance(
        node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) else None
    return f"  # {text.strip().splitlines()[0]}" if text and text.strip() else ""


def _lines(body: list[ast.stmt], indent: str) -> list[str]:
    out: list[str] = []
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(node.name):
            prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
            returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
            out.extend(f"{indent}@{ast.unparse(d)}" for d in node.decorator_list)
            out.append(f"{indent}{prefix} {node.name}({ast.unparse(node.args)}){returns}"
                       + _doc(node))
        elif isinstance(node, ast.ClassDef) and _public(node.name):
            bases = [ast.unparse(b) for b in node.bases] + [ast.unparse(k) for k in node.keywords]
            out.extend(f"{indent}@{ast.unparse(d)}" for d in node.decorator_list)
            out.append(f"{indent}class {node.name}" + (f"({', '.join(bases)})" if bases else "")
                       + _doc(node))
            out.extend(_lines(node.body, indent + "    "))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                and _public(node.target.id):
            value = f" = {ast.unparse(node.value)}" if node.value is not None and indent == "" \
                and node.target.id.isupper() else ""
            out.append(f"{indent}{node.target.id}: {ast.unparse(node.annotation)}{value}")
        elif isinstance(node, ast.Assign) and indent == "":
            for target in node.targets:
                if isinstance(target, ast.Name) and (target.id.isupper() or target.id == "__all__"):
                    out.append(f"{target.id} = {ast.unparse(node.value)}")
        elif isinstance(node, ast.ImportFrom) and indent == "" and node.level == 0:
            names = [a for a in node.names if _public(a.asname or a.name) and a.name != "*"]
            if names and node.module:
                out.append(f"from {node.module} import "
                           + ", ".join(a.name + (f" as {a.asname}" if a.asname else "")
                                       for a in names))
    return out


def python_surface(tree: Path, modules: tuple[str, ...]) -> str:
    """The public surface of `modules` in `tree`, as text (a missing module says so)."""
    blocks = []
    for module in sorted(modules):
        path = module_file(tree, module)
        if path is None:
            blocks.append(f"# module {module}: missing")
            continue
        try:
            parsed = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError) as exc:
            blocks.append(f"# module {module}: does not parse ({exc})")
            continue
        blocks.append("\n".join([f"# module {module}" + _doc(parsed), *_lines(parsed.body, "")]))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def schema_files(member_root: Path, folders: tuple[str, ...]) -> dict[str, str]:
    """Every `*.json` file of the schema folders, by "<folder>/<relative path>"."""
    found: dict[str, str] = {}
    for folder in folders:
        base = member_root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.json")):
            if path.is_file() and not path.is_symlink():
                found[f"{folder}/{path.relative_to(base).as_posix()}"] = path.read_text(
                    encoding="utf-8")
    return found


def surface(provides: Provides, tree: Path, member_root: Path) -> Surface:
    text = python_surface(tree, provides.python)
    schemas = schema_files(member_root, provides.schemas)
    digest = hashlib.sha256()
    digest.update(b"python\0" + text.encode("utf-8"))
    for name, body in sorted(schemas.items()):
        digest.update(b"\0schema\0" + name.encode("utf-8") + b"\0" + body.encode("utf-8"))
    return Surface(text, schemas, digest.hexdigest())


def _in_interface(path: str | None, modules: tuple[str, ...]) -> bool:
    return path is not None and any(path == m or path.startswith(m + ".") for m in modules)


def classify_python(old_tree: Path, new_tree: Path, modules: tuple[str, ...],
                    result: Classification | None = None) -> Classification:
    """Changes of the interface modules between two trees, by the semantic diff."""
    result = result or Classification()
    present = [m for m in modules if module_file(old_tree, m) is not None]
    if not present:
        for module in modules:
            if module_file(new_tree, module) is not None:
                result.add(module, "interface module added", False)
        return result
    for module in present:
        if module_file(new_tree, module) is None:
            result.add(module, "interface module removed", True)
    diff = diff_trees(old_tree, new_tree, old_label="released", new_label="staged")
    for change in sorted(diff.changes, key=lambda c: c.sort_key()):
        if not (_in_interface(change.path, modules) or _in_interface(change.new_path, modules)):
            continue
        if change.category == Category.API:
            result.add(change.path, f"{change.kind.value}: {change.detail}", change.breaking)
        elif change.kind in (Kind.MODULE_REMOVED, Kind.MODULE_MOVED) and change.path in present:
            result.add(change.path, f"{change.kind.value}: {change.detail}", True)
    return result


def _types(schema: dict[str, Any]) -> set[str] | None:
    value = schema.get("type")
    if value is None:
        return None
    types = {value} if isinstance(value, str) else {t for t in value if isinstance(t, str)}
    if "number" in types:
        types.add("integer")  # integer is a subtype of number
    return types


def _compare_schema(old: Any, new: Any, where: str, result: Classification) -> None:
    if not isinstance(old, dict) or not isinstance(new, dict):
        if old != new:
            result.add(where, "schema replaced", True)
        return
    before, after = _types(old), _types(new)
    if before is not None and after != before:
        if after is None or after > before:
            result.add(where, f"type widened from {sorted(before)} to "
                       f"{sorted(after) if after else 'any'}", False)
        elif after < before:
            result.add(where, f"type narrowed from {sorted(before)} to {sorted(after)}", True)
        else:
            result.add(where, f"type changed from {sorted(before)} to {sorted(after)}", True)
    elif before is None and after is not None:
        result.add(where, f"type restricted to {sorted(after)}", True)
    if "enum" in old or "enum" in new:
        old_enum, new_enum = old.get("enum"), new.get("enum")
        if new_enum is not None and old_enum is None:
            result.add(where, "enum added: values restricted", True)
        elif isinstance(old_enum, list) and isinstance(new_enum, list):
            gone = [v for v in old_enum if v not in new_enum]
            if gone:
                result.add(where, f"enum value(s) removed: {gone}", True)
            if [v for v in new_enum if v not in old_enum]:
                result.add(where, "enum value(s) added", False)
    old_props: dict[str, Any] = old["properties"] if isinstance(old.get("properties"), dict) \
        else {}
    new_props: dict[str, Any] = new["properties"] if isinstance(new.get("properties"), dict) \
        else {}
    for name in sorted(old_props):
        if name not in new_props:
            result.add(f"{where}/properties/{name}", "property removed", True)
        else:
            _compare_schema(old_props[name], new_props[name], f"{where}/properties/{name}", result)
    old_required = set(old.get("required") or [])
    new_required = set(new.get("required") or [])
    for name in sorted(new_required - old_required):
        result.add(f"{where}/required", f"property {name!r} is now required", True)
    for name in sorted(old_required - new_required):
        result.add(f"{where}/required", f"property {name!r} is no longer required", False)
    for name in sorted(set(new_props) - set(old_props)):
        if name not in new_required:
            result.add(f"{where}/properties/{name}", "optional property added", False)
        elif name in old_required:
            pass  # already counted as newly required
    if old.get("additionalProperties", True) is not False \
            and new.get("additionalProperties", True) is False:
        result.add(where, "additional properties no longer allowed", True)
    if "items" in old and "items" in new:
        _compare_schema(old["items"], new["items"], f"{where}/items", result)


def classify_schemas(old: dict[str, str], new: dict[str, str],
                     result: Classification | None = None) -> Classification:
    result = result or Classification()
    for name in sorted(old):
        if name not in new:
            result.add(name, "schema file removed", True)
            continue
        if old[name] == new[name]:
            continue
        try:
            before, after = json.loads(old[name]), json.loads(new[name])
        except json.JSONDecodeError:
            result.add(name, "schema file is not valid JSON", True)
            continue
        _compare_schema(before, after, f"{name}#", result)
    for name in sorted(set(new) - set(old)):
        result.add(name, "schema file added", False)
    return result


def required_version(old_version: str, level: str) -> str:
    """The smallest version the interface must have after a change of `level`."""
    major, minor, patch = parse_semver(old_version)
    if level == "breaking":
        return f"{major + 1}.0.0" if major > 0 else f"0.{minor + 1}.0"
    if level == "addition":
        return f"{major}.{minor + 1}.0" if major > 0 else f"0.{minor}.{patch + 1}"
    return old_version


def bump_ok(old_version: str, new_version: str, level: str) -> bool:
    """Whether `new_version` bumps `old_version` enough for a change of `level`."""
    old, new = parse_semver(old_version), parse_semver(new_version)
    if new < old:
        return False
    if level == "breaking":
        return new[0] > old[0] if old[0] > 0 else (new[0] > 0 or new[1] > old[1])
    if level == "addition":
        return new[:2] > old[:2] if old[0] > 0 else new > old
    return True
