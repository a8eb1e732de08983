"""The paths gate: everything in the staged tree is a regular file or directory inside it.

Refused: a symlink whose target leaves the tree (or is absolute), a special file (FIFO, socket,
device), two paths that differ only in letter case (they collide on macOS and Windows), and every
entry the path policy refuses (`genops.pathpolicy`: a name the tree ignores, which would be
swapped into the output yet invisible to the tree hash; a hidden name not allowed; a reserved,
over-long or badly-charactered name; a file over `max_file_bytes`).
A symlink that stays inside the tree is a warning: genops never writes one itself.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from genops.gates.base import Finding, GateContext, GateResult
from genops.pathpolicy import DEFAULT_POLICY, PathPolicy, PathRefused
from genops.treeignore import is_ignored_dir, is_ignored_file
from genops.workspace import Workspace


def _link_finding(root: Path, path: Path, rel: str) -> Finding:
    target = os.readlink(path)
    resolved = (path.parent / target).resolve()
    inside = not os.path.isabs(target) and resolved.is_relative_to(root.resolve())
    if inside:
        return Finding(f"symlink to {target!r} (inside the tree)", rel, rule="symlink",
                       severity="warning")
    return Finding(f"symlink escapes the output tree (-> {target!r})", rel, rule="symlink-escape")


def _policy_finding(policy: PathPolicy, rel: str, mode: int, size: int) -> Finding | None:
    """The path policy's verdict on one entry on disk, as a finding (None: accepted)."""
    name = rel.rsplit("/", 1)[-1]
    top = "/" not in rel
    ignored = is_ignored_dir(name, top=top) if stat.S_ISDIR(mode) else is_ignored_file(name)
    if ignored:
        return Finding(f"{name!r} is a name the output tree ignores; it would be promoted yet "
                       "invisible to the tree hash and every gate", rel, rule="policy/ignored")
    try:
        policy.check(rel)
        if stat.S_ISREG(mode):
            policy.check_size(rel, size)
    except PathRefused as exc:
        return Finding(str(exc), rel, rule=f"policy/{exc.rule}")
    return None


def path_findings(root: Path, policy: PathPolicy = DEFAULT_POLICY) -> list[Finding]:
    """Every finding about the shape of the tree at `root`."""
    if root.is_symlink() or not root.is_dir():
        return [Finding("the staged tree root is not a plain directory", str(root), rule="root")]
    findings: list[Finding] = []
    seen: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        refused_dirs = set()
        for name in sorted([*dirnames, *filenames]):
            path = base / name
            rel = path.relative_to(root).as_posix()
            folded = rel.casefold()
            if folded in seen:
                findings.append(Finding(f"differs only in case from {seen[folded]!r}", rel,
                                        rule="case-duplicate"))
            seen[folded] = rel
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                findings.append(_link_finding(root, path, rel))
            elif not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                findings.append(Finding("not a regular file", rel, rule="special-file"))
            refused = _policy_finding(policy, rel, info.st_mode, info.st_size)
            if refused is not None:
                findings.append(refused)
                refused_dirs.add(name)
        dirnames[:] = [d for d in dirnames if d not in refused_dirs]  # one finding per subtree
    return findings


class PathsGate:
    name = "paths"
    needs: tuple[str, ...] = ()

    def __init__(self, policy: PathPolicy = DEFAULT_POLICY) -> None:
        self.policy = policy

    def check(self, ctx: GateContext) -> GateResult:
        findings = path_findings(ctx.staged, self.policy)
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            return GateResult(self.name, "fail",
                              f"{len(errors)} unsafe or refused paths (first: {errors[0].file}: "
                              f"{errors[0].message})", findings=tuple(findings))
        if findings:
            return GateResult(self.name, "warn", f"{len(findings)} symlinks inside the tree",
                              findings=tuple(findings))
        return GateResult(self.name, "pass", "every path is a regular file inside the tree")


def make_gate(ws: Workspace) -> PathsGate:
    """The paths gate with the workspace's path policy."""
    return PathsGate(PathPolicy.of(ws))
