"""The GitHub Actions workflow of a federation: plan, fan out one job per affected member, fan in.

Three jobs (genops/templates/github-federation-workflow.yml):

- `plan` runs `genops affected --json` at the federation root against the change's base (the
  pull request's base branch, or the push's previous commit) and exposes its `matrix` (`{"include":
  [{"member", "path"}]}`) and whether any member is affected as job outputs;
- `member` runs once per affected member (`strategy.matrix: ${{ fromJSON(needs.plan.outputs.
  matrix) }}`, `fail-fast: false`) and runs `genops check` in the member's folder;
- `federation` needs both and runs `genops federation check` and `genops verify --all` at the root.

The hardening is the single-workspace template's (genops.workspace.workflow): actions pinned by
commit digest, `persist-credentials: false`, `permissions: {}` at the top and `contents: read`
per job, and no `${{ }}` inside a `run:` script: event and matrix values reach scripts through
`env:` only. The same plan drives other CI systems (docs/federation.md).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from genops.fsutil import write_atomic
from genops.store import gitops

TEMPLATE = "templates/github-federation-workflow.yml"
WORKFLOW_NAME = "genops-federation.yml"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def workflow_text(federation_root: str = ".", install: str = "genops") -> str:
    """The workflow YAML for a federation at `federation_root` (relative to the repository)."""
    text = resources.files("genops").joinpath(TEMPLATE).read_text(encoding="utf-8")
    text = text.replace('FEDERATION_ROOT: "."', f"FEDERATION_ROOT: {_quoted(federation_root)}", 1)
    if install != "genops":
        text = text.replace("GENOPS_INSTALL: genops ", f"GENOPS_INSTALL: {_quoted(install)} ", 1)
    return text


def write_workflow(root: Path, output: Path | None = None, *, dry_run: bool = False,
                   install: str = "genops") -> tuple[str, Path]:
    """Write the workflow for the federation at `root`; default path: the repository's
    `.github/workflows/genops-federation.yml` (GitHub reads workflows only there)."""
    repo = gitops.open_repo(root)
    top = Path(repo.working_tree_dir or root).resolve()
    rel = Path(os.path.relpath(root.resolve(), top)).as_posix()
    text = workflow_text(rel, install)
    path = output or top / ".github" / "workflows" / WORKFLOW_NAME
    if not dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    return text, path


def plan_script(text: str) -> str:
    """The `plan` job's `genops affected` step script (CI runs it on the example federation)."""
    doc: dict[str, Any] = yaml.safe_load(text)
    steps = doc["jobs"]["plan"]["steps"]
    return str(next(s["run"] for s in steps if s.get("id") == "plan"))
