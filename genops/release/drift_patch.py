"""`genops patch --from-drift`: turn a hand edit of `generated/` into a recorded patch release.

`generated/` is written only by genops, so a hand edit is drift that `genops check` refuses. When
the edit is wanted, this records it instead of losing it: the edited tree is staged, passes every
gate like any release, and is promoted as a release of kind `patch` whose evidence holds the exact
edits (`hand-edits.json`). Replay rebuilds such a release from its parent's tree plus those edits,
so the chain of releases stays reproducible with no key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genops.errors import UsageError
from genops.gates.drift import DriftReport, detect_drift
from genops.gates.registry import GateObserver
from genops.pathpolicy import PathPolicy
from genops.release.drift_paths import refuse_unsafe_output
from genops.release.manifest import ReleaseFacts
from genops.release.recovery import startup_recovery
from genops.release.runs import RunState
from genops.release.stages import RunOutcome, gate, promote_run
from genops.release.staging import stage_tree
from genops.store import gitops
from genops.store.releases import current_release, load_manifest
from genops.store.tree import tree_files
from genops.workspace import Workspace

EDITS_FILE = "hand-edits.json"
SOURCE = "drift"


def read_tree_text(root: Path) -> dict[str, str]:
    """Every file of an output tree as text (generated trees are text; anything else is refused).

    A symlink is refused, never read through: its target could be any file the user can read.
    """
    files: dict[str, str] = {}
    for rel in tree_files(root):
        if (root / rel).is_symlink():
            raise UsageError(f"{root.name}/{rel} is a symlink; a generated tree holds regular "
                             "files only", hint="replace the link with a regular file, or remove it")
        try:
            files[rel] = (root / rel).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{root.name}/{rel} is not UTF-8 text",
                             hint="a generated tree holds text files only; revert that file") from None
    return files


def hand_edits(report: DriftReport, files: dict[str, str]) -> dict[str, Any]:
    """The exact edits against the current release: new content of edited/added files, removals."""
    return {"release": report.release,
            "write": {p: files[p] for p in sorted([*report.edited, *report.added])},
            "delete": sorted(report.removed)}


def apply_edits(base: dict[str, str], edits: dict[str, Any]) -> dict[str, str]:
    """The tree a recorded patch produces from its parent's tree."""
    tree = {p: text for p, text in base.items() if p not in set(edits["delete"])}
    tree.update(edits["write"])
    return tree


def record_drift(ws: Workspace, *, reason: str | None = None,
                 gate_observer: GateObserver | None = None) -> RunOutcome:
    """Gate and promote the hand-edited output tree as a `patch` release."""
    startup_recovery(ws.root)
    if current_release(ws.root) is not None:
        refuse_unsafe_output(ws)  # before any file is read or a run folder exists
    report = detect_drift(ws)
    if report.release is None:
        raise UsageError("there is no release yet, so there is no drift to record",
                         hint="make the first release with `genops regenerate`")
    if report.clean:
        raise UsageError(f"{report.output}/ matches release {report.release}: nothing to record")
    files = read_tree_text(ws.output_dir)
    edits = hand_edits(report, files)
    changed = len(edits["write"]) + len(edits["delete"])
    reason = reason or f"hand edit of {changed} file(s) recorded from drift"
    run = RunState.create(ws.root, kind="patch", reason=reason,
                          params={"source": SOURCE, "allow_breaking": False},
                          inputs=ws.input_hashes())
    staged = stage_tree(files, [], run_dir=run.dir, policy=PathPolicy.of(ws))
    run.update(stage="staged")
    parent = load_manifest(ws.root, report.release)
    # Judged with the parent's blueprint, as replay and `genops check` will judge the release.
    facts = ReleaseFacts(kind="patch", reason=reason, run_id=run.run_id, calls=[],
                         blueprint=parent.get("blueprint"), rung_by_group={}, cost_usd=0.0, month_spend_usd=0.0,
                         inputs=run.inputs,
                         extra={"flags": {"source": SOURCE, "allow_breaking": False},
                                "hand_edits": {"written": sorted(edits["write"]),
                                               "deleted": edits["delete"],
                                               "record": f"evidence/{EDITS_FILE}"},
                                "blueprint": parent.get("blueprint")})
    # The gates compare with the release's own tree: generated/ holds the hand edits themselves.
    repo, output = gitops.open_repo(ws.root), str(ws.config.project.output)
    previous = gitops.export_tree(repo, gitops.release_ref(repo, report.release, ws.root),
                                  run.dir / "previous", output) / output
    previous.mkdir(parents=True, exist_ok=True)
    results = gate(ws, run, staged, facts, observer=gate_observer, previous=previous)
    evidence = run.dir / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    (evidence / EDITS_FILE).write_text(json.dumps(edits, indent=1, sort_keys=True) + "\n",
                                       encoding="utf-8")
    _restore_output(ws)  # the edits live on in the staged tree and the evidence
    published = promote_run(ws, run, staged, facts, results)
    return RunOutcome("promoted", run_id=run.run_id, release=published, gates=results,
                      cost_usd=0.0, calls=0, staged=None)


def _restore_output(ws: Workspace) -> None:
    """Put the output tree back as HEAD has it, so promotion swaps in a clean, gated tree."""
    repo = gitops.open_repo(ws.root)
    output = str(ws.config.project.output)
    repo.git.checkout("HEAD", "--", output)
    repo.git.clean("-fdq", "--", output)
