"""Rendering of `genops partition --plan` (a genops.federation.partition.Plan, duck-typed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from genops.render.console import out, print_json


def print_plan(plan: Any, *, as_json: bool, written: Path | None = None) -> None:
    if as_json:
        print_json({**plan.to_dict(), "written": str(written) if written else None})
        return
    out.print(Text(f"{plan.tree}: ~{plan.tokens:,} tokens, {plan.tokens / plan.window:.0%} of a "
                   f"{plan.window:,}-token window; each part at most {plan.share:.0%} "
                   f"({plan.cap:,} tokens, the {plan.shared_tokens:,} of the shared files "
                   f"{', '.join(plan.shared) or '-'} included)"))
    table = Table("part", "files", "tokens", "of window", "consumes", "provides (names)")
    for part in plan.parts:
        names = sum(len(v) for v in part.provides.values())
        table.add_row(Text(part.name), Text(str(len(part.files))), Text(f"{part.tokens:,}"),
                      Text(f"{part.tokens / plan.window:.0%}",
                           style="bold red" if part.tokens > plan.cap else "green"),
                      Text(", ".join(f"{k} ({v})" for k, v in sorted(part.consumes.items()))
                           or "-"),
                      Text(f"{names} from {len(part.provides)} module(s)" if names else "-"))
    out.print(table)
    for part in plan.parts:
        for module, names in sorted(part.provides.items()):
            out.print(Text(f"interface {part.name}: {module}: {', '.join(names)}"), markup=False)
    out.print(Text(f"{len(plan.parts)} part(s), {plan.cut_edges} cross-part import edge(s)"
                   + (f"; over the cap: {', '.join(plan.over)}" if plan.over else "")
                   + (f"; requirements implemented in more than one part: "
                      f"{', '.join(plan.split_requirements)}" if plan.split_requirements else "")))
    tail = f"plan written to {written}" if written else "give --output FILE to write it as TOML"
    out.print(Text(f"a proposal only: nothing was changed; {tail}", style="yellow"))
