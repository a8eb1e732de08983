"""JUnit XML, the tests gate's evidence, read as per-test outcomes.

The one reader of that file: the tests gate (its counts), the traceability gate (which
requirements a *passing* test names), the reviewer summary's coverage and the audit pack's
test-result attestation all read it here, so they cannot disagree about what ran.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Outcome = Literal["passed", "failed", "error", "skipped"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "error", "skipped")
_TAGS: tuple[tuple[str, Outcome], ...] = (("failure", "failed"), ("error", "error"),
                                           ("skipped", "skipped"))


@dataclass(frozen=True)
class Case:
    """One test case and how it ended."""

    classname: str
    name: str
    file: str | None  # relative to the suite's root directory
    line: int | None  # 1-based line of the test's definition
    outcome: Outcome
    message: str = ""  # the first line of the failure's message
    detail: str = ""  # the whole failure text (the element's body, else its message)

    @property
    def id(self) -> str:
        return f"{self.classname}::{self.name}".strip(":")


@dataclass(frozen=True)
class JUnitReport:
    """Every case of a JUnit file; `valid` is False when the file is not XML."""

    cases: tuple[Case, ...]
    valid: bool = True

    def counts(self) -> dict[str, int]:
        """tests, passed, failures, errors, skipped (failures/errors: the JUnit names)."""
        tally = {o: sum(1 for c in self.cases if c.outcome == o) for o in OUTCOMES}
        return {"tests": len(self.cases), "passed": tally["passed"], "failures": tally["failed"],
                "errors": tally["error"], "skipped": tally["skipped"]}


def _line(value: str | None) -> int | None:
    return int(value) + 1 if value and value.isdigit() else None  # junit lines are 0-based


def _case(element: ET.Element) -> Case:
    outcome: Outcome = "passed"
    message = detail = ""
    for tag, name in _TAGS:
        found = element.find(tag)
        if found is not None:
            outcome = name
            lines = (found.get("message") or "").strip().splitlines()
            message = lines[0] if lines else tag
            detail = (found.text or found.get("message") or tag).strip()
            break
    return Case(element.get("classname", ""), element.get("name", ""), element.get("file"),
                _line(element.get("line")), outcome, message, detail)


def read_junit(path: Path) -> JUnitReport | None:
    """The report in `path`, or None when there is no such file."""
    if not path.is_file():
        return None
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return JUnitReport((), valid=False)
    return JUnitReport(tuple(_case(e) for e in root.iter("testcase")))


def outcome_phrase(counts: dict[str, int]) -> str:
    """"97 passed, 13 skipped": every non-zero outcome, failures first."""
    parts = [(counts.get("failures", 0), "failed"), (counts.get("errors", 0), "error(s)"),
             (counts.get("passed", 0), "passed"), (counts.get("skipped", 0), "skipped")]
    shown = [f"{n} {label}" for n, label in parts if n or label == "passed"]
    return ", ".join(shown)
