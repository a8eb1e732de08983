"""`genops check` as a library: every verdict CI needs, offline and without a key.

The checks, in order: drift (the output tree against the current manifest), manifest integrity,
whether ARCHITECTURE.md is what the current release renders, the audit checks, then the tree
gates on the output tree itself: parse, diff policy (against a base tree), ADR rules,
traceability and context fit. The base is the current release's parent by default (the tree the
current release was gated against), or `--base`: a directory, a release id or a git ref.
The parent's tree comes from its release commit, found from its manifest and trailer, never
from a tag (a moved tag changes nothing check reads: `genops.release.trust.release_commit`);
when that commit is not in the clone (a shallow clone), the diff recorded at promotion
(`diffs/<release>.json`) is judged instead, and the summary says so.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.errors import UsageError
from genops.gates.base import GateContext, GateResult
from genops.gates.drift import drift_result, integrity_result
from genops.gates.registry import run_gates
from genops.release.gateset import GATE_FACTORIES, default_gates
from genops.release.trust import release_commit
from genops.release.verify import verify_result
from genops.review.architecture_doc import architecture_result
from genops.store.gitops import export_output
from genops.store.releases import RELEASE_ID, current_release, load_manifest, resolve_release
from genops.workspace import Workspace

TREE_GATES = ("parse", "diff_policy", "adr_rules", "dependencies", "lock", "licenses", "traceability",
              "context_fit")


@dataclass
class CheckReport:
    """Every verdict of one `genops check`, with what was compared to what."""

    workspace: str
    output: str
    release: str | None
    base: str | None
    results: list[GateResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "output": self.output, "release": self.release,
                "base": self.base, "passed": self.passed,
                "results": [r.to_dict() for r in self.results]}


@dataclass
class Base:
    """What the output tree is diffed against: a tree, or a recorded diff, or nothing."""

    label: str | None
    tree: Path | None = None
    recorded_diff: dict[str, Any] | None = None
    note: str = ""


def _recorded(ws: Workspace, release: str) -> dict[str, Any] | None:
    """The semantic diff written when `release` was promoted, if the workspace has it."""
    path = ws.root / "diffs" / f"{release}.json"
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _default_base(ws: Workspace, release: str | None, scratch: Path) -> Base:
    """The current release's parent: its commit if in the clone, else the recorded diff."""
    if release is None:
        return Base(label=None, note="no release yet")
    parent = load_manifest(ws.root, release).get("parent")
    if parent is None:
        return Base(label=None, note=f"{release} is the first release")
    try:
        return Base(label=parent, tree=export_output(ws.root, ws.output_dir,
                                                     release_commit(ws.root, parent), scratch))
    except UsageError as exc:
        recorded = _recorded(ws, release)
        if recorded is None:
            raise UsageError(f"cannot diff against {parent}: {exc.message}",
                             hint="fetch the history (`git fetch --unshallow`, or "
                             "actions/checkout with fetch-depth: 0), or pass --base") from None
        return Base(label=parent, recorded_diff=recorded,
                    note=f"the commit of {parent} is not in this clone; judged "
                    f"diffs/{release}.json")


def resolve_base(ws: Workspace, base: str | None, release: str | None, scratch: Path) -> Base:
    """Turn `--base` (None, a directory, a release id or a git ref) into a Base."""
    if base is None:
        return _default_base(ws, release, scratch)
    as_dir = Path(base)
    if as_dir.is_dir():
        return Base(label=base, tree=as_dir.resolve())
    if RELEASE_ID.match(base.removeprefix("genops/")) or base in ("current", "latest"):
        rid = resolve_release(ws.root, base)
        return Base(label=rid, tree=export_output(ws.root, ws.output_dir,
                                                  release_commit(ws.root, rid), scratch))
    return Base(label=base, tree=export_output(ws.root, ws.output_dir, base, scratch))


def recorded_allow_breaking(manifest: dict[str, Any]) -> bool:
    """Whether the release was made with --allow-breaking (as its manifest records it)."""
    flags = manifest.get("flags")
    flagged = isinstance(flags, dict) and bool(flags.get("allow_breaking"))
    return flagged or bool(manifest.get("allow_breaking"))


def recorded_junit(ws: Workspace, manifest: dict[str, Any]) -> Path | None:
    """The JUnit evidence the current release's tests gate kept, if the manifest points at one."""
    for gate in manifest.get("gates", []):
        if isinstance(gate, dict) and gate.get("gate") == "tests":
            for path in gate.get("evidence", []):
                if str(path).endswith("junit.xml") and (ws.root / path).is_file():
                    return Path(ws.root / path)
    return None


@contextmanager
def _evidence(evidence_dir: Path | None) -> Iterator[Path]:
    if evidence_dir is not None:
        evidence_dir.mkdir(parents=True, exist_ok=True)
        yield evidence_dir
        return
    with tempfile.TemporaryDirectory(prefix="genops-check-") as tmp:
        yield Path(tmp)


def _tree_results(ws: Workspace, base: Base, manifest: dict[str, Any], evidence: Path) -> list[GateResult]:
    """Run the tree gates on the output tree."""
    run: dict[str, Any] = {"allow_breaking": recorded_allow_breaking(manifest),
                           "blueprint": manifest.get("blueprint")}
    if base.recorded_diff is not None:
        run["diff"] = base.recorded_diff
    junit = recorded_junit(ws, manifest)
    if junit is not None:
        run["junit"] = junit  # traceability judges the outcomes the release's tests gate saw
    ctx = GateContext(workspace=ws, staged=ws.output_dir, previous=base.tree,
                      evidence_dir=evidence, run=run)
    results = run_gates(ctx, default_gates(ws, [f for f in GATE_FACTORIES if f[0] in TREE_GATES]))
    if base.note:
        results = [_noted(r, base.note) if r.gate == "diff_policy" else r for r in results]
    return results


def _audit_result(ws: Workspace, release: str | None) -> GateResult:
    result: GateResult = verify_result(ws, release)
    return result


def _noted(result: GateResult, note: str) -> GateResult:
    from dataclasses import replace

    return replace(result, summary=f"{result.summary} ({note})")


def run_check(ws: Workspace, *, base: str | None = None,
              evidence_dir: Path | None = None) -> CheckReport:
    """Every check on the workspace's output tree; the CLI renders this and picks the exit code."""
    release = current_release(ws.root)
    output = str(ws.config.project.output).strip("/")
    report = CheckReport(workspace=str(ws.root), output=output, release=release, base=None)
    report.results.append(drift_result(ws))
    report.results.append(integrity_result(ws))
    report.results.append(architecture_result(ws))
    report.results.append(_audit_result(ws, release))
    if not ws.output_dir.is_dir() or not any(ws.output_dir.iterdir()):
        report.results.append(GateResult("tree", "skip", f"{output}/ is empty: nothing generated yet"))
        return report
    manifest = load_manifest(ws.root, release) if release else {}
    with tempfile.TemporaryDirectory(prefix="genops-base-") as scratch, \
            _evidence(evidence_dir) as evidence:
        resolved = resolve_base(ws, base, release, Path(scratch))
        report.base = resolved.label
        report.results.extend(_tree_results(ws, resolved, manifest, evidence))
    return report
