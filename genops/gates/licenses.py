"""The licenses gate: every locked distribution's license is one `[audit] allowed_licenses` names.

Licenses come from the lock (recorded by `genops lock` from PyPI's metadata), so the gate runs
offline. An SPDX expression passes when any of its alternatives (`A OR B`) is allowed; "unknown"
fails, with the package named, so a person decides.
"""

from __future__ import annotations

import re

from genops.audit.lockfile import LockedPackage, lock_path, parse_lock
from genops.gates.base import Finding, GateContext, GateResult
from genops.workspace import Workspace


def allowed(license_: str, allow: set[str]) -> bool:
    """Whether `license_` (an SPDX expression or a name) is allowed; `OR` needs one side."""
    text = license_.strip().strip("()")
    if text in allow:
        return True
    alternatives = [a.strip().strip("()") for a in re.split(r"\s+OR\s+", text)]
    return len(alternatives) > 1 and any(a in allow for a in alternatives)


class LicensesGate:
    name = "licenses"
    needs: tuple[str, ...] = ("lock",)

    def __init__(self, allow: list[str]) -> None:
        self.allow = set(allow)

    def check(self, ctx: GateContext) -> GateResult:
        ws = ctx.workspace
        lock = lock_path(ws.root, ws.config.project.output)
        if not lock.is_file():
            return GateResult(self.name, "skip", f"no {lock.name} to read licenses from")
        packages = parse_lock(lock.read_text(encoding="utf-8"))
        bad: list[LockedPackage] = [p for p in packages if not allowed(p.license, self.allow)]
        if bad:
            findings = tuple(Finding(f"{p.name}=={p.version}: license {p.license!r} is not in "
                                     "[audit] allowed_licenses", file=lock.name, rule="licenses")
                             for p in bad)
            return GateResult(self.name, "fail", f"{len(bad)} of {len(packages)} locked "
                              f"distributions have a license outside the allowed list: "
                              + ", ".join(f"{p.name} ({p.license})" for p in bad[:5]),
                              findings=findings)
        return GateResult(self.name, "pass", f"{len(packages)} locked distributions, every "
                          f"license allowed ({len({p.license for p in packages})} distinct)")


def make_gate(ws: Workspace) -> LicensesGate | None:
    allow = ws.config.audit.allowed_licenses
    return LicensesGate(allow) if allow else None
