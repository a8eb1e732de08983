"""`genops federation release`, `genops federation workflow`, and `genops verify --all` /
`genops replay` at a federation root (docs/federation.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from genops.cli.common import JSON_HELP, output_mode
from genops.cli.federation import federation_root

ROOT_HELP = "The federation root (default: the nearest one at or above the current directory)."


def federation_here(path: Path | None) -> Path | None:
    """The federation root when the nearest genops.toml at or above `path` is one, else None
    (inside a member, the member's own genops.toml is nearer: the workspace commands apply)."""
    from genops.workspace import find_root
    from genops.workspace.federation import is_federation_root

    root = find_root(path or Path.cwd())
    return root if is_federation_root(root) else None


def verify_federation_command(root: Path, *, json_out: bool) -> None:
    """`genops verify --all` at a federation root."""
    from genops.errors import GateFailed
    from genops.federation.verify import verify_federation
    from genops.render.federation_release import print_federation_report

    report = verify_federation(root)
    print_federation_report(report, as_json=output_mode(json_out))
    if not report.ok:
        raise GateFailed(f"{len(report.failures)} check(s) of federation {report.federation} "
                         "failed", hint="each failing check names the member or the federation "
                                        "release it is about")


def replay_federation_command(root: Path, release: str | None, *, json_out: bool,
                              gates: bool) -> None:
    """`genops replay [fNNNN]` at a federation root."""
    from genops.errors import GateFailed
    from genops.federation.verify import replay_federation
    from genops.render.federation_release import print_federation_report

    report = replay_federation(root, release, gates=gates)
    print_federation_report(report, as_json=output_mode(json_out))
    if not report.ok:
        bad = sorted({m.name for m in report.members if not m.ok})
        raise GateFailed(f"federation release {report.release}: member(s) {', '.join(bad)} "
                         "not reproduced or not as pinned")


def add_commands(group: typer.Typer) -> None:
    """Add `release` and `workflow` to the `genops federation` group."""

    @group.command("release")
    def release(
        reason: str = typer.Option("", "--reason", "-m", help="Why: recorded in the manifest."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    ) -> None:
        """Pin every member's current release in a signed, committed federation release."""
        from genops.federation.release import make_release
        from genops.render.federation_release import print_made

        as_json = output_mode(json_out)
        print_made(make_release(federation_root(root), reason), as_json=as_json)

    @group.command("workflow")
    def workflow(
        output: Path | None = typer.Option(None, "--output", "-o", help="Where to write it "
                                           "(default: .github/workflows/genops-federation.yml "
                                           "at the root of the git repository)."),
        stdout: bool = typer.Option(False, "--stdout", help="Print it instead of writing it."),
        root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    ) -> None:
        """Write the CI fan-out workflow: plan (affected members), one job per member, fan-in."""
        from genops.federation.workflow import write_workflow
        from genops.render.console import out

        found = federation_root(root)
        text, path = write_workflow(found, output, dry_run=stdout)
        if stdout:
            typer.echo(text, nl=False)
        else:
            out.print(f"wrote {path}; commit it", markup=False)


def register(app: typer.Typer) -> None:
    """`release` and `workflow` join the `genops federation` group (genops.cli.federation)."""
    from genops.cli.federation import federation_group

    add_commands(federation_group(app))
