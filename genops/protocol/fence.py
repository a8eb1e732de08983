"""One markdown fence around a whole answer, tolerated: models often wrap what they were asked
to answer bare (```json ... ```, ```markdown ... ```)."""

from __future__ import annotations


def unfenced(text: str) -> str:
    """`text` stripped, without the one fence that opens it (and its closing ```), if any."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    return body.strip()
