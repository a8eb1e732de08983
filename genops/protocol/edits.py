"""The edit protocol: how a model (or a person) answers a patch request with targeted edits.

    <edit path="mad/bus.py">
    <<<<<<< SEARCH
    exact lines from the current file
    =======
    replacement lines
    >>>>>>> REPLACE
    </edit>
    <delete path="mad/old_module.py"/>

One `<edit>` holds one or more SEARCH/REPLACE blocks; an empty SEARCH creates the file. Blocks are
numbered 1, 2, ... across the whole answer (every SEARCH/REPLACE and every delete), so a report
can name "block 3 (mad/bus.py)". `parse_edits` returns data only; a malformed block is an
`EditProtocolError` (a `ResponseFormatError`, so the conversation asks for a repair) naming it.
Markdown fences and blank lines around blocks are tolerated; any other text inside an `<edit>`
outside a block is refused, because it usually means a block lost a marker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from genops.protocol.files import FENCE_LINE, ProtocolError, check_path

SEARCH = "<<<<<<< SEARCH"
DIVIDER = "======="
REPLACE = ">>>>>>> REPLACE"
# Labels of patch requests start with this, so a manual request file asks for edit blocks.
EDIT_LABEL_PREFIX = "edits-"
_TAG = re.compile(
    r"<edit\s+path\s*=\s*(?P<eq>[\"'])(?P<edit>.*?)(?P=eq)\s*>"
    r"|<delete\s+path\s*=\s*(?P<dq>[\"'])(?P<delete>.*?)(?P=dq)\s*(?:/>|>\s*</delete>)")
_CLOSE = re.compile(r"(?m)^[ \t]*</edit>[ \t]*\r?$")
_MARKER = re.compile(r"^[ \t]*(<{5,9} ?SEARCH|={5,9}|>{5,9} ?REPLACE)[ \t]*\r?$")

Kind = Literal["edit", "create", "delete"]


class EditProtocolError(ProtocolError):
    """An edit-protocol block is refused; the message names the block and its path."""


@dataclass(frozen=True)
class EditBlock:
    """One SEARCH/REPLACE (kind edit, or create when SEARCH is empty) or one delete."""

    number: int
    path: str
    search: str
    replace: str
    kind: Kind

    @property
    def name(self) -> str:
        return f"block {self.number} ({self.path})"

    def to_text(self) -> str:
        """The block written back in the protocol (for reports and re-asks)."""
        if self.kind == "delete":
            return f'<delete path="{self.path}"/>\n'
        return (f'<edit path="{self.path}">\n{SEARCH}\n{self.search}{DIVIDER}\n'
                f"{self.replace}{REPLACE}\n</edit>\n")


def _joined(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def _marker(line: str) -> str | None:
    """Which marker a line is (SEARCH, DIVIDER, REPLACE), tolerating 5-9 chevrons."""
    found = _MARKER.match(line)
    if found is None:
        return None
    token = found.group(1)
    if "SEARCH" in token:
        return SEARCH
    return REPLACE if "REPLACE" in token else DIVIDER


def _blocks(body: str, path: str, first: int) -> list[EditBlock]:
    """The SEARCH/REPLACE blocks of one <edit> body, numbered from `first`."""
    lines = [line.removesuffix("\r") for line in body.split("\n")]
    blocks: list[EditBlock] = []
    state = "outside"
    search: list[str] = []
    replace: list[str] = []
    for line in lines:
        number = first + len(blocks)
        marker = _marker(line)
        if state == "outside":
            if marker == SEARCH:
                state, search, replace = "search", [], []
            elif marker is not None:
                raise EditProtocolError(f"{marker!r} before '{SEARCH}'", block=number, path=path)
            elif line.strip() and not FENCE_LINE.match(line.strip()):
                raise EditProtocolError(f"text outside a SEARCH/REPLACE block: {line.strip()[:60]!r}",
                                        block=number, path=path,
                                        hint=f"every edit starts with a line '{SEARCH}'")
        elif state == "search":
            if marker == DIVIDER:
                state = "replace"
            elif marker is not None:
                raise EditProtocolError(f"{marker!r} inside SEARCH (missing '{DIVIDER}')",
                                        block=number, path=path)
            else:
                search.append(line)
        else:
            if marker == REPLACE:
                kind: Kind = "create" if not search else "edit"
                if search and not any(s.strip() for s in search):
                    raise EditProtocolError("SEARCH holds only blank lines", block=number,
                                            path=path, hint="quote real lines of the file")
                blocks.append(EditBlock(number, path, _joined(search), _joined(replace), kind))
                state = "outside"
            elif marker is not None:
                raise EditProtocolError(f"{marker!r} inside REPLACE (missing '{REPLACE}')",
                                        block=number, path=path)
            else:
                replace.append(line)
    if state != "outside":
        raise EditProtocolError(f"block is never closed (missing '{REPLACE}')",
                                block=first + len(blocks), path=path)
    if not blocks:
        raise EditProtocolError("<edit> holds no SEARCH/REPLACE block", block=first, path=path)
    return blocks


def parse_edits(text: str) -> list[EditBlock]:
    """Every edit and delete block of an answer, in order; a malformed one is EditProtocolError."""
    found: list[EditBlock] = []
    pos = 0
    while (match := _TAG.search(text, pos)) is not None:
        number = len(found) + 1
        is_edit = match.group("edit") is not None
        raw = match.group("edit") if is_edit else match.group("delete")
        try:
            path = check_path(raw)
        except ValueError as exc:
            raise EditProtocolError(str(exc), block=number, path=raw) from None
        if not is_edit:
            found.append(EditBlock(number, path, "", "", "delete"))
            pos = match.end()
            continue
        close = _CLOSE.search(text, match.end())
        nested = _TAG.search(text, match.end())
        if close is None or (nested is not None and nested.start() < close.start()):
            raise EditProtocolError("<edit> is never closed (missing </edit>)", block=number,
                                    path=raw, hint="end every edit with a line holding only </edit>")
        body = text[match.end():close.start()]
        found.extend(_blocks(body.removeprefix("\n").removesuffix("\n"), path, number))
        pos = close.end()
    if not found:
        raise EditProtocolError("the answer holds no <edit> or <delete> blocks",
                                hint="answer with edit blocks as the request shows")
    return found


PLACEHOLDER_PATH = "RELATIVE/PATH/OF/THE/FILE"


def render_edit_help(example: str | None = None) -> str:
    """The edit protocol explained, for prompts and for people answering manual requests.

    The example block names `example`, one of the request's real files (the patch engine passes
    the file chosen first for the change), else a capitalised placeholder: small models copy an
    example path into their answer, and an invented one (`pkg/module.py`) matches nothing.
    """
    path = example or PLACEHOLDER_PATH
    if example:
        intro = f"Answer with edit blocks (text outside the blocks is ignored), for example in {path}:"
        rule = (f"- `path` is the real path of the file you change, as listed above ({path} in "
                "the example), a relative POSIX path inside the output tree.")
    else:
        intro = "Answer with edit blocks (text outside the blocks is ignored):"
        rule = (f"- {PLACEHOLDER_PATH} is a placeholder: write the real path of the file you "
                "change, a relative POSIX path inside the output tree.")
    return f"""\
{intro}

<edit path="{path}">
{SEARCH}
exact lines from the current file
{DIVIDER}
replacement lines
{REPLACE}
</edit>

Rules:
{rule}
- SEARCH holds exact, contiguous lines of the current file, enough of them to match one place
  only; REPLACE holds the lines that replace them. Several blocks may go in one <edit>; they apply
  in order, and must not overlap.
- An empty SEARCH creates a new file whose content is the REPLACE lines.
- Only to remove a file of the current release, write <delete path="{PLACEHOLDER_PATH}"/> with
  its real path.
- Do not send whole files, and do not wrap blocks in markdown fences.
"""
