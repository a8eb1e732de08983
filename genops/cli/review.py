"""`genops summary` and `genops architecture`: the reviewer documents of a release, on demand.

Both render from what releases commit; neither changes a release. `architecture --write` is
the one way to refresh ARCHITECTURE.md between releases (after an ADR edit, say).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from genops.cli.common import WORKSPACE_HELP, open_workspace


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")


def register(app: typer.Typer) -> None:
    @app.command()
    def summary(
        release: str | None = typer.Argument(None, help="Release id (default: the current one)."),
        output: Path | None = typer.Option(None, "--output", "-o",
                                           help="Write the summary to FILE instead of stdout."),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Render a release's reviewer summary again (as it would be written today)."""
        from genops.release.reviewdocs import rendered_release
        from genops.release.store import resolve_release

        ws = open_workspace(workspace)
        _emit(rendered_release(ws, resolve_release(ws.root, release)).summary, output)

    @app.command()
    def architecture(
        write: bool = typer.Option(False, "--write", help="Write ARCHITECTURE.md at the "
                                   "workspace root instead of printing it."),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Render ARCHITECTURE.md from the current release, the ADRs and the traceability."""
        from genops.errors import UsageError
        from genops.release.reviewdocs import ARCHITECTURE, current_architecture

        ws = open_workspace(workspace)
        text = current_architecture(ws)
        if text is None:
            raise UsageError("no release yet: ARCHITECTURE.md is rendered from a release",
                             hint="run `genops regenerate` first")
        _emit(text, ws.root / ARCHITECTURE if write else None)
