"""`genops stability`: regenerate N times without promoting and class how the trees differ."""

from __future__ import annotations

from pathlib import Path

import typer

from genops.cli.common import JSON_HELP, WORKSPACE_HELP, open_workspace, output_mode, progress_display


def register(app: typer.Typer) -> None:
    @app.command()
    def stability(
        runs: int = typer.Option(3, "--runs", "-n", help="How many regenerations to make."),
        provider: str | None = typer.Option(
            None, "--provider", help="Send every rung to this provider. `fake` needs no key "
            "and no network: on a workspace without .genops/fake-responses.json it answers with "
            "a placeholder tree derived from specs/ (`genops help providers`); set "
            "GENOPS_FAKE_VARIATION=SEED for its seeded variation mode."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Regenerate into scratch trees (never promoted) and report per file: identical,
        cosmetic, behaviour or API differences against the release and between runs; the
        generated tests' pass rate and the cost of each run."""
        from genops.release.stability import stability as measure
        from genops.render.stability import print_stability

        output_mode(json_out)
        ws = open_workspace(workspace)
        with progress_display(False) as progress:  # on stderr: stdout stays the one document
            report = measure(ws, runs=runs, provider=provider, progress=progress)
        print_stability(report, as_json=json_out)
