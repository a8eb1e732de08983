"""`genops review`, `genops summary` and `genops architecture`: review a change, on demand.

`review` runs the panel on a change without promoting it (a pull request's check); the others
render from what releases commit. None of them changes a release. `architecture --write` is
the one way to refresh ARCHITECTURE.md between releases (after an ADR edit, say).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from genops.cli.check import Format, _repo_prefix
from genops.cli.common import JSON_HELP, WORKSPACE_HELP, mutates, open_workspace, output_mode


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        from genops.render.console import result_written

        sys.stdout.write(text)
        sys.stdout.flush()
        result_written()
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")


def register(app: typer.Typer) -> None:
    register_documents(app)
    register_review(app)


def register_documents(app: typer.Typer) -> None:
    @app.command()
    def summary(
        release: str | None = typer.Argument(None, help="Release id (default: the current one)."),
        output: Path | None = typer.Option(None, "--output", "-o",
                                           help="Write the summary to FILE instead of stdout."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP + " (the markdown in "
                                      "\"markdown\")"),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Render a release's reviewer summary again (as it would be written today)."""
        from genops.render.console import print_json
        from genops.review.documents import rendered_release
        from genops.store.releases import resolve_release

        output_mode(json_out and output is None)
        ws = open_workspace(workspace)
        resolved = resolve_release(ws.root, release)
        text = rendered_release(ws, resolved).summary
        if json_out and output is None:
            print_json({"release": resolved, "markdown": text})
            return
        _emit(text, output)

    @app.command()
    @mutates("architecture --write", unless=lambda kw: not kw.get("write"))
    def architecture(
        write: bool = typer.Option(False, "--write", help="Write ARCHITECTURE.md at the "
                                   "workspace root instead of printing it."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP + " (the markdown in "
                                      "\"markdown\")"),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Render ARCHITECTURE.md from the current release, the ADRs and the traceability."""
        from genops.errors import UsageError
        from genops.render.console import print_json
        from genops.review.documents import ARCHITECTURE, current_architecture

        output_mode(json_out)
        ws = open_workspace(workspace)
        text = current_architecture(ws)
        if text is None:
            raise UsageError("no release yet: ARCHITECTURE.md is rendered from a release",
                             hint="run `genops regenerate` first")
        if write:
            _emit(text, ws.root / ARCHITECTURE)
        if json_out:
            print_json({"path": ARCHITECTURE if write else None, "markdown": text})
        elif not write:
            _emit(text, None)


def register_review(app: typer.Typer) -> None:
    @app.command()
    def review(
        base: str | None = typer.Argument(None, help="Review the change from this directory, "
                                          "release id or git ref (default: the current "
                                          "release's parent)."),
        fmt: Format = typer.Option(Format.text, "--format", "-f", help="Output format."),
        json_out: bool = typer.Option(False, "--json", help="Same as --format json: one JSON "
                                      "document on stdout."),
        output: Path | None = typer.Option(None, "--output", "-o",
                                           help="Write the report to FILE instead of stdout."),
        evidence: Path | None = typer.Option(None, "--evidence",
                                             help="Keep the panel's evidence here."),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Run the review panel on the output tree's change without promoting anything."""
        from genops.errors import GateFailed
        from genops.release.review_pr import review_change
        from genops.render.check import render

        fmt = Format.json if json_out else fmt
        output_mode(fmt is Format.json and output is None)
        ws = open_workspace(workspace)
        report, summary = review_change(ws, base=base, evidence_dir=evidence)
        data = {**report.to_dict(), "command": "genops review"}
        text = render(data, fmt.value, prefix=_repo_prefix(ws.root))
        if fmt.value == "markdown" and summary:
            text = summary + "\n" + text
        _emit(text, output)
        if not report.passed:
            raise GateFailed("the review panel blocks this change",
                             results=list(report.failed))
