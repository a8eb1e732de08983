"""Build the code model of trees: cached models first, then parse what is left, in parallel if large.

`gc` is paused while parsing and decoding: the collector otherwise walks the millions of young AST
objects again and again, which triples parse time and buys nothing (they do not form cycles).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from genops.semdiff.cache import ModelCache, default_cache_dir, from_blob, to_blob, tree_key
from genops.semdiff.extract import extract
from genops.semdiff.imports import resolve_targets
from genops.semdiff.model import FileModel, Module
from genops.semdiff.tree import FileEntry, TreeScan, scan_trees

PARALLEL_THRESHOLD = 200  # uncached files above which parsing is spread across processes
CHUNK = 4  # files per worker task: small, so a worker the machine slows down holds back little at the end


@dataclass(slots=True)
class TreeModel:
    """The code model of one tree: every module by dotted name, plus the raw file scan."""

    scan: TreeScan
    modules: dict[str, Module]
    shadowed: list[str]  # files whose module name was taken (a `pkg.py` next to `pkg/`)
    parsed: int = 0  # files this build had to parse (0 when every model came from the cache)
    package: str = ""  # the package the root folder is ("" for a plain root), see imports.package_name

    @property
    def root(self) -> Path:
        """The directory the tree was read from."""
        return self.scan.root

    def by_file(self) -> dict[str, Module]:
        """Modules by file path relative to the root."""
        return {m.file: m for m in self.modules.values()}


@contextmanager
def paused_gc() -> Iterator[None]:
    """Suspend the cyclic garbage collector for an allocation-heavy phase."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_model(root: Path, *, cache_dir: Path | None = None, jobs: int | None = None,
                use_cache: bool = True) -> TreeModel:
    """The code model of one tree (modules, objects, imports), using and filling the cache."""
    cache = ModelCache(cache_dir or default_cache_dir(root)) if use_cache else None
    return build_models(scan_trees(root, cache=cache), cache, jobs)[0]


def import_graph(root: Path, *, external_names: bool = False) -> dict[str, set[tuple[str, int]]]:
    """Module dotted name -> {(imported module dotted name, line)}, third-party targets included
    (`external_names`: see `resolve_targets`)."""
    tree = build_model(root)
    names = set(tree.modules)
    return {m.name: resolve_targets(m.raw_imports(), names, external_names=external_names)
            for m in tree.modules.values()}


def build_models(scans: list[TreeScan], cache: ModelCache | None, jobs: int | None,
                 packages: list[str] | None = None) -> list[TreeModel]:
    """Models for several scans at once, so a file present on both sides is read once; `packages`
    names the package each root is ("" or absent: a plain root)."""
    with paused_gc():
        blobs: dict[str, bytes] = {}
        states: list[tuple[str, bool]] = []
        for scan in scans:
            key = tree_key(e.sha for e in scan.python.values())
            state = cache.get_tree(key) if cache else None
            states.append((key, state is not None))
            blobs.update(state or {})
        missing = {e.sha: e.path for scan in scans for e in scan.python.values() if e.sha not in blobs}
        if cache is not None and missing:
            blobs.update(cache.get_many(missing))
        models: dict[str, FileModel] = {}
        for scan in scans:
            for entry in scan.python.values():
                if entry.sha not in models and entry.sha in blobs:
                    model = from_blob(blobs[entry.sha])
                    if model is not None:
                        models[entry.sha] = model
        fresh = _extract_all({e.sha: e for scan in scans for e in scan.python.values()
                              if e.sha not in models}, jobs)
        for sha, blob in fresh.items():
            models[sha] = from_blob(blob)  # type: ignore[assignment]
            blobs[sha] = blob
        if cache is not None:
            cache.put_many(fresh)
            for scan, (key, hit) in zip(scans, states, strict=True):
                if not hit:
                    cache.put_tree(key, {e.sha: blobs[e.sha] for e in scan.python.values()})
        names = packages or [""] * len(scans)
        trees = [_place(scan, models, package) for scan, package in zip(scans, names, strict=True)]
        for tree in trees:
            tree.parsed = len({e.sha for e in tree.scan.python.values()} & fresh.keys())
        return trees


def _place(scan: TreeScan, models: dict[str, FileModel], package: str = "") -> TreeModel:
    """Give each file's model its module name; a package wins over a same-named module file."""
    modules: dict[str, Module] = {}
    shadowed: list[str] = []
    for rel, entry in scan.python.items():
        module = Module.at(rel, entry.sha, models[entry.sha], package)
        other = modules.get(module.name)
        if other is not None:
            keep, drop = (other, module) if other.is_package else (module, other)
            modules[module.name] = keep
            shadowed.append(drop.file)
        else:
            modules[module.name] = module
    return TreeModel(scan, modules, shadowed, package=package)


def _extract_all(entries: dict[str, FileEntry], jobs: int | None) -> dict[str, bytes]:
    """Parse files (by sha), across processes when there are many: the largest first, so the last tasks are
    the shortest and both workers finish together."""
    items = [(sha, entry.path) for sha, entry in sorted(entries.items(), key=lambda item: (-item[1].size, item[0]))]
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if len(items) <= PARALLEL_THRESHOLD or workers <= 1:
        return dict(_extract_chunk(items))
    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
    out: dict[str, bytes] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(_extract_chunk, chunks):
            out.update(result)
    return out


def _extract_chunk(items: list[tuple[str, str]]) -> list[tuple[str, bytes]]:
    """Worker: read and extract a batch of files, returning stored-form bytes (cheap to ship back)."""
    out = []
    with paused_gc():
        for sha, path in items:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError as error:
                model = FileModel(errors=(("read_error", 1, str(error)),))
            else:
                model = extract(data)
            out.append((sha, to_blob(model)))
    return out
