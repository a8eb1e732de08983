"""specs/: requirement IDs parsed out of requirements.md, and the principles text.

A requirement is defined where its ID (REQ-<AREA>-<n>) is the first token of a list item or
heading, optionally in bold; other mentions are references. Defining an ID twice is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from genops.errors import ConfigError
from genops.workspace.inputs import check_inside

REQ_ID = re.compile(r"\bREQ-[A-Z][A-Z0-9]*-\d+\b")
_DEFINITION = re.compile(
    r"^\s*(?:[-*+]|\d+[.)]|#{1,6})\s+(?:\*\*|__)?(?P<id>REQ-[A-Z][A-Z0-9]*-\d+)(?:\*\*|__)?"
    r"[\s:.\-–—]*(?P<text>.*)$")


@dataclass(frozen=True)
class Requirement:
    id: str
    text: str
    file: str
    line: int

    @property
    def area(self) -> str:
        return self.id.split("-")[1]


def parse_requirements(path: Path, rel: str) -> list[Requirement]:
    """Every requirement defined in one markdown file, in file order."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(rel, f"not UTF-8 ({exc.reason} at byte {exc.start})",
                          hint="save the file as UTF-8") from None
    return parse_requirements_text(text, rel)


def parse_requirements_text(text: str, rel: str) -> list[Requirement]:
    """Every requirement defined in one markdown text (a file's, or a release's copy of it)."""
    seen: dict[str, int] = {}
    found: list[Requirement] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        match = _DEFINITION.match(line)
        if not match:
            continue
        req_id = match.group("id")
        if req_id in seen:
            raise ConfigError(rel, f"requirement {req_id} is defined twice (first on line "
                              f"{seen[req_id]})", line=lineno,
                              hint="give the new requirement the next free number; IDs are stable "
                              "and never reused")
        seen[req_id] = lineno
        found.append(Requirement(req_id, match.group("text").strip(), rel, lineno))
    return found


def prose_outside_requirements(text: str) -> str:
    """The text without its requirement definition lines: what changes when the prose changes."""
    return "\n".join(line for line in text.splitlines() if not _DEFINITION.match(line))


def load_specs(root: Path) -> tuple[list[Requirement], dict[str, str]]:
    """Requirements from every specs/*.md, and the text of each spec file keyed by path."""
    specs_dir = root / "specs"
    requirements: list[Requirement] = []
    texts: dict[str, str] = {}
    owner: dict[str, Requirement] = {}
    for path in sorted(specs_dir.glob("*.md")) if specs_dir.is_dir() else []:
        rel = check_inside(root, path)
        for req in parse_requirements(path, rel):
            if req.id in owner:
                first = owner[req.id]
                raise ConfigError(rel, f"requirement {req.id} is already defined in "
                                  f"{first.file}:{first.line}", line=req.line)
            owner[req.id] = req
            requirements.append(req)
        texts[rel] = path.read_text(encoding="utf-8")
    return requirements, texts
