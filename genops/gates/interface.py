"""The interface gate (federation members only): a changed published interface needs its version bumped.

The staged tree's interface (the `[provides]` python modules, and the member's schema files as
they are now) is compared with the current release's (its tree, and its schema files as
committed with it): a breaking change needs a major bump of `[provides] version`, an addition a
minor one (`genops.semdiff.interface`). The verdict names the change and the version required.
The version and the interface digest are recorded as the gate's facts; the release manifest
carries them as `interface_version` and `interface_digest`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from genops.gates.base import Finding, GateContext, GateResult
from genops.semdiff.interface import (Classification, bump_ok, classify_python, classify_schemas,
                                      required_version, schema_files, surface)
from genops.store import gitops
from genops.store.releases import current_release, load_manifest
from genops.workspace import Workspace
from genops.workspace.federation import (Federation, Member, find_federation_root,
                                         load_federation)

INTERFACE_FACTS = ("interface_version", "interface_digest")


def membership(root: Path) -> tuple[Federation, Member] | None:
    """The federation `root` is a member of, and its member entry (None when it is none's)."""
    fed_root = find_federation_root(Path(root).resolve().parent)
    if fed_root is None:
        return None
    federation = load_federation(fed_root)
    member = federation.member_at(Path(root))
    return (federation, member) if member is not None else None


def released_interface(root: Path, release: str | None) -> tuple[str | None, str | None]:
    """(interface_version, interface_digest) a release's manifest records (None: none)."""
    if release is None:
        return None, None
    manifest = load_manifest(root, release)
    return manifest.get("interface_version"), manifest.get("interface_digest")


def released_schemas(root: Path, release: str, folders: tuple[str, ...]) -> dict[str, str]:
    """The schema files as the release's commit holds them (scoped to this member's folder)."""
    if not folders:
        return {}
    repo = gitops.open_repo(root)
    ref = gitops.release_ref(repo, release, root)
    top = Path(repo.working_tree_dir or root).resolve()
    prefix = Path(root).resolve().relative_to(top).as_posix()
    with tempfile.TemporaryDirectory(prefix="genops-iface-") as tmp:
        for folder in folders:
            sub = folder if prefix == "." else f"{prefix}/{folder}"
            gitops.export_tree(repo, ref, Path(tmp), subpath=sub)
        base = Path(tmp) / prefix if prefix != "." else Path(tmp)
        return schema_files(base, folders)


class InterfaceGate:
    name = "interface"
    needs = ("paths", "parse")

    def __init__(self, member: Member) -> None:
        self.member = member

    def check(self, ctx: GateContext) -> GateResult:
        provides = self.member.provides
        assert provides is not None
        root = Path(ctx.workspace.root)
        now = surface(provides, ctx.staged, root)
        facts: dict[str, Any] = {"interface_version": provides.version,
                                 "interface_digest": now.digest}
        missing = [m for m in provides.python if f"# module {m}: missing" in now.text]
        if missing:
            return GateResult(self.name, "fail", f"interface module {missing[0]} named by "
                              f"interface.toml is not in the staged tree",
                              findings=(Finding(f"{missing[0]}: missing", "interface.toml"),),
                              facts=facts)
        release = current_release(root)
        old_version, old_digest = released_interface(root, release)
        if release is None or old_version is None:
            return GateResult(self.name, "pass", f"interface {self.member.name} "
                              f"{provides.version} first published (digest {now.digest[:12]})",
                              facts={**facts, "level": "new"})
        result = Classification()
        if ctx.previous is not None and old_digest != now.digest:
            classify_python(ctx.previous, ctx.staged, provides.python, result)
            classify_schemas(released_schemas(root, release, provides.schemas), now.schemas,
                             result)
        facts["level"] = result.level
        facts["previous_version"] = old_version
        data = result.to_dict()
        if not bump_ok(old_version, provides.version, result.level):
            need = required_version(old_version, result.level)
            first = result.first()
            what = f"{first.where}: {first.detail}" if first else "no change"
            summary = (f"interface {self.member.name}: {result.level} change ({what}) needs "
                       f"version {need} or later; interface.toml [provides] version is "
                       f"{provides.version} (released: {old_version})"
                       if result.level != "none" else
                       f"interface.toml [provides] version {provides.version} is lower than the "
                       f"released {old_version}")
            findings = tuple(Finding(f"{c.where}: {c.detail}" + (" (breaking)" if c.breaking
                                                                 else ""), "interface.toml")
                             for c in result.changes[:20])
            return GateResult(self.name, "fail", summary, findings=findings, data=data,
                              facts={**facts, "required_version": need})
        if result.level == "none":
            summary = f"interface {self.member.name} {provides.version}: no change"
        else:
            summary = (f"interface {self.member.name} {old_version} -> {provides.version}: "
                       f"{result.level} ({len(result.changes)} change(s))")
        return GateResult(self.name, "pass", summary, data=data, facts=facts)


def make_gate(ws: Workspace) -> InterfaceGate | None:
    found = membership(ws.root)
    if found is None or found[1].provides is None:
        return None
    return InterfaceGate(found[1])
