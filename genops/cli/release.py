"""`genops log` and `genops rollback`: the release history, and going back without rewriting it."""

from __future__ import annotations

from pathlib import Path

import typer

from genops.cli.common import JSON_HELP, WORKSPACE_HELP, mutates, open_workspace, output_mode, workspace_root


def register(app: typer.Typer) -> None:
    @app.command()
    def log(
        limit: int | None = typer.Option(None, "--limit", "-n", help="Show the newest N only."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """List releases, newest first: kind, reason, models, cost and gate verdicts."""
        from genops.release.history import release_log
        from genops.render.release import print_log
        output_mode(json_out)
        entries = release_log(workspace_root(workspace, required=True))
        print_log(entries[:limit] if limit else entries, as_json=json_out)

    @app.command()
    @mutates("rollback")
    def rollback(
        release: str = typer.Argument(..., help="The release whose tree to restore (e.g. r0002)."),
        reason: str | None = typer.Option(None, "--reason", "-m", help="Why (recorded)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Promote an earlier release's tree as a new release (kind rollback); history stays."""
        from genops.errors import GateFailed
        from genops.release.history import rollback as do_rollback
        from genops.render import release as render
        output_mode(json_out)
        ws = open_workspace(workspace)
        try:
            outcome = do_rollback(ws, release, reason=reason)
        except GateFailed as exc:
            render.print_gate_failure(exc, as_json=json_out)
            raise
        render.print_run_outcome(outcome, as_json=json_out)
