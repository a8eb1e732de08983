"""The ADR rule language: which rule kinds exist, which fields each takes, and load-time validation.

A rule is a mapping in an ADR's `rules:` list with a `kind` and the fields of that kind. Module
patterns are fnmatch patterns on dotted module names, and a pattern also covers everything below
what it names (`mad.bus` covers `mad.bus.redis`), as packages do in import-linter contracts.
`validate_rules` checks every ADR (accepted or not) before anything runs, and raises one
`ConfigError` naming the ADR file and the line of the offending rule, field or waiver.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from genops.errors import ConfigError
from genops.workspace.yamlpos import line_of, load_yaml_with_nodes

FieldType = Literal["modules", "module", "layers", "names", "globs", "int", "bool", "text",
                    "choice", "requirements"]


@dataclass(frozen=True)
class FieldSpec:
    """One field a rule kind takes."""

    name: str
    type: FieldType
    required: bool = False
    choices: tuple[str, ...] = ()  # the allowed values of a "choice" field, the default first


# acyclic: `modules` (the default) forbids module cycles inside the package; `packages` forbids
# cycles among the package's direct subpackages and modules, each taken as one node.
ACYCLIC_LEVELS = ("modules", "packages")

_COMMON = (FieldSpec("name", "text"), FieldSpec("description", "text"))

RULE_KINDS: dict[str, tuple[FieldSpec, ...]] = {
    "forbid_import": (FieldSpec("from", "modules", True), FieldSpec("to", "modules", True),
                      FieldSpec("except", "modules"), FieldSpec("allow_indirect", "bool")),
    "layers": (FieldSpec("layers", "layers", True), FieldSpec("except", "modules")),
    "independent": (FieldSpec("modules", "modules", True), FieldSpec("except", "modules")),
    "acyclic": (FieldSpec("package", "module", True),
                FieldSpec("level", "choice", choices=ACYCLIC_LEVELS)),
    # `requirements`: exact lines (a direct URL, a path) the supply-chain policy may let through
    "allowed_dependencies": (FieldSpec("packages", "names", True),
                             FieldSpec("requirements", "requirements")),
    "forbidden_calls": (FieldSpec("calls", "modules", True), FieldSpec("in", "modules"),
                        FieldSpec("except", "modules")),
    "max_file_lines": (FieldSpec("max", "int", True), FieldSpec("paths", "globs")),
    "protected_api": (FieldSpec("paths", "modules", True),),
}

_SEGMENT = r"[A-Za-z0-9_*?!\[\]-]+"
_DOTTED = re.compile(rf"^{_SEGMENT}(\.{_SEGMENT})*$")
_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_WILDCARD = re.compile(r"[*?\[]")


def has_wildcard(pattern: str) -> bool:
    return bool(_WILDCARD.search(pattern))


def matches(name: str, pattern: str) -> bool:
    """True when a dotted name is the pattern or lies below it (`mad.bus` covers `mad.bus.x`)."""
    return fnmatchcase(name, pattern) or fnmatchcase(name, pattern + ".*")


def matches_any(name: str, patterns: Iterable[str]) -> bool:
    return any(matches(name, p) for p in patterns)


def as_list(value: Any) -> list[Any]:
    """A field that takes one pattern or a list of them, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _brackets_balanced(pattern: str) -> bool:
    """fnmatch treats an unclosed `[` literally; in a rule that is always a typo."""
    depth = 0
    for char in pattern:
        if char == "[":
            if depth:
                return False
            depth = 1
        elif char == "]" and depth:
            depth = 0
    return depth == 0


def pattern_problem(pattern: Any, kind: FieldType) -> str | None:
    """Why a pattern is unusable, or None when it is fine."""
    if not isinstance(pattern, str) or not pattern.strip():
        return f"expected a non-empty string, got {pattern!r}"
    if not _brackets_balanced(pattern):
        return f"pattern {pattern!r} has an unclosed '['"
    if kind == "globs":
        if pattern.startswith("/") or "\\" in pattern or ".." in pattern.split("/"):
            return f"path pattern {pattern!r} must be relative to the tree, with '/' separators"
        return None
    if kind == "requirements":
        return None  # an exact line, compared as written (after collapsing spaces)
    if kind == "names":
        if not _PACKAGE_NAME.match(pattern):
            return f"{pattern!r} is not a package name (letters, digits, '.', '_', '-')"
        return None
    if "/" in pattern or pattern.endswith(".py"):
        return (f"pattern {pattern!r} looks like a file path; use a dotted module name such as "
                f"{pattern.removesuffix('.py').replace('/', '.')!r}")
    if not _DOTTED.match(pattern):
        return f"pattern {pattern!r} is not a dotted module pattern (e.g. mad.bus, mad.mads.*)"
    return None


@dataclass(frozen=True)
class RuleError:
    """A problem found in one rule: the message and the YAML key path to point the line at."""

    message: str
    loc: tuple[Any, ...]


def _check_field(spec: FieldSpec, value: Any) -> str | None:
    """Why a field's value does not fit its type, or None."""
    if spec.type == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return None if ok else f"`{spec.name}` must be a positive integer, got {value!r}"
    if spec.type == "bool":
        return None if isinstance(value, bool) else f"`{spec.name}` must be true or false"
    if spec.type == "text":
        return None if isinstance(value, str) else f"`{spec.name}` must be a string"
    if spec.type == "choice":
        return None if value in spec.choices else (
            f"`{spec.name}` must be one of {', '.join(spec.choices)}, got {value!r}")
    if spec.type == "module":
        return pattern_problem(value, "modules")
    if spec.type == "layers":
        return _check_layers(value)
    items = as_list(value)
    if not items:
        return f"`{spec.name}` must not be empty"
    for item in items:
        problem = pattern_problem(item, spec.type)
        if problem:
            return f"`{spec.name}`: {problem}"
    return None


def _check_layers(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) < 2:
        return "`layers` must list at least two layers, highest first"
    for layer in value:
        for item in as_list(layer):
            problem = pattern_problem(item, "modules")
            if problem:
                return f"`layers`: {problem}"
    return None


def rule_errors(rule: dict[str, Any]) -> list[RuleError]:
    """Every problem in one rule mapping (unknown kind, missing or extra fields, bad patterns)."""
    kind = rule.get("kind")
    if kind not in RULE_KINDS:
        close = difflib.get_close_matches(str(kind), RULE_KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return [RuleError(f"unknown rule kind {kind!r}{hint}; known kinds: "
                          f"{', '.join(RULE_KINDS)}", ("kind",))]
    specs = {s.name: s for s in (*RULE_KINDS[kind], *_COMMON)}
    errors = [RuleError(f"{kind} takes no field {key!r} (fields: "
                        f"{', '.join(s.name for s in RULE_KINDS[kind])})", (key,))
              for key in rule if key != "kind" and key not in specs]
    errors += [RuleError(f"{kind} needs the field {s.name!r}", ())
               for s in RULE_KINDS[kind] if s.required and s.name not in rule]
    for key, value in rule.items():
        spec = specs.get(key)
        problem = _check_field(spec, value) if spec else None
        if problem:
            errors.append(RuleError(f"{kind}: {problem}", (key,)))
    if kind == "independent" and not errors:
        modules = as_list(rule["modules"])
        if len(modules) < 2 and not has_wildcard(modules[0]):
            errors.append(RuleError("independent needs two or more modules, or one wildcard "
                                    "pattern such as mad.mads.* whose matches are the siblings",
                                    ("modules",)))
    return errors


def _adr_nodes(root: Path | None, adr: Any) -> Any:
    """The YAML node tree of an ADR file, for precise lines; None when it cannot be read."""
    if root is None or not adr.file:
        return None
    path = root / adr.file
    if not path.is_file():
        return None
    return load_yaml_with_nodes(path, adr.file)[1]


def _line(node: Any, loc: tuple[Any, ...], fallback: int | None) -> int | None:
    if node is None:
        return fallback
    return line_of(node, loc) or fallback


def _waiver_problem(adr: Any, waiver: Any, by_id: dict[str, Any]) -> str | None:
    """Why a waiver cannot apply, or None."""
    target = by_id.get(waiver.adr)
    if target is None:
        return f"waives {waiver.adr}, which does not exist"
    if target.id == adr.id:
        return "an ADR cannot waive its own rules; change the rule instead"
    if target.id > adr.id:
        return (f"waives {target.id}, a later ADR; only an earlier decision can be waived "
                "(amend the later ADR instead)")
    kinds = [r.get("kind") for r in target.rules]
    if waiver.rule not in kinds:
        have = ", ".join(str(k) for k in kinds) or "no rules"
        return f"waives a {waiver.rule!r} rule of {target.id}, which has none (it has: {have})"
    return pattern_problem(waiver.path, "modules")


def _adr_errors(adr: Any, by_id: dict[str, Any]) -> list[tuple[str, tuple[Any, ...], int | None]]:
    """(message, YAML loc, fallback line) for every problem in one ADR's rules and waivers."""
    found: list[tuple[str, tuple[Any, ...], int | None]] = []
    for index, rule in enumerate(adr.rules):
        fallback = adr.rule_lines[index] if index < len(adr.rule_lines) else None
        for err in rule_errors(rule):
            found.append((f"rule {index + 1}: {err.message}", ("rules", index, *err.loc), fallback))
    for index, waiver in enumerate(adr.waives):
        problem = _waiver_problem(adr, waiver, by_id)
        if problem:
            found.append((f"waiver {index + 1}: {problem}", ("waives", index), None))
    for index, path in enumerate(adr.allows_breaking):
        problem = pattern_problem(path, "modules")
        if problem:
            found.append((f"allows_breaking: {problem}", ("allows_breaking", index), None))
    return found


def validate_adr_rules(adrs: Sequence[Any], root: Path | None = None) -> None:
    """Raise one ConfigError for the first bad rule, waiver or allows_breaking entry of any ADR."""
    by_id = {a.id: a for a in adrs}
    for adr in adrs:
        problems = _adr_errors(adr, by_id)
        if not problems:
            continue
        message, loc, fallback = problems[0]
        line = _line(_adr_nodes(root, adr), loc, fallback)
        more = f" ({len(problems) - 1} more problem(s) in this file)" if len(problems) > 1 else ""
        raise ConfigError(adr.file or adr.id, message + more, line=line,
                          hint="`genops help rules` lists every rule kind and its fields")


def validate_rules(ws: Any) -> None:
    """Validate the rules of a loaded workspace (see `validate_adr_rules`)."""
    validate_adr_rules(ws.adrs, ws.root)
