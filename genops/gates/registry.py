"""The loop that runs gates on a staged tree (the ordered list is `genops.release.gateset`).

A gate may name the gates it `needs`
(e.g. the test gate needs a safe, parseable tree); when one of those failed it is skipped, with
that as the reason, instead of running on a tree known to be broken.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from genops.gates.base import Gate, GateContext, GateResult

GateObserver = Callable[[str, GateResult | None], None]


def run_gates(ctx: GateContext, gates: Sequence[Gate], *,
              observer: GateObserver | None = None) -> list[GateResult]:
    """Run every gate in order; returns one verdict per gate (skipped ones included)."""
    ctx.evidence_dir.mkdir(parents=True, exist_ok=True)
    results: list[GateResult] = []
    failed: set[str] = set()
    for gate in gates:
        blocking = [n for n in getattr(gate, "needs", ()) if n in failed]
        if observer:
            observer(gate.name, None)
        if blocking:
            result = GateResult(gate.name, "skip", f"not run: gate {blocking[0]!r} failed")
        else:
            started = time.monotonic()
            result = gate.check(ctx)
            if not result.seconds:
                result = _with_seconds(result, time.monotonic() - started)
        if not result.passed:
            failed.add(gate.name)
        results.append(result)
        if observer:
            observer(gate.name, result)
    return results


def _with_seconds(result: GateResult, seconds: float) -> GateResult:
    from dataclasses import replace

    return replace(result, seconds=seconds)


def first_failure(results: Sequence[GateResult]) -> GateResult | None:
    return next((r for r in results if not r.passed), None)
