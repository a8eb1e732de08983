"""What a release changes, as data for `diffs/<release>.json` and the reviewer summary.

The semantic diff comes from `genops.semdiff`; this module adds what only a release knows: which
inputs changed since the parent, which files changed, and so which requirements (through the
blueprint groups that own the changed files) and which ADRs the release touches.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.render.semdiff import to_markdown
from genops.semdiff import diff_trees
from genops.workspace import Workspace


@dataclass
class ReleaseChanges:
    """The semantic diff of a release against its parent, and what it touches."""

    diff: dict[str, Any]
    semantic_markdown: str
    files_added: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    inputs_changed: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    adrs: list[str] = field(default_factory=list)

    @property
    def breaking(self) -> list[dict[str, Any]]:
        return [c for c in self.diff.get("changes", []) if c.get("breaking")]


def semantic_diff(old_root: Path | None, new_root: Path, *, old_label: str,
                  new_label: str) -> tuple[dict[str, Any], str]:
    """(diff JSON object, markdown of the semantic changes); an absent old tree diffs as empty."""
    with tempfile.TemporaryDirectory(prefix="genops-empty-") as empty:
        old = old_root if old_root is not None and old_root.is_dir() else Path(empty)
        result = diff_trees(old, new_root, old_label=old_label, new_label=new_label)
        data = result.to_json()
        markdown = to_markdown(result)
    return (json.loads(data) if isinstance(data, str) else data), markdown


def _changed(old: dict[str, str], new: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(p for p in set(old) & set(new) if old[p] != new[p])
    return added, removed, changed


def _groups(blueprint: Any) -> list[dict[str, Any]]:
    if blueprint is None:
        return []
    data = blueprint.model_dump(mode="json") if hasattr(blueprint, "model_dump") else blueprint
    return list(data.get("groups", [])) if isinstance(data, dict) else []


def touched(ws: Workspace, *, old_files: dict[str, str], new_files: dict[str, str],
            parent_inputs: dict[str, str], inputs: dict[str, str], blueprint: Any
            ) -> dict[str, list[str]]:
    """Files, inputs, requirements and ADRs this release touches."""
    added, removed, changed = _changed(old_files, new_files)
    inputs_changed = sorted(p for p in set(inputs) | set(parent_inputs)
                            if inputs.get(p) != parent_inputs.get(p))
    moved = set(added) | set(removed) | set(changed)
    requirements: set[str] = set()
    for group in _groups(blueprint):
        if moved & set(group.get("files", [])):
            requirements.update(group.get("requirements", []))
    adrs = {a.id for a in ws.adrs if a.file in inputs_changed
            or requirements & set(a.requirements)}
    return {"files_added": added, "files_removed": removed, "files_changed": changed,
            "inputs_changed": inputs_changed, "requirements": sorted(requirements),
            "adrs": sorted(adrs)}


def release_changes(ws: Workspace, *, old_root: Path | None, new_root: Path, old_label: str,
                    new_label: str, old_files: dict[str, str], new_files: dict[str, str],
                    parent_inputs: dict[str, str], inputs: dict[str, str],
                    blueprint: Any) -> ReleaseChanges:
    diff, markdown = semantic_diff(old_root, new_root, old_label=old_label, new_label=new_label)
    return ReleaseChanges(diff, markdown, **touched(
        ws, old_files=old_files, new_files=new_files, parent_inputs=parent_inputs,
        inputs=inputs, blueprint=blueprint))
