"""The documents a release writes for people: `diffs/<release>.md` and ARCHITECTURE.md.

`release_documents` renders both for a release being published (its staged tree and the run's
evidence); `rendered_release` renders them again for a committed release (its tree from the tag,
or the output tree when that is the current release), which is how `genops summary` shows a past
release and how `genops check` decides whether ARCHITECTURE.md is stale.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genops.render.architecture import architecture_markdown
from genops.render.summary import reviewer_summary
from genops.review.architecture import ARCHITECTURE, architecture_facts
from genops.review.summary import ReviewSources, build_review, load_diff
from genops.store.gitops import export_output
from genops.store.releases import current_release, load_manifest, release_dir
from genops.workspace import Workspace


@dataclass(frozen=True)
class ReleaseDocuments:
    summary: str  # diffs/<release>.md
    architecture: str  # ARCHITECTURE.md


def _evidence_of(ws: Workspace, release: str | None) -> Path | None:
    return release_dir(ws.root, release) / "evidence" if release else None


def render_documents(ws: Workspace, manifest: dict[str, Any], diff: dict[str, Any], *, new_tree: Path,
                     old_tree: Path | None, evidence: Path) -> ReleaseDocuments:
    """Both documents of one release from its facts."""
    parent = manifest.get("parent")
    review = build_review(ws, ReviewSources(manifest, diff, new_tree, old_tree, evidence,
                                            _evidence_of(ws, parent)))
    facts = architecture_facts(ws, new_tree, release=manifest["release"],
                               blueprint=manifest.get("blueprint"), evidence=evidence)
    return ReleaseDocuments(reviewer_summary(manifest, diff, review),
                            architecture_markdown(facts))


def release_documents(ws: Workspace, manifest: dict[str, Any], changes: Any, *, staged: Path,
                      run_dir: Path) -> ReleaseDocuments:
    """The documents of the release `publish` is preparing (the output dir is still the parent)."""
    old = ws.output_dir if manifest.get("parent") else None
    return render_documents(ws, manifest, changes.diff, new_tree=staged, old_tree=old,
                            evidence=run_dir / "evidence")


@contextmanager
def _tree(ws: Workspace, release: str | None, scratch: Path, current: str | None) -> Iterator[Path | None]:
    """A release's output tree: the output dir for the current release, else its git tag."""
    if release is None:
        yield None
    elif release == current:
        yield ws.output_dir
    else:
        yield export_output(ws.root, ws.output_dir, "", scratch / release, release=release)


def rendered_release(ws: Workspace, release: str) -> ReleaseDocuments:
    """Both documents of a committed release, rendered again from what it committed."""
    manifest = load_manifest(ws.root, release)
    diff = load_diff(ws.root / "diffs" / f"{release}.json")
    current = current_release(ws.root)
    with tempfile.TemporaryDirectory(prefix="genops-docs-") as tmp, \
            _tree(ws, release, Path(tmp), current) as new, \
            _tree(ws, manifest.get("parent"), Path(tmp), current) as old:
        assert new is not None
        return render_documents(ws, manifest, diff, new_tree=new, old_tree=old,
                                evidence=release_dir(ws.root, release) / "evidence")


def current_architecture(ws: Workspace) -> str | None:
    """ARCHITECTURE.md as the current release renders it now; None before the first release."""
    release = current_release(ws.root)
    if release is None:
        return None
    manifest = load_manifest(ws.root, release)
    facts = architecture_facts(ws, ws.output_dir, release=release,
                               blueprint=manifest.get("blueprint"),
                               evidence=release_dir(ws.root, release) / "evidence")
    return architecture_markdown(facts)


__all__ = ["ARCHITECTURE", "ReleaseDocuments", "current_architecture", "release_documents",
           "render_documents", "rendered_release"]
