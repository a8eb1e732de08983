"""`genops verify`, `genops lock` and `genops keygen`: audit packs (docs/releases.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from genops.cli.common import JSON_HELP, WORKSPACE_HELP, mutates, open_workspace, output_mode


def register(app: typer.Typer) -> None:
    @app.command()
    def verify(
        release: str | None = typer.Argument(None, help="Release id (default: the current)."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Check a release's signatures and every digest offline, with the committed public keys."""
        from genops.errors import GateFailed
        from genops.release.verify import verify as run_verify
        from genops.render.audit import print_verify

        output_mode(json_out)
        ws = open_workspace(workspace)
        report = run_verify(ws.root, release)
        print_verify(report, as_json=json_out, require_signature=ws.config.audit.require_signature)
        if not report.ok(require_signature=ws.config.audit.require_signature):
            raise GateFailed(f"release {report.release} does not verify",
                             hint="the checks above name each file that differs")

    @app.command()
    @mutates("lock")
    def lock(
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Resolve the generated tree's declared dependencies into a hash-pinned lock (needs PyPI)."""
        from genops.audit.lockfile import lock_path, parse_lock, resolve
        from genops.fsutil import write_atomic
        from genops.gates.venvs import declared_dependencies
        from genops.render.audit import print_lock

        output_mode(json_out)
        ws = open_workspace(workspace)
        requirements = list(declared_dependencies(ws.output_dir).requirements)
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        text = resolve(requirements, python_version=version)
        path = lock_path(ws.root, ws.config.project.output)
        write_atomic(path, text.encode("utf-8"))
        print_lock(path, requirements, parse_lock(text), as_json=json_out)

    @app.command()
    @mutates("keygen")
    def keygen(
        private_key: Path = typer.Argument(..., help="Where to write the private key (outside the "
                                           "workspace); the public key goes to .genops/keys/."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Make an Ed25519 signing key pair for audit packs."""
        from genops.audit.keys import KEY_ENV, generate
        from genops.cli.common import workspace_root
        from genops.render.console import out, print_json

        output_mode(json_out)
        root = workspace_root(workspace, required=True)
        keyid, public = generate(root, private_key)
        if json_out:
            print_json({"keyid": keyid, "private_key": str(private_key),
                        "public_key": public.relative_to(root).as_posix(), "env": KEY_ENV})
            return
        out.print(f"key {keyid[:16]}: private key {private_key} (keep it secret), public key "
                  f"{public.relative_to(root)} (commit it); sign releases with "
                  f"{KEY_ENV}={private_key}", markup=False)
