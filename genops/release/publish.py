"""Publishing a gated, staged tree as a release: id, manifest, diffs, then the atomic promotion.

Under the promotion lock: refuse hand edits in owned paths, allocate the next release id, write the
manifest, evidence and diffs inside the run directory, journal the plan and carry it out
(`genops.release.promote`). Until the journal exists nothing outside the run directory changes
except `.gitignore` gaining genops's local paths.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genops.audit.dsse import key_id
from genops.audit.keys import KEY_ENV, KEYS_DIR, signing_key
from genops.audit.lockfile import lock_path
from genops.audit.pack import write_pack
from genops.errors import UsageError
from genops.faults import crashpoint
from genops.gates.base import GateResult
from genops.release.manifest import ReleaseFacts, build_manifest, manifest_json
from genops.release.promote import PromotionPlan, promotion_lock, run_promotion
from genops.release.seal import seal
from genops.release.trust import next_signers
from genops.review.changes import ReleaseChanges, release_changes
from genops.review.documents import ARCHITECTURE, release_documents
from genops.store import gitops
from genops.store.releases import (
    MANIFEST,
    current_release,
    load_manifest,
    next_release,
    release_dir,
)
from genops.store.tree import copy_tree, remove_tree, tree_files
from genops.workspace import Workspace

LOCAL_PATHS = (".genops/ledger.db*", ".genops/runs/", ".genops/cache/", ".genops/trash/",
               ".genops/venvs/", ".genops/promote.*")


@dataclass(frozen=True)
class PublishedRelease:
    release: str
    parent: str | None
    kind: str
    commit: str
    tree_sha256: str
    manifest: dict[str, Any]
    summary_path: Path
    tag: str | None = None  # `genops/<release>`; None for a workspace in a subfolder (no tag)


def owned_paths(ws: Workspace) -> list[Path]:
    """The paths only genops writes; a change there that no release made is refused."""
    return [ws.output_dir, ws.root / "diffs", ws.root / ".genops" / "releases"]


def ensure_gitignore(root: Path) -> None:
    """Make git ignore genops's local state (ledger, runs, trash, venvs, promotion journal)."""
    path = root / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [p for p in LOCAL_PATHS if p not in present]
    if not missing:
        return
    if text and not text.endswith("\n"):
        text += "\n"
    header = "# genops: local state (the archive and releases are committed; these are not)\n"
    path.write_text(text + ("" if "# genops" in text else header) + "\n".join(missing) + "\n",
                    encoding="utf-8")


def _rel(ws: Workspace, path: Path) -> str:
    return path.relative_to(ws.root).as_posix()


def _changes(ws: Workspace, facts: ReleaseFacts, release: str, parent: str | None,
             staged: Path) -> tuple[ReleaseChanges, dict[str, str]]:
    inputs = facts.inputs if facts.inputs is not None else ws.input_hashes()
    parent_inputs = load_manifest(ws.root, parent).get("inputs", {}) if parent else {}
    changes = release_changes(
        ws, old_root=ws.output_dir if parent else None, new_root=staged,
        old_label=parent or "(none)", new_label=release,
        old_files=tree_files(ws.output_dir) if parent else {}, new_files=tree_files(staged),
        parent_inputs=parent_inputs, inputs=inputs, blueprint=facts.blueprint)
    return changes, inputs


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _lock_paths(ws: Workspace) -> list[str]:
    path = lock_path(ws.root, ws.config.project.output)
    return [path.name] if path.is_file() else []


def write_audit_pack(ws: Workspace, out: Path) -> None:
    """The release's SBOM and signed provenance beside its manifest (docs/releases.md).

    Refused (before anything outside the run directory changes) when the release would not
    verify: unsigned, or signed by a key not allowed to sign it (docs/security.md "Trust root")."""
    key = signing_key(ws.config.audit.signing_key, ws.root)
    pins = list(ws.config.audit.trusted_keys)
    allowed = None
    if pins or key is not None or any((ws.root / KEYS_DIR).glob("*.pub")):
        try:
            allowed = next_signers(ws.root, pins)
        except UsageError:  # history genops cannot read here (shallow): `genops verify` judges
            allowed = None
    if allowed is not None:
        ids, source = allowed
        shown = ", ".join(ids) or "none"
        if key is None:
            raise UsageError(f"this release must be signed by a pinned key ({shown}: {source}), "
                             "and no signing key is set",
                             hint=f"set {KEY_ENV} to that key's private half (the run's answers "
                             "are archived: running again costs nothing)")
        if key_id(key.public_key()) not in ids:
            raise UsageError(f"signing key {key_id(key.public_key())} may not sign this release; "
                             f"the keys allowed are {shown} ({source})",
                             hint="sign with an allowed key; a new key signs only after a release "
                             "signed by an allowed key pins it (`genops help releases`, Trust root)")
    write_pack(ws.root, out, key=key)


def prepare(ws: Workspace, facts: ReleaseFacts, *, release: str, parent: str | None, run_dir: Path,
            staged: Path, gates: Sequence[GateResult]) -> tuple[PromotionPlan, dict[str, Any]]:
    """Write the release's files inside `run_dir` and return the plan that publishes them."""
    out = run_dir / "release"
    remove_tree(out)
    out.mkdir(parents=True)
    if (run_dir / "evidence").is_dir():
        copy_tree(run_dir / "evidence", out / "evidence")
    changes, inputs = _changes(ws, facts, release, parent, staged)
    facts.inputs = inputs
    diff_paths = {"json": f"diffs/{release}.json", "markdown": f"diffs/{release}.md"}
    remap = {_rel(ws, run_dir / "evidence"): f".genops/releases/{release}/evidence"}
    manifest = build_manifest(ws, facts, release=release, parent=parent, staged=staged,
                              gates=gates, evidence_remap=remap, diff_paths=diff_paths,
                              diff_stats=changes.diff.get("stats"))
    manifest["touches"] = {"requirements": changes.requirements, "adrs": changes.adrs,
                           "inputs_changed": changes.inputs_changed,
                           "files_added": len(changes.files_added),
                           "files_removed": len(changes.files_removed),
                           "files_changed": len(changes.files_changed),
                           "breaking": len(changes.breaking)}
    _write(out / MANIFEST, manifest_json(manifest))
    write_audit_pack(ws, out)
    _write(run_dir / "diffs" / f"{release}.json", json.dumps(changes.diff, indent=2) + "\n")
    docs = release_documents(ws, manifest, changes, staged=staged, run_dir=run_dir)
    _write(run_dir / "diffs" / f"{release}.md", docs.summary)
    _write(run_dir / ARCHITECTURE, docs.architecture)
    ensure_gitignore(ws.root)
    output = ws.config.project.output
    moves = [(_rel(ws, out), _rel(ws, release_dir(ws.root, release)))]
    moves += [(_rel(ws, run_dir / "diffs" / Path(p).name), p) for p in diff_paths.values()]
    moves += [(_rel(ws, run_dir / ARCHITECTURE), ARCHITECTURE)]
    title = f"genops: release {release} ({facts.kind})"
    plan = PromotionPlan(
        release=release, staged=_rel(ws, staged), output=output,
        trash=f".genops/trash/{release}", moves=moves,
        commit_paths=[output, *diff_paths.values(), ARCHITECTURE, f".genops/releases/{release}",
                      ".genops/archive", ".gitignore", *sorted(inputs), *_lock_paths(ws)],
        message=f"{title}\n\n{facts.reason}".strip(),
        tag_message=f"{title}: {facts.reason}".strip().rstrip(":"),
        sealed=dict(facts.sealed) if facts.sealed is not None else seal(staged))
    return plan, manifest


def publish(ws: Workspace, facts: ReleaseFacts, *, run_dir: Path, staged: Path,
            gates: Sequence[GateResult]) -> PublishedRelease:
    """Promote `staged` as the next release; the caller has run the gates and they passed."""
    repo = gitops.open_repo(ws.root)
    with promotion_lock(ws.root):
        gitops.refuse_dirty(repo, owned_paths(ws), tree=ws.output_dir)
        taken = gitops.release_tags(repo, ws.root)
        release, parent = next_release(ws.root, taken), current_release(ws.root)
        plan, manifest = prepare(ws, facts, release=release, parent=parent, run_dir=run_dir,
                                 staged=staged, gates=gates)
        crashpoint("after-prepare")
        outcome = run_promotion(ws.root, plan)
    tag = gitops.TAG_PREFIX + release if gitops.tags_releases(repo, ws.root) else None
    return PublishedRelease(release, parent, facts.kind, outcome.commit,
                            manifest["output"]["tree_sha256"], manifest,
                            ws.root / "diffs" / f"{release}.md", tag)
