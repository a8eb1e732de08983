"""Which changed modules a reviewer should read first, ranked from data, and excerpts of body changes.

A module's score adds up what makes a change risky: breaking API changes in it, an accepted ADR
that grants it a power no other module has (the `except` list of a forbid_import or
forbidden_calls rule: Turing's cryptography, the sandbox's processes), an ADR-protected API,
being new with no test importing it, the number of changed bodies and the size of the change.
Dependency changes rank as one entry for the manifest that declares them. Beside what the
semantic diff reports (declared names and their specifiers, new third-party imports), every
dependency file of the tree (pyproject.toml, setup.cfg, requirements*.txt and requirements/*.txt,
at any depth) is compared requirement by requirement: any change to a requirement (name,
specifier, URL, path, extras, markers), to an index or a find-links source, or to the build
requirements counts, and so does any URL or out-of-tree path dependency the new tree declares
(what it installs can change with no change to the tree). No module is named here.
"""

from __future__ import annotations

import ast
import configparser
import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

from genops.gates.traceability import is_test_file
from genops.semdiff.build import import_graph
from genops.synthesis.apisummary import list_tree, module_name

WEIGHTS = {"breaking": 100, "dependency": 60, "privileged": 40, "protected": 30,
           "untested": 10, "body": 5, "size": 0}
SIZE_STEP, SIZE_CAP = 50, 20  # one point per SIZE_STEP changed lines, at most SIZE_CAP
EXCERPT_LINES = 40
MAX_EXCERPTS = 12


def _read(root: Path | None, rel: str) -> list[str]:
    if root is None or not (root / rel).is_file():
        return []
    try:
        return (root / rel).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        return []


def changed_lines(old: list[str], new: list[str]) -> int:
    """Lines added plus lines removed between two versions of a file."""
    if not old or not new:
        return len(old) + len(new)
    return sum(1 for line in difflib.ndiff(old, new) if line[:2] in ("+ ", "- "))


def _covers(patterns: Iterable[str], module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in patterns)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def owner(path: str, modules: set[str]) -> str | None:
    """The longest module of `modules` that the dotted `path` lies in."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def _uses(rule: dict[str, Any], imports: set[str], text: str) -> list[str]:
    """The forbidden imports or calls of `rule` that this module actually imports or calls."""
    if rule.get("kind") == "forbid_import":
        return [t for t in _as_list(rule.get("to")) if any(
            i == t or i.startswith(t + ".") for i in imports)]
    calls = [c.rstrip("*").rstrip(".") for c in _as_list(rule.get("calls"))]
    return [c for c in calls if c and (c + "(" in text or c + "." in text)]


def adr_reasons(module: str, adrs: Iterable[Any], modules: set[str], imports: set[str],
                text: str) -> list[tuple[str, str]]:
    """(weight key, reason) for each accepted ADR rule that grants this module a power it uses."""
    reasons = []
    for adr in adrs:
        for rule in adr.rules:
            kind = rule.get("kind")
            if kind in ("forbid_import", "forbidden_calls") and _covers(_as_list(rule.get("except")), module):
                used = _uses(rule, imports, text)
                verb = "imports" if kind == "forbid_import" else "calls"
                if used:
                    reasons.append(("privileged", f"{verb} {', '.join(used)} ({adr.id} allows only it)"))
            elif kind == "protected_api":
                hits = [p for p in _as_list(rule.get("paths")) if owner(p, modules) == module]
                if hits:
                    reasons.append(("protected", f"{adr.id} protects {', '.join(sorted(hits))}"))
    return reasons


def tested_modules(new_tree: Path, graph: dict[str, set[tuple[str, int]]]) -> set[str]:
    """Modules some test file imports."""
    tests = {module_name(p) for p in list_tree(new_tree) if is_test_file(p)}
    return {target for m, edges in graph.items() if m in tests for target, _ in edges}


def _entry(rel: str, lines: int, reasons: list[tuple[str, str]]) -> dict[str, Any]:
    score = sum(WEIGHTS[k] for k, _ in reasons) + min(SIZE_CAP, lines // SIZE_STEP)
    return {"file": rel, "module": module_name(rel) if rel.endswith(".py") else rel,
            "score": score, "lines_changed": lines, "reasons": [r for _, r in reasons]}


def _dependency(change: dict[str, Any]) -> str:
    verb = str(change.get("kind", "")).removeprefix("dependency_")
    old, new = change.get("old"), change.get("new")
    shown = f"{old} → {new}" if old and new else (new or old or change.get("path"))
    return f"{verb} {shown}"


# -- dependency files --------------------------------------------------------------------------
# Each file reads as a set of (key, value) items; two versions differ where their items do.
PYPROJECT_TABLES = (("project", "dependencies"), ("project", "optional-dependencies"),
                    ("build-system",), ("dependency-groups",),
                    ("tool", "poetry", "dependencies"), ("tool", "poetry", "dev-dependencies"),
                    ("tool", "poetry", "group"), ("tool", "poetry", "source"), ("tool", "uv"),
                    ("tool", "pdm", "dev-dependencies"), ("tool", "pdm", "source"))
SETUP_CFG_KEYS = {"options": ("install_requires", "setup_requires", "tests_require",
                              "dependency_links"), "options.extras_require": None}
_SOURCE_TABLES = ("tool.poetry.dependencies.", "tool.poetry.dev-dependencies.",
                  "tool.poetry.group.", "tool.uv.sources.")
_REQUIREMENT_LISTS = ("project.dependencies", "project.optional-dependencies.",
                      "build-system.requires", "dependency-groups.", "tool.pdm.dev-dependencies.",
                      "options.install_requires", "options.setup_requires",
                      "options.tests_require", "options.extras_require.")
_VCS_OR_URL = re.compile(r"(?i)^(?:git|hg|svn|bzr)\+|^[a-z][a-z0-9+.-]*://")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_COMMENT = re.compile(r"(?:^|\s)#.*$")


def is_dependency_file(rel: str) -> bool:
    """pyproject.toml, setup.cfg, requirements*.txt or a .txt in a requirements/ folder."""
    path = PurePosixPath(rel)
    return path.name in ("pyproject.toml", "setup.cfg") or fnmatchcase(
        path.name, "requirements*.txt") or (path.suffix == ".txt" and path.parent.name == "requirements")


def _norm(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _flatten(key: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [item for k in sorted(value) for item in _flatten(f"{key}.{k}", value[k])]
    if isinstance(value, list):
        return [item for v in value for item in _flatten(key, v)]
    return [(key, _norm(value))]


def _requirements_items(text: str) -> set[tuple[str, str]]:
    """The logical lines of a pip requirements file, comments and blank lines dropped."""
    items, pending = set(), ""
    for raw in text.splitlines():
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        line = _norm(_COMMENT.sub("", line))
        if line:
            items.add(("", line))
    return items


def _pyproject_items(text: str) -> set[tuple[str, str]]:
    data: Any = tomllib.loads(text)
    items = set()
    for table in PYPROJECT_TABLES:
        value = data
        for part in table:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            items |= set(_flatten(".".join(table), value))
    return items


def _setup_cfg_items(text: str) -> set[tuple[str, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    items = set()
    for section, keys in SETUP_CFG_KEYS.items():
        if not parser.has_section(section):
            continue
        for key in keys or parser.options(section):
            if parser.has_option(section, key):
                for line in parser.get(section, key).splitlines():
                    line = _norm(_COMMENT.sub("", line))
                    if line:
                        items.add((f"{section}.{key}", line))
    return items


def dependency_items(root: Path | None, rel: str) -> set[tuple[str, str]]:
    """The (key, value) items of one dependency file ({} when absent); a file that does not
    parse is one item, its text's hash, so any edit to it counts."""
    path = root / rel if root is not None else None
    if path is None or not path.is_file():
        return set()
    text = path.read_text(encoding="utf-8", errors="replace")
    name = PurePosixPath(rel).name
    try:
        if name == "pyproject.toml":
            return _pyproject_items(text)
        if name == "setup.cfg":
            return _setup_cfg_items(text)
    except (tomllib.TOMLDecodeError, configparser.Error):
        return {("unparsable", hashlib.sha256(text.encode()).hexdigest()[:16])}
    return _requirements_items(text)


def _outside(path: str) -> bool:
    return path.startswith(("/", "~")) or bool(_DRIVE.match(path)) \
        or ".." in re.split(r"[\\/]", path)


def _from_outside(key: str, value: str) -> str | None:
    """"a URL" or "a path outside the tree" when the item installs from there, else None."""
    last, target = key.rsplit(".", 1)[-1], value
    if not key:  # a requirements line: `-e X`, `-f X` (or `--opt=X`), an option, or a requirement
        option, _, rest = value.partition(" ")
        if option.startswith("--") and "=" in option:
            option, rest = option.split("=", 1)
        if option in ("-e", "--editable", "-f", "--find-links"):
            target = rest
        elif option.startswith("-"):
            return None
    elif key.endswith(".dependency_links"):
        return "a URL"
    elif key.startswith(_SOURCE_TABLES) and last in ("git", "url"):
        return "a URL"
    elif key.startswith(_SOURCE_TABLES) and last in ("path", "file"):
        return "a path outside the tree" if _outside(value) else None
    elif not key.startswith(_REQUIREMENT_LISTS):
        return None  # a setting (an index URL, say): a change to it counts, its presence does not
    if " @ " in target:
        target = target.split(" @ ", 1)[1].split(" ;", 1)[0]
    target = target.strip()
    if target.lower().startswith("file:"):
        return "a path outside the tree" if _outside(re.sub(r"(?i)^file:(//)?", "", target)) \
            else None
    if _VCS_OR_URL.match(target):
        return "a URL"
    if target.startswith((".", "/", "~")) or _DRIVE.match(target):
        return "a path outside the tree" if _outside(target) else None
    return None


def _shown(key: str, value: str) -> str:
    return f"{key}: {value}" if key else value


def dependency_file_changes(old_tree: Path | None, new_tree: Path,
                            changes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(file, reason) for every difference between the two trees' dependency files that the
    semantic diff's dependency changes do not already report, and for every URL or out-of-tree
    path dependency the new tree declares; sorted."""
    files = {p for p in (list_tree(old_tree) if old_tree else []) + list_tree(new_tree)
             if is_dependency_file(p)}
    reported: dict[str, set[str]] = {}
    for c in changes:
        if c.get("category") == "dependency":
            where = (c.get("location") or {}).get("file") or ""
            reported.setdefault(where, set()).update(
                _norm(v) for v in (c.get("old"), c.get("new")) if isinstance(v, str))
    found = []
    for rel in sorted(files):
        old, new = dependency_items(old_tree, rel), dependency_items(new_tree, rel)
        known = reported.get(rel, set())

        def said(key: str, value: str, known: set[str] = known) -> bool:
            return value in known or f"{key.rsplit('.', 1)[-1]} {value}" in known

        found += [(rel, f"removed {_shown(k, v)}") for k, v in sorted(old - new) if not said(k, v)]
        for key, value in sorted(new - old):
            outside = _from_outside(key, value)
            if not said(key, value):
                found.append((rel, f"added {_shown(key, value)}"
                              + (f" (installs from {outside})" if outside else "")))
        for key, value in sorted(new & old):  # unchanged, but not pinned by the tree
            outside = _from_outside(key, value)
            if outside:
                found.append((rel, f"installs from {outside}: {_shown(key, value)}"))
    return found


def _file_changes(changes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_file: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        file = (change.get("location") or {}).get("file")
        if file:
            by_file.setdefault(file, []).append(change)
    return by_file


def _module_reasons(rel: str, old: list[str], new: list[str], mine: list[dict[str, Any]],
                    facts: dict[str, Any]) -> list[tuple[str, str]]:
    """(weight key, reason) for one changed module; "new" or "changed" when nothing else holds."""
    module = module_name(rel)
    reasons = [("breaking", f"breaking: {c.get('detail') or c.get('kind')} ({c.get('path')})")
               for c in mine if c.get("breaking")]
    imports = {t for t, _ in facts["graph"].get(module, set())}
    reasons += adr_reasons(module, facts["adrs"], facts["modules"], imports, "\n".join(new or old))
    bodies = [c for c in mine if c.get("kind") == "body_changed"]
    if bodies:
        reasons.append(("body", f"{len(bodies)} body change(s)"))
    if not old and module not in facts["tested"] and not rel.endswith("__init__.py"):
        reasons.append(("untested", "new, and no test imports it"))
    return reasons or [("size", "changed" if old else "new")]


def rank_risks(changes: list[dict[str, Any]], adrs: list[Any], old_tree: Path | None,
               new_tree: Path) -> list[dict[str, Any]]:
    """Changed modules (and the dependency manifest) by descending risk; ties by path."""
    old_files, new_files = set(list_tree(old_tree)) if old_tree else set(), set(list_tree(new_tree))
    by_file = _file_changes(changes)
    graph = import_graph(new_tree)
    facts = {"graph": graph, "adrs": adrs, "tested": tested_modules(new_tree, graph),
             "modules": {module_name(p) for p in old_files | new_files if p.endswith(".py")}}
    ranked = []
    for rel in sorted(old_files | new_files):
        if not rel.endswith(".py") or is_test_file(rel):
            continue
        old, new = _read(old_tree, rel), _read(new_tree, rel)
        if old != new:
            reasons = _module_reasons(rel, old, new, by_file.get(rel, []), facts)
            ranked.append(_entry(rel, changed_lines(old, new), reasons))
    manifests: dict[str, list[tuple[str, str]]] = {}
    deps = [c for c in changes if c.get("category") == "dependency"]
    first = ((deps[0].get("location") or {}).get("file") or "dependencies") if deps else ""
    for c in deps:  # declared ones under their file; imported ones under the first
        file = (c.get("location") or {}).get("file") or ""
        manifests.setdefault(file if is_dependency_file(file) else first, []).append(
            ("dependency", _dependency(c)))
    for file, reason in dependency_file_changes(old_tree, new_tree, changes):
        manifests.setdefault(file, []).append(("dependency", reason))
    ranked += [_entry(file, 0, reasons) for file, reasons in manifests.items()]
    return sorted(ranked, key=lambda e: (-e["score"], -e["lines_changed"], e["file"]))


def _find(tree: ast.Module, qualname: list[str]) -> ast.AST | None:
    body: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for name in qualname:
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                        ast.ClassDef)) and n.name == name), None)
        if node is None:
            return None
        body = getattr(node, "body", [])
    return node


def _segment(lines: list[str], qualname: list[str]) -> list[str]:
    """The source lines of `qualname` (decorators included); module level: all but defs."""
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return lines
    if not qualname:
        defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        return [line for node in tree.body if not isinstance(node, defs)
                for line in lines[node.lineno - 1:node.end_lineno]]
    node = _find(tree, qualname)
    if node is None or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return []
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return lines[start - 1:node.end_lineno]


def body_excerpts(changes: list[dict[str, Any]], old_tree: Path | None,
                  new_tree: Path) -> list[dict[str, Any]]:
    """A unified diff of each changed body (the first MAX_EXCERPTS, each cut at EXCERPT_LINES)."""
    found = []
    for change in [c for c in changes if c.get("kind") == "body_changed"][:MAX_EXCERPTS]:
        rel = (change.get("location") or {}).get("file") or ""
        module = module_name(rel)
        path = str(change.get("path", ""))
        qualname = path[len(module) + 1:].split(".") if path.startswith(module + ".") else []
        old = _segment(_read(old_tree, rel), qualname)
        new = _segment(_read(new_tree, rel), qualname)
        diff = list(difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}", n=2, lineterm=""))[2:]
        cut = len(diff) > EXCERPT_LINES
        found.append({"path": path, "file": rel, "line": (change.get("location") or {}).get("line"),
                      "diff": diff[:EXCERPT_LINES], "truncated": cut})
    return found
