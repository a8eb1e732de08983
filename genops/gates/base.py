"""The gate interface: a gate looks at a staged tree and returns a verdict with evidence.

Gates never raise for a failing tree (that is a verdict); they raise only for a broken setup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from genops.workspace import Workspace

Verdict = Literal["pass", "fail", "warn", "skip"]


@dataclass(frozen=True)
class Finding:
    """One thing a gate noticed, pointing at a file and line where it can."""

    message: str
    file: str | None = None
    line: int | None = None
    rule: str | None = None
    severity: Literal["error", "warning", "note"] = "error"


@dataclass(frozen=True)
class GateResult:
    gate: str
    verdict: Verdict
    summary: str
    findings: tuple[Finding, ...] = ()
    evidence: tuple[str, ...] = ()  # paths (relative to the workspace) of evidence files
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # small facts the manifest records

    @property
    def passed(self) -> bool:
        return self.verdict in ("pass", "warn", "skip")

    def to_dict(self) -> dict[str, Any]:
        entry = {"gate": self.gate, "verdict": self.verdict, "summary": self.summary,
                 "findings": [f.__dict__ for f in self.findings], "evidence": list(self.evidence),
                 "seconds": round(self.seconds, 3)}
        if self.facts:
            entry["facts"] = dict(self.facts)
        return entry


@dataclass
class GateContext:
    """What a gate may look at: the workspace, the staged tree, the current release's tree."""

    workspace: Workspace
    staged: Path  # root of the staged output tree
    previous: Path | None  # root of the current release's tree, None for a first release
    evidence_dir: Path  # where a gate writes its evidence files
    run: dict[str, Any] = field(default_factory=dict)  # run facts: cost, budget, blueprint, flags


class Gate(Protocol):
    name: str

    def check(self, ctx: GateContext) -> GateResult: ...
