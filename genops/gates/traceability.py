"""The traceability gate: every requirement in specs/ is implemented and tested by a passing test.

Implemented means a blueprint group lists the requirement ID (multi strategy; a single-strategy run
has no blueprint and that half is skipped). Tested means a test that names the ID *passed*: the ID
appears in a test file (`test_*.py`, `*_test.py`, `conftest.py`, or any .py under `tests/`) inside
a test function or class (its decorators included), or at module level (then every test of that
file names it), and the JUnit evidence of the tests gate says that test passed. A requirement whose
only tests were skipped is reported as such and fails or warns per `[gates.traceability] skipped`;
other gaps per `uncovered`. Without JUnit evidence (no tests gate ran) a mention is all there is,
and the summary says so. The matrix is written as evidence, markdown and JSON.

**By execution.** When the tests gate recorded which of the tree's functions each test ran
(`evidence/tests/executed.json`, from genops's reporter), a passing test counts only if it also
executed code that implements the requirement: a function or class whose source names the ID (or
any function of a module whose top level names it), or any function in the files of the blueprint
group placed for it. A vacuous test (`assert pytest is not None`) in a file whose docstring names
the requirement counts for nothing; the row then says which tests named it without running it.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

from genops.gates.adr_rules import Severity, evidence_path, tree_prefix
from genops.gates.base import Finding, GateContext, GateResult, Verdict
from genops.gates.rules_tree import TreeFacts
from genops.gates.outcomes import EXECUTED_FILE, read_executed
from genops.junit import Case, JUnitReport, read_junit
from genops.workspace import Workspace

REQ_REF = re.compile(r"\bREQ-[A-Z][A-Z0-9]*-\d+\b")


@dataclass
class Row:
    """One requirement's line in the matrix."""

    id: str
    text: str
    where: str  # specs file:line
    groups: list[str] | None  # None: no blueprint to check against
    tests: list[str] = field(default_factory=list)  # tree file:line references
    outcomes: dict[str, list[str]] | None = None  # outcome -> test ids; None: no JUnit evidence
    exercised_by: list[str] | None = None  # passing tests that ran its code; None: not measured

    @property
    def status(self) -> str:
        """passed, unexercised, skipped, failed, not run, untested, or mentioned (no outcomes)."""
        if not self.tests:
            return "untested"
        if self.outcomes is None:
            return "mentioned"
        if self.outcomes.get("passed"):
            return "unexercised" if self.exercised_by == [] else "passed"
        for outcome in ("failed", "skipped"):
            if self.outcomes.get(outcome):
                return outcome
        return "not run"

    @property
    def gaps(self) -> list[str]:
        """What is missing: an implementing group (when a blueprint exists) and a passing test."""
        named = ", ".join((self.outcomes or {}).get("passed", [])[:3])
        missing = {"untested": ["no test references it"], "failed": ["no test naming it passed"],
                   "not run": ["no test naming it ran"],
                   "unexercised": [f"no passing test naming it executed code that implements it "
                                   f"(named by {named})"]}.get(self.status, [])
        if self.groups is not None and not self.groups:
            missing = ["no blueprint group implements it", *missing]
        return missing

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "defined_at": self.where, "groups": self.groups,
                "tests": self.tests, "status": self.status, "outcomes": self.outcomes,
                "exercised_by": self.exercised_by,
                "covered": not self.gaps and self.status != "skipped", "gaps": self.gaps}


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


def _scopes(source: str) -> list[tuple[int, int]]:
    """(first line incl. decorators, last line) of every def and class, innermost last."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found.append((start, node.end_lineno or node.lineno))
    return sorted(found, key=lambda span: span[1] - span[0], reverse=True)


def _named_cases(mention: str, tree: Path, by_file: dict[str, list[Case]],
                 scopes: dict[str, list[tuple[int, int]]]) -> list[Case]:
    """The test cases a mention at `file:line` names: its innermost scope holding tests."""
    rel, _, number = mention.rpartition(":")
    line = int(number)
    cases = by_file.get(rel, [])
    if rel not in scopes:
        scopes[rel] = _scopes((tree / rel).read_text(encoding="utf-8", errors="replace"))
    around = [s for s in scopes[rel] if s[0] <= line <= s[1]]
    if not around:
        return cases  # module level: the whole file's tests name it
    for start, end in reversed(around):
        inside = [c for c in cases if c.line is not None and start <= c.line <= end]
        if inside:
            return inside
    return []  # inside a helper that is not a test


def outcomes_by_requirement(refs: dict[str, list[str]], tree: Path,
                            report: JUnitReport) -> dict[str, dict[str, list[str]]]:
    """Requirement ID -> {outcome: [test ids]} of the JUnit cases its mentions name."""
    by_file: dict[str, list[Case]] = {}
    for case in report.cases:
        if case.file:
            by_file.setdefault(PurePosixPath(case.file).as_posix(), []).append(case)
    scopes: dict[str, list[tuple[int, int]]] = {}
    result: dict[str, dict[str, list[str]]] = {}
    for req, mentions in refs.items():
        seen: dict[str, Case] = {}
        for mention in mentions:
            for case in _named_cases(mention, tree, by_file, scopes):
                seen.setdefault(case.id, case)
        outcomes: dict[str, list[str]] = {}
        for case in seen.values():
            key = "failed" if case.outcome == "error" else case.outcome
            outcomes.setdefault(key, []).append(case.id)
        result[req] = outcomes
    return result


Span = tuple[str, int, int]  # tree file, first line, last line


def implementing_spans(tree: Path, blueprint: Any) -> dict[str, list[Span]]:
    """Requirement ID -> the code that implements it: the innermost def or class of the tree's
    non-test code whose source names the ID (a whole module when its top level does), and every
    file of the blueprint groups placed for it."""
    facts = TreeFacts(root=tree, graph={}, files={})
    spans: dict[str, list[Span]] = {}
    whole = 10 ** 9
    for rel in facts.all_files:
        if not rel.endswith(".py") or is_test_file(rel):
            continue
        source = facts.text(rel)
        scopes = _scopes(source)
        for number, line in enumerate(source.splitlines(), start=1):
            for req in set(REQ_REF.findall(line)):
                around = [sc for sc in scopes if sc[0] <= number <= sc[1]]
                start, end = around[-1] if around else (1, whole)
                spans.setdefault(req, []).append((rel, start, end))
    groups = blueprint.get("groups", []) if isinstance(blueprint, dict) else \
        getattr(blueprint, "groups", []) if blueprint is not None else []
    for group in groups:
        files = group.get("files", []) if isinstance(group, dict) else group.files
        reqs = group.get("requirements", []) if isinstance(group, dict) else group.requirements
        for req in reqs:
            spans.setdefault(req, []).extend((f, 1, whole) for f in files
                                             if f.endswith(".py") and not is_test_file(f))
    return spans


def exercised(passed: list[str], spans: list[Span],
              executed: dict[str, list[tuple[str, int]]]) -> list[str]:
    """The passing tests (JUnit ids) that ran a function inside one of `spans`."""
    by_file: dict[str, list[tuple[int, int]]] = {}
    for file, start, end in spans:
        by_file.setdefault(file, []).append((start, end))
    return [test for test in passed
            if any(start <= line <= end for file, line in executed.get(test, [])
                   for start, end in by_file.get(file, []))]


def build_matrix(requirements: list[Any], tree: Path, blueprint: Any,
                 report: JUnitReport | None = None,
                 executed: dict[str, list[tuple[str, int]]] | None = None,
                 ) -> tuple[list[Row], list[str], dict[str, list[str]]]:
    """The rows, the IDs tests mention that no spec defines, and every mention by ID."""
    refs = requirement_mentions(tree)
    by_req = blueprint_groups(blueprint)
    outcomes = None if report is None else outcomes_by_requirement(refs, tree, report)
    spans = implementing_spans(tree, blueprint) if executed is not None else {}
    rows = [Row(id=r.id, text=r.text, where=f"{r.file}:{r.line}",
                groups=None if by_req is None else by_req.get(r.id, []), tests=refs.get(r.id, []),
                outcomes=None if outcomes is None else outcomes.get(r.id, {}))
            for r in requirements]
    if executed is not None and outcomes is not None:
        for row in rows:  # no code names it and no group is placed for it: not measurable
            if spans.get(row.id):
                row.exercised_by = exercised((row.outcomes or {}).get("passed", []),
                                             spans[row.id], executed)
    defined = {r.id for r in requirements}
    return rows, sorted(set(refs) - defined), refs


STATUS_TEXT = {"passed": "covered", "mentioned": "covered (named by a test; no outcomes)",
               "skipped": "only skipped tests name it"}


def _tested_by(row: Row) -> str:
    """The tests column: the tests that ran its code when measured, else where it is named."""
    if row.exercised_by:
        shown = ", ".join(f"`{t}`" for t in row.exercised_by[:3])
        return shown + (f" (+{len(row.exercised_by) - 3})" if len(row.exercised_by) > 3 else "")
    tests = ", ".join(f"`{t}`" for t in row.tests[:3]) or "—"
    return tests + (f" (+{len(row.tests) - 3})" if len(row.tests) > 3 else "")


def matrix_markdown(rows: list[Row], unknown: list[str]) -> str:
    """The matrix as a markdown table for reviewers."""
    lines = ["# Requirement traceability", "",
             "| requirement | implemented by | tested in | status |", "|---|---|---|---|"]
    for row in rows:
        groups = "n/a (no blueprint)" if row.groups is None else ", ".join(row.groups) or "—"
        tests = _tested_by(row)
        status = "; ".join(row.gaps) if row.gaps else STATUS_TEXT[row.status]
        lines.append(f"| {row.id} | {groups} | {tests} | {status} |")
    if unknown:
        lines += ["", "Tests mention IDs no spec defines: " + ", ".join(unknown)]
    return "\n".join(lines) + "\n"


def _at_definition(row: Row, message: str, rule: str, severity: Severity) -> Finding:
    file, _, line = row.where.rpartition(":")
    return Finding(f"{row.id} ({row.text[:60]}): {message}", file, int(line), rule=rule,
                   severity=severity)


def matrix_findings(rows: list[Row], unknown: list[str], severity: Severity,
                    refs: dict[str, list[str]], prefix: str,
                    skipped: Severity = "warning") -> list[Finding]:
    """Each gap at the requirement's definition; unknown IDs as warnings at their first mention."""
    findings = []
    for row in rows:
        if row.gaps:
            findings.append(_at_definition(row, "; ".join(row.gaps), "traceability/uncovered",
                                           severity))
        if row.status == "skipped":
            names = (row.outcomes or {}).get("skipped", [])
            findings.append(_at_definition(row, f"only skipped tests name it ({len(names)}: "
                                           f"{', '.join(names[:3])})", "traceability/skipped",
                                           skipped))
    for req in unknown:
        file, _, line = refs[req][0].rpartition(":")
        findings.append(Finding(f"tests mention {req}, which no spec defines",
                                f"{prefix}/{file}" if prefix else file, int(line),
                                rule="traceability/unknown-id", severity="warning"))
    return findings


def _write_evidence(evidence_dir: Path, rows: list[Row], unknown: list[str]) -> None:
    evidence_dir.mkdir(parents=True, exist_ok=True)
    (evidence_dir / "traceability.md").write_text(matrix_markdown(rows, unknown), "utf-8")
    (evidence_dir / "traceability.json").write_text(json.dumps(
        {"requirements": [r.to_dict() for r in rows], "unknown_ids": unknown}, indent=2) + "\n",
        "utf-8")


def _summary(rows: list[Row], gaps: list[Row], skipped: list[Row], note: str) -> str:
    parts = []
    if gaps:
        parts.append(f"{len(gaps)} of {len(rows)} requirement(s) not covered{note}: "
                     + ", ".join(r.id for r in gaps[:5]) + (" ..." if len(gaps) > 5 else ""))
    if skipped:
        parts.append(f"{len(skipped)} requirement(s) only tested by skipped tests: "
                     + ", ".join(r.id for r in skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    if not parts:
        tested = "tested" if rows and rows[0].outcomes is None else \
            "exercised by a passing test that names it" \
            if any(r.exercised_by is not None for r in rows) else "tested by a passing test"
        parts.append(f"all {len(rows)} requirement(s) implemented and {tested}{note}")
    return "; ".join(parts)


def trace_result(name: str, ws: Workspace, tree: Path, blueprint: Any,
                 evidence_dir: Path | None = None, shown: tuple[str, ...] = (),
                 junit: Path | None = None) -> GateResult:
    """Build the matrix (with test outcomes when `junit` exists), write the evidence, judge it."""
    if not ws.requirements:
        return GateResult(name, "skip", "specs define no requirement IDs")
    report = read_junit(junit) if junit is not None else None
    executed = read_executed(junit.with_name(EXECUTED_FILE)) if junit is not None else None
    rows, unknown, refs = build_matrix(ws.requirements, tree, blueprint, report, executed)
    if evidence_dir is not None:
        _write_evidence(evidence_dir, rows, unknown)
    policy = ws.config.gates.traceability
    unexercised = [r for r in rows if r.status == "unexercised"]
    gaps = [r for r in rows if r.gaps and r.status != "unexercised"]
    skipped = [r for r in rows if r.status == "skipped"]
    severity: Severity = "error" if policy.uncovered == "fail" else "warning"
    skip_severity: Severity = "error" if policy.skipped == "fail" else "warning"
    findings = matrix_findings([r for r in rows if r.status != "unexercised"], unknown, severity,
                               refs, tree_prefix(ws), skip_severity)
    findings += [_at_definition(r, "; ".join(r.gaps), "traceability/unexercised",
                                "error" if policy.unexercised == "fail" else "warning")
                 for r in unexercised]
    note = "" if blueprint is not None else " (no blueprint: implementation not checked)"
    if report is None:
        note += " (no JUnit evidence: a test naming it counts)"
    elif executed is None:
        note += " (no execution evidence: a passing test naming it counts)"
    data = {"requirements": len(rows), "uncovered": [r.id for r in gaps],
            "skipped_only": [r.id for r in skipped], "unknown_ids": unknown,
            "unexercised": [r.id for r in unexercised]}
    failing = (gaps and policy.uncovered == "fail") or (skipped and policy.skipped == "fail") \
        or (unexercised and policy.unexercised == "fail")
    verdict: Verdict = "fail" if failing else \
        "warn" if gaps or skipped or unknown or unexercised else "pass"
    summary = _summary(rows, gaps, skipped, note)
    if unexercised:
        summary = (f"{len(unexercised)} requirement(s) named by passing tests that never ran their "
                   f"code: " + ", ".join(r.id for r in unexercised[:5])
                   + (" ..." if len(unexercised) > 5 else "") + "; "
                   + summary.replace(f"all {len(rows)} requirement(s)",
                                     f"the other {len(rows) - len(unexercised)} requirement(s)"))
    return GateResult(name, verdict, summary, tuple(findings), shown, data=data)


def junit_evidence(ctx: GateContext) -> Path | None:
    """The tests gate's JUnit file for this tree: given by the run, or in the evidence dir."""
    given = ctx.run.get("junit")
    if given is not None:
        return Path(given)
    path = ctx.evidence_dir / "tests" / "junit.xml"
    return path if path.is_file() else None


class TraceabilityGate:
    """Gate: every requirement has an implementing group (multi strategy) and a passing test."""

    name = "traceability"

    def check(self, ctx: GateContext) -> GateResult:
        _, md_shown = evidence_path(ctx, "traceability.md")
        _, json_shown = evidence_path(ctx, "traceability.json")
        return trace_result(self.name, ctx.workspace, ctx.staged, ctx.run.get("blueprint"),
                            ctx.evidence_dir, (md_shown, json_shown), junit_evidence(ctx))


def make_gate(ws: Workspace) -> TraceabilityGate:
    """The traceability gate applies to every workspace (it skips when specs define no IDs)."""
    return TraceabilityGate()
