"""`genops federation check`: every consumer's range admits its provider's released interface.

For each `[consumes.<provider>]` of each member, the provider's current release's
`interface_version` (its manifest) must satisfy the consumer's `range`. A failure names both
members, the range, the released version and the interface change: the semantic interface diff
between the newest provider release the range still admits (the one the consumer last passed
against) and the current one, or just the versions when there is none to compare.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.gates.interface import released_schemas
from genops.semdiff.interface import Classification, classify_python, classify_schemas
from genops.store.gitops import export_output
from genops.store.releases import current_release, load_manifest, release_ids
from genops.workspace.federation import Federation, Member, load_federation, member_output


@dataclass
class Link:
    consumer: str
    provider: str
    range: str
    release: str | None  # the provider's current release
    version: str | None  # its interface_version
    ok: bool
    problem: str = ""
    baseline: str | None = None  # the newest provider release the range admits
    baseline_version: str | None = None
    change: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"consumer": self.consumer, "provider": self.provider, "range": self.range,
                "release": self.release, "version": self.version, "ok": self.ok,
                "problem": self.problem, "baseline": self.baseline,
                "baseline_version": self.baseline_version, "change": self.change}


@dataclass
class CheckResult:
    federation: str
    links: list[Link]

    @property
    def ok(self) -> bool:
        return all(link.ok for link in self.links)

    def to_dict(self) -> dict[str, Any]:
        return {"federation": self.federation, "ok": self.ok,
                "links": [link.to_dict() for link in self.links]}


def _version_of(member: Member, release: str) -> str | None:
    value = load_manifest(member.path, release).get("interface_version")
    return value if isinstance(value, str) else None


def _admitted_release(provider: Member, admits: Any) -> tuple[str, str] | None:
    """The newest provider release whose recorded interface version the range admits."""
    for release in reversed(release_ids(provider.path)):
        version = _version_of(provider, release)
        if version is not None and admits(version):
            return release, version
    return None


def interface_change(provider: Member, old_release: str, new_release: str) -> Classification:
    """How the provider's interface changed between two of its releases."""
    assert provider.provides is not None
    result = Classification()
    output = member_output(provider)
    with tempfile.TemporaryDirectory(prefix="genops-fedcheck-") as tmp:
        old = export_output(provider.path, output, "HEAD", Path(tmp) / "old", release=old_release)
        new = export_output(provider.path, output, "HEAD", Path(tmp) / "new", release=new_release)
        classify_python(old, new, provider.provides.python, result)
    if provider.provides.schemas:
        classify_schemas(released_schemas(provider.path, old_release, provider.provides.schemas),
                         released_schemas(provider.path, new_release, provider.provides.schemas),
                         result)
    return result


def check_link(federation: Federation, consumer: Member, provider_name: str) -> Link:
    entry = consumer.consumes[provider_name]
    provider = federation.member(provider_name)
    release = current_release(provider.path)
    link = Link(consumer.name, provider.name, entry.range, release, None, False)
    if release is None:
        link.problem = f"{provider.name} has no release yet"
        return link
    link.version = _version_of(provider, release)
    if link.version is None:
        link.problem = (f"{provider.name}'s current release {release} records no "
                        "interface_version (made before it joined the federation?)")
        return link
    if entry.admits(link.version):
        link.ok = True
        return link
    found = _admitted_release(provider, entry.admits)
    what = ""
    if found is not None:
        link.baseline, link.baseline_version = found
        change = interface_change(provider, found[0], release)
        link.change = change.to_dict()
        first = change.first()
        if first is not None:
            what = (f"; the interface changed since {found[0]} ({found[1]}), {change.level}: "
                    f"{first.where}: {first.detail}"
                    + (f" (+{len(change.changes) - 1} more)" if len(change.changes) > 1 else ""))
    link.problem = (f"consumer {consumer.name} requires {provider.name} {entry.range}, but "
                    f"{provider.name}'s release {release} publishes interface "
                    f"{link.version}{what}")
    return link


def check_federation(root: Path) -> CheckResult:
    federation = load_federation(root)
    links = [check_link(federation, member, provider)
             for member in federation.members for provider in sorted(member.consumes)]
    return CheckResult(federation.name, links)
