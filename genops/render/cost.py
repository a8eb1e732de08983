"""Rendering of `genops cost`: spend tables by run, model and month, or the same data as JSON."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from genops.ledger.db import CostReport, Grouping, SpendRow
from genops.render.console import out, print_json

_TITLES = {"run": "by run", "model": "by model", "month": "by month",
           "release": "by release (each with the runs that led to it)"}


def _usd(amount: float) -> str:
    """Cents for dollar amounts, four decimals for the sub-dollar costs of single calls."""
    return f"${amount:,.2f}" if amount >= 1 or amount == 0 else f"${amount:.4f}"


def _table(group: Grouping, rows: list[SpendRow]) -> Table:
    # Compact box and short headers: the table must stay readable in an 80-column terminal.
    table = Table(title=f"spend {_TITLES[group]}", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column(group, no_wrap=True)
    for name in ("calls", "hits", "errors", "in tok", "out tok", "cache r/w"):
        table.add_column(name, justify="right")
    table.add_column("cost", justify="right", no_wrap=True)
    for row in rows:
        mark = "≈" if row.estimated_calls else ""  # some counts are genops' own, not the server's
        table.add_row(Text(row.group), str(row.calls), str(row.archive_hits), str(row.errors),
                      f"{mark}{row.input_tokens:,}", f"{mark}{row.output_tokens:,}",
                      f"{row.cache_read_tokens:,}/{row.cache_write_tokens:,}",
                      _usd(row.cost_usd))
    table.caption = "hits: answered from the archive at no cost; tokens count paid calls"
    if any(row.estimated_calls for row in rows):
        table.caption += ("; ≈: the server reported no usage for some calls, so genops counted "
                          "their tokens itself (an estimate on the high side)")
    table.caption_justify = "left"
    return table


def cost_report(report: CostReport, *, groups: tuple[Grouping, ...], as_json: bool) -> None:
    """Print the report: rich tables for people, one JSON object for scripts."""
    if as_json:
        print_json(report.to_dict(groups))
        return
    for group in groups:
        rows: list[SpendRow] = getattr(report, f"by_{group}")
        if rows:
            out.print(_table(group, rows))
        else:
            out.print(Text(f"spend {_TITLES[group]}: no calls recorded yet"))
    _may_have_been_billed(report)
    share = report.month_total_usd / report.per_month_usd if report.per_month_usd else 0.0
    held = report.in_flight_usd + report.may_have_been_billed_usd
    in_flight = f" (+{_usd(held)} held by unsettled calls)" if held else ""
    out.print(Text(f"\nthis month ({report.month}): {_usd(report.month_total_usd)}{in_flight} of "
                   f"{_usd(report.per_month_usd)} budget ({share:.0%}); per-run budget "
                   f"{_usd(report.per_run_usd)}"))


def _may_have_been_billed(report: CostReport) -> None:
    """List calls cut off by a crash after their request may have reached the provider."""
    calls = report.may_have_been_billed
    if not calls:
        return
    out.print(Text.assemble("\n", (f"{len(calls)} call(s) may have been billed", "yellow"),
                            ": their process ended before the answer was recorded; each still "
                            "counts against the budgets at its reservation "
                            f"({_usd(report.may_have_been_billed_usd)} in all)"))
    for call in calls:
        out.print(Text(f"  run {call.run_id} · {call.label or '?'} · {call.provider} {call.model} "
                       f"· up to {_usd(call.reserved_usd)} · since {call.since[:19]}"))
    out.print(Text("  check the provider's usage page; `genops resume RUN` re-sends what was not "
                   "answered"))
