"""The lock gate: the staged tree's declared dependencies are exactly those its lock was made from.

A model that adds or re-pins a dependency without `genops lock` fails here, with the command that
fixes it, so the tests gate and a user never install an unreviewed dependency set.
"""

from __future__ import annotations

from genops.audit.lockfile import lock_path, parse_lock, stale_reason
from genops.gates.base import Finding, GateContext, GateResult
from genops.gates.venvs import declared_dependencies
from genops.workspace import Workspace


class LockGate:
    name = "lock"
    needs: tuple[str, ...] = ("paths", "dependencies")

    def __init__(self, policy: str) -> None:
        self.policy = policy

    def check(self, ctx: GateContext) -> GateResult:
        ws = ctx.workspace
        lock = lock_path(ws.root, ws.config.project.output)
        requirements = declared_dependencies(ctx.staged).requirements
        if not lock.is_file() and self.policy == "when_present":
            return GateResult(self.name, "skip", f"no {lock.name}; `genops lock` makes one")
        problem = stale_reason(list(requirements), lock, fix="genops lock")
        if problem:
            return GateResult(self.name, "fail", problem,
                              findings=(Finding(problem, file=lock.name, rule="lock"),))
        count = len(parse_lock(lock.read_text(encoding="utf-8"))) if lock.is_file() else 0
        return GateResult(self.name, "pass",
                          f"{len(requirements)} declared dependencies locked as {count} "
                          f"hash-pinned distributions in {lock.name}")


def make_gate(ws: Workspace) -> LockGate | None:
    policy = ws.config.audit.lock
    return None if policy == "off" else LockGate(policy)
