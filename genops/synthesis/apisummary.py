"""A public API summary of Python sources (module -> public classes and functions with signatures).

Built with the stdlib `ast`, so it needs no imports of the code. The output is byte-deterministic:
modules sorted by dotted path, members in source order. It is what a prompt shows of the previous
tree and of the groups a group depends on.
"""

from __future__ import annotations

import ast
from pathlib import Path

from genops.treeignore import ignored_component


def module_name(path: str) -> str:
    """`mad/core/bus.py` -> `mad.core.bus`; `mad/__init__.py` -> `mad`."""
    parts = path[:-3].split("/") if path.endswith(".py") else path.split("/")
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def list_tree(root: Path) -> list[str]:
    """Every file under `root` as a relative POSIX path, sorted; caches and VCS dirs skipped."""
    if not root.is_dir():
        return []
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and ignored_component(rel) is None:
            found.append(rel)
    return sorted(found)


def read_tree(root: Path, paths: list[str] | None = None) -> dict[str, str]:
    """The text of each file under `root` (default: all of `list_tree`); non-UTF-8 files skipped."""
    contents = {}
    for rel in paths if paths is not None else list_tree(root):
        try:
            contents[rel] = (root / rel).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
    return contents


def _public(name: str) -> bool:
    return not name.startswith("_") or name == "__init__"


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"{prefix} {node.name}({ast.unparse(node.args)}){returns}"


def _decorators(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> list[str]:
    return [f"@{ast.unparse(d)}" for d in node.decorator_list]


def _class_lines(node: ast.ClassDef, indent: str) -> list[str]:
    bases = [ast.unparse(b) for b in node.bases] + [ast.unparse(k) for k in node.keywords]
    lines = [f"{indent}{d}" for d in _decorators(node)]
    lines.append(f"{indent}class {node.name}({', '.join(bases)})" if bases else
                 f"{indent}class {node.name}")
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(item.name):
            lines.extend(f"{indent}  {d}" for d in _decorators(item))
            lines.append(f"{indent}  {_signature(item)}")
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) \
                and _public(item.target.id):
            lines.append(f"{indent}  {item.target.id}: {ast.unparse(item.annotation)}")
        elif isinstance(item, ast.ClassDef) and _public(item.name):
            lines.extend(_class_lines(item, indent + "  "))
    return lines


def _module_lines(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"  (does not parse: line {exc.lineno}: {exc.msg})"]
    lines: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(node.name):
            lines.extend(f"  {d}" for d in _decorators(node))
            lines.append(f"  {_signature(node)}")
        elif isinstance(node, ast.ClassDef) and _public(node.name):
            lines.extend(_class_lines(node, "  "))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                and _public(node.target.id):
            lines.append(f"  {node.target.id}: {ast.unparse(node.annotation)}")
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            lines.extend(f"  {n} = ..." for n in names if n.isupper() or n == "__all__")
    return lines


def api_summary(sources: dict[str, str]) -> str:
    """The public API of every `.py` file in `sources` (path -> text), one block per module."""
    blocks = []
    for path in sorted(sources, key=lambda p: (module_name(p), p)):
        if not path.endswith(".py"):
            continue
        body = _module_lines(sources[path])
        if body:
            blocks.append("\n".join([f"{module_name(path)}  ({path})", *body]))
    return "\n".join(blocks) + ("\n" if blocks else "")
