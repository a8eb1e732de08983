"""Whether a model's (or a person's) answer has the shape its request asks for.

A request's label says which protocol answers it: edit blocks for a patch round, markdown under
three fixed headings for a summary narrative, one JSON object for the blueprint and for a
reviewer of the review panel, the file protocol for everything else. The manual provider checks an answer
with this before archiving it, so an unusable answer is refused naming its file.
"""

from __future__ import annotations

import json
from typing import Literal

from genops.protocol.blueprint_json import BlueprintError, extract_json
from genops.protocol.edits import EDIT_LABEL_PREFIX, parse_edits
from genops.protocol.fence import unfenced
from genops.protocol.files import ProtocolError, ResponseFormatError, parse_protocol
from genops.protocol.narrative import NARRATIVE_LABEL, check_narrative

REVIEW_LABEL_PREFIX = "review-"  # a reviewer of the review panel: review-<rung>


class ReviewAnswerError(ResponseFormatError):
    """A reviewer's answer is not one JSON object (its fields are checked by the panel)."""


AnswerKind = Literal["edits", "narrative", "review", "blueprint", "files"]
PLACEMENT_LABEL = "placement"  # a selective run's blueprint update: answered with blueprint JSON


def answer_kind(label: str) -> AnswerKind:
    """Which protocol answers a request labelled `label` (a continuation, `<label>.cont...`,
    keeps its request's kind). Anything but "files" is a name a blueprint group may not take."""
    unit = label.split(".")[0]
    if unit.startswith(EDIT_LABEL_PREFIX):  # a patch round is answered with edit blocks
        return "edits"
    if unit in (NARRATIVE_LABEL, NARRATIVE_LABEL + "-repair"):  # markdown under headings
        return "narrative"
    if unit.startswith(REVIEW_LABEL_PREFIX):
        return "review"
    return "blueprint" if unit in ("blueprint", PLACEMENT_LABEL) else "files"


def check_answer(text: str, label: str) -> None:
    """Raise the parser's error when `text` is not a usable answer for a request `label`."""
    kind = answer_kind(label)
    if kind == "edits":
        parse_edits(text)
    elif kind == "narrative":
        check_narrative(text)
    elif kind == "review":
        try:
            value = json.loads(unfenced(text))
        except json.JSONDecodeError as exc:
            raise ReviewAnswerError(f"the reviewer's answer is not JSON: {exc.msg} at line "
                                    f"{exc.lineno}") from None
        if not isinstance(value, dict):
            raise ReviewAnswerError("the reviewer's answer is not a JSON object")
    elif kind == "blueprint":
        if not isinstance(extract_json(text), dict):
            raise BlueprintError("the blueprint answer is not a JSON object")
    else:
        parsed = parse_protocol(text)
        if not parsed.files and not parsed.deletes:
            raise ProtocolError("the answer holds no <file> or <delete> blocks (file protocol)")
