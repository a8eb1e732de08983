"""Write r0002.edits: the draft tree as edit blocks (the patch edit protocol) against generated/.

Run from the workspace root: `python docs/r0002-draft/make_edits.py`. Each changed file gets one
block per changed region (SEARCH: the current lines, with enough context to match once); each new
file one block with an empty SEARCH. The script checks that applying every block to the current
generated/ gives exactly the draft tree, and that every SEARCH matches exactly one place.
"""
from __future__ import annotations

import difflib
import sys
from pathlib import Path

ROOT = Path.cwd()
DRAFT = Path(__file__).resolve().parent / "tree"
CURRENT = ROOT / "generated"


def blocks(old: str, new: str) -> list[tuple[str, str]]:
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    found = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(3):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        search, replace = "".join(a[i1:i2]), "".join(b[j1:j2])
        while old.count(search) != 1:  # widen until the SEARCH matches one place only
            i1, j1 = max(0, i1 - 1), max(0, j1 - 1)
            search, replace = "".join(a[i1:i2]), "".join(b[j1:j2])
        found.append((search, replace))
    return found


def apply(old: str, edits: list[tuple[str, str]]) -> str:
    for search, replace in edits:
        assert search == "" or old.count(search) == 1, search[:80]
        old = replace if search == "" else old.replace(search, replace, 1)
    return old


def main() -> int:
    out = []
    for path in sorted(p for p in DRAFT.rglob("*") if p.is_file()):
        rel = path.relative_to(DRAFT).as_posix()
        new = path.read_text(encoding="utf-8")
        current = CURRENT / rel
        old = current.read_text(encoding="utf-8") if current.is_file() else None
        edits = [("", new)] if old is None else blocks(old, new)
        assert apply(old or "", edits) == new, rel
        for search, replace in edits:
            out.append(f'<edit path="{rel}">\n<<<<<<< SEARCH\n{search}=======\n{replace}'
                       f'>>>>>>> REPLACE\n</edit>\n')
    target = Path(__file__).resolve().parent / "r0002.edits"
    target.write_text("\n".join(out), encoding="utf-8")
    print(f"{target}: {len(out)} edit blocks", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
