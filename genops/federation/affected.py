"""`genops affected`: which members of a federation a change touches, and in what order to run them.

The federation's inputs are diffed since a base: `--base REV`, else the commit of the newest
federation release (`federation/releases/<id>/manifest.json`), else each member's own current
release commit (found by its `Genops-Release:` trailer, scoped to the member's folder, since
release ids repeat across members). Uncommitted and untracked changes count too.

A member is touched when its specs/, adr/, prompts/, genops.toml or interface.toml changed (or it
has no release yet); the consumers of a member whose published interface is declared to change
(its `[provides]` table in interface.toml, or a schema file of it) are affected too, since their
snapshot of it changes. Everything else is carried. The plan's JSON shape is a contract with the
CI fan-out (docs/federation.md).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

from genops.errors import UsageError
from genops.store import gitops
from genops.store.releases import current_release
from genops.workspace.federation import (INTERFACE_NAME, SNAPSHOT_DIR, Federation, Member,
                                         load_federation)

INPUTS = ("specs", "adr", "prompts", "genops.toml", INTERFACE_NAME, SNAPSHOT_DIR)
RELEASES_GLOB = "federation/releases/*/manifest.json"


@dataclass
class MemberPlan:
    name: str
    path: str
    affected: bool
    reasons: list[str] = field(default_factory=list)
    consumes: list[str] = field(default_factory=list)
    base: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "affected": self.affected,
                "reasons": list(self.reasons), "consumes": list(self.consumes)}


@dataclass
class AffectedPlan:
    federation: str
    base: str | None
    members: list[MemberPlan]
    order: list[list[str]]

    def affected(self) -> list[str]:
        return [m.name for m in self.members if m.affected]

    def to_dict(self) -> dict[str, Any]:
        paths = {m.name: m.path for m in self.members}
        return {"federation": self.federation, "base": self.base,
                "members": [m.to_dict() for m in self.members], "order": self.order,
                "matrix": {"include": [{"member": name, "path": paths[name]}
                                       for wave in self.order for name in wave]}}


def _lines(repo: git.Repo, *args: str) -> list[str]:
    try:
        return [line for line in str(repo.git.execute(["git", *args])).splitlines() if line]
    except git.GitCommandError as exc:
        raise UsageError(f"git {' '.join(args[:2])} failed: {exc.stderr.strip() or exc}") from None


def _prefix(repo: git.Repo, path: Path) -> str:
    top = Path(repo.working_tree_dir or path).resolve()
    rel = path.resolve().relative_to(top).as_posix()
    return "" if rel == "." else rel + "/"


def federation_base(federation: Federation, repo: git.Repo) -> str | None:
    """The commit of the newest federation release, when part B's releases exist."""
    manifests = sorted(federation.root.glob(RELEASES_GLOB),
                       key=lambda p: (len(p.parent.name), p.parent.name))
    if not manifests:
        return None
    rel = _prefix(repo, federation.root) + manifests[-1].relative_to(federation.root).as_posix()
    found = _lines(repo, "log", "-1", "--format=%H", "--", rel)
    return found[0] if found else None


def changed_files(repo: git.Repo, base: str, paths: list[str]) -> list[str]:
    """Repository paths under `paths` that differ between `base` and the working tree."""
    try:
        repo.git.rev_parse("--verify", f"{base}^{{commit}}")
    except git.GitCommandError:
        raise UsageError(f"no such git revision: {base}") from None
    changed = set(_lines(repo, "diff", "--name-only", base, "--", *paths))
    changed |= set(_lines(repo, "ls-files", "--others", "--exclude-standard", "--", *paths))
    return sorted(changed)


def _provides_at(repo: git.Repo, rev: str, path: str) -> Any:
    try:
        text = repo.git.show(f"{rev}:{path}")
    except git.GitCommandError:
        return None
    try:
        return tomllib.loads(text).get("provides")
    except tomllib.TOMLDecodeError:
        return "unreadable"


def _provides_now(member: Member) -> Any:
    try:
        return tomllib.loads(member.interface_file.read_text(encoding="utf-8")).get("provides")
    except (OSError, tomllib.TOMLDecodeError):
        return None


def _member_base(member: Member, repo: git.Repo) -> str | None:
    release = current_release(member.path)
    return gitops.release_ref(repo, release, member.path) if release is not None else None


def affected_plan(root: Path, base: str | None = None) -> AffectedPlan:
    federation = load_federation(root)
    repo = gitops.open_repo(federation.root)
    shared = base or federation_base(federation, repo)
    plans: dict[str, MemberPlan] = {}
    interface_moved: dict[str, str] = {}
    for member in federation.members:
        plan = MemberPlan(member.name, member.rel, False, consumes=sorted(member.consumes))
        plans[member.name] = plan
        rev = shared or _member_base(member, repo)
        plan.base = rev
        if rev is None:
            plan.affected = True
            plan.reasons.append("no release yet")
            continue
        prefix = _prefix(repo, member.path)
        inputs = [prefix + name for name in INPUTS]
        schemas = [prefix + s for s in (member.provides.schemas if member.provides else ())]
        for path in changed_files(repo, rev, inputs):
            plan.affected = True
            plan.reasons.append(f"{path[len(prefix):]} changed")
        before = _provides_at(repo, rev, prefix + INTERFACE_NAME)
        after = _provides_now(member)
        if before != after:
            old = before.get("version") if isinstance(before, dict) else None
            new = after.get("version") if isinstance(after, dict) else None
            interface_moved[member.name] = (f"interface version {old} -> {new}" if old != new
                                            else "[provides] changed")
        if schemas and changed_files(repo, rev, schemas):
            interface_moved.setdefault(member.name, "interface schemas changed")
    for provider, why in interface_moved.items():
        for consumer in federation.consumers_of(provider):
            plan = plans[consumer.name]
            plan.affected = True
            plan.reasons.append(f"consumes {provider}: {why}")
    affected = {name for name, plan in plans.items() if plan.affected}
    return AffectedPlan(federation.name, shared, [plans[m.name] for m in federation.members],
                        federation.waves(affected))
