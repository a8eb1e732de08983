"""The context-fit gate: the tree must stay small enough for the senior model to hold it whole.

Holistic regeneration only works while the whole system fits the pinned senior model's context
window. The tree's tokens (genops.ledger.pricing.estimate_tokens, the same estimate planning uses)
are compared with the window: a warning from [gates.context_fit] warn_share, a failure above
fail_share, with the seed's advice: partition the system into sub-ecosystems.
"""

from __future__ import annotations

from pathlib import Path

from genops.gates.base import GateContext, GateResult
from genops.gates.rules_tree import TreeFacts
from genops.ledger.pricing import estimate_tokens
from genops.workspace import Workspace
from genops.workspace.catalog import PIN_WINDOW_HINT, context_window

ADVICE = ("partition the system into sub-ecosystems: separate workspaces, each generated whole, "
          "that talk only through published interfaces (the bus); small systems fit every model, "
          "large ones only the longest windows, and beyond that partitioning is mandatory")


def tree_tokens(tree: Path) -> tuple[int, int]:
    """(estimated tokens, files counted) of every text file in the tree; binaries are skipped."""
    facts = TreeFacts(root=tree, graph={}, files={})
    tokens = files = 0
    for rel in facts.all_files:
        try:
            text = (tree / rel).read_bytes().decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        tokens += estimate_tokens(text)
        files += 1
    return tokens, files


def senior_model(ws: Workspace) -> str:
    """The pinned model id of the first ladder rung: the model that synthesizes whole trees."""
    rung = ws.config.ladder.rungs[0]
    return str(ws.config.models[rung].model)


def senior_window(ws: Workspace) -> int | None:
    """The senior model's context window: pinned in genops.toml, else the catalog's."""
    cfg = ws.config.models[ws.config.ladder.rungs[0]]
    return context_window(cfg.model, cfg.context_window)


def fit_result(name: str, ws: Workspace, tree: Path) -> GateResult:
    """Judge the tree's size against the senior model's context window."""
    model = senior_model(ws)
    window = senior_window(ws)
    if window is None:
        return GateResult(name, "skip", f"model {model!r} is not in the catalog; its context "
                          f"window is unknown ({PIN_WINDOW_HINT})")
    tokens, files = tree_tokens(tree)
    share = tokens / window
    policy = ws.config.gates.context_fit
    data = {"model": model, "tokens": tokens, "files": files,
            "context_window": window, "share": round(share, 4),
            "warn_share": policy.warn_share, "fail_share": policy.fail_share}
    where = (f"the tree is ~{tokens:,} tokens ({files} files), {share:.0%} of {model}'s "
             f"{window:,}-token context window")
    if share > policy.fail_share:
        return GateResult(name, "fail", f"{where}, above fail_share {policy.fail_share:.0%}; "
                          f"{ADVICE}", data=data)
    if share >= policy.warn_share:
        return GateResult(name, "warn", f"{where}, at or above warn_share "
                          f"{policy.warn_share:.0%}; plan to {ADVICE}", data=data)
    return GateResult(name, "pass", where, data=data)


class ContextFitGate:
    """Gate: the tree's size against the senior model's context window."""

    name = "context_fit"

    def check(self, ctx: GateContext) -> GateResult:
        return fit_result(self.name, ctx.workspace, ctx.staged)


def make_gate(ws: Workspace) -> ContextFitGate:
    """The context-fit gate applies to every workspace (it skips for models the catalog lacks)."""
    return ContextFitGate()
