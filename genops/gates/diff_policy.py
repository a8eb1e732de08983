"""The diff policy gate: the semantic diff against the current release, judged by [gates.diff].

`fail_on` picks which changes need permission: `breaking` (the default), `api` (plus breaking),
`behaviour` (anything not cosmetic), `any` (every change) or `never`, the levels of
`genops diff --fail-on`. A change that needs permission passes when an
accepted ADR names its path in `allows_breaking`, or when the run was started with
`--allow-breaking` (GateContext.run["allow_breaking"], recorded in the manifest); then the gate
warns so the reviewer still sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from genops.gates.adr_rules import Severity, evidence_path, tree_prefix
from genops.gates.base import Finding, GateContext, GateResult
from genops.gates.rules_code import allowed_by, change_field, change_location, diff_changes
from genops.semdiff import diff_trees
from genops.workspace import Workspace


def _breaking(change: Any) -> bool:
    return bool(change_field(change, "breaking"))


# The same levels as `genops diff --fail-on` (DiffResult.matches), plus `never`.
POLICIES: dict[str, Callable[[Any], bool]] = {
    "breaking": _breaking,
    "api": lambda c: _breaking(c) or change_field(c, "category") == "api",
    "behaviour": lambda c: _breaking(c) or change_field(c, "category") != "cosmetic",
    "any": lambda c: True,
    "never": lambda c: False,
}


@dataclass
class PolicyOutcome:
    """Which changes the policy stops, and which an ADR or --allow-breaking let through."""

    policy: str
    blocked: list[Any] = field(default_factory=list)
    allowed_by_adr: list[tuple[Any, str]] = field(default_factory=list)  # (change, ADR id)
    allowed_by_flag: list[Any] = field(default_factory=list)
    total: int = 0


def _adr_allowing(change: Any, adrs: list[Any]) -> str | None:
    for adr in adrs:
        if allowed_by(change, tuple(adr.allows_breaking)):
            return str(adr.id)
    return None


def judge(changes: list[Any], policy: str, adrs: list[Any], allow_breaking: bool) -> PolicyOutcome:
    """Sort a diff's changes by the policy; `adrs` are the active ADRs."""
    outcome = PolicyOutcome(policy=policy, total=len(changes))
    needs_permission = POLICIES[policy]
    for change in changes:
        if not needs_permission(change):
            continue
        adr = _adr_allowing(change, adrs)
        if adr:
            outcome.allowed_by_adr.append((change, adr))
        elif allow_breaking:
            outcome.allowed_by_flag.append(change)
        else:
            outcome.blocked.append(change)
    return outcome


def describe(change: Any) -> str:
    """`mad.bus.Bus.publish: parameter 'timeout' removed (parameter_removed, breaking)`."""
    detail = change_field(change, "detail") or change_field(change, "kind")
    flags = [str(change_field(change, "kind"))]
    if change_field(change, "breaking"):
        flags.append("breaking")
    return f"{change_field(change, 'path')}: {detail} ({', '.join(flags)})"


def change_finding(change: Any, prefix: str, severity: Severity, why: str) -> Finding:
    """A finding at the change's location in the workspace (`generated/...`)."""
    file, line = change_location(change)
    if file and prefix:
        file = f"{prefix}/{file}"
    return Finding(message=f"{describe(change)}{why}", file=file, line=line,
                   rule=f"diff/{change_field(change, 'kind')}", severity=severity)


BLOCKED_WHY = ("; needs an accepted ADR naming it in allows_breaking, or `--allow-breaking` "
               "(recorded in the manifest)")


def outcome_findings(outcome: PolicyOutcome, prefix: str) -> list[Finding]:
    """Blocked changes as errors; let-through changes as notes and warnings for the reviewer."""
    findings = [change_finding(c, prefix, "error", BLOCKED_WHY) for c in outcome.blocked]
    findings += [change_finding(c, prefix, "warning", " — allowed by --allow-breaking")
                 for c in outcome.allowed_by_flag]
    findings += [change_finding(c, prefix, "note", f" — allowed by {adr}")
                 for c, adr in outcome.allowed_by_adr]
    return findings


def diff_for(ctx: GateContext) -> Any:
    """The run's semantic diff, computed once and shared with later gates via ctx.run["diff"]."""
    if ctx.run.get("diff") is None and ctx.previous is not None:
        ctx.run["diff"] = diff_trees(ctx.previous, ctx.staged)
    return ctx.run.get("diff")


def _diff_json(diff: Any) -> Any:
    data = diff.to_json() if hasattr(diff, "to_json") else diff
    return json.loads(data) if isinstance(data, str) else data


def outcome_result(name: str, outcome: PolicyOutcome, findings: list[Finding],
                   evidence: tuple[str, ...]) -> GateResult:
    """The verdict: fail when anything is blocked, warn when the flag let something through."""
    data = {"policy": outcome.policy, "changes": outcome.total, "blocked": len(outcome.blocked),
            "allowed_by_adr": len(outcome.allowed_by_adr),
            "allowed_by_flag": len(outcome.allowed_by_flag)}
    if outcome.blocked:
        summary = (f"{len(outcome.blocked)} change(s) need permission under fail_on="
                   f"{outcome.policy!r}; first: {describe(outcome.blocked[0])}")
        return GateResult(name, "fail", summary, tuple(findings), evidence, data=data)
    if outcome.allowed_by_flag:
        summary = (f"{len(outcome.allowed_by_flag)} change(s) let through by --allow-breaking "
                   f"(recorded in the manifest); {outcome.total} change(s) in all")
        return GateResult(name, "warn", summary, tuple(findings), evidence, data=data)
    adr_note = f", {len(outcome.allowed_by_adr)} allowed by ADR" if outcome.allowed_by_adr else ""
    summary = f"{outcome.total} semantic change(s), none against fail_on={outcome.policy!r}{adr_note}"
    return GateResult(name, "pass", summary, tuple(findings), evidence, data=data)


class DiffPolicyGate:
    """Gate: no change the policy stops, unless an ADR or --allow-breaking allows it."""

    name = "diff_policy"
    needs = ("parse",)

    def check(self, ctx: GateContext) -> GateResult:
        if ctx.previous is None and ctx.run.get("diff") is None:
            return GateResult(self.name, "skip", "first release: no previous tree to diff against")
        diff = diff_for(ctx)
        policy = ctx.workspace.config.gates.diff.fail_on
        outcome = judge(diff_changes(diff), policy, ctx.workspace.active_adrs(),
                        bool(ctx.run.get("allow_breaking")))
        path, shown = evidence_path(ctx, "diff_policy.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"policy": policy, "allow_breaking": bool(ctx.run.get("allow_breaking")),
                  "blocked": [describe(c) for c in outcome.blocked],
                  "allowed_by_adr": [[describe(c), a] for c, a in outcome.allowed_by_adr],
                  "allowed_by_flag": [describe(c) for c in outcome.allowed_by_flag],
                  "diff": _diff_json(diff)}
        path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
        findings = outcome_findings(outcome, tree_prefix(ctx.workspace))
        return outcome_result(self.name, outcome, findings, (shown,))


def make_gate(ws: Workspace) -> DiffPolicyGate:
    """The diff policy gate applies to every workspace (it skips on a first release)."""
    return DiffPolicyGate()
