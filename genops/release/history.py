"""Release history: `genops log` and `genops rollback`.

History is never rewritten. A rollback promotes an earlier release's tree, exported from its
release commit (its tag when there is one, else found from its manifest and commit trailer),
as a new release of kind `rollback` (through the same gates and the same atomic promotion), so
the log reads r0001, r0002, r0003 (rollback of r0001), and every tag stays where it was.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import git

from genops.errors import UsageError
from genops.faults import crashpoint
from genops.gates.registry import GateObserver
from genops.release.manifest import ReleaseFacts
from genops.release.runs import RunState
from genops.release.stages import RunOutcome, gate, preflight, promote_run
from genops.review.summary import list_price
from genops.store import gitops
from genops.store.releases import (
    current_release,
    load_manifest,
    release_cost_usd,
    release_ids,
    resolve_release,
    run_cost_usd,
)
from genops.store.tree import hash_tree
from genops.workspace import Workspace


def log_entry(manifest: dict[str, Any]) -> dict[str, Any]:
    """One line of `genops log`: who made the release, why, with what, for how much."""
    return {
        "release": manifest["release"], "parent": manifest.get("parent"),
        "kind": manifest["kind"], "reason": manifest.get("reason", ""),
        "created": manifest.get("created", ""),
        "models": sorted({f"{m['provider']}:{m['model']}" for m in manifest.get("models", [])}),
        # the release's cost: its run and the runs that led to it (genops.release.attribution)
        "cost_usd": release_cost_usd(manifest),
        "run_cost_usd": run_cost_usd(manifest.get("totals", {})),
        # the run's tokens at the pinned prices: what answers given by hand or replayed (spent
        # $0) would have cost from the pinned model
        "list_usd": list_price(manifest),
        "earlier_runs": [{"run": r["run"], "stage": r["stage"], "cost_usd": r["cost_usd"]}
                         for r in (manifest.get("earlier_runs") or {}).get("runs", [])],
        "calls": manifest.get("totals", {}).get("calls", 0),
        "gates": {g["gate"]: g["verdict"] for g in manifest.get("gates", [])},
        "tree_sha256": manifest["output"]["tree_sha256"],
        "rollback_of": manifest.get("rollback_of"),
    }


def release_log(root: Path) -> list[dict[str, Any]]:
    """Every release, newest first."""
    return [log_entry(load_manifest(root, r)) for r in reversed(release_ids(root))]


def rollback(ws: Workspace, ref: str, *, reason: str | None = None,
             gate_observer: GateObserver | None = None) -> RunOutcome:
    """Promote the tree of release `ref` as a new release of kind `rollback`."""
    repo = preflight(ws)
    target = resolve_release(ws.root, ref)
    manifest = load_manifest(ws.root, target)
    current = current_release(ws.root)
    if current is not None and load_manifest(ws.root, current)["output"]["tree_sha256"] == \
            manifest["output"]["tree_sha256"]:
        raise UsageError(f"the current release {current} already has the tree of {target}",
                         hint="`genops log` lists the releases and their trees")
    run = RunState.create(ws.root, kind="rollback", reason=reason or f"roll back to {target}",
                          params={"target": target, "allow_breaking": True})
    crashpoint("after-run-created")
    staged = _export_release_tree(repo, ws, manifest, run.dir)
    run.update(stage="staged")
    facts = ReleaseFacts(kind="rollback", reason=run.reason, run_id=run.run_id,
                         blueprint=manifest.get("blueprint"),
                         extra={"rollback_of": target, "flags": dict(run.params)})
    results = gate(ws, run, staged, facts, observer=gate_observer)
    published = promote_run(ws, run, staged, facts, results)
    return RunOutcome("promoted", run_id=run.run_id, release=published, gates=results)


def _export_release_tree(repo: git.Repo, ws: Workspace, manifest: dict[str, Any], run_dir: Path) -> Path:
    """The release's output tree from its commit, as `run_dir/staged`, checked against its hash."""
    output = manifest["output"]["dir"]
    ref = gitops.release_ref(repo, manifest["release"], ws.root)
    export = gitops.export_tree(repo, ref, run_dir / "export", output)
    staged = run_dir / "staged"
    tree = export / output
    if tree.is_dir():
        os.replace(tree, staged)
    else:
        staged.mkdir(parents=True)
    actual = hash_tree(staged)
    if actual != manifest["output"]["tree_sha256"]:
        raise UsageError(f"the tree of {manifest['release']} at {ref} does not match its "
                         f"manifest (tree sha256 {actual[:12]}, manifest "
                         f"{manifest['output']['tree_sha256'][:12]})",
                         hint="the tag, the commit or the manifest was changed after the release")
    return staged
