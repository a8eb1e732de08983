"""`genops cost`: what genops has spent, by run, model and month, against the budgets."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from genops.cli.common import JSON_HELP, WORKSPACE_HELP, open_workspace, output_mode

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
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Show spend by run, model and month, with this month's total against its budget."""
        from genops.ledger.db import LEDGER_NAME, cost_report
        from genops.render import cost as render
        output_mode(json_out)
        ws = open_workspace(workspace)
        report = cost_report(ws.genops_dir / LEDGER_NAME, ws.config.budget)
        groups: tuple[Grouping, ...] = ("month", "model", "run") if by is None else (_GROUPS[by],)
        render.cost_report(report, groups=groups, as_json=json_out)
