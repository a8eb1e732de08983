"""`genops regenerate`, `genops resume` and `genops replay`: make, continue and verify releases."""

from __future__ import annotations

from pathlib import Path

import typer

from genops.cli.common import (
    JSON_HELP,
    JSONL_HELP,
    WORKSPACE_HELP,
    mutates,
    open_workspace,
    output_mode,
    progress_display,
    run_with_progress,
    workspace_root,
)


def _replay(root: Path, release: str | None, *, json_out: bool, jsonl: bool, gates: bool) -> None:
    from genops.errors import GateFailed
    from genops.release.replay import replay
    from genops.render import release as render

    as_json = output_mode(json_out, jsonl)
    with progress_display(jsonl) as progress:
        outcome = replay(root, release, progress=progress, gate_observer=progress.gate,
                         gates=gates)
    render.print_replay(outcome, as_json=as_json)
    if not outcome.reproduced:
        path, why = outcome.first_difference or ("?", "tree hashes differ")
        raise GateFailed(f"release {outcome.release} was not reproduced: {path}: {why}")
    failed = [g.gate for g in outcome.gates if not g.passed]
    if failed:
        raise GateFailed(f"release {outcome.release} was reproduced, but gates failed on the "
                         f"rebuilt tree: {', '.join(failed)}")
    if outcome.narrative not in (None, "reproduced"):
        raise GateFailed(f"release {outcome.release}'s tree was reproduced, but not its summary "
                         f"narrative: {outcome.narrative}")


def register(app: typer.Typer) -> None:
    @app.command()
    @mutates("regenerate", unless=lambda kw: bool(kw.get("dry_run")) and not kw.get("replay"))
    def regenerate(
        reason: str = typer.Option("", "--reason", "-m", help="Why: recorded in the manifest."),
        provider: str | None = typer.Option(
            None, "--provider", help="Send every rung to this provider (fake, manual, replay, "
            "anthropic, openai, gemini, openai-compatible)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Plan only: requests, tokens, "
                                     "worst-case cost, context fit. Spends nothing."),
        replay: bool = typer.Option(False, "--replay", help="Rebuild the current release from "
                                    "the archive and compare, instead of regenerating."),
        allow_breaking: bool = typer.Option(False, "--allow-breaking", help="Let the diff "
                                            "policy pass breaking API changes (recorded)."),
        full: bool = typer.Option(False, "--full", help="Regenerate every group, even when a "
                                  "previous release lets only the changed ones be redone."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        jsonl: bool = typer.Option(False, "--jsonl", help=JSONL_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Synthesize the tree from specs/ and adr/, gate it, and promote it as a release."""
        from genops.release import pipeline
        from genops.workspace.federation import is_federation_root

        output_mode(json_out, jsonl)
        if workspace is None and is_federation_root(Path.cwd()):
            root = Path.cwd()
            if replay:  # every member release the current federation release pins
                from genops.cli.federation_release import replay_federation_command

                return replay_federation_command(root, None, json_out=json_out, gates=True)
            if dry_run:  # the plan: which members would run, in which waves, and why
                from genops.federation.affected import affected_plan
                from genops.render.federation import print_affected

                return print_affected(affected_plan(root, None), as_json=json_out or jsonl)
            from genops.cli.federation import regenerate_root  # the affected members, in waves

            return regenerate_root(root, reason=reason, provider=provider,
                                   json_out=json_out, allow_breaking=allow_breaking)
        ws = open_workspace(workspace)
        if replay:
            _replay(ws.root, None, json_out=json_out, jsonl=jsonl, gates=True)
            return
        if dry_run:
            from genops.render import release as render

            outcome = pipeline.regenerate(ws, reason=reason, provider_override=provider,
                                          dry_run=True, full=full)
            render.print_run_outcome(outcome, as_json=json_out or jsonl)
            return
        run_with_progress(json_out, jsonl, lambda progress: pipeline.regenerate(
            ws, reason=reason, provider_override=provider, allow_breaking=allow_breaking,
            progress=progress, gate_observer=progress.gate, full=full))

    @app.command()
    @mutates("resume")
    def resume(
        run: str | None = typer.Argument(None, help="The run id (default: the newest "
                                         "unfinished run)."),
        repair: bool = typer.Option(False, "--repair", help="After a failed tests, adr_rules, "
                                    "parse or traceability gate: ask for a patch that fixes it "
                                    "(at least one round, else [synthesis] gate_repairs)."),
        allow_breaking: bool = typer.Option(False, "--allow-breaking", help="Let the diff "
                                            "policy pass breaking API changes (recorded), e.g. "
                                            "after the diff gate failed the run."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        jsonl: bool = typer.Option(False, "--jsonl", help=JSONL_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Continue a run: after manual answers, a crash or a failed gate. Nothing is paid twice."""
        from genops.release import pipeline
        from genops.render.release import print_resume_start

        output_mode(json_out, jsonl)
        ws = open_workspace(workspace)
        chosen = pipeline.pick_run(ws, run)
        if allow_breaking and not chosen.params.get("allow_breaking"):
            # the run's own flag, as `regenerate --allow-breaking` sets it (and its manifest records)
            chosen.update(params={**chosen.params, "allow_breaking": True})
        print_resume_start(chosen, explicit=run is not None,
                           resend=len(pipeline.cut_off_calls(ws, chosen)))
        run_with_progress(json_out, jsonl, lambda progress: pipeline.resume(
            ws, chosen.run_id, progress=progress, gate_observer=progress.gate, repair=repair))

    @app.command("replay")
    @mutates("replay")
    def replay_command(
        release: str | None = typer.Argument(None, help="Release id (default: the current)."),
        gates: bool = typer.Option(True, "--gates/--no-gates",
                                   help="Run the gates on the rebuilt tree."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        jsonl: bool = typer.Option(False, "--jsonl", help=JSONL_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Rebuild a release from its commit and the archive, offline, and compare byte for byte."""
        output_mode(json_out, jsonl)
        from genops.cli.federation_release import federation_here, replay_federation_command

        federation = federation_here(workspace)
        if federation is not None:
            return replay_federation_command(federation, release, json_out=json_out, gates=gates)
        _replay(workspace_root(workspace, required=True), release, json_out=json_out, jsonl=jsonl,
                gates=gates)
