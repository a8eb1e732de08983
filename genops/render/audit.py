"""Rendering of `genops verify` and `genops lock`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from genops.render.console import out, print_json


def print_verify(report: Any, *, as_json: bool, require_signature: bool) -> None:
    """Every check with its verdict, then one line: verified, unsigned, or what failed."""
    if as_json:
        print_json({**report.to_dict(), "ok": report.ok(require_signature=require_signature)})
        return
    table = Table("check", "ok", "detail", show_lines=False)
    for check in report.checks:
        table.add_row(Text(check.name), Text("yes" if check.ok else "NO",
                                             style="green" if check.ok else "bold red"),
                      Text(check.detail))
    out.print(table)
    failures = report.failures
    if failures:
        out.print(Text(f"{report.release}: {len(failures)} check(s) failed", style="bold red"))
    elif report.signature == "signed":
        out.print(Text(f"{report.release}: verified, signed by "
                       + ", ".join(k[:16] for k in report.keyids), style="green"))
    else:
        verdict = "refused: unsigned" if require_signature else "verified digests; unsigned"
        out.print(Text(f"{report.release}: {verdict}", style="yellow"))


def print_lock(path: Path, requirements: list[str], packages: list[Any], *, as_json: bool) -> None:
    if as_json:
        print_json({"lock": str(path), "declared": requirements,
                    "packages": [{"name": p.name, "version": p.version, "license": p.license,
                                  "hashes": len(p.hashes)} for p in packages]})
        return
    out.print(Text(f"wrote {path.name}: {len(requirements)} declared dependencies, "
                   f"{len(packages)} hash-pinned distributions; review and commit it"))
