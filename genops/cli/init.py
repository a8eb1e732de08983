"""`genops init DIR`: scaffold a working workspace."""

from __future__ import annotations

from pathlib import Path

import typer

from genops.workspace.scaffold import PROVIDER_DEFAULT_MODELS, init_workspace


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        directory: Path | None = typer.Argument(None, help="Where to create the workspace (new or "
                                                "empty)."),
        here: bool = typer.Option(False, "--here", help="Add the workspace to the current "
                                  "directory (an existing repository); nothing is overwritten."),
        name: str = typer.Option(None, help="Project name (default: the directory name)."),
        provider: str = typer.Option("anthropic", help="Senior model provider: "
                                     + ", ".join(PROVIDER_DEFAULT_MODELS)),
        git: bool = typer.Option(True, help="Initialise a git repository and commit the scaffold."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON document on stdout."),
    ) -> None:
        """Create a workspace: genops.toml, specs/, adr/, prompts/, CI workflow, git repo."""
        from genops.cli.common import output_mode
        from genops.errors import UsageError
        from genops.render import workspace as render
        from genops.workspace.scaffold import init_here

        output_mode(json_out)
        if here == (directory is not None):
            raise UsageError("give a DIRECTORY or --here, not both" if here else
                             "give a DIRECTORY, or --here for the current directory",
                             hint="`genops init my-project`, or `cd repo && genops init --here`")
        if here:
            result = init_here(Path.cwd(), name=name, provider=provider, git=git)
        else:
            assert directory is not None
            result = init_workspace(directory, name=name, provider=provider, git=git)
        render.init_result(result, as_json=json_out)
