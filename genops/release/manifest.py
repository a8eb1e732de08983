"""The release manifest (`.genops/releases/<id>/manifest.json`): a release's full provenance.

Fields (see docs/releases.md): release and parent; kind and reason; genops version and time; the
run; sha256 of every input and of the relevant genops.toml sections; the price-table hash; every
model used with its provider, pinned id, sampling and price; every call with its archive key,
tokens, cost, latency and rung; totals against the budget; sha256 of every output file and the
tree hash; each gate's verdict with pointers to its evidence; the generated tree's dependencies;
the chain link to the parent (`chain_link`, docs/security.md "Trust root").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import genops
from genops.audit.lockfile import lock_path
from genops.audit.pack import PROVENANCE_FILE
from genops.gates.base import GateResult
from genops.gates.venvs import declared_dependencies
from genops.ledger.pricing import prices_hash
from genops.store.releases import MANIFEST, release_dir, release_number
from genops.store.tree import tree_files, tree_hash
from genops.workspace import Workspace
from genops.workspace.catalog import sent_sampling

SCHEMA = 1
KINDS = ("regenerate", "patch", "replay", "manual", "rollback")
# genops.toml tables that decide what a release contains (prices are hashed on their own).
CONFIG_SECTIONS = ("project", "models", "ladder", "synthesis", "budget", "gates", "patch")
# The chain link every manifest records to its parent (manifests made before it have neither).
LINK_FIELDS = ("parent_manifest_sha256", "parent_pack_sha256")


@dataclass
class ReleaseFacts:
    """What a run knows about the release it is about to promote (besides the tree itself)."""

    kind: str
    reason: str
    run_id: str
    calls: Sequence[Any] = ()  # genops.synthesis.progress.CallRecord
    blueprint: Any = None
    rung_by_group: dict[str, str] = field(default_factory=dict)
    cost_usd: float = 0.0
    month_spend_usd: float | None = None
    inputs: dict[str, str] | None = None  # None: hash the workspace's inputs now
    extra: dict[str, Any] = field(default_factory=dict)
    # Set by the gates when they seal the staged tree: everything on disk (the seal) and the
    # tree's file hashes as the gates saw them (what the manifest records).
    sealed: dict[str, str] | None = None
    gated_files: dict[str, str] | None = None


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _canonical_sha(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def config_sections(config: Any) -> dict[str, Any]:
    dumped = config.model_dump(mode="json")
    return {name: dumped[name] for name in CONFIG_SECTIONS if name in dumped}


def _usage_dict(usage: Any) -> dict[str, int]:
    return {"input": usage.input_tokens, "output": usage.output_tokens,
            "cache_read": usage.cache_read_tokens, "cache_write": usage.cache_write_tokens}


def call_entry(call: Any) -> dict[str, Any]:
    entry = {"label": call.label, "rung": call.rung, "provider": call.provider,
             "model": call.model, "key": call.key, "tokens": _usage_dict(call.usage),
             "cost_usd": round(call.cost_usd, 6), "latency_s": round(call.latency_s, 3),
             "from_archive": call.from_archive, "stop": call.stop}
    if getattr(call.usage, "estimated", False):  # the server reported none: genops counted them
        entry["tokens_estimated"] = True
    return entry


def models_used(config: Any, calls: Sequence[Any]) -> list[dict[str, Any]]:
    """Each (rung, provider, model) that answered a call, with its pinned sampling and price."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for call in calls:
        key = (call.rung, call.provider, call.model)
        if key in seen:
            continue
        pinned = config.models.get(call.rung)
        sampling: dict[str, Any] = {}
        if pinned is not None:
            sampling = pinned.model_dump(mode="json", exclude={"provider", "model", "api_key_env"},
                                         exclude_none=False)
            sampling.pop("capabilities", None)
            sampling.update(sent_sampling(pinned))  # a parameter never sent is not recorded
        price = config.prices.get(call.model)
        seen[key] = {"rung": call.rung, "provider": call.provider, "model": call.model,
                     "sampling": sampling, "price": price.model_dump() if price else None}
    return list(seen.values())


def spend(calls: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Count, tokens and cost of calls made beside the synthesis (the review panel's, the
    narrative's), or None when there were none."""
    if not calls:
        return None
    return {"calls": len(calls), "paid_calls": sum(1 for c in calls if not c["from_archive"]),
            "tokens": {k: sum(c["tokens"][k] for c in calls) for k in ("input", "output")},
            "cost_usd": round(sum(c["cost_usd"] for c in calls), 6)}


def review_spend(gates: Sequence[GateResult]) -> dict[str, Any] | None:
    """The review panel's calls of this run (they are in the ledger, not among the synthesis
    calls), or None when no reviewer was called."""
    panel = next((g for g in gates if g.gate == "review_panel"), None)
    reviewers = (panel.data or {}).get("reviewers", []) if panel is not None else []
    return spend([c for r in reviewers for c in r.get("calls", [])])


def totals(facts: ReleaseFacts, config: Any, gates: Sequence[GateResult] = ()) -> dict[str, Any]:
    """Calls, tokens and cost of the synthesis; the review panel's and the narrative's calls in
    `review_panel` and `narrative`; the budget verdict over all of them."""
    usage = {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}
    for call in facts.calls:
        for name, value in _usage_dict(call.usage).items():
            usage[name] += value
    paid = [c for c in facts.calls if not c.from_archive]
    estimated = sum(1 for c in facts.calls if getattr(c.usage, "estimated", False))
    beside = {key: block for key, block in (
        ("review_panel", review_spend(gates)),
        ("narrative", spend((facts.extra.get("narrative") or {}).get("calls", [])))) if block}
    spent = facts.cost_usd + sum(block["cost_usd"] for block in beside.values())
    return {"calls": len(facts.calls), "paid_calls": len(paid),
            "archive_hits": len(facts.calls) - len(paid), "tokens": usage,
            **({"estimated_token_calls": estimated} if estimated else {}),
            "cost_usd": round(facts.cost_usd, 6),
            "budget": {"per_run_usd": config.budget.per_run_usd,
                       "per_month_usd": config.budget.per_month_usd,
                       "month_spend_usd": facts.month_spend_usd},
            **beside,
            "within_budget": spent <= config.budget.per_run_usd + 1e-9}


def gate_entries(results: Sequence[GateResult], remap: dict[str, str]) -> list[dict[str, Any]]:
    """Gate verdicts, with evidence paths moved from the run directory to the release's."""
    entries = []
    for result in results:
        entry = result.to_dict()
        entry["evidence"] = [_remap(p, remap) for p in result.evidence]
        entries.append(entry)
    return entries


def _remap(path: str, remap: dict[str, str]) -> str:
    for old, new in remap.items():
        if path == old or path.startswith(old.rstrip("/") + "/"):
            return new + path[len(old):]
    return path


def _blueprint(value: Any) -> Any:
    if value is None:
        return None
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


def platform_facts() -> dict[str, str]:
    """The Python and platform the gates ran on."""
    import platform
    import sys

    return {"python": platform.python_version(), "implementation": sys.implementation.name,
            "system": f"{platform.system()}-{platform.machine()}"}


def lock_facts(ws: Workspace) -> dict[str, str] | None:
    """The committed dependency lock beside the tree, by path and sha256, when there is one."""
    path = lock_path(ws.root, ws.config.project.output)
    if not path.is_file():
        return None
    return {"path": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _file_sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def chain_link(root: Path, parent: str | None) -> dict[str, Any]:
    """The link to the parent: sha256 of its manifest and of its `provenance.intoto.jsonl` (null
    without one), as committed (genops-owned paths are clean at promotion). When the parent
    predates chain links, `legacy_anchors` also records those two digests of every release
    before this one, so the first linked release anchors the whole history before it."""
    if parent is None:
        return dict.fromkeys(LINK_FIELDS)
    folder = release_dir(root, parent)
    link: dict[str, Any] = {"parent_manifest_sha256": _file_sha(folder / MANIFEST),
                            "parent_pack_sha256": _file_sha(folder / PROVENANCE_FILE)}
    if any(f in json.loads((folder / MANIFEST).read_bytes()) for f in LINK_FIELDS):
        return link
    anchors: dict[str, dict[str, str | None]] = {}
    release: str | None = parent
    while release is not None and release not in anchors:
        here = release_dir(root, release)
        anchors[release] = {"manifest_sha256": _file_sha(here / MANIFEST),
                            "pack_sha256": _file_sha(here / PROVENANCE_FILE)}
        release = json.loads((here / MANIFEST).read_bytes()).get("parent")
    link["legacy_anchors"] = dict(sorted(anchors.items(), key=lambda item: release_number(item[0])))
    return link


def interface_fields(gates: Sequence[GateResult]) -> dict[str, Any]:
    """A federation member's published interface version and digest, from the interface gate
    (optional fields: absent from the manifests of workspaces that publish none)."""
    gate = next((g for g in gates if g.gate == "interface"), None)
    facts = gate.facts if gate is not None else {}
    return {key: facts[key] for key in ("interface_version", "interface_digest") if key in facts}


def build_manifest(ws: Workspace, facts: ReleaseFacts, *, release: str, parent: str | None,
                   staged: Path, gates: Sequence[GateResult], evidence_remap: dict[str, str],
                   diff_paths: dict[str, str], diff_stats: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest of `release`, whose tree is `staged` as the gates saw it (else hashed now)."""
    files = facts.gated_files if facts.gated_files is not None else tree_files(staged)
    sections = config_sections(ws.config)
    return {
        "schema": SCHEMA,
        "release": release, "parent": parent, **chain_link(ws.root, parent),
        "kind": facts.kind, "reason": facts.reason,
        "genops_version": genops.__version__, "created": utc_now(), "run": facts.run_id,
        "inputs": facts.inputs if facts.inputs is not None else ws.input_hashes(),
        "config": {"sections": sections, "sha256": _canonical_sha(sections)},
        "prices_sha256": prices_hash(ws.config),
        "models": models_used(ws.config, facts.calls),
        "calls": [call_entry(c) for c in facts.calls],
        "totals": totals(facts, ws.config, gates),
        "output": {"dir": ws.config.project.output, "tree_sha256": tree_hash(files),
                   "gated_tree_sha256": tree_hash(files) if facts.gated_files is not None
                   else None, "file_count": len(files),
                   "files": files},
        "gates": gate_entries(gates, evidence_remap),
        "dependencies": declared_dependencies(staged).to_dict(),
        "lock": lock_facts(ws),
        "platform": platform_facts(),
        "project": ws.config.project.name,
        "blueprint": _blueprint(facts.blueprint),
        "rung_by_group": dict(facts.rung_by_group),
        "diff": {**diff_paths, "stats": diff_stats},
        **interface_fields(gates),
        **facts.extra,
    }


def manifest_json(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n"
