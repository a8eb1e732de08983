"""The paths gate: everything in the staged tree is a regular file or directory inside it.

Refused: a symlink whose target leaves the tree (or is absolute), a special file (FIFO, socket,
device), and two paths that differ only in letter case (they collide on macOS and Windows).
A symlink that stays inside the tree is a warning: genops never writes one itself.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from genops.gates.base import Finding, GateContext, GateResult


def _link_finding(root: Path, path: Path, rel: str) -> Finding:
    target = os.readlink(path)
    resolved = (path.parent / target).resolve()
    inside = not os.path.isabs(target) and resolved.is_relative_to(root.resolve())
    if inside:
        return Finding(f"symlink to {target!r} (inside the tree)", rel, rule="symlink",
                       severity="warning")
    return Finding(f"symlink escapes the output tree (-> {target!r})", rel, rule="symlink-escape")


def path_findings(root: Path) -> list[Finding]:
    """Every finding about the shape of the tree at `root`."""
    if root.is_symlink() or not root.is_dir():
        return [Finding("the staged tree root is not a plain directory", str(root), rule="root")]
    findings: list[Finding] = []
    seen: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in sorted([*dirnames, *filenames]):
            path = base / name
            rel = path.relative_to(root).as_posix()
            folded = rel.casefold()
            if folded in seen:
                findings.append(Finding(f"differs only in case from {seen[folded]!r}", rel,
                                        rule="case-duplicate"))
            seen[folded] = rel
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                findings.append(_link_finding(root, path, rel))
            elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                findings.append(Finding("not a regular file", rel, rule="special-file"))
    return findings


class PathsGate:
    name = "paths"
    needs: tuple[str, ...] = ()

    def check(self, ctx: GateContext) -> GateResult:
        findings = path_findings(ctx.staged)
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            return GateResult(self.name, "fail",
                              f"{len(errors)} unsafe paths (first: {errors[0].file}: "
                              f"{errors[0].message})", findings=tuple(findings))
        if findings:
            return GateResult(self.name, "warn", f"{len(findings)} symlinks inside the tree",
                              findings=tuple(findings))
        return GateResult(self.name, "pass", "every path is a regular file inside the tree")


def make_gate(ws: Any) -> PathsGate:
    return PathsGate()
