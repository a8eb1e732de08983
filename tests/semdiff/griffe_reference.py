"""griffe as the reference for `breaking` (tests and bench only): run it, and match its findings.

griffe 2.4.1 crashes on some trees (Django 5.0 -> 5.1) with AliasResolutionError when an alias
inside a class points outside the loaded package; `patched_griffe()` makes that alias "unknown"
instead, which is what the rest of griffe's check already does for unresolvable aliases.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genops.semdiff import Change, DiffResult

# griffe BreakageKind name -> genops kinds that report the same fact
KIND_MAP = {
    "OBJECT_REMOVED": {"object_removed", "object_renamed", "object_moved", "module_removed", "module_moved"},
    "PARAMETER_REMOVED": {"parameter_removed", "parameter_renamed"},
    "PARAMETER_MOVED": {"parameter_moved", "parameter_renamed"},
    "PARAMETER_CHANGED_KIND": {"parameter_kind_changed"},
    "PARAMETER_CHANGED_DEFAULT": {"parameter_default_changed"},
    "PARAMETER_CHANGED_REQUIRED": {"parameter_default_changed"},
    "PARAMETER_ADDED_REQUIRED": {"parameter_added", "parameter_renamed"},
    "RETURN_CHANGED_TYPE": {"return_annotation_changed"},
    "OBJECT_CHANGED_KIND": {"object_kind_changed"},
    "ATTRIBUTE_CHANGED_VALUE": {"attribute_value_changed"},
    "CLASS_REMOVED_BASE": {"base_class_removed"},
}


@contextmanager
def patched_griffe() -> Iterator[None]:
    """Let griffe treat an unresolvable alias's `public` as unknown instead of crashing."""
    from griffe import AliasResolutionError, CyclicAliasError
    from griffe._internal import models

    original = models.Alias.public

    def public(self: Any) -> Any:
        try:
            return original.fget(self)  # type: ignore[misc]
        except (AliasResolutionError, CyclicAliasError):
            return None

    models.Alias.public = property(public, original.fset)  # type: ignore[assignment]
    try:
        yield
    finally:
        models.Alias.public = original  # type: ignore[method-assign]


def griffe_breakages(old_root: Path, new_root: Path, package: str) -> list[tuple[str, str]]:
    """(griffe kind, path) of every breaking change griffe finds between two trees."""
    return griffe_check(old_root, new_root, package)[0]


def griffe_check(old_root: Path, new_root: Path, package: str) -> tuple[list[tuple[str, str]], Any, Any]:
    """griffe's breaking changes and both loaded packages, loaded the way `griffe check` loads them
    (aliases resolved, external packages only when needed), statically."""
    import griffe

    options: dict[str, Any] = {"allow_inspection": False, "resolve_aliases": True, "resolve_external": None}
    old = griffe.load(package, search_paths=[str(old_root)], **options)
    new = griffe.load(package, search_paths=[str(new_root)], **options)
    return [(b.kind.name, b.obj.path) for b in griffe.find_breaking_changes(old, new)], old, new


def unmatched(reference: list[tuple[str, str]], result: DiffResult) -> list[tuple[str, str]]:
    """griffe findings that genops does not report as breaking at the same path with a matching kind."""
    ours = {(c.path, c.kind.value) for c in result.breaking}
    return [(kind, path) for kind, path in reference if not any((path, k) in ours for k in KIND_MAP[kind])]


def extras(reference: list[tuple[str, str]], result: DiffResult) -> list[Change]:
    """Breaking changes genops reports at a path where griffe reports nothing breaking."""
    paths = {path for _, path in reference}
    return [c for c in result.breaking if c.path not in paths]


REMOVALS = {"object_removed", "object_moved", "object_renamed", "module_removed", "module_moved"}


def classify(change: Change, old: Any, new: Any) -> str:
    """Check a breaking change griffe did not report against griffe's own models of both trees:
    'genops right' when they show it (griffe's check misses it), 'genops wrong' when they do not."""
    if change.kind.value == "attribute_value_changed":
        return "genops right: public value changed (griffe never compares values; the brief asks for it)"
    before = _lookup(old, change.path)
    if before is None:
        return "unverified: griffe's model has no object at this path"
    if _public(before) is False:
        return "genops wrong: not public for griffe"
    after = _lookup(new, change.path)
    if change.kind.value in REMOVALS:
        if after is None:
            return "genops right: public in old, gone in new (griffe's check skips it)"
        if _public(after) is False:
            return "genops right: public in old, not public in new for griffe (its check skips export changes)"
        return "genops wrong: the old path still resolves in new"
    if after is None:
        return "unverified: griffe's new model has no object at this path"
    return ("genops right: griffe's models show the change (its check does not report it)"
            if _differs(change, before, after) else "genops wrong: griffe's models show no such change")


def _lookup(package: Any, path: str) -> Any:
    """An object of a griffe package by dotted path, through aliases and inherited members; None if absent."""
    from griffe import AliasResolutionError, CyclicAliasError

    parts = path.split(".")
    if parts[0] != package.name:
        return None
    current = package
    try:
        for part in parts[1:]:
            members = current.all_members if current.is_class else current.members
            if part not in members:
                return None
            current = members[part]
        if current.is_alias:
            current.final_target  # noqa: B018 - resolve now, so a dangling alias counts as absent
    except (AliasResolutionError, CyclicAliasError, KeyError, AttributeError):
        return None
    return current


def _public(obj: Any) -> bool | None:
    """griffe's public-ness, None when it cannot tell."""
    try:
        return bool(obj.is_public)
    except Exception:  # noqa: BLE001 - griffe raises several things for unresolvable objects
        return None


def _differs(change: Change, before: Any, after: Any) -> bool:
    """Whether griffe's objects show the fact a genops change states."""
    kind = change.kind.value
    try:
        if kind == "object_kind_changed":
            return bool(before.kind != after.kind)
        if kind == "base_class_removed":
            return [str(b) for b in before.bases] != [str(b) for b in after.bases]
        if kind == "return_annotation_changed":
            return before.returns is not None and after.returns is None
        if kind.startswith("parameter_"):
            old_params = {p.name: (i, p) for i, p in enumerate(before.parameters)}
            new_params = {p.name: (i, p) for i, p in enumerate(after.parameters)}
            name = change.parameter or ""
            if kind in ("parameter_removed", "parameter_renamed"):
                return name in old_params and name not in new_params
            if kind == "parameter_added":
                return name not in old_params and name in new_params and bool(new_params[name][1].required)
            if name not in old_params or name not in new_params:
                return False
            (oi, op), (ni, np_) = old_params[name], new_params[name]
            return {"parameter_moved": oi != ni, "parameter_kind_changed": op.kind != np_.kind,
                    "parameter_default_changed": (str(op.default), op.required) != (str(np_.default), np_.required),
                    }.get(kind, False)
    except Exception:  # noqa: BLE001 - an unresolvable griffe object shows nothing
        return False
    return False
