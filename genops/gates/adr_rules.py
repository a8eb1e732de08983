"""The ADR rules gate: every rule of every active ADR, checked on a tree, waivers applied.

Only accepted ADRs that no accepted ADR supersedes apply (`Workspace.active_adrs()`). A rule whose
module patterns match nothing in the tree is itself a violation, pointing at the ADR: a rule that
matches nothing would otherwise pass silently forever. An active ADR's `waives` entries remove the
matching violations of an earlier ADR's rule; a waiver that removes nothing is reported as a
warning so stale waivers get cleaned up.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from genops.gates.base import Finding, GateContext, GateResult, Verdict
from genops.gates.rules_code import CODE_CHECKS, RuleEnv
from genops.gates.rules_imports import IMPORT_CHECKS, sibling_members
from genops.gates.rules_tree import RuleRef, TreeFacts, Violation
from genops.semdiff import diff_trees
from genops.workspace import Workspace
from genops.workspace.rules_schema import as_list, has_wildcard, matches, validate_adr_rules, validate_rules

Severity = Literal["error", "warning", "note"]

# Fields whose module patterns must name something in the tree (tach #876: rules silently passing).
MODULE_FIELDS: dict[str, tuple[str, ...]] = {
    "forbid_import": ("from", "except"), "layers": ("layers", "except"),
    "independent": ("modules", "except"), "acyclic": ("package",),
    "forbidden_calls": ("in", "except"),
}


@dataclass
class RulesReport:
    """The outcome of checking rules on a tree: what stands, what was waived, stale waivers."""

    violations: list[Violation] = field(default_factory=list)
    waived: list[tuple[Violation, str]] = field(default_factory=list)  # (violation, by ADR)
    unused_waivers: list[Violation] = field(default_factory=list)
    rules_checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"rules_checked": self.rules_checked,
                "violations": [v.to_dict() for v in self.violations],
                "waived": [{**v.to_dict(), "waived_by": by} for v, by in self.waived],
                "unused_waivers": [v.to_dict() for v in self.unused_waivers]}


def rule_refs(adr: Any) -> list[RuleRef]:
    """A reference to each rule of an ADR, with the line it is written on."""
    kinds = Counter(r.get("kind") for r in adr.rules)
    return [RuleRef(adr=adr.id, index=i, kind=str(rule.get("kind")), file=adr.file or adr.id,
                    line=adr.rule_lines[i] if i < len(adr.rule_lines) else None,
                    name=rule.get("name"), unique_kind=kinds[rule.get("kind")] == 1)
            for i, rule in enumerate(adr.rules)]


def _looks_internal(facts: TreeFacts, pattern: str) -> bool:
    """A `to` pattern names the tree (not a third-party package) when its first part does."""
    head = pattern.split(".")[0]
    if has_wildcard(head):
        return True
    return head in facts.top_level_packages() or any(
        m.split(".")[0] == head for m in facts.previous_modules)


def missing_patterns(facts: TreeFacts, rule: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, pattern) for every module pattern of a rule that names nothing in the tree."""
    kind = rule["kind"]
    missing: list[tuple[str, str]] = []
    for name in MODULE_FIELDS.get(kind, ()):
        for value in as_list(rule.get(name)):
            for pattern in as_list(value):
                if not facts.names_anything(pattern):
                    missing.append((name, pattern))
    if kind == "forbid_import":
        missing += [("to", p) for p in as_list(rule["to"])
                    if _looks_internal(facts, p) and not facts.names_anything(p)]
    if kind == "protected_api":
        missing += [("paths", p) for p in as_list(rule["paths"]) if not facts.names_object(p)]
    if kind == "max_file_lines" and rule.get("paths"):
        from fnmatch import fnmatchcase

        missing += [("paths", g) for g in as_list(rule["paths"])
                    if not any(fnmatchcase(f, g) for f in facts.all_files)]
    return missing


def _dead_rule(facts: TreeFacts, ref: RuleRef, rule: dict[str, Any]) -> list[Violation]:
    """Violations for patterns that match nothing, and independence rules with one sibling."""
    found = [Violation(rule=ref, file=ref.file, line=ref.line, subjects=(pattern,),
                       message=f"{ref.label}: names {pattern!r} in `{name}`, which matches nothing "
                               "in the tree; a rule that matches nothing silently passes — fix "
                               "the pattern, or supersede the ADR if the module is gone")
             for name, pattern in missing_patterns(facts, rule)]
    if rule["kind"] == "independent" and not found and len(sibling_members(facts, rule)) < 2:
        found.append(Violation(rule=ref, file=ref.file, line=ref.line, subjects=(),
                               message=f"{ref.label}: matches fewer than two siblings in the "
                                       "tree, so it cannot be broken; fix its patterns"))
    return found


def evaluate(adrs: list[Any], facts: TreeFacts, env: RuleEnv) -> tuple[list[Violation], int]:
    """Every violation of every rule of `adrs` (before waivers), and how many rules ran."""
    found: list[Violation] = []
    count = 0
    for adr in adrs:
        for ref, rule in zip(rule_refs(adr), adr.rules, strict=True):
            count += 1
            dead = _dead_rule(facts, ref, rule)
            if dead:
                found.extend(dead)
                continue
            if ref.kind in IMPORT_CHECKS:
                found.extend(IMPORT_CHECKS[ref.kind](facts, ref, rule))
            else:
                found.extend(CODE_CHECKS[ref.kind](facts, ref, rule, env))
    return found, count


def apply_waivers(violations: list[Violation], adrs: list[Any]) -> RulesReport:
    """Split violations into standing and waived; waivers that matched nothing become warnings."""
    report = RulesReport()
    used: set[tuple[str, int]] = set()
    for violation in violations:
        by = _waiver_for(violation, adrs, used)
        if by:
            report.waived.append((violation, by))
        else:
            report.violations.append(violation)
    for adr in adrs:
        for index, waiver in enumerate(adr.waives):
            if (adr.id, index) not in used:
                ref = RuleRef(adr=adr.id, index=index, kind="waiver", file=adr.file or adr.id,
                              line=None)
                report.unused_waivers.append(Violation(
                    rule=ref, file=adr.file or adr.id, line=None, subjects=(waiver.path,),
                    severity="warning",
                    message=f"{adr.id} waives {waiver.rule} of {waiver.adr} for {waiver.path!r}, "
                            "but no such violation exists (any more); remove the waiver"))
    return report


def _waiver_for(violation: Violation, adrs: list[Any], used: set[tuple[str, int]]) -> str | None:
    """The id of the active ADR whose waiver covers a violation, or None."""
    for adr in adrs:
        for index, waiver in enumerate(adr.waives):
            if (waiver.adr == violation.rule.adr and waiver.rule == violation.rule.kind
                    and any(matches(s, waiver.path) for s in violation.subjects)):
                used.add((adr.id, index))
                return str(adr.id)
    return None


def check_rules(adrs: list[Any], tree: Path, *, previous: Path | None = None,
                diff: Any = None) -> RulesReport:
    """Check the rules of `adrs` (already the active ones) on `tree`; the library entry point."""
    facts = TreeFacts.load(tree, previous)
    allows = tuple(p for adr in adrs for p in adr.allows_breaking)
    if diff is None and previous is not None and _needs_diff(adrs):
        diff = diff_trees(previous, tree)
    violations, count = evaluate(adrs, facts, RuleEnv(diff=diff, allows_breaking=allows))
    report = apply_waivers(violations, adrs)
    report.rules_checked = count
    return report


def _needs_diff(adrs: list[Any]) -> bool:
    return any(r.get("kind") == "protected_api" for adr in adrs for r in adr.rules)


def tree_prefix(ws: Workspace) -> str:
    """Where the checked tree lives in the workspace, so findings name real paths (generated/...)."""
    return str(ws.config.project.output).strip("/")


def to_finding(violation: Violation, prefix: str) -> Finding:
    """A gate finding: tree files get the workspace prefix, ADR files keep their own path."""
    file = violation.file
    if file and prefix and file != violation.rule.file:
        file = f"{prefix}/{file}"
    where = "" if file == violation.rule.file else f" [rule at {violation.rule.where}]"
    severity: Severity = "warning" if violation.severity == "warning" else "error"
    return Finding(message=violation.message + where, file=file, line=violation.line,
                   rule=violation.rule.rule_id, severity=severity)


def evidence_path(ctx: GateContext, name: str) -> tuple[Path, str]:
    """(absolute path, path shown in the result) of an evidence file of this gate."""
    path = ctx.evidence_dir / name
    root = Path(ctx.workspace.root)
    try:
        shown = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        shown = os.fspath(path)
    return path, shown


class AdrRulesGate:
    """Gate: the staged tree keeps every rule of every active ADR."""

    name = "adr_rules"
    needs = ("parse",)

    def check(self, ctx: GateContext) -> GateResult:
        adrs = ctx.workspace.active_adrs()
        if not any(a.rules for a in adrs):
            return GateResult(self.name, "skip", "no active ADR has rules")
        report = check_rules(adrs, ctx.staged, previous=ctx.previous, diff=ctx.run.get("diff"))
        path, shown = evidence_path(ctx, "adr_rules.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
        prefix = tree_prefix(ctx.workspace)
        findings = [to_finding(v, prefix) for v in (*report.violations, *report.unused_waivers)]
        waived = f", {len(report.waived)} waived" if report.waived else ""
        if report.violations:
            first = report.violations[0]
            summary = (f"{len(report.violations)} ADR rule violation(s){waived}; first: "
                       f"{first.message}")
            return GateResult(self.name, "fail", summary, tuple(findings), (shown,),
                              data=report.to_dict())
        verdict: Verdict = "warn" if report.unused_waivers else "pass"
        summary = f"{report.rules_checked} rule(s) of {len(adrs)} active ADR(s) hold{waived}"
        return GateResult(self.name, verdict, summary, tuple(findings), (shown,),
                          data=report.to_dict())


def make_gate(ws: Workspace) -> AdrRulesGate:
    """The ADR rules gate applies to every workspace (it skips when no ADR has rules)."""
    return AdrRulesGate()


__all__ = ["AdrRulesGate", "RulesReport", "apply_waivers", "check_rules", "evaluate", "make_gate",
           "to_finding", "validate_adr_rules", "validate_rules"]
