"""Rendering of `genops federation release` and of `genops verify --all` / `genops replay` at a
federation root (the reports of genops.federation.verify, taken duck-typed)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from genops.render.console import out, print_json


def print_made(made: Any, *, as_json: bool) -> None:
    if as_json:
        print_json(made.to_dict())
        return
    table = Table("member", "path", "release", "commit", "manifest sha256", "interface")
    for pin in made.manifest["members"]:
        table.add_row(Text(pin["name"]), Text(pin["path"]), Text(pin["release"]),
                      Text(pin["commit"][:12]), Text(pin["manifest_sha256"][:16]),
                      Text(str(pin.get("interface_version") or "-")))
    out.print(table)
    signed = f"signed by {made.signed_by[:16]}" if made.signed_by else "unsigned"
    out.print(Text(f"federation release {made.release}: {made.path}/manifest.json, {signed}, "
                   f"commit {made.commit[:12]}", style="green"))


def print_federation_report(report: Any, *, as_json: bool) -> None:
    """One row per federation release and per member, every failing check, one verdict line."""
    if as_json:
        print_json(report.to_dict())
        return
    if report.releases:
        table = Table("federation release", "commit", "signature", "allowed signers", "checks")
        for rel in report.releases:
            signed = (f"signed by {', '.join(k[:16] for k in rel.keyids)}"
                      if rel.signature == "signed" else rel.signature)
            failed = len(rel.failures)
            table.add_row(Text(rel.release), Text((rel.commit or "-")[:12]), Text(signed),
                          Text(", ".join(k[:16] for k in rel.allowed) or "none"),
                          _count(len(rel.checks), failed))
        out.print(table)
    table = Table("member", "path", "pinned release", report.action, "checks")
    for member in report.members:
        what = "-"
        if "verify" in member.detail:
            own = member.detail["verify"]
            what = f"{len(own['releases'])} release(s)"
        if "replay" in member.detail:
            rep = member.detail["replay"]
            what = ("reproduced" if rep["reproduced"] else "NOT reproduced") \
                + f", {rep['file_count']} files"
        table.add_row(Text(member.name), Text(member.path), Text(member.release), Text(what),
                      _count(len(member.checks), len(member.failures)))
    out.print(table)
    for check in report.checks:
        if not check.ok:
            out.print(Text(f"{check.name}: {check.detail}", style="bold red"))
    for rel in report.releases:
        for check in rel.failures:
            out.print(Text(f"{rel.release}: {check.name}: {check.detail}", style="bold red"))
    for member in report.members:
        for check in member.failures:
            out.print(Text(f"{check.name}: {check.detail}", style="bold red"))
    where = f"federation {report.federation} at {report.release}"
    if report.ok:
        verb = "verified" if report.action == "verify" else "replayed byte for byte"
        out.print(Text(f"{where}: {len(report.releases) or 1} federation release(s) and "
                       f"{len(report.members)} member(s) {verb}", style="green"))
    else:
        out.print(Text(f"{where}: {len(report.failures)} check(s) failed", style="bold red"))


def _count(total: int, failed: int) -> Text:
    return Text(f"{total - failed} ok" + (f", {failed} FAILED" if failed else ""),
                style="bold red" if failed else "green")
