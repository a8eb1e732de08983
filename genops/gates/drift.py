"""Drift and manifest integrity: `generated/` must be exactly what the current release recorded.

`generated/` is written only by genops. A file whose sha256 differs from the current manifest, a
file the manifest does not list, or a listed file that is gone, is a hand edit: each is named, with
the two ways out (record it as a patch with `genops patch --from-drift`, or revert it).
Integrity checks the manifests themselves: each one's tree hash matches its file hashes, and the
chain of parents back to the first release is complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.gates.base import Finding, GateResult
from genops.store.releases import current_release, load_manifest, release_dir
from genops.store.tree import tree_files, tree_hash
from genops.workspace import Workspace

PATCH_HINT = "`genops patch --from-drift` records the edit as a patch release"


@dataclass
class DriftReport:
    """Hand edits in the output tree, against the current release's manifest."""

    release: str | None
    output: str
    edited: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.edited or self.added or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {"release": self.release, "output": self.output, "edited": self.edited,
                "added": self.added, "removed": self.removed}


def manifest_files(manifest: dict[str, Any]) -> dict[str, str]:
    """The output file hashes a manifest recorded (relative to the output directory)."""
    return dict(manifest.get("output", {}).get("files", {}))


def detect_drift(ws: Workspace) -> DriftReport:
    """Compare the output tree with the hashes of the current release's manifest."""
    output = str(ws.config.project.output).strip("/")
    release = current_release(ws.root)
    if release is None:
        return DriftReport(release=None, output=output)
    expected = manifest_files(load_manifest(ws.root, release))
    actual = tree_files(ws.output_dir)
    return DriftReport(
        release=release, output=output,
        edited=sorted(p for p in set(expected) & set(actual) if expected[p] != actual[p]),
        added=sorted(set(actual) - set(expected)),
        removed=sorted(set(expected) - set(actual)))


def drift_findings(report: DriftReport) -> list[Finding]:
    """One finding per drifted file, naming it and saying how to resolve it."""
    findings = []
    for rel in report.edited:
        path = f"{report.output}/{rel}"
        findings.append(Finding(
            f"{path} was edited by hand since release {report.release}: {PATCH_HINT}, or revert "
            f"it with `git checkout -- {path}`", path, None, rule="drift/edited"))
    for rel in report.added:
        path = f"{report.output}/{rel}"
        findings.append(Finding(
            f"{path} was added by hand (release {report.release} has no such file): "
            f"{PATCH_HINT}, or remove it with `git rm -- {path}`", path, None, rule="drift/added"))
    for rel in report.removed:
        path = f"{report.output}/{rel}"
        findings.append(Finding(
            f"{path} was deleted by hand (release {report.release} has it): {PATCH_HINT}, or "
            f"restore it with `git checkout -- {path}`", path, None, rule="drift/removed"))
    return findings


def drift_result(ws: Workspace, name: str = "drift") -> GateResult:
    """The drift check as a gate verdict."""
    report = detect_drift(ws)
    if report.release is None:
        return GateResult(name, "skip", "no release yet: nothing to compare the output tree with")
    if report.clean:
        return GateResult(name, "pass", f"{report.output}/ matches release {report.release}",
                          data=report.to_dict())
    counts = [f"{len(v)} {k}" for k, v in (("edited", report.edited), ("added", report.added),
                                          ("removed", report.removed)) if v]
    first = (report.edited + report.added + report.removed)[0]
    summary = (f"{report.output}/ differs from release {report.release} ({', '.join(counts)}; "
               f"first: {report.output}/{first}); {PATCH_HINT}, or revert the edits")
    return GateResult(name, "fail", summary, tuple(drift_findings(report)), data=report.to_dict())


def _manifest_problems(root: Path, release: str, manifest: dict[str, Any]) -> list[str]:
    """What is wrong inside one manifest: its id, and its tree hash against its file hashes."""
    problems = []
    if manifest.get("release") != release:
        problems.append(f"{release}: manifest says it is release {manifest.get('release')!r}")
    output = manifest.get("output", {})
    files = manifest_files(manifest)
    if "tree_sha256" not in output:
        problems.append(f"{release}: manifest has no output.tree_sha256")
    elif tree_hash(files) != output["tree_sha256"]:
        problems.append(f"{release}: output.tree_sha256 does not match the hashes of its "
                        f"{len(files)} files (the manifest was edited or truncated)")
    if "file_count" in output and output["file_count"] != len(files):
        problems.append(f"{release}: output.file_count is {output['file_count']} but "
                        f"{len(files)} files are listed")
    return problems


def integrity_problems(root: Path) -> list[tuple[str, str]]:
    """(manifest path, problem) along the chain of parents from the current release."""
    found: list[tuple[str, str]] = []
    release = current_release(root)
    seen: set[str] = set()
    while release is not None:
        if release in seen:
            found.append(("", f"the chain of parents loops at {release}"))
            break
        seen.add(release)
        path = (release_dir(root, release) / "manifest.json").relative_to(root).as_posix()
        try:
            manifest = json.loads((root / path).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            found.append((path, f"{release}: manifest is not valid JSON ({exc})"))
            break
        found += [(path, p) for p in _manifest_problems(root, release, manifest)]
        parent = manifest.get("parent")
        if parent is not None and not (release_dir(root, parent) / "manifest.json").is_file():
            found.append((path, (f"{release}: parent release {parent} has no manifest "
                                 f"(.genops/releases/{parent}/manifest.json is missing)")))
            break
        release = parent
    return found


def integrity_result(ws: Workspace, name: str = "manifest") -> GateResult:
    """Manifest integrity as a gate verdict."""
    release = current_release(ws.root)
    if release is None:
        return GateResult(name, "skip", "no release yet")
    problems = integrity_problems(ws.root)
    if problems:
        findings = tuple(Finding(p, path or None, None, rule="manifest/integrity")
                         for path, p in problems)
        return GateResult(name, "fail", f"{len(problems)} manifest problem(s); first: "
                          f"{problems[0][1]}", findings)
    return GateResult(name, "pass", f"manifests of {release} and its parents are consistent")
