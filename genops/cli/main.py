"""The `genops` command: a thin typer app; each command group registers itself from its module.

This is the only place that turns a `GenopsError` into an exit code.
"""

from __future__ import annotations

import importlib
import sys

import typer

from genops.errors import ExitCode, GenopsError

app = typer.Typer(
    name="genops",
    help="Governed regeneration: specs and ADRs in git, a pinned model synthesizes, gates decide.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # never print locals: they may hold keys
    add_completion=False,
)

def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("genops")
        except PackageNotFoundError:  # run from a source tree that was never installed
            from genops import __version__ as number
        typer.echo(f"genops {number}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                      help="Print genops's version and exit."),
    allow_unsandboxed: bool = typer.Option(
        False, "--allow-unsandboxed",
        help="Let [gates.tests] sandbox = \"off\" run the tree's code on this machine without "
             "bubblewrap, for this invocation (genops.toml alone cannot)."),
) -> None:
    """Governed regeneration: specs and ADRs in git, a pinned model synthesizes, gates decide."""
    import os
    from pathlib import Path

    if allow_unsandboxed:
        os.environ["GENOPS_ALLOW_UNSANDBOXED"] = "1"

    from genops.cli.common import recover_if_free
    from genops.workspace import find_root

    # A promotion killed mid-swap is finished before any command looks at the workspace.
    recover_if_free(find_root(Path.cwd()))


# Each module defines `register(app)`. Order is the order of `genops --help`.
COMMAND_MODULES = (
    "genops.cli.init",
    "genops.cli.regenerate",
    "genops.cli.patch",
    "genops.cli.diff",
    "genops.cli.check",
    "genops.cli.review",
    "genops.cli.release",
    "genops.cli.runs",
    "genops.cli.cost",
    "genops.cli.stability",
    "genops.cli.audit",
    "genops.cli.help",
)

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a command group not built yet must not break the others
        if exc.name != _name:
            raise
        continue
    _module.register(app)


def main() -> None:
    """Entry point: run the app, mapping genops errors to the brief's exit codes."""
    from typer.exceptions import TyperException

    from genops.render.console import print_error, print_error_result

    try:
        result = app(standalone_mode=False)
    except GenopsError as exc:
        print_error(exc)
        print_error_result(exc)
        sys.exit(int(exc.exit_code))
    except (KeyboardInterrupt, typer.Abort):
        print_error(GenopsError("interrupted; `genops resume <run>` continues a run"))
        sys.exit(130)
    except TyperException as exc:  # usage errors: bad option, missing argument
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        sys.exit(int(getattr(exc, "exit_code", ExitCode.USAGE)))
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
