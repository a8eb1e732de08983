"""The semantic diff of two trees: build both code models, compare, and count the noise removed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genops.semdiff.architecture import cycle_changes, edge_changes, edges, match_modules, module_changes
from genops.semdiff.build import TreeModel, build_models, paused_gc
from genops.semdiff.cache import ModelCache, default_cache_dir, pair_key
from genops.semdiff.changes import Category, Change, DiffResult, Kind, Stats
from genops.semdiff.compare import ObjectComparer
from genops.semdiff.imports import package_name
from genops.semdiff.deps import dependency_changes
from genops.semdiff.model import Module
from genops.semdiff.resolve import TreeIndex
from genops.semdiff.surface import moved_module_changes, surface_changes
from genops.semdiff.tree import FileEntry, TreeScan, scan_trees, text_stats

ERROR_KINDS = {"syntax_error": Kind.SYNTAX_ERROR, "encoding_fallback": Kind.ENCODING_FALLBACK,
               "read_error": Kind.READ_ERROR}


def diff_trees(old_root: Path, new_root: Path, *, old_label: str = "old", new_label: str = "new",
               cache_dir: Path | None = None, jobs: int | None = None, use_cache: bool = True,
               reuse_result: bool = True) -> DiffResult:
    """Semantic diff of two directory trees (see BRIEF.md "Semantic diff JSON").

    A root that is a package folder (it holds `__init__.py`) is read as that package, named by
    `tree_packages`, so `diff old/django new/django` names and resolves what `diff old new` does.
    With the cache on, only files never seen before are parsed, and (unless `reuse_result` is
    False) a pair of trees already diffed returns the stored result.
    """
    with paused_gc():
        cache = ModelCache(cache_dir or default_cache_dir(Path(new_root), Path(old_root))) if use_cache else None
        scans = scan_trees(Path(old_root), Path(new_root), cache=cache)
        packages = tree_packages(Path(old_root), Path(new_root))
        key = pair_key(((r, e.sha) for r, e in [*scans[0].files.items(), *_package_rows(packages[0])]),
                       ((r, e.sha) for r, e in [*scans[1].files.items(), *_package_rows(packages[1])]))
        stored = _result_from(cache.get_result(key)) if cache and reuse_result else None
        if stored is not None:
            return DiffResult(old_label, new_label, *stored)
        old, new = build_models(scans, cache, jobs, packages)
        result = compare_models(old, new, old_label=old_label, new_label=new_label, cache=cache)
        if cache is not None:
            cache.put_result(key, _result_to(result))
        return result


def tree_packages(old_root: Path, new_root: Path) -> list[str]:
    """The package each root is (`package_name`), when both sides agree; a folder compared with one of
    another name (`v1/` against `v2/`, both packages) cannot tell which name its imports use, so then
    both are read as plain roots."""
    old, new = package_name(old_root), package_name(new_root)
    return [old, new] if old == new else ["", ""]


def _package_rows(package: str) -> list[tuple[str, FileEntry]]:
    """The package name as a row of the result's cache key (the same files under another name differ)."""
    return [("\0package", FileEntry("", 0, package))] if package else []


def _result_to(result: DiffResult) -> tuple[object, ...]:
    """A result as plain tuples for the cache (labels excluded: the same pair may be named differently)."""
    return (tuple((c.kind.value, c.path, c.detail, c.breaking, c.old, c.new, c.file, c.line, c.parameter,
                   c.new_path, c.target, c.origin) for c in result.changes), tuple(result.stats.to_json().values()))


def _result_from(data: Any) -> tuple[list[Change], Stats] | None:
    """The changes and stats of a cached result; None when absent or unreadable."""
    try:
        changes, stats = data
        return [Change(Kind(row[0]), *row[1:]) for row in changes], Stats(*stats)
    except (TypeError, ValueError):
        return None


def compare_models(old: TreeModel, new: TreeModel, *, old_label: str = "old", new_label: str = "new",
                   cache: ModelCache | None = None) -> DiffResult:
    """Semantic diff of two built code models."""
    old_index, new_index = TreeIndex(old.modules), TreeIndex(new.modules)
    mapping, moved = match_modules(old.modules, new.modules)
    changes = module_changes(old, new, moved, old_index.public)
    changes += error_changes(old, new, mapping, old_index.public)
    comparer = ObjectComparer(old_index, new_index)
    for old_name, new_name in mapping.items():
        om, nm = old.modules[old_name], new.modules[new_name]
        if (om.sha == nm.sha and old_name == new_name) or not (om.model.parsed and nm.model.parsed):
            continue
        comparer.compare_module(om, nm)
    targets = set(mapping.values())
    comparer.pair_leftovers([m for n, m in old.modules.items() if n not in mapping],
                            [m for n, m in new.modules.items() if n not in targets])
    changed = {n for n, m in old.modules.items() if n not in new.modules or new.modules[n].sha != m.sha}
    comparer.compare_constructors(changed)
    changes += comparer.changes
    changes += surface_changes(old_index, new_index, changed)
    changes += moved_module_changes(old_index, new_index, moved)
    old_edges, new_edges = edges(old), edges(new)
    changes += edge_changes(old, new, mapping, old_edges, new_edges)
    changes += cycle_changes(old, new, mapping, old_edges, new_edges)
    changes += dependency_changes(old, new)
    changes += formatting_only(old, new, mapping, moved, {c.file for c in changes} | comparer.touched)
    changes = sorted(_one_removal_per_path(set(changes)), key=Change.sort_key)
    files, lines = cached_text_stats(old.scan, new.scan, cache)
    semantic = sum(1 for c in changes if c.category is not Category.COSMETIC)
    return DiffResult(old_label, new_label, changes, Stats(files, lines, semantic))


def _one_removal_per_path(changes: set[Change]) -> list[Change]:
    """A path removed from the public API by one rule (it left `__all__`) and found still resolvable by another
    (an import keeps the name) is one breaking removal, not two findings that disagree."""
    breaking = {c.path for c in changes if c.kind is Kind.OBJECT_REMOVED and c.breaking}
    return [c for c in changes if not (c.kind is Kind.OBJECT_REMOVED and not c.breaking and c.path in breaking)]


def cached_text_stats(old: TreeScan, new: TreeScan, cache: ModelCache | None) -> tuple[int, int]:
    """Text statistics, computed once per pair of tree states."""
    key = pair_key(((r, e.sha) for r, e in old.files.items()), ((r, e.sha) for r, e in new.files.items()))
    stats = cache.get_stats(key) if cache else None
    if stats is None:
        stats = text_stats(old, new)
        if cache:
            cache.put_stats(key, stats)
    return stats


def error_changes(old: TreeModel, new: TreeModel, mapping: dict[str, str], public: set[str]) -> list[Change]:
    """Files that could not be read as Python: always on the NEW side, on the OLD side if it changed."""
    changes = []
    inverse = {v: k for k, v in mapping.items()}
    for module in new.modules.values():
        before = old.modules.get(inverse.get(module.name, ""))
        for kind, line, message in module.model.errors:
            breaking = kind == "syntax_error" and before is not None and before.name in public
            detail = f"{kind.replace('_', ' ')}: {message}"
            changes.append(Change(ERROR_KINDS[kind], module.name, detail, breaking, None, message, module.file, line))
    for name, module in old.modules.items():
        after = new.modules.get(mapping.get(name, ""))
        if after is not None and after.sha == module.sha:
            continue
        for kind, line, message in module.model.errors:
            changes.append(Change(ERROR_KINDS[kind], name, f"{kind.replace('_', ' ')} on the old side: {message}",
                                  False, message, None, module.file, line))
    return changes


def formatting_only(old: TreeModel, new: TreeModel, mapping: dict[str, str], moved: dict[str, str],
                    touched: set[str | None]) -> list[Change]:
    """Modules whose bytes changed but nothing else did: comments, whitespace, quotes, line breaks."""
    out = []
    for old_name, new_name in mapping.items():
        om, nm = old.modules[old_name], new.modules[new_name]
        if om.sha != nm.sha and old_name not in moved and nm.file not in touched and om.file not in touched \
                and _imports(om) == _imports(nm):
            out.append(Change(Kind.FORMATTING_ONLY, old_name, "only comments, whitespace, quotes or line breaks "
                              "changed", file=nm.file, line=1))
    return out


def _imports(module: Module) -> tuple[object, ...]:
    """What a module's import statements say, lines left out: an edit here is not formatting, even when it
    changes no edge between modules of the tree (a standard-library import, another name from a module)."""
    raw = sorted({(level, dotted or "", names, top) for level, dotted, names, _, top in module.model.imports})
    aliases = sorted((name, level, target) for name, (level, target, _) in module.model.aliases.items())
    return tuple(raw), tuple(aliases)
