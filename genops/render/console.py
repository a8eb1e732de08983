"""Shared rich consoles and the one way errors are printed.

Conventions (README "Output and exit codes"): human output is for terminals. Data and messages are
never read as rich markup (a `[redacted]` or `[prices."m"]` in an error must print as written), and
when stdout/stderr is not a terminal, or `NO_COLOR` / `CI` is set, output is plain: no colour, no
spinners, and no cutting at 80 columns (a pipe or a CI log gets whole lines). Tables there are
plain lines too: the title, the column names, then one record per line (columns two spaces apart,
short ones aligned), no box drawing. A reader closing the pipe early is not an error
(`genops.cli.main` ends the command quietly).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from genops.errors import ConfigError, GenopsError

# Width for output that is not a terminal: wide enough that no path, key name or table cell is cut.
PLAIN_WIDTH = 10_000
# In a plain table, a column is padded to its widest cell up to this many characters; a longer
# cell (a reason, a summary) pushes the rest of its own line only.
PLAIN_ALIGN_MAX = 32


def plain_output(stream: TextIO) -> bool:
    """Whether `stream` gets plain lines: not a terminal, or the user or CI asked for no decoration."""
    if os.environ.get("NO_COLOR") or os.environ.get("CI"):
        return True
    isatty = getattr(stream, "isatty", None)
    return not (isatty and isatty())


class GenopsConsole(Console):
    """rich's Console, with tables as plain lines when `plain`, and a closed pipe raised as
    BrokenPipeError (rich would exit 1) for the CLI to end quietly."""

    def __init__(self, *args: Any, plain: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plain = plain

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self.plain:
            objects = tuple(plain_table(o) if isinstance(o, Table) else o for o in objects)
        super().print(*objects, **kwargs)

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def _cell_text(cell: RenderableType) -> str:
    """A table cell as one line of plain text (what rich would show, markup applied)."""
    if isinstance(cell, Text):
        text = cell.plain
    elif isinstance(cell, str):
        text = Text.from_markup(cell).plain
    else:
        scratch = Console(width=PLAIN_WIDTH, no_color=True, highlight=False, emoji=False)
        with scratch.capture() as captured:
            scratch.print(cell)
        text = captured.get()
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def plain_table(table: Table) -> Text:
    """`table` as plain lines: its title, the column names, one line per row, its caption."""
    columns = [[_cell_text(c.header), *(_cell_text(cell) for cell in c.cells)]
               for c in table.columns]
    widths = [min(PLAIN_ALIGN_MAX, max((len(v) for v in col), default=0)) for col in columns]
    lines = [_cell_text(table.title)] if table.title else []
    show = range(0 if table.show_header else 1, 1 + table.row_count)
    for index in show:
        cells = [col[index] if index < len(col) else "" for col in columns]
        padded = [v.ljust(w) for v, w in zip(cells[:-1], widths[:-1], strict=True)] + cells[-1:]
        lines.append("  ".join(padded).rstrip())
    if table.caption:
        lines.append(_cell_text(table.caption))
    return Text("\n".join(lines))


def make_console(*, stderr: bool) -> GenopsConsole:
    """A console that is rich on a terminal and plain and uncut everywhere else."""
    stream = sys.stderr if stderr else sys.stdout
    if plain_output(stream):
        return GenopsConsole(stderr=stderr, highlight=False, soft_wrap=True, no_color=True,
                             width=PLAIN_WIDTH, force_terminal=False, emoji=False, plain=True)
    return GenopsConsole(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)


out = make_console(stderr=False)
err = make_console(stderr=True)


def print_error(exc: GenopsError) -> None:
    """One clear error: what, where, and what to do (message and hint printed verbatim)."""
    err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
    if exc.hint:
        err.print(f"  [dim]hint:[/] {escape(exc.hint)}", highlight=False)


@dataclass
class OutputMode:
    """How this command's result reaches stdout: `human`, `json` (one document) or `jsonl`."""

    kind: Literal["human", "json", "jsonl"] = "human"
    result_written: bool = False


MODE = OutputMode()


def set_output_mode(*, json_out: bool = False, jsonl: bool = False) -> None:
    """Called by a command before it works: decides how its result (or its error) is printed."""
    MODE.kind = "jsonl" if jsonl else "json" if json_out else "human"
    MODE.result_written = False


def result_written() -> None:
    """A command wrote its machine-readable result itself (e.g. `check --json`)."""
    MODE.result_written = True


def print_json(data: Any) -> None:
    """The command's result on stdout: one JSON document (`--json`), or, for `--jsonl`, one last
    line `{"event": "result", ...}` after the event lines."""
    if MODE.kind == "jsonl":
        sys.stdout.write(json.dumps({"event": "result", **data}, default=str) + "\n")
    else:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()
    MODE.result_written = True


def print_error_result(exc: GenopsError) -> None:
    """Under `--json`/`--jsonl`, an error is the result too, so stdout always parses."""
    if MODE.kind != "human" and not MODE.result_written:
        print_json({"status": "error", **error_dict(exc)})


def error_dict(exc: GenopsError) -> dict[str, Any]:
    """An error as data, for `--json` output."""
    data: dict[str, Any] = {"error": exc.message, "exit_code": int(exc.exit_code)}
    if exc.hint:
        data["hint"] = exc.hint
    if isinstance(exc, ConfigError):
        data.update(file=exc.file, line=exc.line)
    return data
