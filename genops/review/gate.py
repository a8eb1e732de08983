"""The review panel gate: two or more pinned models review a risky change and can block it.

Applies when `[review.panel]` names rungs and `when` is not "never"; with `when = "high_risk"` a
change that no `[review.high_risk]` rule marks is skipped without a call. It runs after the
tests (no reviewer is paid to read a tree that fails them). Findings carry the reviewer, the
severity and the requirement or ADR they cite, at the file and line the reviewer named.
"""

from __future__ import annotations

import json
from typing import Any

from genops.gates.adr_rules import evidence_path, tree_prefix
from genops.gates.base import Finding, GateContext, GateResult
from genops.providers.client import ModelClient
from genops.review.change import change_context
from genops.review.changes import semantic_diff
from genops.review.panel import blocks, judge, run_panel, write_evidence
from genops.workspace import Workspace

NAME = "review_panel"
SEVERITY: dict[str, Any] = {"blocker": "error", "major": "warning", "minor": "note"}


def _finding(outcome: Any, f: Any, prefix: str, blocked: bool) -> Finding:
    cites = ", ".join(x for x in (f.requirement, f.adr) if x)
    message = (f"{outcome.rung} ({outcome.provider} {outcome.model}) "
               f"{outcome.answer.verdict.replace('_', ' ')}: {f.severity}"
               f"{' [' + cites + ']' if cites else ''}: {f.rationale}")
    severity = SEVERITY[f.severity]
    if blocks(outcome) and blocked:
        severity = "error"
    rule = f"review/{f.requirement or f.adr or f.severity}"
    return Finding(message, f"{prefix}/{f.file}" if prefix else f.file, f.line, rule=rule,
                   severity=severity)


def findings_of(outcomes: list[Any], prefix: str, blocked: bool) -> list[Finding]:
    """Every reviewer's findings, then one line per reviewer that gave no valid answer."""
    found = [_finding(o, f, prefix, blocked) for o in outcomes if o.answer
             for f in o.answer.findings]
    found += [Finding(f"{o.rung} ({o.provider} {o.model}): {o.error}", rule="review/no-answer",
                      severity="warning") for o in outcomes if o.error]
    return found


def panel_result(ws: Workspace, ctx: GateContext, diff: dict[str, Any], *, force: bool = False,
                 client: ModelClient | None = None) -> GateResult:
    """Run the panel on the change from ctx.previous to ctx.staged and judge it by the policy."""
    cfg = ws.config.review.panel
    context, reasons = change_context(ws, diff, ctx.previous, ctx.staged,
                                      [])
    if cfg.when == "high_risk" and not reasons and not force:
        return GateResult(NAME, "skip", "not high risk by [review.high_risk]: no reviewer called")
    if client is None:
        client = ModelClient(ws.root, ws.config, run_id=str(ctx.run.get("run_id") or "review"))
    outcomes = run_panel(ws, client, context)
    blocked, why = judge(outcomes, min(cfg.quorum, len(outcomes)), cfg.block_on)
    path, shown = evidence_path(ctx, "review_panel.json")
    write_evidence(path, outcomes, reasons, blocked, why)
    findings = tuple(findings_of(outcomes, tree_prefix(ws), blocked))
    spent = sum(c["cost_usd"] for o in outcomes for c in o.calls)
    summary = f"{why} (${spent:.4f})" + (f"; high risk: {'; '.join(reasons)}" if reasons else "")
    return GateResult(NAME, "fail" if blocked else "pass", summary, findings, (shown,),
                      data={"reviewers": [o.to_dict() for o in outcomes], "high_risk": reasons})


class ReviewPanelGate:
    """Gate: the configured reviewers approve the change by the panel's policy."""

    name = NAME
    needs = ("paths", "parse", "tests")

    def check(self, ctx: GateContext) -> GateResult:
        shared = ctx.run.get("diff")  # the diff policy gate's DiffResult, or a recorded diff
        if isinstance(shared, dict):
            diff = shared
        elif shared is not None and hasattr(shared, "to_json"):
            data = shared.to_json()
            diff = json.loads(data) if isinstance(data, str) else data
        else:
            diff, _ = semantic_diff(ctx.previous, ctx.staged, old_label="previous",
                                    new_label="staged")
        return panel_result(ctx.workspace, ctx, diff)


def make_gate(ws: Workspace) -> ReviewPanelGate | None:
    """Only when [review.panel] names rungs and may run."""
    cfg = ws.config.review.panel
    return ReviewPanelGate() if cfg.rungs and cfg.when != "never" else None
