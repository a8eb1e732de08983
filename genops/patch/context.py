"""Which files a patch request shows in full, and why: a targeted fix needs a few files, not all.

In order of priority, each with its reason:
  1. files the instruction (or a traceback in it) names, by path or dotted module;
  2. files defining a symbol the instruction names (a class, function or method, or a module's
     last name such as `fiedler`), and files naming a requirement ID it names;
  3. the direct importers, then the direct imports, of those files (genops.semdiff's import
     graph): callers may have to change with the fix, and imports' signatures are in the map.
Files are added while the total stays within `[patch] context_tokens`; a file that does not fit
is left to the compact map (paths and public signatures, genops.synthesis.apisummary) that covers
everything not shown in full. The result is data, printed by the CLI and kept in the run dir.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.ledger.pricing import estimate_tokens
from genops.semdiff.build import import_graph
from genops.semdiff.imports import module_name
from genops.synthesis.apisummary import api_summary

_PATHISH = re.compile(r"[\w./-]+\.(?:py|toml|md|txt|json|ya?ml|cfg|ini)\b")
_DOTTED = re.compile(r"\b[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+\b")
_WORD = re.compile(r"\b[A-Za-z_][\w]*\b")
_REQ = re.compile(r"\bREQ-[A-Z0-9]+(?:-[A-Z0-9]+)*\b")
MIN_SYMBOL_LEN = 4  # shorter names ("get", "run") name too many things to choose files by


@dataclass(frozen=True)
class Chosen:
    path: str
    reason: str
    tokens: int


@dataclass
class Selection:
    """Files shown in full (with why), files left to the map, and the map itself."""

    chosen: list[Chosen] = field(default_factory=list)
    skipped: list[Chosen] = field(default_factory=list)  # wanted, but over the token budget
    budget_tokens: int = 0
    map_text: str = ""

    @property
    def paths(self) -> list[str]:
        return [c.path for c in self.chosen]

    @property
    def tokens(self) -> int:
        return sum(c.tokens for c in self.chosen)

    def to_dict(self) -> dict[str, Any]:
        return {"budget_tokens": self.budget_tokens, "tokens": self.tokens,
                "chosen": [c.__dict__ for c in self.chosen],
                "skipped": [c.__dict__ for c in self.skipped]}


def named_paths(text: str, paths: list[str], output: str) -> list[str]:
    """Tree paths the text names: as written, under the output dir, or as a traceback's tail."""
    found: list[str] = []
    for raw in _PATHISH.findall(text):
        raw = raw.lstrip("./")
        if f"{output}/" in raw:
            raw = raw.split(f"{output}/", 1)[1]
        hits = [p for p in paths if p == raw or raw.endswith("/" + p)]
        found.extend(h for h in hits if h not in found)
    modules = {module_name(p): p for p in paths if p.endswith(".py")}
    for dotted in _DOTTED.findall(text):
        parts = dotted.split(".")
        while parts:  # `mad.bus.Bus.publish` -> the module mad.bus
            hit = modules.get(".".join(parts))
            if hit is not None:
                if hit not in found:
                    found.append(hit)
                break
            parts.pop()
    return found


def symbol_index(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """Lower-cased name -> files defining it (classes, functions, methods) or named by it (modules)."""
    index: dict[str, set[str]] = {}
    for path, text in sources.items():
        if not path.endswith(".py"):
            continue
        index.setdefault(module_name(path).split(".")[-1].lower(), set()).add(path)
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                index.setdefault(node.name.lower(), set()).add(path)
    return index


def _edges(root: Path | None, paths: list[str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(imports, importers) between tree files, from the semantic diff's import graph."""
    imports: dict[str, set[str]] = {}
    importers: dict[str, set[str]] = {}
    if root is None:
        return imports, importers
    by_module = {module_name(p): p for p in paths if p.endswith(".py")}
    for module, targets in import_graph(root).items():
        source = by_module.get(module)
        if source is None:
            continue
        for target, _line in targets:
            dest = by_module.get(target)
            if dest is not None and dest != source:
                imports.setdefault(source, set()).add(dest)
                importers.setdefault(dest, set()).add(source)
    return imports, importers


def _wanted(text: str, sources: Mapping[str, str], root: Path | None,
            output: str) -> list[tuple[str, str]]:
    """(path, reason) in priority order, duplicates dropped."""
    paths = sorted(sources)
    wanted: dict[str, str] = {p: "named in the instruction" for p in named_paths(text, paths, output)}
    index = symbol_index(sources)
    for word in dict.fromkeys(_WORD.findall(text)):
        if len(word) < MIN_SYMBOL_LEN:
            continue
        for path in sorted(index.get(word.lower(), ())):
            wanted.setdefault(path, f"defines {word!r}")
    for req in dict.fromkeys(_REQ.findall(text)):
        for path in paths:
            if req in sources[path]:
                wanted.setdefault(path, f"names {req}")
    imports, importers = _edges(root, paths)
    for seed in list(wanted):  # callers first: what they expect may change; imports are in the map
        for source in sorted(importers.get(seed, ())):
            wanted.setdefault(source, f"imports {seed}")
        for dest in sorted(imports.get(seed, ())):
            wanted.setdefault(dest, f"imported by {seed}")
    return list(wanted.items())


def select_context(text: str, sources: Mapping[str, str], *, root: Path | None,
                   budget_tokens: int, output: str = "generated") -> Selection:
    """The files to show in full for `text` (instruction and failure output) within the budget."""
    selection = Selection(budget_tokens=budget_tokens)
    used = 0
    for path, reason in _wanted(text, sources, root, output):
        tokens = estimate_tokens(sources[path])
        item = Chosen(path, reason, tokens)
        if used + tokens > budget_tokens:
            selection.skipped.append(item)
            continue
        used += tokens
        selection.chosen.append(item)
    rest = {p: t for p, t in sources.items() if p not in set(selection.paths)}
    selection.map_text = api_summary(rest)
    return selection
