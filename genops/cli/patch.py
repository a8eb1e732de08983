"""`genops patch`: a targeted fix as model edits (instruction, --file, --from-test), or a hand
edit recorded as a release (--from-drift)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from genops.cli.common import (
    JSON_HELP,
    JSONL_HELP,
    WORKSPACE_HELP,
    mutates,
    open_workspace,
    output_mode,
    run_with_progress,
)

if TYPE_CHECKING:
    from genops.workspace import Workspace


def _instruction(ws: Workspace, text: str | None, file: Path | None, from_test: list[str]) -> tuple[str, str]:
    """(instruction, origin) from exactly one of the three ways to give it."""
    from genops.errors import UsageError

    given = [name for name, value in (("instruction", text), ("--file", file),
                                      ("--from-test", from_test)) if value]
    if len(given) != 1:
        raise UsageError("give the change one way: an instruction, --file or --from-test"
                         + (f" (got {', '.join(given)})" if given else "")
                         + "; or --from-drift to record a hand edit",
                         hint='genops patch "fix the retry bug in Fiedler"')
    if file is not None:
        try:
            return file.read_text(encoding="utf-8"), "file"
        except OSError as exc:
            raise UsageError(f"{file}: cannot read: {exc.strerror}") from None
    if from_test:
        from genops.patch.fromtest import from_test_instruction

        return from_test_instruction(ws, from_test), "test"
    assert text is not None
    return text, "instruction"


def register(app: typer.Typer) -> None:
    @app.command()
    @mutates("patch", unless=lambda kw: bool(kw.get("dry_run")))
    def patch(
        instruction: str | None = typer.Argument(None, help="What to change, in words."),
        file: Path | None = typer.Option(None, "--file", "-f", help="Read the instruction "
                                         "from this file (markdown)."),
        from_test: list[str] = typer.Option([], "--from-test", help="Run these test node ids "
                                            "on the current tree; their failures are the "
                                            "instruction (repeatable)."),
        from_drift: bool = typer.Option(False, "--from-drift", help="Record the hand edits that "
                                        "`genops check` reports as a patch release."),
        provider: str | None = typer.Option(None, "--provider", help="Send every rung to this "
                                            "provider (fake, manual, replay, anthropic, ...)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Plan only: files chosen, tokens, "
                                     "worst-case cost. Spends nothing."),
        allow_breaking: bool = typer.Option(False, "--allow-breaking", help="Let breaking API "
                                            "changes through the diff policy (recorded)."),
        reason: str = typer.Option("", "--reason", "-m", help="Why: recorded in the manifest."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        jsonl: bool = typer.Option(False, "--jsonl", help=JSONL_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Make a patch release: targeted model edits, all-or-nothing, gated like a regeneration."""
        output_mode(json_out, jsonl)
        ws = open_workspace(workspace)
        if from_drift:
            from genops.errors import UsageError
            from genops.release.drift_patch import record_drift

            if instruction or file or from_test:
                raise UsageError("--from-drift records hand edits; it takes no instruction")
            run_with_progress(json_out, jsonl, lambda progress: record_drift(
                ws, reason=reason or None, gate_observer=progress.gate))
            return
        from genops.release import patch_run as pipeline

        text, origin = _instruction(ws, instruction, file, from_test)
        if dry_run:
            from genops.render.patch import print_patch_plan

            print_patch_plan(pipeline.plan_patch(ws, text, provider), as_json=json_out or jsonl)
            return
        run_with_progress(json_out, jsonl, lambda progress: pipeline.start_patch(
            ws, instruction=text, reason=reason, provider_override=provider,
            allow_breaking=allow_breaking, source=origin, progress=progress,
            gate_observer=progress.gate))
