"""Findings of a semantic diff: a `Kind` enum with its category, small frozen `Change`s, a result.

The JSON form (`DiffResult.to_json`) is the contract of BRIEF.md "Semantic diff JSON"; the
`error` category (kinds `syntax_error`, `encoding_fallback`, `read_error`) is genops' addition for
files that could not be read as Python: the file and line are in `location`, and the rest of the
tree is still diffed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Category(str, Enum):
    """What kind of attention a change needs, in the order reviewers should read them."""

    ERROR = "error"
    API = "api"
    BEHAVIOUR = "behaviour"
    ARCHITECTURE = "architecture"
    DEPENDENCY = "dependency"
    COSMETIC = "cosmetic"


class Kind(str, Enum):
    """Every finding kind; `Kind.x.category` says where it belongs."""

    SYNTAX_ERROR = "syntax_error"
    ENCODING_FALLBACK = "encoding_fallback"
    READ_ERROR = "read_error"
    OBJECT_ADDED = "object_added"
    OBJECT_REMOVED = "object_removed"
    OBJECT_RENAMED = "object_renamed"
    OBJECT_MOVED = "object_moved"
    OBJECT_KIND_CHANGED = "object_kind_changed"
    PARAMETER_ADDED = "parameter_added"
    PARAMETER_REMOVED = "parameter_removed"
    PARAMETER_RENAMED = "parameter_renamed"
    PARAMETER_MOVED = "parameter_moved"
    PARAMETER_KIND_CHANGED = "parameter_kind_changed"
    PARAMETER_DEFAULT_CHANGED = "parameter_default_changed"
    PARAMETER_ANNOTATION_CHANGED = "parameter_annotation_changed"
    RETURN_ANNOTATION_CHANGED = "return_annotation_changed"
    ATTRIBUTE_VALUE_CHANGED = "attribute_value_changed"
    ATTRIBUTE_ANNOTATION_CHANGED = "attribute_annotation_changed"
    BASE_CLASS_REMOVED = "base_class_removed"
    BASE_CLASS_ADDED = "base_class_added"
    BODY_CHANGED = "body_changed"
    DOCSTRING_CHANGED = "docstring_changed"
    FORMATTING_ONLY = "formatting_only"
    MODULE_ADDED = "module_added"
    MODULE_REMOVED = "module_removed"
    MODULE_MOVED = "module_moved"
    IMPORT_EDGE_ADDED = "import_edge_added"
    IMPORT_EDGE_REMOVED = "import_edge_removed"
    PACKAGE_EDGE_ADDED = "package_edge_added"
    PACKAGE_EDGE_REMOVED = "package_edge_removed"
    CYCLE_INTRODUCED = "cycle_introduced"
    CYCLE_REMOVED = "cycle_removed"
    DEPENDENCY_ADDED = "dependency_added"
    DEPENDENCY_REMOVED = "dependency_removed"
    DEPENDENCY_CHANGED = "dependency_changed"

    @property
    def category(self) -> Category:
        """The category this kind is reported under."""
        return _CATEGORY[self]


_CATEGORY: dict[Kind, Category] = {
    **{k: Category.ERROR for k in (Kind.SYNTAX_ERROR, Kind.ENCODING_FALLBACK, Kind.READ_ERROR)},
    **{k: Category.BEHAVIOUR for k in (Kind.BODY_CHANGED,)},
    **{k: Category.COSMETIC for k in (Kind.DOCSTRING_CHANGED, Kind.FORMATTING_ONLY)},
    **{k: Category.ARCHITECTURE for k in (
        Kind.MODULE_ADDED, Kind.MODULE_REMOVED, Kind.MODULE_MOVED, Kind.IMPORT_EDGE_ADDED,
        Kind.IMPORT_EDGE_REMOVED, Kind.PACKAGE_EDGE_ADDED, Kind.PACKAGE_EDGE_REMOVED,
        Kind.CYCLE_INTRODUCED, Kind.CYCLE_REMOVED)},
    **{k: Category.DEPENDENCY for k in (Kind.DEPENDENCY_ADDED, Kind.DEPENDENCY_REMOVED,
                                         Kind.DEPENDENCY_CHANGED)},
}
for _kind in Kind:
    _CATEGORY.setdefault(_kind, Category.API)

CATEGORY_ORDER = {c: i for i, c in enumerate(Category)}

FAIL_LEVELS = ("breaking", "api", "behaviour", "any")
"""`--fail-on` thresholds, each including the ones before it: breaking changes; plus any `api`
change; plus anything that is not cosmetic (behaviour, architecture, dependency, error); any."""


@dataclass(frozen=True, slots=True)
class Change:
    """One semantic finding at a dotted path (as in OLD; as in NEW for additions)."""

    kind: Kind
    path: str
    detail: str
    breaking: bool = False
    old: str | None = None
    new: str | None = None
    file: str | None = None
    line: int | None = None
    parameter: str | None = None
    new_path: str | None = None
    target: str | None = None
    origin: str | None = None  # where an inherited member is defined; renderers group by it (not in the JSON)

    @property
    def category(self) -> Category:
        """The category of this change's kind."""
        return self.kind.category

    def sort_key(self) -> tuple[Any, ...]:
        """Breaking first, then by category, path and kind, so output is stable."""
        return (not self.breaking, CATEGORY_ORDER[self.category], self.path, self.kind.value,
                self.parameter or "", self.target or "", self.new_path or "")

    def to_json(self) -> dict[str, Any]:
        """The contract's change object."""
        data: dict[str, Any] = {"category": self.category.value, "kind": self.kind.value, "path": self.path}
        if self.parameter is not None:
            data["parameter"] = self.parameter
        if self.new_path is not None:
            data["new_path"] = self.new_path
        if self.target is not None:
            data["target"] = self.target
        data.update({"breaking": self.breaking, "detail": self.detail, "old": self.old, "new": self.new,
                     "location": {"file": self.file, "line": self.line}})
        return data


@dataclass(frozen=True, slots=True)
class Stats:
    """The reviewer's noise meter: text churn against the semantic changes left."""

    files_textually_changed: int = 0
    text_lines_changed: int = 0
    semantic_changes: int = 0

    def to_json(self) -> dict[str, int]:
        """The contract's stats object."""
        return {"files_textually_changed": self.files_textually_changed,
                "text_lines_changed": self.text_lines_changed, "semantic_changes": self.semantic_changes}


@dataclass(slots=True)
class DiffResult:
    """Everything a semantic diff found between two trees."""

    old_label: str
    new_label: str
    changes: list[Change] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)

    @property
    def breaking(self) -> list[Change]:
        """The changes a caller of the old public API can trip on."""
        return [c for c in self.changes if c.breaking]

    def by_category(self) -> dict[Category, list[Change]]:
        """Changes grouped by category, in reading order (empty categories left out)."""
        groups: dict[Category, list[Change]] = {}
        for change in sorted(self.changes, key=lambda c: (CATEGORY_ORDER[c.category], c.sort_key())):
            groups.setdefault(change.category, []).append(change)
        return groups

    def matches(self, level: str) -> list[Change]:
        """The changes at or above a `--fail-on` level."""
        if level not in FAIL_LEVELS:
            raise ValueError(f"unknown level {level!r}; expected one of {', '.join(FAIL_LEVELS)}")
        if level == "breaking":
            return self.breaking
        if level == "api":
            return [c for c in self.changes if c.breaking or c.category is Category.API]
        if level == "behaviour":
            return [c for c in self.changes if c.breaking or c.category is not Category.COSMETIC]
        return list(self.changes)

    def to_json(self) -> dict[str, Any]:
        """Exactly the contract object of BRIEF.md."""
        return {"old": self.old_label, "new": self.new_label,
                "changes": [c.to_json() for c in self.changes], "stats": self.stats.to_json()}
