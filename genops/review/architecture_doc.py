"""`genops check`'s architecture check: the committed ARCHITECTURE.md is what the release renders.

ARCHITECTURE.md is rendered from the current release (its tree, the ADRs, its traceability): a hand
edit or a file left out of a commit fails; ADRs edited since the release (the usual way to accept
a breaking change after the fact) only warn until the next release or `architecture --write`.
"""

from __future__ import annotations

from genops.gates.base import Finding, GateResult
from genops.review.documents import ARCHITECTURE, current_architecture
from genops.store.releases import current_release, load_manifest
from genops.workspace import Workspace

NAME = "architecture_doc"
HINT = "run `genops architecture --write` and commit ARCHITECTURE.md"


def first_difference(expected: str, actual: str) -> int:
    """The 1-based line where two texts first differ."""
    old, new = actual.splitlines(), expected.splitlines()
    for number, (a, b) in enumerate(zip(old, new, strict=False), start=1):
        if a != b:
            return number
    return min(len(old), len(new)) + 1


def adrs_changed_since_release(ws: Workspace) -> list[str]:
    """ADR files added, removed or edited since the current release's manifest hashed them."""
    release = current_release(ws.root)
    recorded = load_manifest(ws.root, release).get("inputs", {}) if release else {}
    now = ws.input_hashes()
    return sorted(p for p in set(recorded) | set(now)
                  if p.startswith("adr/") and recorded.get(p) != now.get(p))


def architecture_result(ws: Workspace) -> GateResult:
    """pass when ARCHITECTURE.md matches the current release's rendering; fail when stale."""
    expected = current_architecture(ws)
    if expected is None:
        return GateResult(NAME, "skip", "no release yet: ARCHITECTURE.md comes with the first")
    path = ws.root / ARCHITECTURE
    if not path.is_file():
        return GateResult(NAME, "fail", f"{ARCHITECTURE} is missing; {HINT}",
                          (Finding(f"{ARCHITECTURE} is missing", ARCHITECTURE, None,
                                   rule="architecture/missing"),))
    actual = path.read_text(encoding="utf-8")
    if actual == expected:
        return GateResult(NAME, "pass", f"{ARCHITECTURE} is current")
    line = first_difference(expected, actual)
    changed = adrs_changed_since_release(ws)
    if changed:
        return GateResult(NAME, "warn", f"{ARCHITECTURE} predates ADR changes since the release "
                          f"({', '.join(changed)}); the next release or `genops architecture "
                          "--write` renders it again",
                          (Finding("ADRs changed since the release", ARCHITECTURE, line,
                                   rule="architecture/adrs-changed", severity="warning"),))
    return GateResult(NAME, "fail", f"{ARCHITECTURE} is stale from line {line}; {HINT}",
                      (Finding(f"{ARCHITECTURE} differs from what the current release renders",
                               ARCHITECTURE, line, rule="architecture/stale"),))
