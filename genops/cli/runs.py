"""`genops runs`: list runs (state, base release, waiting requests); `genops runs cancel RUN`."""

from __future__ import annotations

from pathlib import Path

import typer

from genops.cli.common import JSON_HELP, WORKSPACE_HELP, mutates, output_mode, workspace_root


def register(app: typer.Typer) -> None:
    runs_app = typer.Typer(help="List runs, or cancel one.", invoke_without_command=True)

    @runs_app.callback()
    def runs(
        ctx: typer.Context,
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """List runs, newest first: state, base release, waiting requests, unsettled calls."""
        if ctx.invoked_subcommand is not None:
            return
        from genops.release.runs import run_summaries
        from genops.render.release import print_runs

        output_mode(json_out)
        print_runs(run_summaries(workspace_root(workspace, required=True)), as_json=json_out)

    @runs_app.command("cancel")
    @mutates("runs cancel")
    def cancel(
        run: str = typer.Argument(..., help="The run id (see `genops runs`)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Abandon an unfinished run: `genops resume` never takes it again."""
        from genops.release.runs import cancel as cancel_run
        from genops.render.release import print_cancelled

        output_mode(json_out)
        print_cancelled(cancel_run(workspace_root(workspace, required=True), run),
                        as_json=json_out)

    app.add_typer(runs_app, name="runs")
