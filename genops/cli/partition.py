"""`genops partition --plan`: propose a split of the workspace into federation members."""

from __future__ import annotations

from pathlib import Path

import typer

from genops.cli.common import JSON_HELP, WORKSPACE_HELP, open_workspace, output_mode


def register(app: typer.Typer) -> None:
    @app.command()
    def partition(
        plan: bool = typer.Option(False, "--plan", help="Propose the split (the only mode: a "
                                  "plan is never applied)."),
        share: float = typer.Option(0.5, "--share", min=0.05, max=1.0,
                                    help="Each part's largest share of the context window."),
        window: int | None = typer.Option(None, "--window", min=1000, help="The context window "
                                          "in tokens (default: the senior model's, pinned in "
                                          "genops.toml [models.*] context_window or the catalog's)."),
        output: Path | None = typer.Option(None, "--output", "-o", help="Also write the plan as "
                                           "TOML to this file, for a person to edit."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Propose members from the tree's import graph and requirement groups (read-only)."""
        from genops.errors import UsageError
        from genops.federation.partition import make_plan, plan_toml
        from genops.fsutil import write_atomic
        from genops.gates.context_fit import senior_window
        from genops.render.partition import print_plan
        from genops.store.releases import current_release, load_manifest

        as_json = output_mode(json_out)
        if not plan:
            raise UsageError("give --plan: genops only proposes a partition; a person applies it")
        ws = open_workspace(workspace)
        size = window or senior_window(ws)
        if size is None:
            raise UsageError("the senior model's context window is unknown",
                             hint="give --window N, or pin context_window in genops.toml "
                                  "[models.<rung>]")
        release = current_release(ws.root)
        blueprint = load_manifest(ws.root, release).get("blueprint") if release else None
        tree = ws.root / ws.config.project.output
        result = make_plan(tree, size, share, blueprint, shown=ws.config.project.output)
        if output is not None:
            target = output.resolve()
            if target.is_relative_to(tree.resolve()):
                raise UsageError(f"{output} is inside the generated tree, which only releases "
                                 "write")
            write_atomic(target, plan_toml(result))
        print_plan(result, as_json=as_json, written=output)
