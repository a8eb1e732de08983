"""The path policy on a hand-edited output tree, before `genops patch --from-drift` reads it.

A hand edit becomes a signed release, so it passes the same policy as every other way into one
(`genops.pathpolicy`, walked on disk by the paths gate's `path_findings`), checked with `lstat`
before a single file is read or a run is created. Stricter than the gate in one way: any symlink
is refused, even one that stays inside the tree, because reading the tree follows it and would
commit its target (any file the user can read) as a regular file.
"""

from __future__ import annotations

from genops.errors import UsageError
from genops.gates.base import Finding
from genops.gates.paths import path_findings
from genops.pathpolicy import PathPolicy
from genops.workspace import Workspace

SHOWN = 10  # refused paths listed in the message; the rest are counted

_TODO = {
    "symlink": "replace the link with a regular file holding the content you want, or remove it",
    "symlink-escape": "replace the link with a regular file holding the content you want, or "
                      "remove it",
    "special-file": "remove it",
    "case-duplicate": "rename one of the two",
    "root": "make it a plain directory",
    "policy/ignored": "delete it (caches, version control, environments and build leftovers "
                      "never enter a release)",
    "policy/hidden": "rename it, or list the name under [project] allow_hidden in genops.toml",
    "policy/size": "make it smaller, or raise [project] max_file_bytes in genops.toml",
}


def _line(output: str, finding: Finding) -> str:
    where = output if finding.rule == "root" else f"{output}/{finding.file}"
    todo = _TODO.get(finding.rule or "", "rename it")
    return f"  {where}: {finding.message}; {todo}"


def refuse_unsafe_output(ws: Workspace) -> None:
    """UsageError (exit 2) naming every output path the policy refuses; nothing has been read."""
    root = ws.output_dir
    if not root.exists() and not root.is_symlink():
        return  # the whole tree was deleted by hand: nothing to read
    findings = path_findings(root, PathPolicy.of(ws))  # every finding, warnings included
    if not findings:
        return
    output = str(ws.config.project.output).strip("/")
    lines = [_line(output, f) for f in findings[:SHOWN]]
    if len(findings) > SHOWN:
        lines.append(f"  ... and {len(findings) - SHOWN} more")
    raise UsageError(
        f"{output}/ holds {len(findings)} path(s) no release may contain, so the hand edit was "
        "not recorded (nothing was written):\n" + "\n".join(lines),
        hint="fix each path above, then run `genops patch --from-drift` again")
