"""`genops review [BASE]`: the panel on the output tree's change, for a pull request; nothing promoted.

The change is the output tree against BASE (by default the current release's parent, as
`genops check` diffs it). The result is a check report, so it renders as text, markdown (a PR
comment: the current release's reviewer summary first), json, github annotations or SARIF.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from genops.gates.base import GateContext, GateResult
from genops.release.check_suite import CheckReport, resolve_base
from genops.review.changes import semantic_diff
from genops.review.documents import rendered_release
from genops.review.gate import NAME, panel_result
from genops.store.releases import current_release
from genops.workspace import Workspace


def _run_id() -> str:
    return "review-" + dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")


def _panel(ws: Workspace, ctx: GateContext, base_diff: dict[str, Any] | None) -> GateResult:
    cfg = ws.config.review.panel
    if not cfg.rungs or cfg.when == "never":
        return GateResult(NAME, "skip", "no [review.panel] configured (or when = \"never\")")
    diff = base_diff
    if diff is None:
        diff, _ = semantic_diff(ctx.previous, ctx.staged, old_label="base", new_label="output")
    return panel_result(ws, ctx, diff)


def review_change(ws: Workspace, *, base: str | None = None,
                  evidence_dir: Path | None = None) -> tuple[CheckReport, str | None]:
    """(the panel's report, the current release's reviewer summary or None)."""
    release = current_release(ws.root)
    output = str(ws.config.project.output).strip("/")
    report = CheckReport(workspace=str(ws.root), output=output, release=release, base=None)
    with tempfile.TemporaryDirectory(prefix="genops-review-") as scratch:
        resolved = resolve_base(ws, base, release, Path(scratch))
        report.base = resolved.label
        evidence = evidence_dir or Path(scratch) / "evidence"
        evidence.mkdir(parents=True, exist_ok=True)
        ctx = GateContext(workspace=ws, staged=ws.output_dir, previous=resolved.tree,
                          evidence_dir=evidence, run={"run_id": _run_id()})
        report.results.append(_panel(ws, ctx, resolved.recorded_diff))
    summary = rendered_release(ws, release).summary if release else None
    return report, summary
