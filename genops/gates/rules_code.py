"""Code rules: allowed_dependencies, forbidden_calls, max_file_lines and protected_api.

Calls are resolved through the names imports bind (`import subprocess as sp; sp.run()` and
`from subprocess import run; run()` are both `subprocess.run`); builtins resolve to their bare
name (`eval`). Third-party imports come from the shared import graph; the tree's declared
dependencies come from its pyproject.toml and requirements*.txt.
"""

from __future__ import annotations

import ast
import builtins
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from genops.gates.requirements import Declared, read_declared
from genops.gates.rules_tree import RuleRef, TreeFacts, Violation
from genops.semdiff.imports import module_name, resolve_relative
from genops.workspace.rules_schema import as_list, matches_any

# Import names whose distribution is called something else (both spellings are accepted).
IMPORT_TO_DIST = {"yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn",
                  "bs4": "beautifulsoup4", "dateutil": "python-dateutil", "git": "gitpython",
                  "jwt": "pyjwt", "cv2": "opencv-python", "dotenv": "python-dotenv",
                  "magic": "python-magic", "Crypto": "pycryptodome", "nacl": "pynacl",
                  "serial": "pyserial", "zmq": "pyzmq", "multipart": "python-multipart",
                  "attr": "attrs", "google.protobuf": "protobuf", "google.genai": "google-genai"}
_BUILTINS = frozenset(dir(builtins))
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class RuleEnv:
    """What code rules need besides the tree: the semantic diff and what ADRs allow to break."""

    diff: Any = None  # genops.semdiff DiffResult, None without a previous tree
    allows_breaking: tuple[str, ...] = ()


def normalize(name: str) -> str:
    """PEP 503 normalization, so `Google.GenAI`, `google-genai` and `google.genai` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _allowed(name: str, allowed: set[str]) -> bool:
    """True when an import or distribution name, or any dotted prefix of it, is allowed."""
    parts = name.split(".")
    for size in range(len(parts), 0, -1):
        prefix = ".".join(parts[:size])
        if normalize(prefix) in allowed or normalize(IMPORT_TO_DIST.get(prefix, "")) in allowed:
            return True
    dists = {normalize(d): i for i, d in IMPORT_TO_DIST.items()}
    return normalize(dists.get(normalize(name), "")) in allowed


def check_allowed_dependencies(facts: TreeFacts, ref: RuleRef, rule: dict[str, Any],
                               env: RuleEnv) -> list[Violation]:
    """Imports and declared dependencies outside the stdlib and the tree must be listed."""
    allowed = {normalize(p) for p in as_list(rule["packages"])}
    listed = ", ".join(as_list(rule["packages"]))
    internal_tops = facts.top_level_packages()
    found: list[Violation] = []
    for module in facts.modules:
        reported: set[str] = set()
        for target, line in sorted(facts.graph[module], key=lambda e: (e[1], e[0])):
            top = target.split(".")[0]
            if (facts.is_internal(target) or top in internal_tops or top in sys.stdlib_module_names
                    or top in reported or _allowed(target, allowed)):
                continue
            reported.add(top)
            found.append(Violation(
                rule=ref, file=facts.file_of(module), line=line, subjects=(module, top),
                message=f"{ref.label}: {module} imports third-party package {top!r}, which is "
                        f"not allowed (allowed: {listed or 'none'}; the stdlib always is)"))
    exact = {" ".join(str(r).split()) for r in as_list(rule.get("requirements"))}
    for declared in declared_requirements(facts):
        file, at, spec = declared.file, declared.line, declared.text
        match = _REQ_NAME.match(spec)
        name = match.group(1) if match and declared.kind == "requirement" else None
        if " ".join(spec.split()) in exact:
            continue
        problem = "an installer option" if declared.kind == "option" else \
            _whole_requirement_problem(spec)
        if problem:
            found.append(Violation(
                rule=ref, file=file, line=at, subjects=(name or spec,),
                message=f"{ref.label}: {file} declares {spec!r}, {problem}; a name is not "
                        f"enough, the whole requirement is checked (list this exact line under "
                        f"`requirements` to allow it)"))
        elif name and not _allowed(name, allowed):
            found.append(Violation(
                rule=ref, file=file, line=at, subjects=(name,),
                message=f"{ref.label}: {file} declares dependency {name!r}, which is not "
                        f"allowed (allowed: {listed or 'none'})"))
    return found


def _whole_requirement_problem(spec: str) -> str | None:
    """Why a declared line is more than a name with a version (a URL, a path, an option)."""
    if spec.strip().startswith("-"):
        return "an installer option"
    try:
        requirement = Requirement(spec)
    except InvalidRequirement:
        return "which is not a PEP 508 requirement (a local path or a bare URL)"
    if requirement.url:
        return f"which installs from {requirement.url} instead of the package index"
    return None


def declared_requirements(facts: TreeFacts) -> Iterator[Declared]:
    """Every dependency line the tree declares, as the dependencies gate reads them
    (`genops.gates.requirements.read_declared`: pyproject dependencies and extras, `[tool.uv]`
    sources, requirements*.txt with `-r` includes, setup.cfg), less what only builds the tree."""
    for declared in read_declared(facts.root):
        if not declared.build and not declared.text.startswith("(unparseable"):
            yield declared


@dataclass
class _CallScanner(ast.NodeVisitor):
    """Every call in a module as (resolved dotted name, written name, line, enclosing object)."""

    module: str
    is_package: bool
    bound: dict[str, str] = field(default_factory=dict)
    scope: list[str] = field(default_factory=list)
    calls: list[tuple[str, str, int, str]] = field(default_factory=list)

    def bind_imports(self, tree: ast.Module) -> None:
        """Names every import statement binds, wherever it sits, to the dotted name they mean."""
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.bound[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.bound[top] = top
            elif isinstance(node, ast.ImportFrom):
                base = (resolve_relative(self.module, self.is_package, node.level, node.module)
                        if node.level else node.module)
                for alias in node.names:
                    if base and alias.name != "*":
                        self.bound[alias.asname or alias.name] = f"{base}.{alias.name}"

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Call(self, node: ast.Call) -> None:
        """Record a call whose callee resolves to an imported or builtin dotted name."""
        written = _dotted(node.func)
        if written:
            head, _, rest = written.partition(".")
            resolved = self.bound.get(head) or (head if head in _BUILTINS else None)
            if resolved:
                name = f"{resolved}.{rest}" if rest else resolved
                name = name.removeprefix("builtins.")
                where = ".".join([self.module, *self.scope])
                self.calls.append((name, written, node.lineno, where))
        self.generic_visit(node)


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None (calls on call results are not resolved)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def module_calls(facts: TreeFacts, module: str) -> list[tuple[str, str, int, str]]:
    """The resolved calls of one module; a file that does not parse has none (the parse gate says why)."""
    rel = facts.file_of(module)
    if rel is None:
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(facts.text(rel), filename=rel)
    except (SyntaxError, ValueError):
        return []
    scanner = _CallScanner(module, rel.endswith("__init__.py"))
    scanner.bind_imports(tree)
    scanner.visit(tree)
    return scanner.calls


def check_forbidden_calls(facts: TreeFacts, ref: RuleRef, rule: dict[str, Any],
                          env: RuleEnv) -> list[Violation]:
    """No module in scope calls a forbidden function, whatever name it was imported under."""
    patterns = as_list(rule["calls"])
    scope = as_list(rule.get("in")) or ["*"]
    skip = as_list(rule.get("except"))
    exempt = f" (allowed only in {', '.join(skip)})" if skip else ""
    found: list[Violation] = []
    for module in sorted(facts.select(scope, skip)):
        for name, written, line, where in module_calls(facts, module):
            if not matches_any(name, patterns):
                continue
            shown = name if written == name else f"{name} (written {written})"
            found.append(Violation(
                rule=ref, file=facts.file_of(module), line=line, subjects=(where,),
                message=f"{ref.label}: {where} calls {shown}, which is forbidden{exempt}"))
    return found


def count_lines(text: str) -> int:
    return len(text.splitlines())


def check_max_file_lines(facts: TreeFacts, ref: RuleRef, rule: dict[str, Any],
                         env: RuleEnv) -> list[Violation]:
    """No file matching `paths` (default: every .py file) is longer than `max` lines."""
    limit = int(rule["max"])
    globs = as_list(rule.get("paths")) or ["*.py"]
    found: list[Violation] = []
    for rel in facts.all_files:
        if not any(fnmatchcase(rel, g) for g in globs):
            continue
        lines = count_lines(facts.text(rel))
        if lines > limit:
            module = module_name(rel) if rel.endswith(".py") else rel
            found.append(Violation(
                rule=ref, file=rel, line=limit + 1, subjects=(module, rel),
                message=f"{ref.label}: {rel} has {lines} lines, over the limit of {limit}; "
                        "split it into smaller modules"))
    return found


def change_field(change: Any, name: str) -> Any:
    """A field of a semantic-diff change, whether it is a Change or its JSON dict (enums as values)."""
    value = change.get(name) if isinstance(change, dict) else getattr(change, name, None)
    return getattr(value, "value", value)


def diff_changes(diff: Any) -> list[Any]:
    """The changes of a DiffResult, or of its JSON object (a recorded diffs/<release>.json)."""
    if diff is None:
        return []
    if isinstance(diff, dict):
        return list(diff.get("changes", []))
    return list(getattr(diff, "changes", None) or [])


def change_location(change: Any) -> tuple[str | None, int | None]:
    """(file, line) of a change: `location` in the JSON contract, `file`/`line` on a Change."""
    if isinstance(change, dict):
        location = change.get("location") or {}
        return location.get("file"), location.get("line")
    return getattr(change, "file", None), getattr(change, "line", None)


def change_paths(change: Any) -> list[str]:
    return [p for p in (change_field(change, "path"), change_field(change, "new_path")) if p]


def allowed_by(change: Any, allows_breaking: tuple[str, ...]) -> bool:
    """True when an accepted ADR names this change's path in `allows_breaking`."""
    return any(matches_any(path, allows_breaking) for path in change_paths(change))


def check_protected_api(facts: TreeFacts, ref: RuleRef, rule: dict[str, Any],
                        env: RuleEnv) -> list[Violation]:
    """An API change under a protected path needs an accepted ADR naming it in allows_breaking."""
    if env.diff is None:
        return []
    protected = as_list(rule["paths"])
    found: list[Violation] = []
    for change in diff_changes(env.diff):
        if change_field(change, "category") != "api":
            continue
        if not any(matches_any(p, protected) for p in change_paths(change)):
            continue
        if allowed_by(change, env.allows_breaking):
            continue
        path = change_field(change, "path")
        file, line = change_location(change)
        detail = change_field(change, "detail") or change_field(change, "kind")
        found.append(Violation(
            rule=ref, file=file, line=line, subjects=tuple(change_paths(change)),
            message=f"{ref.label}: {path}: {detail} — this API is protected; an accepted ADR "
                    f"must name {path} in allows_breaking"))
    return found


CODE_CHECKS: dict[str, Callable[[TreeFacts, RuleRef, dict[str, Any], RuleEnv], list[Violation]]] = {
    "allowed_dependencies": check_allowed_dependencies,
    "forbidden_calls": check_forbidden_calls,
    "max_file_lines": check_max_file_lines,
    "protected_api": check_protected_api,
}
