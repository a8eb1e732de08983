"""Write a group's answer (file protocol: every file of the group, whole) from a scratch tree.

    python docs/r0013-selective/make_answer.py TREE GROUP > ANSWER.md

The group's files are read from the current release's blueprint (placement applied: the
groups of docs/r0013-selective/01-placement.md replace the release's own).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def group_files(name: str) -> list[str]:
    releases = sorted((ROOT / ".genops" / "releases").glob("r*/manifest.json"))
    groups = {g["name"]: g for g in json.loads(releases[-1].read_text())["blueprint"]["groups"]}
    placed = (HERE / "01-placement.md").read_text().split("```json", 1)[1].split("```", 1)[0]
    groups.update({g["name"]: g for g in json.loads(placed)["groups"]})
    return list(groups[name]["files"])


def main() -> int:
    tree, name = Path(sys.argv[1]), sys.argv[2]
    for rel in group_files(name):
        text = (tree / rel).read_text(encoding="utf-8")
        assert "</file>" not in text, rel
        sys.stdout.write(f'<file path="{rel}">\n{text}</file>\n\n')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
