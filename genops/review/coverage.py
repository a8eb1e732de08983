"""Requirement coverage as a reviewer reads it: which tests mention an ID and how they ended.

The traceability evidence (`traceability.json`) says where tests mention each requirement ID;
the test gate's JUnit XML says how each test case ended. A mention inside a test function counts
for that test; a mention outside any test (a module docstring) counts for every test in the file.
The delta against the parent release compares the requirement texts of both evidence files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from genops.junit import read_junit

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class Case:
    """One test case of a JUnit report: where it is defined and how it ended."""

    file: str
    line: int  # 1-based line of the test's definition
    name: str
    status: Status


def junit_cases(path: Path) -> list[Case]:
    """Every test case in a JUnit XML file (xunit1, with file and line); [] if absent or invalid."""
    report = read_junit(path)
    if report is None:
        return []
    status: dict[str, Status] = {"passed": "passed", "skipped": "skipped", "failed": "failed",
                                 "error": "failed"}
    return [Case(case.file or "", case.line or 0, f"{case.classname}::{case.name}",
                 status[case.outcome]) for case in report.cases]


def cases_for_mention(cases: list[Case], mention: str) -> list[Case]:
    """The test(s) a `file:line` mention belongs to: the enclosing test, else the whole file."""
    file, _, line_text = mention.rpartition(":")
    line = int(line_text) if line_text.isdigit() else 0
    in_file = [c for c in cases if c.file == file]
    before = [c.line for c in in_file if c.line <= line]
    if not before:
        return in_file
    start = max(before)
    return [c for c in in_file if c.line == start]


def _load(path: Path | None) -> list[dict[str, Any]]:
    if path is None or not path.is_file():
        return []
    rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8")).get("requirements", [])
    return rows


def coverage_of(row: dict[str, Any], cases: list[Case]) -> dict[str, Any]:
    """passing / failing / skipped / referenced (no test ran) / none, with counts per status."""
    seen: dict[str, Case] = {}
    for mention in row.get("tests", []):
        for case in cases_for_mention(cases, mention):
            seen[case.name] = case
    counts = {s: sum(1 for c in seen.values() if c.status == s)
              for s in ("passed", "failed", "skipped")}
    if counts["failed"]:
        status = "failing"
    elif counts["passed"]:
        status = "passing"
    elif counts["skipped"]:
        status = "skipped"
    else:
        status = "referenced" if row.get("tests") else "none"
    groups = row.get("groups")
    return {"id": row["id"], "status": status, **counts, "mentions": len(row.get("tests", [])),
            "implemented_by": groups, "defined_at": row.get("defined_at", "")}


def requirement_delta(evidence: Path, parent_evidence: Path | None) -> dict[str, Any]:
    """Requirement IDs added, changed and removed since the parent, each with its coverage."""
    rows = _load(evidence / "traceability.json")
    old = {r["id"]: r.get("text", "") for r in _load(
        parent_evidence / "traceability.json" if parent_evidence else None)}
    cases = junit_cases(evidence / "tests" / "junit.xml")
    covered = [coverage_of(r, cases) for r in rows]
    new_ids = {r["id"] for r in rows}
    added = [c for c, r in zip(covered, rows, strict=True) if r["id"] not in old]
    changed = [c for c, r in zip(covered, rows, strict=True)
               if r["id"] in old and old[r["id"]] != r.get("text", "")]
    totals: dict[str, int] = {}
    for c in covered:
        totals[c["status"]] = totals.get(c["status"], 0) + 1
    return {"added": added, "changed": changed, "removed": sorted(set(old) - new_ids),
            "all": covered, "totals": dict(sorted(totals.items())),
            "known": bool(rows), "first": parent_evidence is None}
