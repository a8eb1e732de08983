"""`genops check`: everything CI needs in one command, offline, no key.

Exit 0 when every check passes (warnings allowed), 1 when any check found a violation, 2 for a
usage or configuration error (a bad ADR rule included).
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path

import typer

from genops.cli.common import WORKSPACE_HELP, open_workspace, output_mode


class Format(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"
    github = "github"
    sarif = "sarif"
    junit = "junit"


def _repo_prefix(root: Path) -> str:
    """The workspace's directory inside its git repository ("" at the top), for report paths."""
    current = root.resolve()
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            rel = Path(os.path.relpath(current, candidate)).as_posix()
            return "" if rel == "." else rel + "/"
    return ""


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        fmt: Format = typer.Option(Format.text, "--format", "-f", help="Output format."),
        json_out: bool = typer.Option(False, "--json", help="Same as --format json: one JSON "
                                      "document on stdout."),
        output: Path | None = typer.Option(None, "--output", "-o",
                                           help="Write the report to FILE instead of stdout."),
        base: str | None = typer.Option(
            None, "--base", help="Diff the output tree against this directory, release id or "
            "git ref (default: the parent of the current release)."),
        evidence: Path | None = typer.Option(
            None, "--evidence", help="Keep the evidence files (matrix, diff, rule report) here."),
        workspace: Path | None = typer.Option(
            None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Check drift, manifests, ADR rules, the diff policy and traceability (exit 1 on a violation)."""
        from genops.errors import GateFailed
        from genops.release.check_suite import run_check
        from genops.render.check import render
        from genops.render.console import result_written

        fmt = Format.json if json_out else fmt
        output_mode(fmt is Format.json and output is None)
        ws = open_workspace(workspace)  # loading validates every ADR rule
        report = run_check(ws, base=base, evidence_dir=evidence)
        text = render(report.to_dict(), fmt.value, prefix=_repo_prefix(ws.root))
        if output is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            result_written()
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text, encoding="utf-8")
        if not report.passed:
            names = ", ".join(r.gate for r in report.failed)
            raise GateFailed(f"genops check found violations ({names})",
                             results=list(report.failed))
