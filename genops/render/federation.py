"""Rendering of `genops federation check`, `genops affected` and `genops regenerate` at a
federation root: plain lines for people, or the data as one JSON document (`--json`).

The outcomes are taken duck-typed (`Any`): render sits below genops.federation."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from genops.render.console import out, print_json


def _line(text: str) -> None:
    out.print(Text(text), highlight=False)


def print_check(result: Any, *, as_json: bool) -> None:
    if as_json:
        print_json(result.to_dict())
        return
    for link in result.links:
        if link.ok:
            _line(f"ok    {link.consumer} -> {link.provider} {link.range}: {link.release} "
                  f"publishes {link.version}")
        else:
            _line(f"FAIL  {link.consumer} -> {link.provider} {link.range}: {link.problem}")
    bad = sum(1 for link in result.links if not link.ok)
    _line(f"federation {result.federation}: {len(result.links)} consumer link(s), "
          + (f"{bad} failing" if bad else "every range admits its provider's release"))


def print_affected(plan: Any, *, as_json: bool) -> None:
    if as_json:
        print_json(plan.to_dict())
        return
    _line(f"federation {plan.federation}, base {plan.base or 'each member release'}")
    for member in plan.members:
        state = "affected" if member.affected else "carried "
        why = "; ".join(member.reasons) or "no input changed"
        _line(f"{state}  {member.name} ({member.path}): {why}")
    if plan.order:
        _line("order: " + " | ".join(", ".join(wave) for wave in plan.order))
    else:
        _line("nothing to regenerate")


def print_run(run: Any, *, as_json: bool) -> None:
    if as_json:
        print_json(run.to_dict())
        return
    for member in run.members:
        where = f" {member.release}" if member.release else ""
        cost = f", ${member.cost_usd:.4f}, {member.calls} call(s)" if member.calls else ""
        detail = f": {member.detail}" if member.detail else ""
        _line(f"{member.status:<9} {member.name}{where}{cost}{detail}")
    _line(f"federation {run.federation}: spent ${run.spent_usd:.4f} of ${run.budget_usd:.2f}")
