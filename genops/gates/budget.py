"""The budget gate: what the run spent stays within the per-run and per-month budgets.

The ledger already refuses a request whose worst case would cross a budget; this gate records the
settled totals as a verdict, so a release's manifest shows its cost against its budget.
Run facts read from `ctx.run`: `cost_usd` (this run) and `month_spend_usd` (the month so far,
this run included) when the ledger knows it.
"""

from __future__ import annotations

from genops.gates.base import Finding, GateContext, GateResult
from genops.workspace import Workspace


class BudgetGate:
    name = "budget"
    needs: tuple[str, ...] = ()

    def __init__(self, per_run_usd: float, per_month_usd: float) -> None:
        self.per_run_usd = per_run_usd
        self.per_month_usd = per_month_usd

    def check(self, ctx: GateContext) -> GateResult:
        cost = float(ctx.run.get("cost_usd", 0.0))
        month = ctx.run.get("month_spend_usd")
        data = {"cost_usd": cost, "per_run_usd": self.per_run_usd,
                "month_spend_usd": month, "per_month_usd": self.per_month_usd}
        findings: list[Finding] = []
        if cost > self.per_run_usd + 1e-9:
            findings.append(Finding(f"run cost ${cost:.4f} exceeds the per-run budget "
                                    f"${self.per_run_usd:.2f}", rule="per_run_usd"))
        if month is not None and float(month) > self.per_month_usd + 1e-9:
            findings.append(Finding(f"month spend ${float(month):.4f} exceeds the per-month "
                                    f"budget ${self.per_month_usd:.2f}", rule="per_month_usd"))
        if findings:
            return GateResult(self.name, "fail", findings[0].message, findings=tuple(findings),
                              data=data)
        return GateResult(self.name, "pass",
                          f"${cost:.4f} of ${self.per_run_usd:.2f} per-run budget", data=data)


def make_gate(ws: Workspace) -> BudgetGate:
    budget = ws.config.budget
    return BudgetGate(budget.per_run_usd, budget.per_month_usd)
