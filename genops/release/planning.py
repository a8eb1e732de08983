"""The plan of a run (`genops regenerate --dry-run`): requests, tokens, worst-case cost, fit.

Nothing is sent and nothing is written. The first request (the blueprint for `multi`, the whole
tree for `single`) is rendered exactly as the run would render it, for every rung of the ladder.
Group requests depend on the blueprint's answer, so they are estimated: one per group of the
current release's blueprint (or one, for a first release), each at least the shared prefix plus
the rung's full output limit. A selective run sends no blueprint request: its plan counts the
placement request (when a new requirement needs a group) and the groups the change selects.

The run refuses what the plan refuses: `check_prices` (a rung billed at a model with no pinned
price) runs before a run starts as it does here, and `up_to_date` (no input changed since the
release the current tree was made from) makes both the plan and the run send nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from genops.ledger.budget import workspace_input_ratio
from genops.ledger.pricing import (billed_price, estimate_request_tokens, reserved_input_tokens,
                                   worst_case_usd)
from genops.providers._common import KEY_ENV, find_key
from genops.store.releases import current_release, load_manifest
from genops.synthesis.context import base_context, shared_prefix, task_messages
from genops.synthesis.conversation import build_request
from genops.workspace import Workspace
from genops.workspace.catalog import PIN_WINDOW_HINT, capabilities, context_window
from genops.workspace.config import ModelConfig


@dataclass(frozen=True)
class PlannedRequest:
    label: str
    rung: str
    provider: str
    model: str
    input_tokens: int
    max_output_tokens: int
    worst_usd: float | None  # None: the provider bills nothing (manual, replay)
    context_window: int | None
    fits: bool | None  # None: neither genops.toml nor the catalog knows the model's window
    estimated: bool  # True for group requests sized before the blueprint exists


@dataclass
class RunPlan:
    strategy: str
    requests: list[PlannedRequest]
    groups_estimated: int
    worst_case_usd: float
    per_run_usd: float
    per_month_usd: float
    month_spent_usd: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def within_budget(self) -> bool:
        return self.worst_case_usd <= self.per_run_usd

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["within_budget"] = self.within_budget
        return data


def _previous_groups(root: Path) -> int:
    current = current_release(root)
    if current is None:
        return 1
    blueprint = load_manifest(root, current).get("blueprint") or {}
    return max(1, len(blueprint.get("groups", [])))


def _ratio(ws: Workspace, cfg: ModelConfig) -> float:
    """The margin a run's reservations hold for this rung's model (read once per rung)."""
    return workspace_input_ratio(ws.root, ws.config.budget.estimate_margin, cfg.provider,
                                 cfg.model)


def _row(ws: Workspace, label: str, rung: str, cfg: ModelConfig, input_tokens: int,
         estimated: bool, ratio: float) -> PlannedRequest:
    window = context_window(cfg.model, cfg.context_window)
    price = billed_price(ws.config, cfg.provider, cfg.model)
    worst = None if price is None else worst_case_usd(
        reserved_input_tokens(input_tokens, ratio), cfg.max_output_tokens,
        price)  # what the run's reservation will hold
    fits = None if window is None else input_tokens + cfg.max_output_tokens <= window
    return PlannedRequest(label, rung, cfg.provider, cfg.model, input_tokens,
                          cfg.max_output_tokens, worst, window, fits, estimated)


def _cache_notes(rungs: list[tuple[str, ModelConfig]], prefix_tokens: int) -> list[str]:
    """A shared prefix shorter than a model's caching minimum (catalog data) is never cached."""
    notes = []
    for rung, cfg in rungs:
        minimum = capabilities(cfg).min_cache_tokens
        if minimum and prefix_tokens < minimum:
            notes.append(f"{rung}: the shared prefix (≈{prefix_tokens:,} tokens) is below "
                         f"{cfg.model}'s caching minimum of {minimum:,} tokens, so it will not be "
                         "cached: every request pays for it in full")
    return notes


def _key_notes(rungs: list[tuple[str, ModelConfig]]) -> list[str]:
    """A rung whose API key is not set would fail at its first request: say so before a run."""
    notes = []
    for rung, cfg in rungs:
        needs_key = cfg.provider in KEY_ENV and (cfg.provider != "openai-compatible"
                                                 or cfg.api_key_env)
        if needs_key and find_key(cfg.provider, cfg.api_key_env)[0] is None:
            names = find_key(cfg.provider, cfg.api_key_env)[1]
            notes.append(f"warning: {rung}: {names} is not set, so a run would fail at this "
                         f"rung's first {cfg.provider} request (export it, or name another "
                         "variable with api_key_env)")
    return notes


def check_prices(ws: Workspace, rungs: list[tuple[str, ModelConfig]]) -> None:
    """Refuse (ConfigError, exit 2) a rung billed at a model with no pinned price, as the plan
    does when it prices its requests: what `--dry-run` refuses, the run refuses."""
    for _, cfg in rungs:
        billed_price(ws.config, cfg.provider, cfg.model)


def up_to_date(ws: Workspace) -> str | None:
    """Why a regeneration has nothing to do, or None: no input (spec, ADR, template,
    genops.toml) changed since the release the current tree was made from (for a rollback, the
    release it restored)."""
    current = current_release(ws.root)
    if current is None:
        return None
    made, manifest = current, load_manifest(ws.root, current)
    while manifest.get("kind") == "rollback" and manifest.get("rollback_of") and made != \
            manifest["rollback_of"]:
        made = manifest["rollback_of"]
        manifest = load_manifest(ws.root, made)
    if manifest.get("inputs") != ws.input_hashes():
        return None
    whose = f" (whose tree {current} restored)" if made != current else ""
    return (f"no input changed since {made}{whose}: the specs, ADRs, prompts and genops.toml "
            "hash as its manifest recorded them")


def build_plan(ws: Workspace, rungs: list[tuple[str, ModelConfig]], *,
               previous_tree: Path | None, release: str | None,
               month_spent_usd: float | None = None, choice: Any = None,
               idle: str | None = None) -> RunPlan:
    """Render the first request for every rung and estimate the rest; spends nothing.

    `choice` (genops.release.selective.Choice): a selective one plans only the requests a
    selective run sends. `idle` (`up_to_date`'s reason): the run would send nothing."""
    strategy = ws.config.synthesis.strategy
    if idle:
        return RunPlan(strategy, [], 0, 0.0, ws.config.budget.per_run_usd,
                       ws.config.budget.per_month_usd, month_spent_usd,
                       ["a run sends nothing and promotes nothing (`genops regenerate --full` "
                        "regenerates anyway)"])
    context = base_context(ws, previous_tree, release=release)
    first = "single" if strategy == "single" else "blueprint"
    messages = task_messages(ws, first, context)
    prefix_tokens = estimate_request_tokens(build_request(
        rungs[0][1], shared_prefix(ws, context), cache_key="", label="prefix"))
    selection = getattr(choice, "selection", None)
    if selection is not None:
        return _selective_plan(ws, rungs, selection, prefix_tokens, month_spent_usd)
    groups = 0 if strategy == "single" else _previous_groups(ws.root)
    rows: list[PlannedRequest] = []
    for rung, cfg in rungs:
        request = build_request(cfg, messages, cache_key="", label=first)
        ratio = _ratio(ws, cfg)
        rows.append(_row(ws, first, rung, cfg, estimate_request_tokens(request), False, ratio))
        if groups:
            rows.append(_row(ws, f"group ×{groups}", rung, cfg, prefix_tokens, True, ratio))
    top = [r for r in rows if r.rung == rungs[0][0]]
    worst = sum((r.worst_usd or 0.0) * (groups if r.estimated else 1) for r in top)
    notes = _notes(ws, rungs, rows, prefix_tokens)
    if groups:
        notes.append(f"group requests are estimated ({groups} groups, from "
                     f"{'the current release' if current_release(ws.root) else 'a guess'}); "
                     "the blueprint's answer decides the real number")
    return RunPlan(strategy, rows, groups, worst, ws.config.budget.per_run_usd,
                   ws.config.budget.per_month_usd, month_spent_usd, notes)


def _notes(ws: Workspace, rungs: list[tuple[str, ModelConfig]], rows: list[PlannedRequest],
           prefix_tokens: int) -> list[str]:
    notes = [f"{r.rung}: {r.model} has a {r.context_window}-token window; the request needs "
             f"{r.input_tokens + r.max_output_tokens}" for r in rows if r.fits is False]
    unknown = sorted({f"{r.rung} ({r.model})" for r in rows
                      if r.fits is None and r.provider not in ("manual", "replay", "fake")})
    if unknown:
        notes.append(f"context window unknown for {', '.join(unknown)}: {PIN_WINDOW_HINT}")
    return notes + _cache_notes(rungs, prefix_tokens) + _key_notes(rungs)


def _selective_plan(ws: Workspace, rungs: list[tuple[str, ModelConfig]], selection: Any,
                    prefix_tokens: int, month_spent_usd: float | None) -> RunPlan:
    """A selective run's requests: the placement request when a new requirement needs a group,
    then one per selected group (no blueprint request: the parent's blueprint is reused)."""
    groups = len(selection.seeds)
    placing = bool(selection.unplaced)
    rows: list[PlannedRequest] = []
    for rung, cfg in rungs:
        ratio = _ratio(ws, cfg)
        if placing:
            rows.append(_row(ws, "placement", rung, cfg, prefix_tokens, True, ratio))
        if groups:
            rows.append(_row(ws, f"group ×{groups}", rung, cfg, prefix_tokens, True, ratio))
    top = [r for r in rows if r.rung == rungs[0][0]]
    worst = sum((r.worst_usd or 0.0) * (groups if r.label.startswith("group") else 1)
                for r in top)
    notes = _notes(ws, rungs, rows, prefix_tokens)
    if not rows:
        notes.append("selective: the change reaches no group, so a run sends no request")
    else:
        notes.append(f"selective: {groups} group(s) the change reaches"
                     + (" and a placement request for " + ", ".join(selection.unplaced)
                        if placing else "")
                     + "; groups the placement adds, or an API change pulls in, are known only "
                       "from the answers")
    return RunPlan(ws.config.synthesis.strategy, rows, groups, worst,
                   ws.config.budget.per_run_usd, ws.config.budget.per_month_usd,
                   month_spent_usd, notes)
