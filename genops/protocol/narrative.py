"""The narrative answer's shape: markdown under three fixed headings, in this order; and the
names it gives that genops can check.

The narrative in a reviewer summary (genops.review.narrative) is free prose, but its outline is
fixed so a reader finds the same three things in every release and a malformed answer is caught
before it is archived (the manual provider checks it with `check_narrative`). Its claims that
genops can look up are the requirement IDs (`REQ-GREET-2`) and the paths (`a/b.py`, `x.md`,
`generated/a/b.py:7`, a backticked `a/b/`) it names, backticked or not (`named_claims`); the
prose stays the model's, and the summary shows it only as quoted, inert text.
"""

from __future__ import annotations

import re

from genops.protocol.fence import unfenced
from genops.protocol.files import ResponseFormatError

NARRATIVE_LABEL = "summary"
HEADINGS = ("## What changed and why", "## Risks", "## What a reviewer should check")
REQUIREMENT_ID = re.compile(r"\bREQ-[A-Z0-9]+(?:-[A-Z0-9]+)*\b")
# A file name a narrative may give: a stem and one of these extensions, with or without folders.
PATH_EXTENSIONS = ("py", "pyi", "md", "txt", "rst", "toml", "cfg", "ini", "yaml", "yml", "json",
                   "j2", "lock", "sh", "sql", "csv", "xml", "html", "css", "js", "ts")
_PATH = re.compile(r"(?<![\w./\\-])((?:[\w.-]+/)*[\w-][\w.-]*\.(?:"
                   + "|".join(sorted(PATH_EXTENSIONS, key=len, reverse=True))
                   + r"))(?![\w/\\-])")
_CODE_SPAN = re.compile(r"`([^`\s]+)`")
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://\S*|\bwww\.\S*")


class NarrativeError(ResponseFormatError):
    """The narrative lacks one of the headings, has them out of order, or says nothing."""


def check_narrative(text: str) -> str:
    """The narrative, stripped, from the first heading on; NarrativeError says what is wrong."""
    lines = unfenced(text).splitlines()
    found = [next((i for i, line in enumerate(lines) if line.strip() == h), -1) for h in HEADINGS]
    missing = [h for h, i in zip(HEADINGS, found, strict=True) if i < 0]
    if missing:
        raise NarrativeError("the narrative lacks the heading(s) " + ", ".join(
            repr(h) for h in missing), hint="answer in markdown under exactly these headings: "
                                            + "; ".join(HEADINGS))
    if found != sorted(found):
        raise NarrativeError("the narrative's headings are out of order",
                             hint="use this order: " + "; ".join(HEADINGS))
    sections = [lines[a + 1:b] for a, b in zip(found, [*found[1:], len(lines)], strict=True)]
    if any(not "".join(s).strip() for s in sections):
        raise NarrativeError("a narrative section is empty", hint="write at least one line "
                                                                  "under every heading")
    return "\n".join(lines[found[0]:]).strip() + "\n"


def named_claims(text: str, output: str = "") -> tuple[list[str], list[str]]:
    """(requirement IDs, paths) `text` names. A path is a file name with a known extension
    (`PATH_EXTENSIONS`) anywhere in the prose, or a backticked name with a `/` (a folder);
    a `:line` suffix and a leading `./` or `<output>/` are dropped; URLs are not paths."""
    prose = _URL.sub(" ", text)
    ids = set(REQUIREMENT_ID.findall(prose))
    spans = [s.split(":")[0].rstrip(".,;") for s in _CODE_SPAN.findall(prose)]
    found = set(_PATH.findall(prose)) | {s for s in spans if "/" in s}
    paths = set()
    for path in found:
        path = path.removeprefix("./")
        if output and path.startswith(output.strip("/") + "/"):
            path = path[len(output.strip("/")) + 1:]
        if path.strip("/"):
            paths.add(path)
    return sorted(ids), sorted(paths)
