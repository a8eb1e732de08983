"""Write a genops edit-protocol answer (SEARCH/REPLACE blocks) that turns one tree into another.

    python docs/r0003-patches/make_edits.py OLD_TREE NEW_TREE > answer.md

Used to turn the fixes drafted (and tested) in a scratch copy of generated/ into the answer of a
`genops patch --provider manual` request. Every SEARCH is checked to match exactly once in the
text the blocks before it leave, widening its context until it does.
"""
from __future__ import annotations

import difflib
import sys
from pathlib import Path


def files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts
            and "__pycache__" not in p.parts}


def count(haystack: list[str], needle: list[str]) -> int:
    n = len(needle)
    return sum(1 for i in range(len(haystack) - n + 1) if haystack[i:i + n] == needle)


def blocks_for(old: str, new: str) -> list[tuple[str, str]]:
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    out: list[tuple[str, str]] = []
    current = list(a)
    offset = 0  # lines added so far (current = a with earlier groups applied)
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(2):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        ctx = 0
        while True:
            lo, hi = max(0, i1 - ctx), min(len(a), i2 + ctx)
            search = a[lo:hi]
            replace = a[lo:i1] + b[j1:j2] + a[i2:hi]
            if search and any(line.strip() for line in search) and count(current, search) == 1:
                break
            ctx += 1
            if lo == 0 and hi == len(a):
                raise SystemExit("cannot make a unique SEARCH")
        start = lo + offset
        current[start:start + len(search)] = replace
        offset += len(replace) - len(search)
        out.append(("".join(search), "".join(replace)))
    return out


def main(old_root: Path, new_root: Path) -> str:
    old, new = files(old_root), files(new_root)
    parts: list[str] = []
    for path in sorted(set(old) | set(new)):
        if path not in new:
            parts.append(f'<delete path="{path}"/>\n')
            continue
        if old.get(path) == new[path]:
            continue
        blocks = [("", new[path])] if path not in old else blocks_for(old[path], new[path])
        body = "".join(f"<<<<<<< SEARCH\n{s}=======\n{r}>>>>>>> REPLACE\n" for s, r in blocks)
        parts.append(f'<edit path="{path}">\n{body}</edit>\n')
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(main(Path(sys.argv[1]), Path(sys.argv[2])))
