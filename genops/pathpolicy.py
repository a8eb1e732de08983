"""The one path policy for model output: which paths and files genops accepts into an output tree.

The protocol parser (a refusal becomes a repair request naming the block), blueprint parsing,
staging (which checks again and never trusts the parser) and the paths gate (the staged tree as
it is on disk) all ask this module; the tree hash, drift and context_fit skip the same ignored
names through `genops.treeignore`, so nothing a gate cannot see can be released.

A path is refused, with a reason a model can act on, when it:
- is not a plain relative POSIX path: empty, absolute, a drive letter, a backslash, a `..`, `.`
  or empty component;
- lies inside a name the tree ignores (`.git`, `.genops`, `venv`, `node_modules`, `__pycache__`,
  `*.egg-info`, top-level `build/` ... see treeignore): the file would be invisible to the tree
  hash and every gate;
- has a hidden component (starting with `.`) that `[project] allow_hidden` does not name;
- has a Windows-reserved device name (con, prn, aux, nul, com1-9, lpt1-9, conin$, conout$; any
  case, with or without an extension), or a component ending in a dot or a space;
- holds a control character, a Unicode format character (bidirectional overrides and isolates,
  zero-width characters) or a line/paragraph separator;
- has a component over 255 bytes or a whole path over 1024 bytes (UTF-8).
A file is refused when its content is over `[project] max_file_bytes` (default 1 MiB).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genops.treeignore import ignored_component

MAX_COMPONENT_BYTES = 255  # the common filesystem limit (ext4, APFS, NTFS in UTF-16 units)
MAX_PATH_BYTES = 1024  # well under PATH_MAX and Windows' long-path limits, with the root prefixed
DEFAULT_MAX_FILE_BYTES = 1 << 20
RESERVED_NAMES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)})
_DRIVE = re.compile(r"^[A-Za-z]:")
_BAD_CATEGORIES = {"Cc": "a control character", "Cf": "a Unicode format character "
                   "(bidirectional override or zero-width)", "Cs": "a lone surrogate",
                   "Zl": "a line separator", "Zp": "a paragraph separator"}


class PathRefused(ValueError):
    """A path or file the policy refuses; `rule` names the rule (ignored, hidden, reserved ...)."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def _bad_character(text: str) -> str | None:
    for ch in text:
        kind = _BAD_CATEGORIES.get(unicodedata.category(ch))
        if kind is not None:
            return f"{kind} (U+{ord(ch):04X})"
    return None


def normalize(path: str) -> str:
    """The relative POSIX path without a leading `./`; PathRefused when it is not one."""
    if not path.strip():
        raise PathRefused("empty path", "syntax")
    bad = _bad_character(path)
    if bad is not None:
        raise PathRefused(f"path contains {bad}", "character")
    if "\\" in path:
        raise PathRefused("backslash in path (use POSIX '/' separators)", "syntax")
    if _DRIVE.match(path):
        raise PathRefused("drive-letter path (paths are relative to the output tree)", "syntax")
    if path.startswith("/"):
        raise PathRefused("absolute path (paths are relative to the output tree)", "syntax")
    while path.startswith("./"):
        path = path[2:]
    parts = path.split("/")
    if ".." in parts:
        raise PathRefused("path escapes the output tree ('..')", "syntax")
    if any(part in ("", ".") for part in parts):
        raise PathRefused("path has an empty or '.' component", "syntax")
    return path


def _component_problem(part: str, allow_hidden: frozenset[str]) -> tuple[str, str] | None:
    """(rule, why) for one path component the policy refuses, else None."""
    if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
        return "too-long", (f"name {part[:40]!r}... is {len(part.encode('utf-8'))} bytes "
                            f"(at most {MAX_COMPONENT_BYTES})")
    if part.endswith((".", " ")):
        return "trailing", f"name {part!r} ends in a dot or a space (Windows drops them)"
    if part.split(".")[0].rstrip(" ").lower() in RESERVED_NAMES:
        return "reserved", f"name {part!r} is a reserved device name on Windows"
    if part.startswith(".") and part not in allow_hidden:
        return "hidden", (f"hidden name {part!r} (allowed only when [project] allow_hidden "
                          "lists it)")
    return None


@dataclass(frozen=True)
class PathPolicy:
    """The workspace's path policy: which hidden names are allowed, how large a file may be."""

    allow_hidden: frozenset[str] = frozenset()
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    # top-level packages of interfaces a federation member consumes: shown to the model as
    # read-only context, never written into its tree (a copy would shadow the provider's)
    read_only: frozenset[str] = frozenset()

    @classmethod
    def of(cls, ws: Any) -> PathPolicy:
        """The policy `[project]` of a workspace (or its config) sets."""
        project = getattr(ws, "config", ws).project
        extra = getattr(ws, "extra", None) or {}
        read_only = frozenset(m.split(".")[0] for s in extra.get("interfaces", ())
                              for m in s.get("python", ()))
        return cls(allow_hidden=frozenset(project.allow_hidden),
                   max_file_bytes=project.max_file_bytes, read_only=read_only)

    def check(self, path: str, *, root: Path | None = None) -> str:
        """The normalized path, or PathRefused saying why; `root`: refuse symlinks along it."""
        path = normalize(path)
        if len(path.encode("utf-8")) > MAX_PATH_BYTES:
            raise PathRefused(f"path is {len(path.encode('utf-8'))} bytes (at most "
                              f"{MAX_PATH_BYTES})", "too-long")
        ignored = ignored_component(path)
        if ignored is not None:
            raise PathRefused(f"path is inside {ignored!r}, a name the output tree ignores "
                              "(caches, version control, environments, build leftovers)",
                              "ignored")
        top = path.split("/")[0]
        for package in (top, top.removesuffix(".py")):
            if package in self.read_only:
                raise PathRefused(f"path {path!r} would define {package!r}, a package of an "
                                  "interface this member consumes (read-only context: import "
                                  "it, never write it)", "read-only")
        for part in path.split("/"):
            problem = _component_problem(part, self.allow_hidden)
            if problem is not None:
                raise PathRefused(problem[1], problem[0])
        if root is not None:
            _refuse_symlinks(root, path)
        return path

    def check_size(self, path: str, size: int) -> None:
        """PathRefused when a file of `size` bytes is over `max_file_bytes`."""
        if size > self.max_file_bytes:
            raise PathRefused(f"file {path!r} is {size:,} bytes, over the limit of "
                              f"{self.max_file_bytes:,} ([project] max_file_bytes)", "size")

    def check_file(self, path: str, content: str, *, root: Path | None = None) -> str:
        """`check` the path and the size of its content (UTF-8); the normalized path."""
        clean = self.check(path, root=root)
        self.check_size(clean, len(content.encode("utf-8", errors="surrogatepass")))
        return clean


def _refuse_symlinks(root: Path, path: str) -> None:
    current = root
    for part in path.split("/"):
        current = current / part
        if current.is_symlink():
            link = current.relative_to(root).as_posix()
            raise PathRefused(f"path goes through a symlink ({link})", "symlink")
        if not current.exists():
            break


def file_dir_clashes(paths: Iterable[str]) -> list[tuple[str, str]]:
    """(file, path below it) for every path that is both a file and a directory of another."""
    files = set(paths)
    clashes = []
    for path in sorted(files):
        parts = path.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in files:
                clashes.append((prefix, path))
                break
    return clashes


DEFAULT_POLICY = PathPolicy()
