"""One classification of changes, for `genops diff`, `genops stability` and the reviewer summary.

A change's class is its kind's category (`Kind.category`), read with its `breaking` flag: the diff
renderers list the breaking changes first and then the rest by category (`sections`); a file's
class is the most severe category among the changes located in it (`file_classes`), in the order

    cosmetic < dependency < architecture < behaviour < api < error

so an edit that only adds or removes imports is `architecture` wherever it is read, never
`cosmetic`. A file whose bytes differ but where the diff finds nothing is `cosmetic` (Python: only
what the normalization removes, or a standard-library import) or `behaviour` (any other file).
"""

from __future__ import annotations

from genops.semdiff.changes import CATEGORY_ORDER, Category, Change, DiffResult

SEVERITY = (Category.COSMETIC, Category.DEPENDENCY, Category.ARCHITECTURE, Category.BEHAVIOUR, Category.API,
            Category.ERROR)
FILE_CLASSES = ("identical", *(c.value for c in SEVERITY), "added", "removed")
_RANK = {c: i for i, c in enumerate(SEVERITY)}


def worst(changes: list[Change]) -> Category | None:
    """The most severe category among some changes (None for none)."""
    return max((c.category for c in changes), key=_RANK.__getitem__, default=None)


def sections(result: DiffResult) -> list[tuple[Category | None, list[Change]]]:
    """The reading order of a diff: (None, the breaking changes) first, then each category's other changes,
    in `Category` order; empty sections left out."""
    out: list[tuple[Category | None, list[Change]]] = []
    breaking = [c for c in result.changes if c.breaking]
    if breaking:
        out.append((None, breaking))
    groups: dict[Category, list[Change]] = {}
    for change in sorted(result.changes, key=lambda c: (CATEGORY_ORDER[c.category], c.sort_key())):
        if not change.breaking:
            groups.setdefault(change.category, []).append(change)
    out.extend(groups.items())
    return out


def file_classes(result: DiffResult, before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Each file of either tree (path -> content hash on each side) -> one of FILE_CLASSES."""
    located: dict[str, list[Change]] = {}
    for change in result.changes:
        if change.file is not None:
            located.setdefault(change.file, []).append(change)
    classes: dict[str, str] = {}
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            classes[path] = "removed"
        elif path not in before:
            classes[path] = "added"
        elif before[path] == after[path]:
            classes[path] = "identical"
        else:
            category = worst(located.get(path, []))
            fallback = Category.COSMETIC if path.endswith(".py") else Category.BEHAVIOUR
            classes[path] = (category or fallback).value
    return classes
