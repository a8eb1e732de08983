"""The review panel: pinned models, ideally of different vendors, judge one change; a policy decides.

Each reviewer gets the same rendered request (`prompts/review.j2`, else the packaged default):
the semantic changes, the ranked risks, the riskiest code, the touched requirements and the ADRs
in force. It answers one JSON object (verdict, findings with file, line, severity, requirement or
ADR id and rationale); a malformed answer gets one repair request. Every call goes through the
`ModelClient`, so it is archived, costed, budgeted and answered from the archive on replay. The
worst case of the whole panel is checked against the budget before the first reviewer is called.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from genops.calls import CompletionRequest, Message
from genops.errors import BudgetExceeded, ProviderError
from genops.ledger.budget import input_ratio
from genops.ledger.pricing import (billed_price, estimate_request_tokens, reserved_input_tokens,
                                   worst_case_usd)
from genops.protocol.answers import REVIEW_LABEL_PREFIX
from genops.protocol.fence import unfenced
from genops.providers.client import ModelClient
from genops.synthesis.context import render_template
from genops.synthesis.conversation import build_request
from genops.workspace import Workspace

SYSTEM = ("You are one reviewer on a panel that gates a release of generated code. Judge the "
          "change against its requirements and architecture decisions. Answer with one JSON "
          "object and nothing else.")
PROTOCOL = """\
{"verdict": "approve" | "request_changes",
 "findings": [{"file": "path/inside/the/tree.py", "line": 12,
               "severity": "blocker" | "major" | "minor",
               "requirement": "REQ-... or null", "adr": "ADR-... or null",
               "rationale": "what is wrong and why it matters"}]}
Request changes only for a defect a reviewer must fix before release; otherwise approve, with
findings if you have any."""
REPAIR = ("Your answer is not the JSON object asked for ({error}). Answer again with only that "
          "JSON object, in this shape:\n{protocol}")


class ReviewFinding(BaseModel):
    model_config = ConfigDict(extra="ignore")

    file: str
    line: int | None = None
    severity: Literal["blocker", "major", "minor"] = "major"
    requirement: str | None = None
    adr: str | None = None
    rationale: str


class ReviewAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    verdict: Literal["approve", "request_changes"]
    findings: list[ReviewFinding] = []


@dataclass
class ReviewerOutcome:
    """One reviewer's answer (None when it never gave a valid one) and the calls it took."""

    rung: str
    provider: str
    model: str
    answer: ReviewAnswer | None = None
    error: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rung": self.rung, "provider": self.provider, "model": self.model,
                "answer": self.answer.model_dump() if self.answer else None, "error": self.error,
                "calls": self.calls}


def parse_answer(text: str) -> ReviewAnswer:
    """The reviewer's JSON (one markdown fence tolerated); ValueError says what is wrong."""
    try:
        return ReviewAnswer.model_validate(json.loads(unfenced(text)))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ValueError(f"{where}: {first['msg']}") from None


def render_prompt(ws: Workspace, context: dict[str, Any]) -> str:
    """The reviewer's request text from `review.j2` (the workspace's, else genops's default)."""
    return render_template(ws, "review", {**context, "protocol": PROTOCOL})


def request_for(ws: Workspace, rung: str, messages: tuple[Message, ...]) -> CompletionRequest:
    return build_request(ws.config.models[rung], messages, cache_key="review",
                         label=f"{REVIEW_LABEL_PREFIX}{rung}")


def check_budget(ws: Workspace, client: ModelClient, requests: list[CompletionRequest]) -> float:
    """Refuse (exit 4) before any reviewer is called when the panel's worst case does not fit."""
    worst = 0.0
    for request in requests:
        price = billed_price(ws.config, request.provider, request.model)
        if price is None or client.archive.get(request.key()) is not None:
            continue
        # a malformed answer costs one repair: the same input again plus its answer
        ratio = input_ratio(client.ledger, ws.config.budget.estimate_margin, request.provider,
                            request.model)  # as each call's reservation will hold it
        held = reserved_input_tokens(estimate_request_tokens(request) + request.max_output_tokens,
                                     ratio)
        worst += 2 * worst_case_usd(held, request.max_output_tokens, price)
    status = client.budget.status()
    left = min(status.run_remaining_usd, status.month_remaining_usd)
    if worst > left + 1e-9:
        raise BudgetExceeded(f"the review panel's worst case ${worst:.4f} exceeds the "
                             f"${left:.4f} left in the budget; no reviewer was called",
                             hint="raise [budget] in genops.toml, use cheaper [review.panel] "
                                  "rungs, or set when = \"never\"")
    return worst


def _call(client: ModelClient, rung: str, request: CompletionRequest, label: str,
          outcome: ReviewerOutcome) -> str:
    result = client.call(rung, request, label=label)
    outcome.calls.append(result.record(label))
    return str(result.response.text)


def run_reviewer(ws: Workspace, client: ModelClient, rung: str, prompt: str) -> ReviewerOutcome:
    """Ask one reviewer; repair a malformed answer once; provider failures become an error."""
    cfg = ws.config.models[rung]
    outcome = ReviewerOutcome(rung, cfg.provider, cfg.model)
    messages = (Message("system", SYSTEM), Message("user", prompt))
    try:
        text = _call(client, rung, request_for(ws, rung, messages), f"{REVIEW_LABEL_PREFIX}{rung}", outcome)
        try:
            outcome.answer = parse_answer(text)
            return outcome
        except ValueError as exc:
            repair = messages + (Message("assistant", text), Message(
                "user", REPAIR.format(error=exc, protocol=PROTOCOL)))
            text = _call(client, rung, request_for(ws, rung, repair), f"{REVIEW_LABEL_PREFIX}{rung}-repair",
                         outcome)
        outcome.answer = parse_answer(text)
    except ValueError as exc:
        outcome.error = f"malformed answer after one repair: {exc}"
    except ProviderError as exc:
        if exc.error_class == "manual_pending":
            raise
        outcome.error = f"provider failed: {exc.message}"
    return outcome


def run_panel(ws: Workspace, client: ModelClient, context: dict[str, Any]) -> list[ReviewerOutcome]:
    """Every configured reviewer on the same request, after the budget check."""
    rungs = ws.config.review.panel.rungs
    prompt = render_prompt(ws, context)
    messages = (Message("system", SYSTEM), Message("user", prompt))
    check_budget(ws, client, [request_for(ws, r, messages) for r in rungs])
    return [run_reviewer(ws, client, rung, prompt) for rung in rungs]


def blockers(outcome: ReviewerOutcome) -> int:
    """How many of a reviewer's findings are of severity blocker."""
    return sum(1 for f in outcome.answer.findings if f.severity == "blocker") if outcome.answer else 0


def blocks(outcome: ReviewerOutcome) -> bool:
    """A reviewer stands against the change when it requests changes or reports a blocker: a
    blocker finding blocks whatever the verdict says."""
    return outcome.answer is not None and (outcome.answer.verdict == "request_changes"
                                           or blockers(outcome) > 0)


def _against(outcome: ReviewerOutcome) -> str:
    who = f"{outcome.rung} ({outcome.provider} {outcome.model})"
    if outcome.answer is not None and outcome.answer.verdict == "approve":
        who += f" approves but reports {blockers(outcome)} blocker finding(s)"
    return who


def judge(outcomes: list[ReviewerOutcome], quorum: int, block_on: str) -> tuple[bool, str]:
    """(blocked, why) by the policy: a quorum must answer; any or most reviewers against the
    change (requesting changes, or reporting a blocker finding) block."""
    answered = [o for o in outcomes if o.answer is not None]
    against = [o for o in answered if blocks(o)]
    if len(answered) < quorum:
        return True, f"only {len(answered)} of {len(outcomes)} reviewers answered (quorum {quorum})"
    names = ", ".join(_against(o) for o in against)
    verb = "request changes" + ("" if all(o.answer and o.answer.verdict == "request_changes"
                                          for o in against) else " or report a blocker")
    if block_on == "any_blocker" and against:
        return True, f"{len(against)} of {len(answered)} reviewers {verb}: {names}"
    if block_on == "majority" and 2 * len(against) > len(answered):
        return True, f"a majority ({len(against)} of {len(answered)}) {verb}: {names}"
    return False, (f"{len(answered) - len(against)} of {len(answered)} reviewers approve"
                   + (f"; outvoted: {names}" if against else ""))


def write_evidence(path: Path, outcomes: list[ReviewerOutcome], reasons: list[str],
                   blocked: bool, why: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"high_risk": reasons, "blocked": blocked, "why": why,
                                "reviewers": [o.to_dict() for o in outcomes]}, indent=2) + "\n",
                    encoding="utf-8")
