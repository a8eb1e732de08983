"""The ordered list of gates a staged tree must pass, and the loop that runs them.

Each gate lives in its own module exposing `make_gate(ws) -> Gate | None` (None: the gate does
not apply to this workspace). `GATE_MODULES` is the order they run in; a module not written yet is
skipped, so adding a gate is one module plus one line here. A gate may name the gates it `needs`
(e.g. the test gate needs a safe, parseable tree); when one of those failed it is skipped, with
that as the reason, instead of running on a tree known to be broken.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from genops.gates.base import Gate, GateContext, GateResult

GATE_MODULES: tuple[str, ...] = (
    "genops.gates.paths",         # no file outside the tree, no escaping symlink
    "genops.gates.parse",         # every .py file parses
    "genops.gates.diff_policy",   # semantic diff against the current release
    "genops.gates.adr_rules",     # architecture rules of accepted ADRs
    "genops.gates.lock",          # declared dependencies match the hash-pinned lock
    "genops.gates.licenses",      # every locked license is allowed
    "genops.gates.tests",         # the generated test suite, isolated, no keys
    "genops.gates.traceability",  # every requirement implemented somewhere
    "genops.gates.budget",        # the run's cost within the budget
    "genops.gates.context_fit",   # tree size against the context window
    "genops.gates.review_panel",  # [review.panel]: reviewers of other vendors can block
)

GateObserver = Callable[[str, GateResult | None], None]


def default_gates(ws: Any, modules: Sequence[str] = GATE_MODULES) -> list[Gate]:
    """The gates that apply to `ws`, in order."""
    gates: list[Gate] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        gate = module.make_gate(ws)
        if gate is not None:
            gates.append(gate)
    return gates


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
