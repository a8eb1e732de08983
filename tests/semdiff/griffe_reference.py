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

from genops.semdiff import DiffResult

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
    """(griffe kind, path) of every breaking change griffe finds between two trees, loading them the
    way `griffe check` does (aliases resolved, external packages only when needed), statically."""
    import griffe

    options: dict[str, Any] = {"allow_inspection": False, "resolve_aliases": True, "resolve_external": None}
    old = griffe.load(package, search_paths=[str(old_root)], **options)
    new = griffe.load(package, search_paths=[str(new_root)], **options)
    return [(b.kind.name, b.obj.path) for b in griffe.find_breaking_changes(old, new)]


def unmatched(reference: list[tuple[str, str]], result: DiffResult) -> list[tuple[str, str]]:
    """griffe findings that genops does not report as breaking at the same path with a matching kind."""
    ours = {(c.path, c.kind.value) for c in result.breaking}
    return [(kind, path) for kind, path in reference if not any((path, k) in ours for k in KIND_MAP[kind])]
