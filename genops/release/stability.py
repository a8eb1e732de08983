"""`genops stability`: how much N regenerations of the same inputs differ, semantically.

No provider guarantees determinism, so each run regenerates the whole tree into a scratch
directory (`.genops/runs/stability-…/runN/staged`), never promoting and with its own scratch
archive (so no run is answered from another's archive, and the committed archive is untouched;
the spend is still booked in the ledger against the budget). Each file is classed against the
current release and between every pair of runs, by the semantic diff's own classification
(`genops.semdiff.classify.file_classes`, the one `genops diff` and the reviewer summary use):

    identical · cosmetic (only cosmetic changes) · dependency · architecture (imports and
    modules, e.g. an import-only edit) · behaviour (a body differs) · api (public API differs) ·
    error (does not parse) · added / removed (in one tree only)

plus the generated tests' pass rate per run (the tests gate, sandboxed as usual) and the cost.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from genops.errors import UsageError
from genops.gates.base import GateContext
from genops.gates.registry import run_gates
from genops.ledger.archive import Archive
from genops.pathpolicy import PathPolicy
from genops.providers.client import ModelClient
from genops.providers.fake import FakeProvider
from genops.release.gateset import default_gates
from genops.release.promote import recover_interrupted
from genops.release.runs import new_run_id, runs_dir
from genops.release.stages import route
from genops.release.staging import stage_tree
from genops.semdiff import diff_trees
from genops.semdiff.classify import FILE_CLASSES, file_classes
from genops.store.releases import current_release
from genops.store.tree import tree_files
from genops.synthesis.engine import synthesize
from genops.workspace import Workspace

CLASSES = FILE_CLASSES


@dataclass
class RunReport:
    """One scratch regeneration: its files' classes against the release, tests and cost."""

    index: int
    tree: Path
    cost_usd: float
    calls: int
    tests: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)  # path -> class vs the release

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.index, "tree": str(self.tree), "cost_usd": round(self.cost_usd, 6),
                "calls": self.calls, "tests": self.tests, "counts": counts(self.files),
                "files": dict(sorted(self.files.items()))}


@dataclass
class StabilityReport:
    release: str | None
    runs: list[RunReport]
    pairs: list[dict[str, Any]]
    directory: Path

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {"release": self.release, "directory": str(self.directory),
                "cost_usd": round(self.cost_usd, 6), "runs": [r.to_dict() for r in self.runs],
                "pairs": self.pairs}


def counts(files: dict[str, str]) -> dict[str, int]:
    return {c: n for c in CLASSES if (n := sum(1 for v in files.values() if v == c))}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> dict[str, str]:
    return tree_files(root) if root.is_dir() else {}


def classify(old: Path, new: Path) -> dict[str, str]:
    """Each file of either tree: one of CLASSES, as the semantic diff classes it."""
    result = diff_trees(old, new, use_cache=False)
    return file_classes(result, _files(old), _files(new))


def _tests(ws: Workspace, staged: Path, previous: Path | None, run_dir: Path) -> dict[str, Any]:
    """The tests gate on a scratch tree: verdict, counts and pass rate."""
    # the dependency policy first: a scratch tree's code runs only after it passed
    gates = [g for g in default_gates(ws) if getattr(g, "name", "") in ("dependencies", "tests")]
    if not any(getattr(g, "name", "") == "tests" for g in gates):
        return {"verdict": "skip", "rate": None}
    ctx = GateContext(workspace=ws, staged=staged, previous=previous,
                      evidence_dir=run_dir / "evidence",
                      run={"run_id": run_dir.name, "kind": "stability", "cost_usd": 0.0,
                           "allow_breaking": True, "blueprint": None, "calls": []})
    result = run_gates(ctx, gates)[-1]
    facts = dict(getattr(result, "facts", None) or {})
    total, passed = facts.get("tests"), facts.get("passed")
    rate = round(passed / total, 4) if isinstance(total, int) and total and \
        isinstance(passed, int) else None
    return {"verdict": result.verdict, "summary": result.summary, "passed": passed,
            "total": total, "rate": rate}


def _one_run(ws: Workspace, index: int, base: Path, provider: str | None, previous: Path | None,
             release: str | None, progress: Any) -> RunReport:
    run_dir = base / f"run{index}"
    routing = route(ws, provider, run_dir)
    providers = dict(routing.providers)
    for name, cfg in routing.rungs:  # the fake's variation seed moves on with each run
        if cfg.provider == "fake":
            fake = providers.get(name) or FakeProvider(ws.root)
            if isinstance(fake, FakeProvider) and fake.variation is not None:
                fake.variation += index - 1
            providers[name] = fake
    run_id = f"{base.name}-{index}"
    client = ModelClient(ws.root, ws.config, run_id=run_id, providers=providers,
                         offline=routing.offline)
    client.archive = Archive(run_dir / "archive")  # fresh answers; the real archive untouched
    result = synthesize(ws, client=client, rungs=routing.rungs, previous_tree=previous,
                        run_dir=run_dir, progress=progress, release=release)
    staged = stage_tree(result.files, result.deletes, run_dir=run_dir, base=result.base,
                        policy=PathPolicy.of(ws))
    files = classify(previous, staged) if previous is not None else {}
    return RunReport(index, staged, client.ledger.run_total(run_id), len(result.calls),
                     _tests(ws, staged, previous, run_dir), files)


def stability(ws: Workspace, *, runs: int = 3, provider: str | None = None, progress: Any = None
              ) -> StabilityReport:
    """Regenerate `runs` times into scratch trees and class every file's variation."""
    if runs < 1:
        raise UsageError(f"--runs must be at least 1, not {runs}", hint="e.g. --runs 3")
    if provider == "replay":
        raise UsageError("stability with the replay provider measures nothing",
                         hint="every run would be the archived answers; use a live provider")
    recover_interrupted(ws.root)
    release = current_release(ws.root)
    previous = ws.output_dir if release and ws.output_dir.is_dir() else None
    base = runs_dir(ws.root) / f"stability-{new_run_id()}"
    base.mkdir(parents=True)
    reports = [_one_run(ws, i, base, provider, previous, release, progress)
               for i in range(1, runs + 1)]
    pairs = []
    for a, b in combinations(reports, 2):
        files = classify(a.tree, b.tree)
        pairs.append({"runs": [a.index, b.index], "counts": counts(files),
                      "files": {p: c for p, c in sorted(files.items()) if c != "identical"}})
    return StabilityReport(release, reports, pairs, base)
