"""`genops federation check`, `genops affected`, and `genops regenerate` at a federation root."""

from __future__ import annotations

from pathlib import Path

import typer

from genops.cli.common import JSON_HELP, output_mode

ROOT_HELP = "The federation root (default: the nearest one at or above the current directory)."


def federation_root(path: Path | None) -> Path:
    from genops.errors import UsageError
    from genops.workspace.federation import find_federation_root

    found = find_federation_root(path or Path.cwd())
    if found is None:
        raise UsageError(f"{(path or Path.cwd()).resolve()} is not inside a federation (no genops.toml with "
                         "a [federation] table here or above)",
                         hint="`genops help federation` describes a federation root")
    return found


def federation_group(app: typer.Typer) -> typer.Typer:
    """The `genops federation ...` command group (shared by every module adding to it)."""
    for info in app.registered_groups:
        if info.name == "federation" and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help="A federation of member workspaces: checks across members.",
                        no_args_is_help=True)
    app.add_typer(group, name="federation")
    return group


def regenerate_root(root: Path, *, reason: str, provider: str | None, json_out: bool,
                    allow_breaking: bool = False, base: str | None = None) -> None:
    """`genops regenerate` at a federation root: the affected members, in waves."""
    from genops.errors import ExitCode, GenopsError
    from genops.federation.run import run_federation
    from genops.render.federation import print_run

    run = run_federation(root, reason=reason, provider=provider, base=base,
                         allow_breaking=allow_breaking)
    print_run(run, as_json=json_out)
    codes = [m.exit_code for m in run.members if m.exit_code]
    awaiting = any(m.status == "awaiting" for m in run.members)
    failed = [m for m in run.members if m.status in ("failed", "refused")
              or (m.status == "skipped" and not awaiting)]  # else they wait for the answers too
    if failed:
        first = failed[0]
        code = ExitCode(max(codes)) if codes else ExitCode.GATE_FAILED
        error = GenopsError(f"member {first.name} {first.status}: {first.detail}")
        error.exit_code = code
        raise error
    if awaiting:
        raise typer.Exit(int(ExitCode.AWAITING))


def register(app: typer.Typer) -> None:
    group = federation_group(app)

    @group.command("check")
    def check(
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    ) -> None:
        """Every consumer's range admits its provider's released interface (exit 1 if not)."""
        from genops.errors import GateFailed
        from genops.federation.check import check_federation
        from genops.render.federation import print_check

        output_mode(json_out)
        result = check_federation(federation_root(root))
        print_check(result, as_json=json_out)
        if not result.ok:
            first = next(link for link in result.links if not link.ok)
            raise GateFailed(f"federation check failed: {first.problem}")

    @app.command()
    def affected(
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        base: str | None = typer.Option(None, "--base", help="Diff the inputs since this git "
                                        "revision (default: the last federation release, else "
                                        "each member's current release)."),
        root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    ) -> None:
        """Which members a change touches and affects, in run order (the CI fan-out's plan)."""
        from genops.federation.affected import affected_plan
        from genops.render.federation import print_affected

        output_mode(json_out)
        print_affected(affected_plan(federation_root(root), base), as_json=json_out)
