"""The dependencies gate: the tree's declared requirements pass the supply-chain policy before
any gate installs or runs the tree's code (the lock, licenses, tests and migrations gates need it).

The policy itself is `genops.gates.requirements.check_policy`; this gate reports its refusals as
findings at their file and line, and the venv builder checks it again before it installs anything,
so a command that reaches the tests gate another way (`patch --from-test`) meets the same policy.
"""

from __future__ import annotations

from pathlib import Path

from genops.audit.lockfile import lock_path
from genops.gates.base import Finding, GateContext, GateResult
from genops.gates.requirements import Refusal, allowed_requirements, check_policy, read_declared
from genops.workspace import Workspace


def policy_refusals(ws: Workspace, tree: Path, *, with_lock: bool = True) -> list[Refusal]:
    """The refusals of the workspace's policy on `tree` (its lock too, when present and asked)."""
    config = ws.config
    lock = lock_path(ws.root, config.project.output)
    return check_policy(tree, indexes=config.audit.indexes,
                        allowed=allowed_requirements(ws.active_adrs()),
                        lock=lock if with_lock and lock.is_file() else None)


def _prefix(ctx: GateContext, refusal: Refusal) -> str:
    if refusal.at.file.endswith(".lock") and "/" not in refusal.at.file:
        return refusal.at.file
    return f"{ctx.workspace.config.project.output}/{refusal.at.file}"


class DependenciesGate:
    """Gate: every declared requirement is a plain `name specifier` from the named indexes."""

    name = "dependencies"
    needs = ("paths",)

    def check(self, ctx: GateContext) -> GateResult:
        refusals = policy_refusals(ctx.workspace, ctx.staged)
        if refusals:
            findings = tuple(Finding(f"{r.at.text!r}: {r.reason}", _prefix(ctx, r), r.at.line,
                                     rule="dependency_policy") for r in refusals)
            return GateResult(self.name, "fail",
                              f"{len(refusals)} declared dependency line(s) refused; first: "
                              f"{_prefix(ctx, refusals[0])}:{refusals[0].at.line or '?'}: "
                              f"{refusals[0].at.text!r}: {refusals[0].reason}", findings,
                              data={"refused": [r.message() for r in refusals]})
        count = sum(1 for d in read_declared(ctx.staged) if d.kind == "requirement")
        return GateResult(self.name, "pass", f"{count} declared requirement(s), each a released "
                          f"distribution by name from {', '.join(ctx.workspace.config.audit.indexes)}",
                          facts={"declared": count})


def make_gate(ws: Workspace) -> DependenciesGate:
    return DependenciesGate()
