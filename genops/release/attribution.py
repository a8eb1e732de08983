"""What a release cost: its own run, and the runs that led to it.

A change often takes more than one run: a run whose gates failed, a patch the model answered in
prose, a run stopped by the provider, then the run that is promoted. The money those runs spent
belongs to the release they led to, not to nothing. "Led to" is defined by the parent: the runs
that led to a release are the other runs started on the same parent release (`RunState.base`,
recorded when a run starts), i.e. every run since the parent was promoted and before this
release replaced it, whatever their kind (regenerate, patch, manual) and however they ended
(failed, gates failed, unchanged, cancelled, awaiting). Runs that spent and asked nothing are
left out.

At promotion the manifest records them (`earlier_runs`: each run's id, kind, stage, calls, archive
hits and cost, and their total) from the local ledger, so the cost travels with the release to
every clone. `genops log` and the reviewer summary show the release's cost as its run plus the
runs before it; `genops cost` adds the ledger's runs up by the release they led to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genops.ledger.db import LEDGER_NAME, Ledger
from genops.ledger.pricing import nano_to_usd, usd_to_nano
from genops.release.runs import RunState, list_runs
from genops.store.releases import load_manifest, release_ids


def earlier_runs(root: Path, run: RunState) -> dict[str, Any] | None:
    """The runs that led to the release `run` is about to promote, with what each spent (None:
    there were none, or the run's parent is unknown)."""
    if run.base is None or not (root / ".genops" / LEDGER_NAME).is_file():
        return None
    others = [r for r in list_runs(root) if r.run_id != run.run_id and r.base == run.base
              and r.stage != "promoted"]
    if not others:
        return None
    ledger = Ledger(root / ".genops" / LEDGER_NAME)
    try:
        rows: list[dict[str, Any]] = []
        for other in others:
            calls = ledger.calls(other.run_id)
            if not calls:
                continue
            nano = sum(usd_to_nano(c.cost_usd) for c in calls)
            rows.append({"run": other.run_id, "kind": other.kind, "stage": other.stage,
                         "calls": sum(1 for c in calls if c.status != "archive_hit"),
                         "archive_hits": sum(1 for c in calls if c.status == "archive_hit"),
                         "cost_usd": round(nano_to_usd(nano), 6)})
    finally:
        ledger.close()
    if not rows:
        return None
    return {"parent": run.base or None, "runs": rows,
            "cost_usd": round(sum(float(r["cost_usd"]) for r in rows), 6)}


def run_releases(root: Path) -> dict[str, str]:
    """Run id -> the release it led to: the run that made each release and the runs before it
    (`earlier_runs` of each manifest)."""
    found: dict[str, str] = {}
    for release in release_ids(root):
        manifest = load_manifest(root, release)
        if manifest.get("run"):
            found[str(manifest["run"])] = release
        for row in (manifest.get("earlier_runs") or {}).get("runs", []):
            found.setdefault(str(row["run"]), release)
    return found
