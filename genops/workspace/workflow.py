"""The GitHub Actions workflow that runs `genops check` in CI (written by `genops init`)."""

from __future__ import annotations

from importlib import resources

TEMPLATE = "templates/github-workflow.yml"
WORKFLOW_PATH = ".github/workflows/genops.yml"


def workflow_text(install: str = "genops") -> str:
    """The workflow YAML; `install` is what pip installs (`.` for genops's own repository)."""
    text = resources.files("genops").joinpath(TEMPLATE).read_text(encoding="utf-8")
    if install != "genops":
        text = text.replace("GENOPS_INSTALL: genops ", f"GENOPS_INSTALL: {_quoted(install)} ", 1)
    return text


def _quoted(value: str) -> str:
    """A YAML double-quoted scalar, so any pip requirement string stays one value."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
