"""Rendering of workspace-level results (init)."""

from __future__ import annotations

from rich.text import Text

from genops.render.console import out, print_json
from genops.workspace.scaffold import InitResult


def init_result(result: InitResult, *, as_json: bool) -> None:
    if as_json:
        print_json({"root": str(result.root), "files": result.files, "git": result.git})
        return
    out.print(Text.assemble(("created", "green"), f" workspace at {result.root}"))
    for rel in result.files:
        out.print(Text(f"  {rel}"))
    commit = "" if result.git else "commit these files (releases are commits and tags), "
    out.print(Text(f"\nnext: {commit}edit specs/requirements.md, then "
                   "`genops regenerate --dry-run`"))
