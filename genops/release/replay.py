"""`genops replay <release>`: rebuild a release from its commit and the archive, and compare.

The release's commit (tag `genops/<release>`) is exported into `.genops/runs/replay-<release>-…/`:
its specs, ADRs, prompts, genops.toml and the archive as they were committed, nothing local. The
parent release's tree, exported the same way, is the previous tree. Synthesis then runs with every
rung answered by the replay provider (offline: no network, no key), with requests naming the
provider and model each rung used in the original run, so every archive key matches. The result
is reproduced byte for byte (same tree hash) or the first differing file is named; then the gates
run on the rebuilt tree and each verdict is reported.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

from genops.calls import (
    CompletionRequest,
    CompletionResponse,
    Provider,
    TokenCallback,
)
from genops.errors import ProviderError, UsageError
from genops.gates.base import GateContext, GateResult
from genops.gates.registry import GateObserver, run_gates
from genops.ledger.archive import Archive
from genops.patch.engine import PatchJob, run_patch
from genops.pathpolicy import PathPolicy
from genops.protocol.narrative import check_narrative
from genops.providers.client import ModelClient
from genops.providers.replay import ReplayProvider
from genops.release.drift_patch import EDITS_FILE, apply_edits, read_tree_text
from genops.release.gateset import default_gates
from genops.release.manifest import ReleaseFacts
from genops.release.recovery import startup_recovery
from genops.release.repair import replay_repairs
from genops.release.runs import new_run_id, runs_dir
from genops.release.staging import stage_tree
from genops.store import gitops
from genops.store.releases import load_manifest, resolve_release
from genops.store.tree import first_difference, tree_files, tree_hash
from genops.synthesis.engine import synthesize
from genops.synthesis.selective import Selection
from genops.workspace import Workspace, load_workspace
from genops.workspace.config import ModelConfig

SYNTHESIZED_KINDS = ("regenerate", "manual", "replay")


@dataclass
class ReplayOutcome:
    release: str
    kind: str
    reproduced: bool
    expected_tree: str
    actual_tree: str
    file_count: int
    first_difference: tuple[str, str] | None
    gates: list[GateResult] = field(default_factory=list)
    calls: int = 0
    inputs_changed: list[str] = field(default_factory=list)
    directory: Path | None = None
    narrative: str | None = None  # "reproduced" or why not; None: the release has no narrative

    @property
    def ok(self) -> bool:
        return (self.reproduced and all(g.passed for g in self.gates)
                and self.narrative in (None, "reproduced"))

    def to_dict(self) -> dict[str, Any]:
        diff = self.first_difference
        return {"release": self.release, "kind": self.kind, "reproduced": self.reproduced,
                "expected_tree_sha256": self.expected_tree, "actual_tree_sha256": self.actual_tree,
                "file_count": self.file_count,
                "first_difference": {"path": diff[0], "why": diff[1]} if diff else None,
                "gates": [g.to_dict() for g in self.gates], "calls": self.calls,
                "inputs_changed": self.inputs_changed,
                "directory": str(self.directory) if self.directory else None,
                **({"narrative": self.narrative} if self.narrative is not None else {})}


class LadderReplayProvider:
    """Answers from the archive; a miss on a rung that is not the last falls down the ladder.

    The original run may have fallen back from a failing rung, so that rung's requests were never
    answered; the replay then falls back the same way. The last rung's miss is a plain archive miss.
    """

    name = "replay"

    def __init__(self, workspace_root: Path, *, last: bool) -> None:
        self.inner = ReplayProvider(workspace_root)
        self.last = last

    def complete(self, request: CompletionRequest, on_text: TokenCallback | None = None
                 ) -> CompletionResponse:
        try:
            return self.inner.complete(request, on_text)
        except ProviderError as exc:
            if self.last or exc.error_class != "archive_miss":
                raise
            raise ProviderError("not answered by this rung in the recorded run",
                                error_class="server", retryable=False) from None


def replay_rungs(ws: Workspace, manifest: dict[str, Any]) -> list[tuple[str, ModelConfig]]:
    """The ladder rungs that answered in the recorded run, with the provider each one used."""
    used = {m["rung"]: m["provider"] for m in manifest.get("models", [])}
    rungs = [(name, cfg.model_copy(update={"provider": used[name]}))
             for name, cfg in ws.config.rung_models() if name in used]
    return rungs or ws.config.rung_models()


@dataclass(frozen=True)
class _Where:
    """The repository and the workspace inside it (a federation member lives in a subfolder)."""

    repo: git.Repo
    root: Path

    @property
    def prefix(self) -> str:
        top = Path(self.repo.working_tree_dir or self.root).resolve()
        rel = self.root.resolve().relative_to(top).as_posix()
        return "" if rel == "." else rel + "/"


def _export(where: _Where, release: str, dest: Path, subpath: str | None = None) -> Path:
    """`subpath` (workspace-relative, default: the whole workspace) of the release's commit;
    returns the folder that holds it."""
    ref = gitops.release_ref(where.repo, release, where.root)
    inside = f"{where.prefix}{subpath or ''}".rstrip("/") or None
    return gitops.export_tree(where.repo, ref, dest, inside) / where.prefix


def _release_workspace(repo: _Where, manifest: dict[str, Any], work: Path) -> tuple[Path, Any]:
    """The release's own inputs, exported from its commit and loaded, without its output tree
    (the answer must never leak into the rebuild). Pins are not re-checked against today's
    catalog: a past release is rebuilt as it was made."""
    source = _export(repo, manifest["release"], work / "workspace")
    shutil.rmtree(source / manifest["output"]["dir"], ignore_errors=True)
    return source, load_workspace(source, check_model_pins=False)


def _parent_tree(repo: _Where, manifest: dict[str, Any], work: Path) -> Path | None:
    """The parent release's output tree, exported from its commit (None for a first release)."""
    parent, output = manifest.get("parent"), manifest["output"]["dir"]
    if not parent:
        return None
    previous: Path = _export(repo, parent, work / "parent", output) / output
    previous.mkdir(parents=True, exist_ok=True)
    return previous


def _replay_client(source: Path, ws: Workspace, manifest: dict[str, Any], work: Path
                   ) -> tuple[Any, list[tuple[str, ModelConfig]]]:
    """A client answering every rung from the archive, offline, and the rungs that answered."""
    rungs = replay_rungs(ws, manifest)
    providers: dict[str, Provider] = {name: LadderReplayProvider(source, last=i == len(rungs) - 1)
                                      for i, (name, _) in enumerate(rungs)}
    return ModelClient(source, ws.config, run_id=work.name, providers=providers, offline=True), rungs


def _changed_inputs(ws: Workspace, manifest: dict[str, Any]) -> list[str]:
    """Inputs whose hash at the release commit differs from the manifest's record."""
    recorded = manifest.get("inputs", {})
    now = ws.input_hashes()
    return sorted(p for p in set(now) | set(recorded) if now.get(p) != recorded.get(p))


def _rebuild_synthesized(repo: _Where, manifest: dict[str, Any], work: Path, progress: Any
                         ) -> tuple[Path, Any, Path | None, int, list[str]]:
    parent = manifest.get("parent")
    source, ws = _release_workspace(repo, manifest, work)
    previous = _parent_tree(repo, manifest, work)
    client, rungs = _replay_client(source, ws, manifest, work)
    result = synthesize(ws, client=client, rungs=rungs, previous_tree=previous,
                        run_dir=work / "run", progress=progress, release=parent,
                        on_failure="fallback", selection=recorded_selection(manifest))
    staged = stage_tree(result.files, result.deletes, run_dir=work / "run", base=result.base,
                        policy=PathPolicy.of(ws))
    staged, repair_calls = replay_repairs(ws, client, rungs, staged, manifest.get("repairs", []),
                                          run_dir=work / "run", release=parent)
    return staged, ws, previous, len(result.calls) + repair_calls, _changed_inputs(ws, manifest)


def _rebuild_model_patch(repo: _Where, manifest: dict[str, Any], work: Path
                         ) -> tuple[Path, Any, Path | None, int, list[str]]:
    """A `genops patch` release: the parent's tree, the recorded instruction, archived answers."""
    parent = manifest["parent"]
    source, ws = _release_workspace(repo, manifest, work)
    previous = _parent_tree(repo, manifest, work)
    assert previous is not None  # a patch always has a parent
    client, rungs = _replay_client(source, ws, manifest, work)
    job = PatchJob(ws=ws, client=client, rungs=rungs, base=read_tree_text(previous),
                   base_root=previous, instruction=manifest["patch"]["instruction"],
                   run_dir=work / "run", release=parent)
    result = run_patch(job)
    written, deleted = result.changes
    staged = stage_tree(written, deleted, run_dir=work / "run", base=previous,
                        policy=PathPolicy.of(ws))
    staged, repair_calls = replay_repairs(ws, client, rungs, staged, manifest.get("repairs", []),
                                          run_dir=work / "run", release=parent)
    return staged, ws, previous, len(result.calls) + repair_calls, _changed_inputs(ws, manifest)


def recorded_selection(manifest: dict[str, Any]) -> Any:
    """The selection a selective release was made with (None: it was a full run)."""
    record = manifest.get("selection") or {}
    return Selection.from_dict(record["plan"]) if record.get("mode") == "selective" else None


def _rebuild_recorded_patch(repo: _Where, manifest: dict[str, Any], work: Path
                            ) -> tuple[Path, Any, Path | None, int, list[str]]:
    """A hand edit recorded by `genops patch --from-drift`: the parent's tree plus its edits."""
    source, ws = _release_workspace(repo, manifest, work)
    edits = json.loads((source / ".genops" / "releases" / manifest["release"] / "evidence"
                        / EDITS_FILE).read_text(encoding="utf-8"))
    previous = _parent_tree(repo, manifest, work)
    assert previous is not None  # a patch always has a parent
    files = apply_edits(read_tree_text(previous), edits)
    staged = stage_tree(files, [], run_dir=work / "run", policy=PathPolicy.of(ws))
    return staged, ws, previous, 0, _changed_inputs(ws, manifest)


def _rebuild(root: Path, repo: _Where, manifest: dict[str, Any], work: Path, progress: Any
             ) -> tuple[Path, Any, Path | None, int, list[str]]:
    kind = manifest["kind"]
    if kind in SYNTHESIZED_KINDS:
        return _rebuild_synthesized(repo, manifest, work, progress)
    if kind == "patch" and manifest.get("flags", {}).get("source") == "drift":
        return _rebuild_recorded_patch(repo, manifest, work)
    if kind == "patch" and manifest.get("flags", {}).get("source") == "model":
        return _rebuild_model_patch(repo, manifest, work)
    if kind == "rollback":
        source = load_manifest(root, manifest["rollback_of"])
        return _rebuild(root, repo, source, work / f"source-{source['release']}", progress)
    raise UsageError(f"replay of {kind} releases is not supported yet",
                     hint="replay the release it was made from, or check its tree with "
                          f"`git diff {gitops.TAG_PREFIX}{manifest['release']}`")


def replay(workspace: Workspace | Path, ref: str | None = None, *, progress: Any = None,
           gate_observer: GateObserver | None = None, gates: bool = True) -> ReplayOutcome:
    """Rebuild `ref` (default: the current release) from the archive and compare it.

    `workspace` is a loaded Workspace or just its root: only the commit and archive are used.
    """
    root = workspace if isinstance(workspace, Path) else Path(workspace.root)
    startup_recovery(root)
    repo = gitops.open_repo(root)
    release = resolve_release(root, ref)
    manifest = load_manifest(root, release)
    work = runs_dir(root) / f"replay-{release}-{new_run_id()}"
    work.mkdir(parents=True)
    staged, ws, previous, calls, changed = _rebuild(root, _Where(repo, root), manifest, work,
                                                    progress)
    files = tree_files(staged)
    expected = manifest["output"]["files"]
    outcome = ReplayOutcome(release, manifest["kind"],
                            reproduced=tree_hash(files) == manifest["output"]["tree_sha256"],
                            expected_tree=manifest["output"]["tree_sha256"],
                            actual_tree=tree_hash(files), file_count=len(files),
                            first_difference=first_difference(expected, files), calls=calls,
                            inputs_changed=changed, directory=work,
                            narrative=replayed_narrative(root, manifest))
    if gates:
        facts = ReleaseFacts(kind="replay", reason="", run_id=work.name)
        ctx = GateContext(workspace=ws, staged=staged, previous=previous,
                          evidence_dir=work / "evidence",
                          run={"run_id": work.name, "kind": "replay", "cost_usd": facts.cost_usd,
                               "allow_breaking": bool(manifest.get("flags", {}).get("allow_breaking")),
                               "blueprint": manifest.get("blueprint"), "calls": []})
        outcome.gates = run_gates(ctx, default_gates(ws), observer=gate_observer)
    return outcome


def replayed_narrative(root: Path, manifest: dict[str, Any]) -> str | None:
    """Whether the archive answers the narrative's calls with the text the manifest recorded
    (its request carries the run's cost and timings, so it is checked by key, not re-rendered)."""
    entry = manifest.get("narrative")
    if not entry:
        return None
    archive = Archive.for_workspace(root)
    answers = [archive.get(call["key"]) for call in entry.get("calls", [])]
    if not answers or any(a is None for a in answers):
        return "an answer is missing from the archive"
    if entry.get("error"):
        return "reproduced"  # no narrative was kept; its paid answers are archived
    last = answers[-1]
    assert last is not None
    return "reproduced" if check_narrative(last.text) == entry["text"] else \
        "the archived answer differs from the recorded narrative"
