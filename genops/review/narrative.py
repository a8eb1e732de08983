"""The narrative atop a release's reviewer summary, written by the pinned model ([review] summary).

The deterministic sections of diffs/<release>.md stay the record; the narrative is a reading aid.
It is one request (`prompts/summary.j2`, else the packaged default) through the ModelClient, so
it is archived, costed, budgeted and answered from the archive on replay, and with the manual
provider it is a request file like any other. The answer has three fixed headings
(genops.protocol.narrative); a malformed answer gets one repair request. Every requirement ID and
tree path it names is looked up in the change: one that is not there is listed under the
narrative as unverified, so the narrative is never the only place a claim lives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.calls import Message
from genops.gates.base import GateResult
from genops.protocol.narrative import HEADINGS, NARRATIVE_LABEL, NarrativeError, check_narrative
from genops.providers.client import ModelClient
from genops.review.change import change_context
from genops.review.changes import semantic_diff
from genops.store.tree import tree_files
from genops.synthesis.context import render_template
from genops.synthesis.conversation import build_request
from genops.workspace import Workspace
from genops.workspace.config import ModelConfig

SYSTEM = ("You write the short narrative a reviewer reads first in a release's change summary. "
          "State only what the material you are given shows, and name requirements by ID and "
          "files by path.")
REPAIR = ("Your answer does not have the shape asked for ({error}). Answer again in markdown "
          "under exactly these headings, in this order:\n{headings}")
_REQ_ID = re.compile(r"\bREQ-[A-Z0-9]+(?:-[A-Z0-9]+)*\b")
_CODE_SPAN = re.compile(r"`([^`\s]+)`")


@dataclass
class Narrative:
    """The checked narrative, who wrote it, the calls it took and the names it could not verify."""

    text: str
    rung: str
    provider: str
    model: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    error: str | None = None  # set when the answer stayed malformed: no narrative, the calls paid

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "rung": self.rung, "provider": self.provider,
                "model": self.model, "calls": self.calls, "unverified": self.unverified,
                **({"error": self.error} if self.error else {})}


def gates_text(results: list[GateResult]) -> str:
    return "\n".join(f"- {r.gate}: {r.verdict}: {r.summary}" for r in results) or "(no gate ran)"


def unverified_names(text: str, requirement_ids: set[str], paths: set[str],
                     output: str = "") -> list[str]:
    """Requirement IDs and tree paths (relative to the tree, or under `output`/) the narrative
    names that the change does not contain."""
    unknown = {r for r in _REQ_ID.findall(text) if r not in requirement_ids}
    for span in _CODE_SPAN.findall(text):
        candidate = span.split(":")[0].rstrip(".,;")
        candidate = candidate.removeprefix(output + "/") if output else candidate
        if "/" in candidate or candidate.endswith(".py"):
            if candidate not in paths and not any(p.startswith(candidate.rstrip("/") + "/")
                                                  for p in paths):
                unknown.add(candidate)
    return sorted(unknown)


def _call(client: ModelClient, rung: str, cfg: ModelConfig, messages: tuple[Message, ...],
          label: str, calls: list[dict[str, Any]]) -> str:
    request = build_request(cfg, messages, cache_key=NARRATIVE_LABEL, label=label)
    result = client.call(rung, request, label=label)
    calls.append(result.record(label))
    return str(result.response.text)


def write_narrative(ws: Workspace, client: ModelClient, rung: tuple[str, ModelConfig], *,
                    previous: Path | None, staged: Path, results: list[GateResult]) -> Narrative:
    """Ask `rung` for the narrative of the change from `previous` to `staged` (one repair at
    most); when the repaired answer is still malformed the narrative carries `error` instead of
    text, and the release goes on without one."""
    diff, _ = semantic_diff(previous, staged, old_label="previous", new_label="staged")
    context, _reasons = change_context(ws, diff, previous, staged, [])
    prompt = render_template(ws, "summary", {**context, "gates": gates_text(results),
                                             "protocol": "\n".join(HEADINGS)})
    name, cfg = rung
    narrative = Narrative("", name, cfg.provider, cfg.model)
    messages = (Message("system", SYSTEM), Message("user", prompt))
    text = _call(client, name, cfg, messages, NARRATIVE_LABEL, narrative.calls)
    try:
        narrative.text = check_narrative(text)
    except NarrativeError as exc:
        repair = messages + (Message("assistant", text), Message(
            "user", REPAIR.format(error=exc.message, headings="\n".join(HEADINGS))))
        text = _call(client, name, cfg, repair, NARRATIVE_LABEL + "-repair", narrative.calls)
        try:
            narrative.text = check_narrative(text)
        except NarrativeError as again:  # a reading aid: the release goes on without it
            narrative.error = f"not usable after one repair: {again.message}"
            return narrative
    paths = set(tree_files(staged)) | (set(tree_files(previous)) if previous else set())
    narrative.unverified = unverified_names(narrative.text, {r.id for r in ws.requirements},
                                            paths, ws.config.project.output)
    return narrative
