"""Whether a model's (or a person's) answer has the shape its request asks for.

A request's label says which protocol answers it: edit blocks for a patch round, markdown under
three fixed headings for a summary narrative, one JSON object for the blueprint, the file protocol
for everything else. The manual provider checks an answer
with this before archiving it, so an unusable answer is refused naming its file.
"""

from __future__ import annotations

from genops.protocol.blueprint_json import BlueprintError, extract_json
from genops.protocol.edits import EDIT_LABEL_PREFIX, parse_edits
from genops.protocol.files import ProtocolError, parse_protocol
from genops.protocol.narrative import NARRATIVE_LABEL, check_narrative


def check_answer(text: str, label: str) -> None:
    """Raise the parser's error when `text` is not a usable answer for a request `label`."""
    if label.startswith(EDIT_LABEL_PREFIX):  # a patch request is answered with edit blocks
        parse_edits(text)
        return
    if label.split(".")[0] in (NARRATIVE_LABEL, NARRATIVE_LABEL + "-repair"):  # markdown
        check_narrative(text)
        return
    if label.split(".")[0] == "blueprint":
        if not isinstance(extract_json(text), dict):
            raise BlueprintError("the blueprint answer is not a JSON object")
        return
    parsed = parse_protocol(text)
    if not parsed.files and not parsed.deletes:
        raise ProtocolError("the answer holds no <file> or <delete> blocks (file protocol)")
