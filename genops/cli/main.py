"""The `genops` command: a thin typer app; each command group registers itself from its module.

This is the only place that turns a `GenopsError` into an exit code.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from genops.errors import ExitCode, GenopsError
from genops.render.console import plain_output


class _PipeClosed(Exception):
    """The reader of stdout closed the pipe (not an OSError, so click does not make it exit 1)."""


class _Group(TyperGroup):
    """Every write of a command (or of `--help`) that hits a closed pipe raises _PipeClosed."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            raise _PipeClosed() from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise _PipeClosed() from None


app = typer.Typer(
    cls=_Group,
    name="genops",
    help="Governed regeneration: specs and ADRs in git, a pinned model synthesizes, gates decide.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # never print locals: they may hold keys
    add_completion=False,
    # `--help` in a pipe: click's plain text (no boxes), written where a closed pipe is caught
    rich_markup_mode="rich" if not plain_output(sys.stdout) else None,
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
    "genops.cli.federation",
    "genops.cli.federation_release",
    "genops.cli.partition",
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
    """Entry point: run the app, mapping genops errors to the brief's exit codes. A reader that
    closes the pipe early (`genops cost | head`) ends the command quietly, with exit 0."""
    try:
        code = _run()
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, _PipeClosed):
        _discard_output()
        code = 0
    sys.exit(code)


def _discard_output() -> None:
    """After a closed pipe: nothing more reaches stdout or stderr (nor the flush at exit)."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):  # not a real file (an in-process runner)
            pass


def _run() -> int:
    from typer.exceptions import TyperException

    from genops.render.console import print_error, print_error_result

    try:
        result = app(standalone_mode=False)
    except GenopsError as exc:
        print_error(exc)
        print_error_result(exc)
        return int(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        print_error(GenopsError("interrupted; `genops resume <run>` continues a run"))
        return 130
    except TyperException as exc:  # usage errors: bad option, missing argument
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    main()
