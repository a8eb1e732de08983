"""The narrative atop a release's reviewer summary, written by the pinned model ([review] summary).

The deterministic sections of diffs/<release>.md stay the record; the narrative is a reading aid.
It is one request (`prompts/summary.j2`, else the packaged default) through the ModelClient, so
it is archived, costed, budgeted and answered from the archive on replay, and with the manual
provider it is a request file like any other. The answer has three fixed headings
(genops.protocol.narrative); a malformed answer gets one repair request. Every requirement ID and
path it names, backticked or not (`named_claims`), is looked up in the change itself: the files
the release changes (in the output tree, and the inputs since the parent release) and the
requirement IDs its changed specs and changed files touch. A name that is not there is listed by
genops, in its own section, as an unverified claim; the narrative itself is shown only as quoted,
inert text after genops's sections (genops.render.summary), so it is never the only place a claim
lives and never reads as genops's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.calls import Message
from genops.gates.base import GateResult
from genops.gates.traceability import REQ_REF
from genops.protocol.narrative import (HEADINGS, NARRATIVE_LABEL, NarrativeError, check_narrative,
                                       named_claims)
from genops.providers.client import ModelClient
from genops.review.change import change_context
from genops.review.changes import semantic_diff
from genops.store.releases import current_release, load_manifest, release_dir
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


@dataclass
class Narrative:
    """The checked narrative, who wrote it, the calls it took and the names it could not verify."""

    text: str
    rung: str
    provider: str
    model: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)  # every ID and path it names, checked or not
    error: str | None = None  # set when the answer stayed malformed: no narrative, the calls paid

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "rung": self.rung, "provider": self.provider,
                "model": self.model, "calls": self.calls, "unverified": self.unverified,
                **({"claims": self.claims} if not self.error else {}),
                **({"error": self.error} if self.error else {})}


def gates_text(results: list[GateResult]) -> str:
    return "\n".join(f"- {r.gate}: {r.verdict}: {r.summary}" for r in results) or "(no gate ran)"


@dataclass(frozen=True)
class ChangeNames:
    """What a change contains that a narrative may name: the paths it changed (output-tree paths
    and workspace-relative input paths) and the requirement IDs it touches."""

    paths: frozenset[str]
    requirement_ids: frozenset[str]

    def has_path(self, path: str) -> bool:
        """A changed file, a folder holding one, or (a bare file name) a changed file's name."""
        path = path.rstrip("/")
        if path in self.paths or any(p.startswith(path + "/") for p in self.paths):
            return True
        return "/" not in path and any(p.rsplit("/", 1)[-1] == path for p in self.paths)


def _read(root: Path | None, rel: str) -> str:
    path = root / rel if root is not None else None
    if path is None or not path.is_file():
        return ""
    return path.read_text(encoding="utf-8", errors="replace")


def _parent_requirements(ws: Workspace, parent: str | None) -> dict[str, str]:
    """{id: text} the parent release's traceability evidence recorded ({} when none)."""
    path = release_dir(ws.root, parent) / "evidence" / "traceability.json" if parent else None
    if path is None or not path.is_file():
        return {}
    rows = json.loads(path.read_text(encoding="utf-8")).get("requirements", [])
    return {str(r["id"]): str(r.get("text", "")) for r in rows if isinstance(r, dict) and "id" in r}


def change_names(ws: Workspace, previous: Path | None, staged: Path) -> ChangeNames:
    """The names of the change from the current release (`previous`, its tree) to `staged`:
    files added, removed or edited in the output tree, inputs (genops.toml, specs, ADRs,
    prompts) edited since the current release, and requirement IDs that are new, edited or
    removed in the specs or that a changed file (either version) or a changed ADR mentions."""
    before = tree_files(previous) if previous is not None else {}
    after = tree_files(staged)
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    parent = current_release(ws.root)
    recorded = load_manifest(ws.root, parent).get("inputs", {}) if parent else {}
    now = ws.input_hashes()
    inputs = {p for p in set(recorded) | set(now) if recorded.get(p) != now.get(p)}
    ids: set[str] = set()
    if any(p.startswith("specs/") for p in inputs):
        old = _parent_requirements(ws, parent)
        new = {r.id: r.text for r in ws.requirements}
        ids |= {i for i in set(old) | set(new) if old.get(i) != new.get(i)}
    for rel in changed:
        ids |= set(REQ_REF.findall(_read(previous, rel) + "\n" + _read(staged, rel)))
    for rel in inputs:
        if rel.startswith("adr/"):
            ids |= set(REQ_REF.findall(_read(ws.root, rel)))
    return ChangeNames(frozenset(changed | inputs), frozenset(ids))


def unverified_names(text: str, change: ChangeNames, output: str = "") -> tuple[list[str],
                                                                               list[str]]:
    """(every requirement ID and path the narrative names, those the change does not contain)."""
    ids, paths = named_claims(text, output)
    unknown = [i for i in ids if i not in change.requirement_ids]
    unknown += [p for p in paths if not change.has_path(p)]
    return ids + paths, sorted(unknown)


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
    narrative.claims, narrative.unverified = unverified_names(
        narrative.text, change_names(ws, previous, staged), ws.config.project.output)
    return narrative
