"""`genops patch --from-drift`: record a hand edit of the output tree as a gated patch release."""

from __future__ import annotations

from pathlib import Path

import typer

from genops.cli.common import (JSON_HELP, JSONL_HELP, WORKSPACE_HELP, mutates, open_workspace,
                                 output_mode, run_with_progress)


def register(app: typer.Typer) -> None:
    @app.command()
    @mutates("patch")
    def patch(
        from_drift: bool = typer.Option(False, "--from-drift", help="Record the hand edits that "
                                        "`genops check` reports as a patch release."),
        reason: str = typer.Option("", "--reason", "-m", help="Why: recorded in the manifest."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        jsonl: bool = typer.Option(False, "--jsonl", help=JSONL_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Make a patch release. This version records hand edits (--from-drift)."""
        from genops.errors import UsageError
        from genops.patch.from_drift import record_drift

        output_mode(json_out, jsonl)
        if not from_drift:
            raise UsageError("genops patch needs --from-drift in this version",
                             hint="model-made targeted patches are not built yet; change specs/ "
                                  "or adr/ and run `genops regenerate`")
        ws = open_workspace(workspace)
        run_with_progress(json_out, jsonl, lambda progress: record_drift(ws, reason=reason or None,
                                                     gate_observer=progress.gate))
