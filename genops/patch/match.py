"""Applying edit blocks to an in-memory tree: strict matching, never a silent guess.

A SEARCH is looked for with each strategy in turn, strictest first, and the first strategy that
finds it decides:

    exact                 the lines as they are (a last line without a newline matches too)
    crlf                  the file uses CRLF line endings, the SEARCH does not (or the reverse)
    trailing_whitespace   trailing spaces and tabs ignored
    indentation           every non-blank line shifted by the same indentation (spaces or tabs);
                          the REPLACE lines are shifted the same way

A strategy that finds more than one place is *ambiguous*: the block fails and nothing is chosen.
A SEARCH found nowhere fails with the nearest lines of the file and their similarity (difflib),
so the model can be told exactly what the file holds. Blocks on one file apply in sequence, each
to the text the previous ones left; a block whose match touches lines an earlier block wrote is
reported as overlapping. Replacement lines take the file's line ending, and a file that had no
final newline keeps having none.

`apply_blocks` never writes anything: it returns the new tree (only meaningful when `ok`), the
blocks that applied and the failures. All-or-nothing is the caller's rule: nothing is staged
unless every block of every round applied.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from genops.protocol.edits import EditBlock

Reason = Literal["missing", "ambiguous", "overlap", "no_file", "exists"]
STRATEGIES = ("exact", "crlf", "trailing_whitespace", "indentation")
NEAREST_SHOWN = 12  # lines of the nearest match quoted back to the model


@dataclass(frozen=True)
class Applied:
    block: EditBlock
    strategy: str  # one of STRATEGIES, or "create" / "delete"
    line: int  # 1-based first line replaced (0 for create/delete)


@dataclass(frozen=True)
class Nearest:
    start: int  # 1-based
    lines: tuple[str, ...]
    similarity: float


@dataclass(frozen=True)
class BlockFailure:
    """A block that did not apply, and everything the model needs to correct it."""

    block: EditBlock
    reason: Reason
    message: str
    nearest: Nearest | None = None
    places: tuple[int, ...] = ()  # 1-based first lines of every match (ambiguous)

    def report(self) -> str:
        """The failure as told back to the model (and shown to the user)."""
        lines = [f"{self.block.name}: {self.message}"]
        if self.nearest is not None:
            end = self.nearest.start + len(self.nearest.lines) - 1
            lines.append(f"The nearest lines are {self.nearest.start}-{end} "
                         f"(similarity {self.nearest.similarity:.2f}):")
            lines += [f"{self.nearest.start + i:5d} | {text}"
                      for i, text in enumerate(self.nearest.lines[:NEAREST_SHOWN])]
        if self.block.kind != "delete":
            lines += ["Your SEARCH was:", self.block.search.rstrip("\n") or "(empty)"]
        return "\n".join(lines)


@dataclass
class ApplyResult:
    tree: dict[str, str]
    applied: list[Applied] = field(default_factory=list)
    failures: list[BlockFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def split_lines(text: str) -> list[str]:
    """Lines with their '\\n' kept (only '\\n' splits: unicode separators are content)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return lines + ([parts[-1]] if parts[-1] else [])


def _content(line: str) -> str:
    return line.removesuffix("\n")


_KEYS: dict[str, Callable[[str], str]] = {
    "exact": lambda line: line,
    "crlf": lambda line: line.removesuffix("\r"),
    "trailing_whitespace": lambda line: line.rstrip(),
}


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


def _shift(file_lines: Sequence[str], search: Sequence[str]) -> tuple[str, str] | None:
    """('add'|'remove', prefix) when the window equals `search` shifted uniformly, else None."""
    shift: tuple[str, str] | None = None
    for f_raw, s_raw in zip(file_lines, search, strict=True):
        f, s = f_raw.rstrip(), s_raw.rstrip()
        if not f or not s:
            if f or s:
                return None
            continue
        if f.lstrip() != s.lstrip():
            return None
        fi, si = _indent(f), _indent(s)
        if fi.endswith(si) and len(fi) > len(si):
            this = ("add", fi[:len(fi) - len(si)])
        elif si.endswith(fi) and len(si) > len(fi):
            this = ("remove", si[:len(si) - len(fi)])
        else:
            return None
        if shift is not None and shift != this:
            return None
        shift = this
    return shift


def _reindent(lines: list[str], shift: tuple[str, str]) -> list[str]:
    op, prefix = shift
    out = []
    for line in lines:
        if not line.strip():
            out.append(line)
        elif op == "add":
            out.append(prefix + line)
        else:
            cut = line[:len(prefix)]
            out.append(line[len(prefix):] if cut == prefix else line.lstrip())
    return out


def _find(contents: list[str], search: list[str]) -> tuple[str, list[int], tuple[str, str] | None]:
    """(strategy, every matching start, indentation shift) for the first strategy that matches."""
    n = len(search)
    starts = range(len(contents) - n + 1)
    for strategy, key in _KEYS.items():
        wanted = [key(s) for s in search]
        keyed = [key(c) for c in contents]
        found = [i for i in starts if keyed[i:i + n] == wanted]
        if found:
            return strategy, found, None
    shifts = {i: _shift(contents[i:i + n], search) for i in starts}
    found = [i for i, shift in shifts.items() if shift is not None]
    return "indentation", found, shifts[found[0]] if len(found) == 1 else None


def nearest_lines(contents: list[str], search: list[str]) -> Nearest | None:
    """The window of the file most similar to `search` (difflib ratio), for the report."""
    if not contents:
        return None
    n = min(len(search), len(contents))
    wanted = "\n".join(s.rstrip() for s in search)
    best: tuple[float, int] = (-1.0, 0)
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(wanted)
    for i in range(len(contents) - n + 1):
        matcher.set_seq1("\n".join(c.rstrip() for c in contents[i:i + n]))
        if matcher.real_quick_ratio() <= best[0] or matcher.quick_ratio() <= best[0]:
            continue
        ratio = matcher.ratio()
        if ratio > best[0]:
            best = (ratio, i)
    ratio, start = best
    return Nearest(start + 1, tuple(c.rstrip("\r") for c in contents[start:start + n]),
                   round(ratio, 2))


class _File:
    """One file being edited in memory, with the line ranges earlier blocks wrote."""

    def __init__(self, text: str) -> None:
        self.lines = split_lines(text)
        self.touched: list[tuple[int, int]] = []

    def overlaps(self, start: int, end: int) -> bool:
        return any(start < t_end and t_start < end or (t_start == t_end and start <= t_start < end)
                   for t_start, t_end in self.touched)

    def replace(self, start: int, end: int, new: list[str]) -> None:
        eol = "\r\n" if any(line.endswith("\r\n") for line in self.lines[start:end]) \
            or (start == end and self.lines and self.lines[0].endswith("\r\n")) else "\n"
        final_without_newline = end == len(self.lines) and end > 0 \
            and not self.lines[-1].endswith("\n")
        written = [line + eol for line in new]
        if written and final_without_newline:
            written[-1] = written[-1].removesuffix(eol)
        delta = len(written) - (end - start)
        self.touched = [(s + delta, e + delta) if s >= end else (s, e) for s, e in self.touched]
        self.touched.append((start, start + len(written)))
        self.lines[start:end] = written

    @property
    def text(self) -> str:
        return "".join(self.lines)


def _apply_edit(file: _File, block: EditBlock) -> Applied | BlockFailure:
    contents = [_content(line) for line in file.lines]
    search = [_content(line) for line in split_lines(block.search)]
    strategy, found, shift = _find(contents, search)
    if not found:
        return BlockFailure(block, "missing", "SEARCH matches nothing in the file.",
                            nearest=nearest_lines(contents, search))
    if len(found) > 1:
        places = tuple(i + 1 for i in found)
        return BlockFailure(block, "ambiguous",
                            f"SEARCH matches {len(found)} places (lines "
                            f"{', '.join(map(str, places))}); add lines so it matches one only.",
                            places=places)
    start, end = found[0], found[0] + len(search)
    if file.overlaps(start, end):
        return BlockFailure(block, "overlap", f"SEARCH overlaps lines an earlier block of this "
                            f"answer wrote (lines {start + 1}-{end}); merge the two blocks.")
    new = [_content(line).removesuffix("\r") for line in split_lines(block.replace)]
    file.replace(start, end, _reindent(new, shift) if shift is not None else new)
    return Applied(block, strategy, start + 1)


def apply_blocks(tree: Mapping[str, str], blocks: Sequence[EditBlock]) -> ApplyResult:
    """Apply `blocks` in order to a copy of `tree` (path -> text); `tree` itself is not changed."""
    files: dict[str, _File | None] = {}
    result = ApplyResult(tree={})

    def current(path: str) -> _File | None:
        if path not in files:
            files[path] = _File(tree[path]) if path in tree else None
        return files[path]

    for block in blocks:
        file = current(block.path)
        outcome: Applied | BlockFailure
        if block.kind == "delete":
            outcome = (BlockFailure(block, "no_file", "cannot delete: no such file.")
                       if file is None else Applied(block, "delete", 0))
            if file is not None:
                files[block.path] = None
        elif block.kind == "create":
            if file is not None:
                outcome = BlockFailure(block, "exists", "an empty SEARCH creates a file, but the "
                                       "file exists; quote the lines to change instead.")
            else:
                created = _File("")
                created.replace(0, 0, [_content(x) for x in split_lines(block.replace)])
                files[block.path] = created
                outcome = Applied(block, "create", 0)
        elif file is None:
            outcome = BlockFailure(block, "no_file", "no such file; an empty SEARCH creates one.")
        else:
            outcome = _apply_edit(file, block)
        if isinstance(outcome, Applied):
            result.applied.append(outcome)
        else:
            result.failures.append(outcome)
    new_tree = {p: text for p, text in tree.items() if p not in files}
    new_tree.update({p: f.text for p, f in files.items() if f is not None})
    result.tree = {p: new_tree[p] for p in sorted(new_tree)}
    return result


def tree_changes(base: Mapping[str, str], new: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """(files written or added, paths deleted) taking `base` to `new`."""
    written = {p: text for p, text in sorted(new.items()) if base.get(p) != text}
    return written, sorted(set(base) - set(new))
