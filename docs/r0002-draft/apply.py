"""Apply the r0002 draft to a workspace: the spec lines, the [gates.migrations] table and, with
--tree, the draft files into generated/ (for `genops patch --from-drift`, or to try the gates).

Run from the workspace root: `python docs/r0002-draft/apply.py [--tree]`. Idempotent.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = Path.cwd()


def apply_spec() -> None:
    spec_path = ROOT / "specs" / "requirements.md"
    spec = spec_path.read_text(encoding="utf-8")
    if "REQ-STATE-1" in spec:
        return
    additions = (HERE / "requirements-additions.md").read_text(encoding="utf-8")
    rogers6 = next(line for line in additions.splitlines() if line.startswith("- **REQ-ROGERS-6**"))
    state = additions[additions.index("## State and migrations (STATE)"):]
    lines = spec.split("\n")
    after = next(i for i, line in enumerate(lines) if line.startswith("- **REQ-ROGERS-5**"))
    lines.insert(after + 1, rogers6)
    spec_path.write_text("\n".join(lines).rstrip("\n") + "\n\n" + state, encoding="utf-8")


def apply_config() -> None:
    path = ROOT / "genops.toml"
    toml = path.read_text(encoding="utf-8")
    if "[gates.migrations]" in toml:
        return
    table = (HERE / "gates-migrations.toml").read_text(encoding="utf-8").split("\n", 1)[1]
    path.write_text(toml.replace("[gates.diff]", table + "\n[gates.diff]", 1), encoding="utf-8")


def apply_tree() -> None:
    for source in sorted(p for p in (HERE / "tree").rglob("*") if p.is_file()):
        target = ROOT / "generated" / source.relative_to(HERE / "tree")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


if __name__ == "__main__":
    apply_spec()
    apply_config()
    if "--tree" in sys.argv[1:]:
        apply_tree()
