"""The blueprint answer's outer form: one JSON object, in a ```json fence or bare.

Its shape (groups, files, requirements) is checked by `genops.synthesis.blueprint`; this module
only finds and reads the object, so the manual provider can refuse an unreadable answer before it
is archived without depending on synthesis.
"""

from __future__ import annotations

import json
import re
from typing import Any

from genops.protocol.files import ResponseFormatError

_JSON_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n(?P<body>.*?)\n[ \t]*```", re.DOTALL)


class BlueprintError(ResponseFormatError):
    """The blueprint response is not valid JSON, not the documented shape, or inconsistent."""


def extract_json(text: str) -> Any:
    """The JSON object in a response: in a ```json fence if there is one, else the outer braces."""
    fenced = _JSON_FENCE.search(text)
    if fenced:
        candidate = fenced.group("body")
    else:
        start, end = text.find("{"), text.rfind("}")
        if start < 0:
            raise BlueprintError("the response holds no JSON object",
                                 hint='answer with {"groups": [...]} only')
        candidate = text[start:end + 1] if end > start else text[start:]
    try:
        return json.loads(candidate)
    except json.JSONDecodeError as exc:
        raise BlueprintError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") \
            from None
    except RecursionError:
        raise BlueprintError("the JSON is nested too deeply to read",
                             hint='answer with {"groups": [...]}: a flat list of groups') from None
