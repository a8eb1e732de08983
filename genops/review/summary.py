"""What a reviewer needs to know about a release, as data: cost, coverage, API, risks, bodies.

Everything here is computed from committed facts (the manifest, the semantic diff JSON, the gate
evidence, the ADRs and the two trees), so the same release always yields the same data and
`genops.render.summary` turns it into the same bytes of `diffs/<release>.md`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.gates.traceability import is_test_file
from genops.review.architecture import active_adrs
from genops.review.coverage import junit_cases, requirement_delta
from genops.review.risk import body_excerpts, rank_risks
from genops.store.releases import release_cost_usd, run_cost_usd, side_spend
from genops.synthesis.apisummary import api_summary, module_name
from genops.workspace import Workspace

BY_HAND = {"manual": "answered by hand through the manual provider",
           "fake": "answered by the deterministic fake provider",
           "replay": "answered from the archive (replay)"}


@dataclass(frozen=True)
class ReviewSources:
    """Where the facts of one release are: its manifest and diff, trees and evidence folders."""

    manifest: dict[str, Any]
    diff: dict[str, Any]
    new_tree: Path
    old_tree: Path | None
    evidence: Path  # the release's evidence folder (traceability.json, tests/junit.xml)
    parent_evidence: Path | None = None


@dataclass
class Review:
    """The reviewer summary's sections, each plain data."""

    cost: dict[str, Any]
    tests: dict[str, int]
    risks: list[dict[str, Any]]
    requirements: dict[str, Any]
    api: dict[str, Any]
    bodies: list[dict[str, Any]]
    other_changes: list[dict[str, Any]] = field(default_factory=list)


def list_price(manifest: dict[str, Any]) -> float:
    """The calls' tokens priced at the pinned prices the manifest records for their models."""
    prices = {m["model"]: m.get("price") for m in manifest.get("models", [])}
    total = 0.0
    for call in manifest.get("calls", []):
        price, tokens = prices.get(call["model"]), call["tokens"]
        if not price:
            continue
        total += (tokens["input"] * price["input"] + tokens["output"] * price["output"]
                  + tokens.get("cache_read", 0) * price.get("cache_read", 0.0)
                  + tokens.get("cache_write", 0) * price.get("cache_write", 0.0)) / 1e6
    return round(total, 6)


def cost_facts(manifest: dict[str, Any]) -> dict[str, Any]:
    """Spent, the list-price equivalent, and who answered (provider, by hand or not)."""
    totals = manifest["totals"]
    providers = sorted({c["provider"] for c in manifest.get("calls", [])})
    return {"spent_usd": run_cost_usd(totals),
            "beside": [{"what": what, "calls": block["calls"], "cost_usd": block["cost_usd"]}
                       for what, block in side_spend(totals)],
            "list_usd": list_price(manifest),
            "budget_usd": totals["budget"]["per_run_usd"], "tokens": totals["tokens"],
            "calls": totals["calls"], "archive_hits": totals["archive_hits"],
            "estimated_token_calls": totals.get("estimated_token_calls", 0),
            "providers": providers, "answered": [BY_HAND[p] for p in providers if p in BY_HAND],
            "earlier_runs": manifest.get("earlier_runs"),
            "release_usd": release_cost_usd(manifest)}


def junit_counts(evidence: Path) -> dict[str, int]:
    """passed / failed / skipped / total of the test gate's JUnit evidence (zeros if absent)."""
    cases = junit_cases(evidence / "tests" / "junit.xml")
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for case in cases:
        counts[case.status] += 1
    return {**counts, "total": len(cases)}


def _is_module_added(change: dict[str, Any]) -> bool:
    return change.get("kind") == "module_added"


def api_facts(diff: dict[str, Any], new_tree: Path) -> dict[str, Any]:
    """Public API: the signatures of new non-test modules, and api-category changes by module."""
    added: dict[str, str] = {}
    for change in diff.get("changes", []):
        where = (change.get("location") or {}).get("file") or ""
        if change.get("kind") == "module_added" and where.endswith(".py") \
                and not is_test_file(where) and (new_tree / where).is_file():
            block = api_summary({where: (new_tree / where).read_text(encoding="utf-8")})
            if block:
                added[module_name(where)] = block.rstrip("\n")
    changed = [c for c in diff.get("changes", []) if c.get("category") == "api"
               and not is_test_file((c.get("location") or {}).get("file") or "")]
    return {"new_modules": dict(sorted(added.items())), "changes": changed}


def build_review(ws: Workspace, src: ReviewSources) -> Review:
    """The review data of one release; deterministic for the same sources."""
    changes = list(src.diff.get("changes", []))
    adrs = active_adrs(ws.adrs)
    bodies = body_excerpts(changes, src.old_tree, src.new_tree)
    others = [c for c in changes if c.get("category") not in ("api", "behaviour", "cosmetic")
              and not _is_module_added(c)]
    return Review(
        cost=cost_facts(src.manifest), tests=junit_counts(src.evidence),
        risks=rank_risks(changes, adrs, src.old_tree, src.new_tree),
        requirements=requirement_delta(src.evidence, src.parent_evidence),
        api=api_facts(src.diff, src.new_tree), bodies=bodies, other_changes=others)


def load_diff(path: Path) -> dict[str, Any]:
    """A recorded semantic diff (`diffs/<release>.json`)."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
