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
    release = "release"


_GROUPS: dict[By, Grouping] = {By.run: "run", By.model: "model", By.month: "month",
                               By.release: "release"}


def register(app: typer.Typer) -> None:
    @app.command()
    def cost(
        by: By | None = typer.Option(None, "--by",
                                     help="Show one grouping only: run, model, month or release "
                                          "(each release with the runs that led to it)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Show spend by run, model, month and release, with this month's total against its
        budget. A release's spend includes the runs that led to it (started on the same parent)."""
        from genops.ledger.db import LEDGER_NAME, cost_report
        from genops.release.attribution import run_releases
        from genops.render import cost as render
        output_mode(json_out)
        ws = open_workspace(workspace)
        report = cost_report(ws.genops_dir / LEDGER_NAME, ws.config.budget,
                             releases=run_releases(ws.root))
        groups: tuple[Grouping, ...] = ("month", "model", "release", "run") if by is None \
            else (_GROUPS[by],)
        render.cost_report(report, groups=groups, as_json=json_out)
