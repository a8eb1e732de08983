"""Rendering of `genops stability`: per run against the release, then between runs."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from genops.render.console import out, print_json
from genops.semdiff.classify import FILE_CLASSES

COLUMNS = FILE_CLASSES  # every class the semantic diff gives a file, in its order of severity
SHOWN = frozenset(FILE_CLASSES) - {"identical", "cosmetic"}  # named file by file below the table


def _rate(tests: dict[str, Any]) -> str:
    if tests.get("rate") is None:
        return str(tests.get("verdict", "?"))
    return f"{tests['rate']:.0%} ({tests['passed']}/{tests['total']})"


def print_stability(report: Any, *, as_json: bool) -> None:
    """The report as tables (or one JSON object)."""
    data = report.to_dict()
    if as_json:
        print_json(data)
        return
    against = data["release"] or "(no release)"
    table = Table(title=f"{len(data['runs'])} regeneration(s) against {against} (not promoted)")
    table.add_column("run")
    for column in (*COLUMNS, "tests", "cost"):
        table.add_column(column, justify="right")
    for run in data["runs"]:
        counts = run["counts"]
        table.add_row(str(run["run"]), *(str(counts.get(c, 0)) for c in COLUMNS),
                      _rate(run["tests"]), f"${run['cost_usd']:.4f}")
    out.print(table)
    if data["pairs"]:
        pairs = Table(title="between runs")
        pairs.add_column("runs")
        for column in COLUMNS:
            pairs.add_column(column, justify="right")
        for pair in data["pairs"]:
            a, b = pair["runs"]
            pairs.add_row(f"{a} vs {b}", *(str(pair["counts"].get(c, 0)) for c in COLUMNS))
        out.print(pairs)
    for run in data["runs"]:
        varied = {p: c for p, c in run["files"].items() if c in SHOWN}
        for path, cls in varied.items():
            out.print(f"run {run['run']}: {path}: {cls} differs", markup=False, highlight=False)
    out.print(f"total cost ${data['cost_usd']:.4f} · trees kept under {data['directory']}",
              markup=False, highlight=False)
