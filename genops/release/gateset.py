"""The ordered list of gates a staged tree must pass.

Each gate lives in its own module exposing `make_gate(ws) -> Gate | None` (None: the gate does
not apply to this workspace). The list is assembled here, above both the gates package and the
review package, because the review panel gate asks models and reads the change like a reviewer;
adding a gate is one module plus one line in `GATE_FACTORIES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from genops.gates import (
    adr_rules,
    budget,
    dependencies,
    context_fit,
    contracts,
    diff_policy,
    interface,
    licenses,
    lock,
    migrations,
    parse,
    paths,
    tests,
    traceability,
)
from genops.gates.base import Gate
from genops.review import gate as review_panel
from genops.workspace import Workspace

GateFactory = Callable[[Any], Gate | None]

GATE_FACTORIES: tuple[tuple[str, GateFactory], ...] = (
    ("paths", paths.make_gate),                # no file outside the tree, no escaping symlink
    ("parse", parse.make_gate),                # every .py file parses
    ("diff_policy", diff_policy.make_gate),    # semantic diff against the current release
    ("adr_rules", adr_rules.make_gate),        # architecture rules of accepted ADRs
    ("interface", interface.make_gate),        # a federation member's interface version bump
    ("dependencies", dependencies.make_gate),  # every declared requirement a plain name from
    #                                              the named indexes, before anything installs
    ("lock", lock.make_gate),                  # declared dependencies match the hash-pinned lock
    ("licenses", licenses.make_gate),          # every locked license is allowed
    ("tests", tests.make_gate),                # the generated test suite, isolated, no keys
    ("contracts", contracts.make_gate),        # its consumers' contract tests, sandboxed
    ("migrations", migrations.make_gate),      # stored data survives up, down, backup, restore
    ("traceability", traceability.make_gate),  # every requirement implemented somewhere
    ("budget", budget.make_gate),              # the run's cost within the budget
    ("context_fit", context_fit.make_gate),    # tree size against the context window
    ("review_panel", review_panel.make_gate),  # [review.panel]: other vendors' reviewers block
)


def default_gates(ws: Workspace, factories: Sequence[tuple[str, GateFactory]] = GATE_FACTORIES,
                  ) -> list[Gate]:
    """The gates that apply to `ws`, in order."""
    return [gate for _, make in factories if (gate := make(ws)) is not None]
