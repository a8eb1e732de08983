"""Rendering of patch plans, context selections and the edits a patch made."""

from __future__ import annotations

import sys
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from genops.render.console import err, out, print_json


def selection_table(selection: Any) -> Table:
    table = Table(title=f"context: {selection.tokens} of {selection.budget_tokens} tokens",
                  title_justify="left")
    table.add_column("file")
    table.add_column("tokens", justify="right")
    table.add_column("why")
    for item in selection.chosen:
        table.add_row(escape(item.path), str(item.tokens), escape(item.reason))
    for item in selection.skipped:
        table.add_row(f"[dim]{escape(item.path)}[/]", str(item.tokens),
                      f"[dim]{escape(item.reason)}; over the budget: in the map only[/]")
    return table


def print_patch_plan(plan: Any, *, as_json: bool) -> None:
    if as_json:
        print_json({"status": "planned", **plan.to_dict()})
        return
    out.print(selection_table(plan.selection))
    for row in plan.rows:
        worst = row["worst_usd_per_round"]
        out.print(Text(f"{row['rung']}: {row['provider']} {row['model']} · {row['input_tokens']} "
                       f"input tokens + up to {row['max_output_tokens']} output · worst case per "
                       "round " + (f"${worst:.4f}" if worst is not None else "unbilled")))
    verdict = "within" if plan.worst_case_usd <= plan.per_run_usd else "OVER"
    out.print(Text(f"worst case over {plan.rounds} round(s): ${plan.worst_case_usd:.4f} "
                   f"({verdict} the per-run budget ${plan.per_run_usd:.2f}); nothing was sent"))


def print_patch_result(outcome: Any) -> None:
    """The context chosen and, once promoted, the edits as a unified diff (to stdout)."""
    if outcome.selection is not None:
        err.print(selection_table(outcome.selection))
    if outcome.diff:
        out.file.flush()
        sys.stdout.write(outcome.diff)
        sys.stdout.flush()


def patch_json(outcome: Any) -> dict[str, Any]:
    return {"diff": outcome.diff, "rounds": outcome.rounds,
            "selection": outcome.selection.to_dict() if outcome.selection else None}
