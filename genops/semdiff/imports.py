"""Module naming and import resolution: how files under a tree root become dotted modules and edges.

A module's name is its path under the tree root with `/` turned into `.` and the `.py` dropped;
`pkg/__init__.py` is `pkg`, and an `__init__.py` at the root itself is named `__init__`, unless
the root is a package folder: then `package_name` gives its dotted name (`old/django` -> `django`)
and every module is named under it, as Python and griffe name them, so the package's own absolute
imports resolve. Absolute imports that name a module of the tree point at it; everything else is
third-party (or stdlib) and keeps the dotted name written in the source.
"""

from __future__ import annotations

import keyword
import os
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

ROOT_INIT = "__init__"


def module_name(relpath: str) -> str:
    """Dotted module name of a POSIX path relative to the tree root (`pkg/__init__.py` -> `pkg`)."""
    parts = list(PurePosixPath(relpath).with_suffix("").parts)
    if parts and parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts) if parts else ROOT_INIT


def package_name(root: Path) -> str:
    """The dotted name of a folder that holds `__init__.py`, walking up while its parents are packages
    too (`src/app/core` -> `app.core`); "" for a folder that is no package (or has no valid name)."""
    parts: list[str] = []
    current = Path(os.path.abspath(root))
    while (current / "__init__.py").is_file() and current.name.isidentifier() \
            and not keyword.iskeyword(current.name):
        parts.append(current.name)
        if current.parent == current:
            break
        current = current.parent
    return ".".join(reversed(parts))


def place(relpath: str, package: str = "") -> str:
    """Dotted module name of a file under a root that is the package `package` ("" for a plain root)."""
    name = module_name(relpath)
    if not package:
        return name
    return package if name == ROOT_INIT else f"{package}.{name}"


def is_package_file(relpath: str) -> bool:
    """True for `__init__.py` files, whose relative imports resolve against themselves."""
    return PurePosixPath(relpath).name == "__init__.py"


def package_of(module: str, is_package: bool) -> str:
    """The package a module's relative imports start from."""
    if module == ROOT_INIT:
        return ""
    if is_package:
        return module
    return module.rpartition(".")[0]


def resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str | None:
    """Absolute dotted name of `from <level dots><name> import ...`, or None if it leaves the tree."""
    base = package_of(module, is_package)
    parts = base.split(".") if base else []
    if level - 1 > len(parts):
        return None
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    if name:
        parts.extend(name.split("."))
    return ".".join(parts)


def resolve_targets(raw: Iterable[tuple[str, int, tuple[str, ...], bool]],
                    modules: Mapping[str, object] | set[str], *,
                    external_names: bool = False) -> set[tuple[str, int]]:
    """Turn (base, line, names, top) imports into (target module, line) edges against the tree.

    `external_names`: `from google import genai`, with `google` not of the tree, also gives the
    edge `google.genai` (it may be a submodule; only the package knows), so a rule about
    `google.genai` sees that spelling too.
    """
    edges: set[tuple[str, int]] = set()
    for base, line, names, _top in raw:
        if not names:  # `import a.b.c`
            edges.add((_longest_known(base, modules) or base, line))
            continue
        hit = False
        for name in names:
            sub = f"{base}.{name}" if base else name
            if name != "*" and sub in modules:
                edges.add((sub, line))
                hit = True
        if not hit and base:
            known = _longest_known(base, modules)
            edges.add((known or base, line))
            if external_names and known is None:
                edges.update((f"{base}.{name}", line) for name in names if name != "*")
        elif not hit and ROOT_INIT in modules:  # `from . import NAME` at a root that is a nameless package
            edges.add((ROOT_INIT, line))
    return edges


def _longest_known(name: str, modules: Mapping[str, object] | set[str]) -> str | None:
    """The longest prefix of a dotted name that is a module of the tree."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None
