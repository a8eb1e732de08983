"""What a generated tree declares it needs, every line of it, and the policy that decides whether
any of it may be installed.

A model chooses the tree's dependencies, so a declared requirement is untrusted input: a direct
URL (`pkg @ https://...`), a VCS reference, a local path or a pip option (`--extra-index-url`)
would make an installer fetch and build code nobody reviewed. Every source a tool could read is
read here, with its file and line: `pyproject.toml` (`[project] dependencies`, every optional
extra, `[build-system] requires`, `[tool.uv]` indexes and sources), `requirements*.txt` (with
`-r` includes inside the tree), `setup.cfg` (`install_requires`, `extras_require`) and the
workspace's lock. `check_policy` accepts only `name[extras] specifier ; marker` as PEP 508 parses
it; anything else is refused unless an ADR's `allowed_dependencies` rule lists that exact
requirement under `requirements`. The dependencies gate and the venv builder both call it, so no
installer starts on a tree that fails it, whichever command got there.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement

Kind = Literal["requirement", "option"]
TEST_EXTRAS = ("test", "tests", "testing")
# Keys of [tool.uv] that would point an installer at another index or source.
UV_SOURCE_KEYS = ("index", "index-url", "extra-index-url", "find-links", "sources", "no-index",
                  "index-strategy", "keyring-provider")


@dataclass(frozen=True)
class Declared:
    """One line of a dependency declaration: where it is and what it says."""

    file: str  # relative to the tree (or the lock's name)
    line: int | None
    text: str
    kind: Kind = "requirement"
    installed: bool = True  # False: declared (build-system, other extras) but never installed
    build: bool = False  # a `[build-system] requires` line: what builds the tree, not what it needs


@dataclass(frozen=True)
class Refusal:
    """A declared line the policy refuses, and why, in words that say what to do."""

    at: Declared
    reason: str

    @property
    def location(self) -> str:
        return f"{self.at.file}:{self.at.line}" if self.at.line else self.at.file

    def message(self) -> str:
        return f"{self.location}: {self.at.text!r}: {self.reason}"


def _line_of(text: str, needle: str, start: int = 0) -> int | None:
    lines = text.splitlines()
    for number in range(start, len(lines)):
        if needle in lines[number]:
            return number + 1
    return None


def _pyproject(tree: Path) -> Iterator[Declared]:
    path = tree / "pyproject.toml"
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        yield Declared("pyproject.toml", getattr(exc, "lineno", None), "(unparseable TOML)",
                       kind="option")
        return
    project = data.get("project", {}) if isinstance(data.get("project"), dict) else {}
    extras = project.get("optional-dependencies", {}) or {}
    groups: list[tuple[object, bool, bool]] = [(project.get("dependencies", []), True, False)]
    groups += [(values, name in TEST_EXTRAS, False) for name, values in sorted(extras.items())]
    build = data.get("build-system", {}) if isinstance(data.get("build-system"), dict) else {}
    groups.append((build.get("requires", []), False, True))
    for values, installed, builds in groups:
        for value in values if isinstance(values, list) else [values]:
            yield Declared("pyproject.toml", _line_of(text, str(value)), str(value),
                           installed=installed, build=builds)
    uv = (data.get("tool", {}) or {}).get("uv", {})
    for key in UV_SOURCE_KEYS if isinstance(uv, dict) else ():
        if key in uv:
            yield Declared("pyproject.toml", _line_of(text, key), f"[tool.uv] {key}",
                           kind="option")


def _requirements_file(path: Path, tree: Path, seen: set[Path]) -> Iterator[Declared]:
    if path in seen or not path.is_file():
        return
    seen.add(path)
    rel = path.relative_to(tree.resolve()).as_posix()
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(),
                                 start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        include = re.match(r"^(?:-r|--requirement)[\s=]+(\S+)$", line)
        if include:
            nested = (path.parent / include.group(1)).resolve()
            if nested.is_relative_to(tree.resolve()) and nested.is_file():
                yield from _requirements_file(nested, tree, seen)
            else:
                yield Declared(rel, number, line, kind="option")
            continue
        yield Declared(rel, number, line, kind="option" if line.startswith("-") else "requirement")


def _setup_cfg(tree: Path) -> Iterator[Declared]:
    path = tree / "setup.cfg"
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        yield Declared("setup.cfg", None, "(unparseable setup.cfg)", kind="option")
        return
    sources = [("options", "install_requires", True)]
    if parser.has_section("options.extras_require"):
        sources += [("options.extras_require", key, key in TEST_EXTRAS)
                    for key in parser.options("options.extras_require")]
    for section, key, installed in sources:
        if parser.has_option(section, key):
            for value in parser.get(section, key).splitlines():
                value = value.split("#")[0].strip()
                if value:
                    yield Declared("setup.cfg", _line_of(text, value), value,
                                   kind="option" if value.startswith("-") else "requirement",
                                   installed=installed)


def read_declared(tree: Path) -> list[Declared]:
    """Every dependency line the tree declares, in file order, with file and line."""
    found = [*_pyproject(tree)]
    seen: set[Path] = set()
    for path in sorted(tree.glob("requirements*.txt")):
        found += _requirements_file(path.resolve(), tree, seen)
    found += _setup_cfg(tree)
    return found


def read_lock_lines(path: Path) -> list[Declared]:
    """The lock file's entries as declared lines (none when there is no lock)."""
    if not path.is_file():
        return []
    return lock_lines(path.read_text(encoding="utf-8", errors="replace"), path.name)


def lock_lines(text: str, name: str) -> list[Declared]:
    """A lock's entries as declared lines (continuations joined), options kept as options."""
    found: list[Declared] = []
    joined: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if joined and joined[-1][1].endswith("\\"):
            joined[-1] = (joined[-1][0], joined[-1][1][:-1] + " " + raw.strip())
        else:
            joined.append((number, raw.strip()))
    for number, line in joined:
        body = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not body:
            continue
        requirement = re.sub(r"\s--hash=\S+", "", " " + body).strip()
        if body.startswith("-"):
            found.append(Declared(name, number, body, kind="option"))
        else:
            found.append(Declared(name, number, requirement))
    return found


def _exact(text: str) -> str:
    return " ".join(text.split())


def check_line(d: Declared, *, indexes: Iterable[str] = (), allowed: Iterable[str] = (),
               pinned: bool = False) -> str | None:
    """Why a declared line may not be installed, or None. `pinned`: a lock line (`name==v`)."""
    if _exact(d.text) in {_exact(a) for a in allowed}:
        return None
    if d.kind == "option":
        index = re.match(r"^(?:-i|--index-url|--extra-index-url)[\s=]+(\S+)$", d.text)
        if index and index.group(1).rstrip("/") in {i.rstrip("/") for i in indexes}:
            return None
        return ("an installer option in a dependency declaration; genops installs from the "
                "workspace's [audit] indexes only, so remove it (an index belongs in [audit] "
                "indexes, reviewed in genops.toml)")
    try:
        requirement = Requirement(d.text)
    except InvalidRequirement:
        looks_path = d.text.startswith((".", "/", "~", "file:")) or "/" in d.text.split(";")[0]
        what = "a local path" if looks_path else "not a PEP 508 requirement"
        return (f"{what}; declare `name` with a version specifier (e.g. `requests>=2.31`), or "
                "allow this exact line in an ADR's allowed_dependencies `requirements`")
    if requirement.url:
        kind = ("a VCS reference" if re.match(r"^[a-z]+\+", requirement.url)
                else "a local path" if requirement.url.startswith("file:") else "a direct URL")
        return (f"{kind} ({requirement.url}); genops installs released distributions from the "
                "workspace's indexes only; allow this exact line in an ADR's "
                "allowed_dependencies `requirements` if it must stay")
    if pinned and not re.fullmatch(r"==[^,*]+", str(requirement.specifier)):
        return "a lock entry must pin one version (`name==version`); run `genops lock`"
    return None


def check_policy(tree: Path, *, indexes: Iterable[str] = (), allowed: Iterable[str] = (),
                 lock: Path | None = None) -> list[Refusal]:
    """Every declared line (and lock entry) the policy refuses, in file order."""
    indexes, allowed = tuple(indexes), tuple(allowed)
    refusals = [Refusal(d, why) for d in read_declared(tree)
                if (why := check_line(d, indexes=indexes, allowed=allowed))]
    if lock is not None:
        refusals += [Refusal(d, why) for d in read_lock_lines(lock)
                     if (why := check_line(d, indexes=indexes, allowed=allowed, pinned=True))]
    return refusals


def allowed_requirements(adrs: Iterable[object]) -> list[str]:
    """The exact requirement lines accepted ADRs allow (`allowed_dependencies.requirements`)."""
    found: list[str] = []
    for adr in adrs:
        for rule in getattr(adr, "rules", []) or []:
            if isinstance(rule, dict) and rule.get("kind") == "allowed_dependencies":
                value = rule.get("requirements") or []
                found += [str(v) for v in (value if isinstance(value, list) else [value])]
    return found
