"""`[ladder] on_budget = "patch"`: a regeneration over budget becomes a patch when that is enough.

The seed's hybrid: regenerate for major changes, "fall back to patching when a regeneration
exceeds budget". When a regeneration's next request would cross the budget (`BudgetExceeded`)
and the only inputs changed since the current release are spec files (and genops.toml), touching at most
`MAX_REQUIREMENTS` requirements, the requirement changes (added, changed with old and new text,
removed) become the instruction of a `genops patch` run. With `on_budget = "stop"` the same
check only adds the offer to the error's hint. Anything else (ADRs, prompts, genops.toml changed,
or many requirements) is a regeneration and the budget error stands.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from genops.errors import BudgetExceeded
from genops.release.patch_run import start_patch
from genops.release.runs import RunState
from genops.store import gitops
from genops.store.releases import current_release, load_manifest
from genops.workspace import Workspace
from genops.workspace.specs import load_specs

MAX_REQUIREMENTS = 3


def spec_change(ws: Workspace) -> tuple[str, list[str]] | None:
    """(instruction, requirement ids) when only specs changed and few requirements; else None."""
    release = current_release(ws.root)
    if release is None:
        return None
    recorded = load_manifest(ws.root, release).get("inputs", {})
    now = ws.input_hashes()
    changed = sorted(p for p in set(now) | set(recorded) if now.get(p) != recorded.get(p))
    # genops.toml (budget, ladder) says how to build, not what: only spec edits can be described
    if not changed or any(not p.startswith("specs/") and p != "genops.toml" for p in changed):
        return None
    repo = gitops.open_repo(ws.root)
    with tempfile.TemporaryDirectory(prefix="genops-specs-") as scratch:
        gitops.export_tree(repo, gitops.release_ref(repo, release), Path(scratch), "specs")
        old_reqs, _texts = load_specs(Path(scratch))
    old = {r.id: r.text for r in old_reqs}
    new = {r.id: r.text for r in ws.requirements}
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    edited = sorted(i for i in set(old) & set(new) if old[i] != new[i])
    touched = [*added, *edited, *removed]
    if not touched or len(touched) > MAX_REQUIREMENTS:
        return None
    lines = [f"The specification changed since release {release}. Change the code and its tests "
             "to match these requirement changes exactly; change nothing else.", ""]
    lines += [f"- added {i}: {new[i]}" for i in added]
    lines += [f"- changed {i}: was: {old[i]}\n  now: {new[i]}" for i in edited]
    lines += [f"- removed {i} (was: {old[i]}): remove what only it required" for i in removed]
    return "\n".join(lines) + "\n", touched


def patch_instead(ws: Workspace, run: RunState, exc: BudgetExceeded, *, progress: Any = None,
                  gate_observer: Any = None) -> Any:
    """Run a patch for the spec change that a regeneration over budget was for, or re-raise."""
    change = spec_change(ws)
    if change is None:
        raise BudgetExceeded(exc.message, hint=(exc.hint or "") + "; no patch fallback: the "
                             "change is not a spec edit touching at most "
                             f"{MAX_REQUIREMENTS} requirements") from None
    instruction, touched = change
    run.update(stage="failed", error=f"over budget, patched instead: {exc.message}")
    if progress is not None:
        progress.message(f"the regeneration would cross the budget ({exc.message}); the change "
                         f"touches {', '.join(touched)}: patching instead")
    return start_patch(ws, instruction=instruction,
                       reason=(run.reason or "spec change") + " (patch: regeneration over budget)",
                       provider_override=run.params.get("provider"), source="budget",
                       progress=progress, gate_observer=gate_observer)


def offer(ws: Workspace, exc: BudgetExceeded) -> BudgetExceeded:
    """The budget error, with a patch offered when the change is small enough for one."""
    change = spec_change(ws)
    if change is None:
        return exc
    _instruction, touched = change
    hint = (f"the change touches only {', '.join(touched)}: `genops patch --file <request.md>` "
            'describing it, or set [ladder] on_budget = "patch" to do that automatically')
    return BudgetExceeded(exc.message, hint=f"{exc.hint}; {hint}" if exc.hint else hint)
