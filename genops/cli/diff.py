"""`genops diff [OLD] [NEW]`: the semantic diff reviewers and CI gates read instead of a text diff."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class DiffFormat(str, Enum):
    """Output formats of `genops diff`."""

    text = "text"
    markdown = "markdown"
    json = "json"
    github = "github"
    sarif = "sarif"


class FailOn(str, Enum):
    """`--fail-on` levels, each including the ones before it."""

    breaking = "breaking"
    api = "api"
    behaviour = "behaviour"
    any = "any"


def register(app: typer.Typer) -> None:
    """Add the `diff` command to the genops app."""
    app.command("diff")(diff)


def diff(
    old: Annotated[str | None, typer.Argument(help="directory, git ref or release id (default: current release)")]
    = None,
    new: Annotated[str | None, typer.Argument(help="directory, git ref or release id (default: the output "
                                                   "directory, e.g. generated/)")] = None,
    fmt: Annotated[DiffFormat, typer.Option("--format", "-f", help="output format")] = DiffFormat.text,
    json_out: Annotated[bool, typer.Option("--json", help="same as --format json: one JSON "
                                                          "document on stdout")] = False,
    fail_on: Annotated[FailOn | None, typer.Option("--fail-on", help="exit 1 when a change at or above this "
                                                   "level is found")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here instead of stdout")] = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="model cache (default: "
                                                   ".genops/cache/semdiff in a workspace)")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="parse everything, store nothing")] = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="parsing processes")] = None,
) -> None:
    """Semantic diff of two trees: API, behaviour, architecture and dependency changes, breaking first."""
    from genops.cli.common import output_mode
    from genops.render.console import result_written
    from genops.render.semdiff import render
    from genops.semdiff import diff_trees
    from genops.semdiff.sources import resolve_sides

    fmt = DiffFormat.json if json_out else fmt
    output_mode(fmt is DiffFormat.json and output is None)

    with resolve_sides(old, new) as (old_side, new_side):
        result = diff_trees(old_side.path, new_side.path, old_label=old_side.label, new_label=new_side.label,
                            cache_dir=cache_dir, jobs=jobs, use_cache=not no_cache)
    color = fmt is DiffFormat.text and output is None and sys.stdout.isatty()
    text = render(result, fmt.value, prefix=new_side.prefix, color=color)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
        result_written()
    if fail_on is not None and result.matches(fail_on.value):
        raise typer.Exit(code=1)
