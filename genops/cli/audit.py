"""`genops verify`, `genops lock` and `genops keygen`: audit packs (docs/releases.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from genops.cli.common import JSON_HELP, WORKSPACE_HELP, mutates, open_workspace, output_mode

if TYPE_CHECKING:
    from genops.release.verify import ChainReport


def register(app: typer.Typer) -> None:
    @app.command()
    def verify(
        release: str | None = typer.Argument(None, help="Release id (default: the current)."),
        all_releases: bool = typer.Option(False, "--all", help="Every release from the first, "
                                          "in parent order, and the chain links between them."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Check a release's signatures and every digest offline, against the keys its history pinned."""
        from genops.errors import GateFailed, UsageError
        from genops.release.verify import verify as run_verify
        from genops.release.verify import verify_all
        from genops.render.audit import print_verify

        output_mode(json_out)
        from genops.cli.federation_release import federation_here, verify_federation_command

        federation = federation_here(workspace)
        if federation is not None and release is None:
            return verify_federation_command(federation, json_out=json_out)
        ws = open_workspace(workspace)
        if all_releases:
            if release is not None:
                raise UsageError("give a release id or --all, not both")
            chain = verify_all(ws.root)
            _print_chain(chain, as_json=json_out)
            if not chain.ok:
                raise GateFailed(f"{len(chain.failures)} check(s) of the release chain failed",
                                 hint="each failing check above names the release, key or file")
            return
        report = run_verify(ws.root, release)
        print_verify(report, as_json=json_out, require_signature=ws.config.audit.require_signature)
        if not report.ok(require_signature=ws.config.audit.require_signature):
            raise GateFailed(f"release {report.release} does not verify",
                             hint="the checks above name each release, key and file that differs")

    @app.command()
    @mutates("lock")
    def lock(
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Resolve the generated tree's declared dependencies into a hash-pinned lock (needs PyPI)."""
        from genops.audit.lockfile import lock_path, parse_lock, resolve
        from genops.fsutil import write_atomic
        from genops.errors import UsageError
        from genops.gates.dependencies import policy_refusals
        from genops.gates.venvs import declared_dependencies
        from genops.render.audit import print_lock

        output_mode(json_out)
        ws = open_workspace(workspace)
        refused = policy_refusals(ws, ws.output_dir, with_lock=False)
        if refused:  # a URL, path or index option from the tree never reaches the resolver
            raise UsageError(f"{ws.config.project.output}/{refused[0].message()}",
                             hint=f"{len(refused)} declared line(s) refused; see `genops help "
                                  "rules` (allowed_dependencies) and [audit] indexes")
        requirements = list(declared_dependencies(ws.output_dir).requirements)
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        text = resolve(requirements, python_version=version, indexes=ws.config.audit.indexes)
        path = lock_path(ws.root, ws.config.project.output)
        write_atomic(path, text.encode("utf-8"))
        print_lock(path, requirements, parse_lock(text), as_json=json_out)

    @app.command()
    @mutates("keygen")
    def keygen(
        private_key: Path = typer.Argument(..., help="Where to write the private key (outside the "
                                           "workspace); the public key goes to .genops/keys/."),
        pin: bool = typer.Option(True, "--pin/--no-pin", help="Add the key id to genops.toml "
                                 "[audit] trusted_keys (default), or only print the line."),
        json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
        workspace: Path | None = typer.Option(None, "--workspace", "-w", help=WORKSPACE_HELP),
    ) -> None:
        """Make an Ed25519 signing key pair for audit packs and pin its id in genops.toml."""
        from genops.audit.keys import KEY_ENV, generate, pin_key
        from genops.cli.common import workspace_root
        from genops.fsutil import write_atomic
        from genops.render.console import out, print_json
        from genops.workspace.toml_config import CONFIG_NAME

        output_mode(json_out)
        root = workspace_root(workspace, required=True)
        config = root / CONFIG_NAME
        text = config.read_text(encoding="utf-8")
        if pin:
            pin_key(text, "0" * 64)  # an uneditable genops.toml is refused before a key is made
        pinned: str | None = None
        keyid, public = generate(root, private_key)
        if pin:
            pinned = pin_key(text, keyid)
            write_atomic(config, pinned.encode("utf-8"))
        line = f'trusted_keys = ["{keyid}"]'
        if json_out:
            print_json({"keyid": keyid, "private_key": str(private_key),
                        "public_key": public.relative_to(root).as_posix(), "env": KEY_ENV,
                        "pinned": pinned is not None, "trusted_keys_line": line})
            return
        where = (f"pinned in {CONFIG_NAME} [audit] trusted_keys" if pinned is not None else
                 f"not pinned: add it to {CONFIG_NAME} [audit] trusted_keys ({line})")
        out.print(f"key {keyid}: private key {private_key} (keep it secret), public key "
                  f"{public.relative_to(root)}, {where}; commit both (`genops help releases`, "
                  f"\"Trust root\": which release a new key may sign); sign releases with "
                  f"{KEY_ENV}={private_key}", markup=False)


def _print_chain(chain: ChainReport, *, as_json: bool) -> None:
    """`genops verify --all`: one row per release, every failing check, then one verdict line."""
    from rich.table import Table
    from rich.text import Text

    from genops.render.console import out, print_json

    if as_json:
        print_json(chain.to_dict())
        return
    table = Table("release", "commit", "signature", "allowed signers", "chain link", "checks",
                  show_lines=False)
    for report in chain.releases:
        signed = (f"signed by {', '.join(k[:16] for k in report.keyids)}"
                  if report.signature == "signed" else report.signature)
        if not report.has_pack:
            signed = "no pack"
        allowed = ", ".join(k[:16] for k in report.trusted_keys) or "none"
        failed = len(report.failures)
        table.add_row(Text(report.release), Text((report.commit or "-")[:12]), Text(signed),
                      Text(allowed), Text(report.chain or "-"),
                      Text(f"{len(report.checks) - failed} ok" + (f", {failed} FAILED" if failed
                                                                   else ""),
                           style="bold red" if failed else "green"))
    out.print(table)
    out.print(Text(f"trust root: {chain.trust_root}"))
    for check in chain.checks:
        if not check.ok:
            out.print(Text(f"workspace: {check.name}: {check.detail}", style="bold red"))
    for report in chain.releases:
        for check in report.failures:
            out.print(Text(f"{report.release}: {check.name}: {check.detail}", style="bold red"))
    releases = chain.releases
    span = f"{releases[0].release}..{releases[-1].release}" if releases else "no release"
    if chain.ok:
        out.print(Text(f"{span}: {len(releases)} release(s) verified in parent order",
                       style="green"))
    else:
        out.print(Text(f"{span}: {len(chain.failures)} check(s) failed",
                       style="bold red"))
