"""`genops cost`: what genops has spent, by run, model and month, against the budgets."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

import typer

from genops.cli.common import open_workspace

if TYPE_CHECKING:
    from genops.ledger.db import Grouping


class By(str, Enum):
    run = "run"
    model = "model"
    month = "month"


_GROUPS: dict[By, Grouping] = {By.run: "run", By.model: "model", By.month: "month"}


def register(app: typer.Typer) -> None:
    @app.command()
    def cost(
        by: By | None = typer.Option(None, "--by",
                                     help="Show one grouping only: run, model or month."),
        json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Show spend by run, model and month, with this month's total against its budget."""
        from genops.ledger.db import LEDGER_NAME, cost_report
        from genops.render import cost as render
        workspace = open_workspace(None)
        report = cost_report(workspace.genops_dir / LEDGER_NAME, workspace.config.budget)
        groups: tuple[Grouping, ...] = ("month", "model", "run") if by is None else (_GROUPS[by],)
        render.cost_report(report, groups=groups, as_json=json_out)
