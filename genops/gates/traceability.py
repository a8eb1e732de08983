"""The traceability gate: every requirement in specs/ is implemented and tested.

Implemented means a blueprint group lists the requirement ID (multi strategy; a single-strategy run
has no blueprint and that half is skipped). Tested means the ID appears in at least one test file
of the tree (`test_*.py`, `*_test.py`, `conftest.py`, or any .py under a `tests/` directory). The
matrix is written as evidence, markdown and JSON; gaps fail or warn per [gates.traceability].
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

from genops.gates.adr_rules import Severity, evidence_path, tree_prefix
from genops.gates.base import Finding, GateContext, GateResult, Verdict
from genops.gates.rules_tree import TreeFacts

REQ_REF = re.compile(r"\bREQ-[A-Z][A-Z0-9]*-\d+\b")


@dataclass
class Row:
    """One requirement's line in the matrix."""

    id: str
    text: str
    where: str  # specs file:line
    groups: list[str] | None  # None: no blueprint to check against
    tests: list[str] = field(default_factory=list)  # tree file:line references

    @property
    def gaps(self) -> list[str]:
        """What is missing: an implementing group (when a blueprint exists) and a test."""
        missing = [] if self.tests else ["no test references it"]
        if self.groups is not None and not self.groups:
            missing.insert(0, "no blueprint group implements it")
        return missing

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "defined_at": self.where, "groups": self.groups,
                "tests": self.tests, "covered": not self.gaps, "gaps": self.gaps}


def is_test_file(rel: str) -> bool:
    """Test files as pytest finds them, plus anything under a tests/ directory."""
    path = PurePosixPath(rel)
    if path.suffix != ".py":
        return False
    if fnmatchcase(path.name, "test_*.py") or fnmatchcase(path.name, "*_test.py"):
        return True
    return path.name == "conftest.py" or any(p in ("tests", "test") for p in path.parts[:-1])


def requirement_mentions(tree: Path) -> dict[str, list[str]]:
    """Requirement ID -> ["file:line", ...] of every mention in the tree's test files."""
    facts = TreeFacts(root=tree, graph={}, files={})
    found: dict[str, list[str]] = {}
    for rel in facts.all_files:
        if not is_test_file(rel):
            continue
        for number, line in enumerate(facts.text(rel).splitlines(), start=1):
            for req in sorted(set(REQ_REF.findall(line))):
                found.setdefault(req, []).append(f"{rel}:{number}")
    return found


def blueprint_groups(blueprint: Any) -> dict[str, list[str]] | None:
    """Requirement ID -> implementing group names, from a Blueprint or its JSON; None if absent."""
    if blueprint is None:
        return None
    groups = blueprint.get("groups", []) if isinstance(blueprint, dict) else blueprint.groups
    by_req: dict[str, list[str]] = {}
    for group in groups:
        name = group["name"] if isinstance(group, dict) else group.name
        reqs = group.get("requirements", []) if isinstance(group, dict) else group.requirements
        for req in reqs:
            by_req.setdefault(req, []).append(name)
    return by_req


def build_matrix(requirements: list[Any], tree: Path, blueprint: Any
                 ) -> tuple[list[Row], list[str], dict[str, list[str]]]:
    """The rows, the IDs tests mention that no spec defines, and every mention by ID."""
    refs = requirement_mentions(tree)
    by_req = blueprint_groups(blueprint)
    rows = [Row(id=r.id, text=r.text, where=f"{r.file}:{r.line}",
                groups=None if by_req is None else by_req.get(r.id, []), tests=refs.get(r.id, []))
            for r in requirements]
    defined = {r.id for r in requirements}
    return rows, sorted(set(refs) - defined), refs


def matrix_markdown(rows: list[Row], unknown: list[str]) -> str:
    """The matrix as a markdown table for reviewers."""
    lines = ["# Requirement traceability", "",
             "| requirement | implemented by | tested in | status |", "|---|---|---|---|"]
    for row in rows:
        groups = "n/a (no blueprint)" if row.groups is None else ", ".join(row.groups) or "—"
        tests = ", ".join(f"`{t}`" for t in row.tests[:3]) or "—"
        if len(row.tests) > 3:
            tests += f" (+{len(row.tests) - 3})"
        status = "covered" if not row.gaps else "; ".join(row.gaps)
        lines.append(f"| {row.id} | {groups} | {tests} | {status} |")
    if unknown:
        lines += ["", "Tests mention IDs no spec defines: " + ", ".join(unknown)]
    return "\n".join(lines) + "\n"


def matrix_findings(rows: list[Row], unknown: list[str], severity: Severity,
                    refs: dict[str, list[str]], prefix: str) -> list[Finding]:
    """Each gap at the requirement's definition; unknown IDs as warnings at their first mention."""
    findings = []
    for row in rows:
        if row.gaps:
            file, _, line = row.where.rpartition(":")
            findings.append(Finding(f"{row.id} ({row.text[:60]}): {'; '.join(row.gaps)}", file,
                                    int(line), rule="traceability/uncovered",
                                    severity=severity))
    for req in unknown:
        file, _, line = refs[req][0].rpartition(":")
        findings.append(Finding(f"tests mention {req}, which no spec defines",
                                f"{prefix}/{file}" if prefix else file, int(line),
                                rule="traceability/unknown-id", severity="warning"))
    return findings


def trace_result(name: str, ws: Any, tree: Path, blueprint: Any,
                 evidence_dir: Path | None = None, shown: tuple[str, ...] = ()) -> GateResult:
    """Build the matrix, write it as evidence when a directory is given, and judge it."""
    if not ws.requirements:
        return GateResult(name, "skip", "specs define no requirement IDs")
    rows, unknown, refs = build_matrix(ws.requirements, tree, blueprint)
    if evidence_dir is not None:
        evidence_dir.mkdir(parents=True, exist_ok=True)
        (evidence_dir / "traceability.md").write_text(matrix_markdown(rows, unknown), "utf-8")
        (evidence_dir / "traceability.json").write_text(json.dumps(
            {"requirements": [r.to_dict() for r in rows], "unknown_ids": unknown}, indent=2) + "\n",
            "utf-8")
    mode = ws.config.gates.traceability.uncovered
    gaps = [r for r in rows if r.gaps]
    severity: Severity = "error" if mode == "fail" else "warning"
    findings = matrix_findings(rows, unknown, severity, refs, tree_prefix(ws))
    half = "" if blueprint is not None else " (no blueprint: implementation not checked)"
    data = {"requirements": len(rows), "uncovered": [r.id for r in gaps], "unknown_ids": unknown}
    if gaps:
        verdict: Verdict = "fail" if mode == "fail" else "warn"
        summary = (f"{len(gaps)} of {len(rows)} requirement(s) not covered{half}: "
                   + ", ".join(r.id for r in gaps[:5]) + (" ..." if len(gaps) > 5 else ""))
    else:
        verdict = "warn" if unknown else "pass"
        summary = f"all {len(rows)} requirement(s) implemented and tested{half}"
    return GateResult(name, verdict, summary, tuple(findings), shown, data=data)


class TraceabilityGate:
    """Gate: every requirement has an implementing group (multi strategy) and a test."""

    name = "traceability"

    def check(self, ctx: GateContext) -> GateResult:
        _, md_shown = evidence_path(ctx, "traceability.md")
        _, json_shown = evidence_path(ctx, "traceability.json")
        return trace_result(self.name, ctx.workspace, ctx.staged, ctx.run.get("blueprint"),
                            ctx.evidence_dir, (md_shown, json_shown))


def make_gate(ws: Any) -> TraceabilityGate:
    """The traceability gate applies to every workspace (it skips when specs define no IDs)."""
    return TraceabilityGate()
