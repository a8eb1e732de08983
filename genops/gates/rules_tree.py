"""What ADR rules look at: a tree's modules, files and import graph, and the violations they report.

The import graph comes from `genops.semdiff.import_graph` (one import extractor for all of genops);
this module only adds the module -> file mapping, edge lines and the pattern lookups rules share.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from genops.semdiff.build import build_model, import_graph
from genops.treeignore import kept_dirs, kept_files
from genops.workspace.rules_schema import has_wildcard, matches, matches_any


@dataclass(frozen=True)
class RuleRef:
    """Which rule of which ADR a violation breaks, and where that rule is written."""

    adr: str
    index: int  # 0-based position in the ADR's `rules`
    kind: str
    file: str
    line: int | None
    name: str | None = None
    unique_kind: bool = True  # the only rule of its kind in its ADR

    @property
    def rule_id(self) -> str:
        """A stable id for reports and SARIF (`ADR-0003/independent`, or `...#2` if repeated)."""
        base = f"{self.adr}/{self.kind}"
        return base if self.unique_kind else f"{base}#{self.index + 1}"

    @property
    def label(self) -> str:
        named = f" {self.name!r}" if self.name else ""
        return f"{self.adr} rule {self.index + 1} ({self.kind}{named})"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Violation:
    """One broken rule at one place; `subjects` are the dotted paths a waiver can name."""

    rule: RuleRef
    message: str
    file: str | None
    line: int | None
    subjects: tuple[str, ...]
    chain: tuple[str, ...] = ()
    severity: str = "error"

    def to_dict(self) -> dict[str, Any]:
        return {"adr": self.rule.adr, "rule": self.rule.rule_id, "kind": self.rule.kind,
                "rule_location": self.rule.where, "message": self.message, "file": self.file,
                "line": self.line, "subjects": list(self.subjects), "chain": list(self.chain),
                "severity": self.severity}


def module_files(root: Path) -> tuple[dict[str, str], frozenset[str]]:
    """(dotted module -> tree-relative file, every module and object dotted path), per semdiff."""
    modules = build_model(root).modules
    files = {name: module.file for name, module in modules.items()}
    paths = {f"{name}.{q}" for name, module in modules.items() for q in module.model.objects}
    return files, frozenset(paths | set(files))


@dataclass
class TreeFacts:
    """A tree as rules see it; built once per check and shared by every rule."""

    root: Path
    graph: dict[str, set[tuple[str, int]]]
    files: dict[str, str]
    previous_modules: frozenset[str] = frozenset()
    object_paths: frozenset[str] = frozenset()  # modules and their objects, both trees
    _text: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path, previous: Path | None = None) -> TreeFacts:
        """Read a tree's import graph and files; `previous` only adds its module and object names."""
        files, paths = module_files(root)
        graph = {m: set(e) for m, e in import_graph(root, external_names=True).items()}
        for module in files:
            graph.setdefault(module, set())
        before: dict[str, str] = {}
        if previous is not None and previous.is_dir():
            before, old_paths = module_files(previous)
            paths = paths | old_paths
        return cls(root=root, graph=graph, files=files, previous_modules=frozenset(before),
                   object_paths=paths)

    @cached_property
    def modules(self) -> list[str]:
        """Every module of the tree, sorted."""
        return sorted(self.graph)

    @cached_property
    def all_files(self) -> list[str]:
        """Every file of the tree (tree-relative POSIX paths, caches skipped), sorted."""
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            base = Path(dirpath)
            dirnames[:] = kept_dirs(dirnames, top=base == self.root)
            found.extend((base / n).relative_to(self.root).as_posix()
                         for n in kept_files(filenames))
        return sorted(found)

    def file_of(self, module: str) -> str | None:
        return self.files.get(module)

    def text(self, relpath: str) -> str:
        """A file's text (cached); undecodable bytes are replaced, never fatal."""
        if relpath not in self._text:
            raw = (self.root / relpath).read_bytes()
            self._text[relpath] = raw.decode("utf-8", errors="replace")
        return self._text[relpath]

    def is_internal(self, module: str) -> bool:
        return module in self.graph

    def edge_line(self, source: str, target: str) -> int | None:
        """The first line where `source` imports `target`."""
        lines = [line for t, line in self.graph.get(source, ()) if t == target]
        return min(lines) if lines else None

    def targets(self, source: str) -> list[str]:
        """The distinct modules `source` imports, sorted (internal and third-party)."""
        return sorted({t for t, _ in self.graph.get(source, ())})

    def select(self, patterns: Iterable[str], exclude: Iterable[str] = ()) -> set[str]:
        """Tree modules covered by any pattern and by no excluded one."""
        pats, skip = list(patterns), list(exclude)
        return {m for m in self.graph if matches_any(m, pats) and not matches_any(m, skip)}

    def expand(self, pattern: str) -> list[str]:
        """The siblings a pattern names: `mad.mads.*` -> each matching module at that depth."""
        if not has_wildcard(pattern):
            return [pattern] if any(matches(m, pattern) for m in self.graph) else []
        depth = pattern.count(".") + 1
        found = {".".join(m.split(".")[:depth]) for m in self.graph if m.count(".") + 1 >= depth}
        return sorted(p for p in found if matches(p, pattern) and p.count(".") + 1 == depth)

    def names_anything(self, pattern: str) -> bool:
        """True when a module pattern covers at least one module of this tree or the previous."""
        return any(matches(m, pattern) for m in (*self.graph, *self.previous_modules))

    def names_object(self, pattern: str) -> bool:
        """True when an object path pattern (mad.bus.Bus.publish) names a module or object we have."""
        return any(matches(p, pattern) for p in self.object_paths) or self.names_anything(pattern)

    def top_level_packages(self) -> set[str]:
        return {m.split(".")[0] for m in self.graph}
