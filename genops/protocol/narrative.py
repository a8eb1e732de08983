"""The narrative answer's shape: markdown under three fixed headings, in this order.

The narrative atop a reviewer summary (genops.review.narrative) is free prose, but its outline is
fixed so a reader finds the same three things in every release and a malformed answer is caught
before it is archived (the manual provider checks it with `check_narrative`).
"""

from __future__ import annotations

from genops.protocol.fence import unfenced
from genops.protocol.files import ResponseFormatError

NARRATIVE_LABEL = "summary"
HEADINGS = ("## What changed and why", "## Risks", "## What a reviewer should check")


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
