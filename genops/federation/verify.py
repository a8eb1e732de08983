"""`genops verify --all` and `genops replay` at a federation root.

Verify walks the chain of federation releases from the first (genops.federation.release): each
one's commit (by its trailer), its folder in the working tree against that commit, its chain link
to the parent, its signature against the keys its history pinned, and every member pin against
the member's own history. Then, for the latest federation release, each pinned member's whole
release chain is verified by genops.release.verify.verify_all with the member folder as the
workspace. Replay rebuilds each pinned member release with genops.release.replay (offline, from
the member's archive) and compares the rebuilt tree with the pinned tree hash, byte for byte.
Every failing check names the member (or the federation release) it is about.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.audit import dsse
from genops.errors import GenopsError, UsageError
from genops.federation.release import (
    FED_RELEASES,
    PAYLOAD_TYPE,
    SIGNATURE,
    FedCommitted,
    RootHistory,
    allowed_signers,
    check_pin,
    fed_number,
    root_audit,
)
from genops.release.lock import workspace_lock
from genops.release.replay import replay
from genops.release.trust import Check, workspace_checks
from genops.release.verify import verify_all
from genops.store.tree import sha256_bytes, tree_files
from genops.workspace.federation import load_federation
from genops.workspace.toml_config import CONFIG_NAME


@dataclass
class FedReleaseReport:
    release: str
    commit: str | None = None
    signature: str = "unsigned"
    keyids: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    allowed_from: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"release": self.release, "commit": self.commit, "signature": self.signature,
                "keyids": self.keyids, "trusted_keys": self.allowed,
                "trusted_keys_from": self.allowed_from, "failures": len(self.failures),
                "checks": [c.__dict__ for c in self.checks]}


@dataclass
class MemberReport:
    name: str
    path: str
    release: str
    checks: list[Check] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)  # the member's own verify or replay

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "release": self.release, "ok": self.ok,
                "failures": len(self.failures), "checks": [c.__dict__ for c in self.checks],
                **self.detail}


@dataclass
class FederationReport:
    federation: str
    action: str  # "verify" or "replay"
    release: str | None = None  # the federation release the members were judged at
    releases: list[FedReleaseReport] = field(default_factory=list)
    members: list[MemberReport] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return ([c for c in self.checks if not c.ok]
                + [c for r in self.releases for c in r.failures]
                + [c for m in self.members for c in m.failures])

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"federation": self.federation, "action": self.action, "release": self.release,
                "ok": self.ok, "failures": len(self.failures),
                "releases": [r.to_dict() for r in self.releases],
                "members": [m.to_dict() for m in self.members],
                "checks": [c.__dict__ for c in self.checks]}


# --- one federation release ------------------------------------------------------------------


def _judge_signature(report: FedReleaseReport, found: FedCommitted, keys: dict[str, Any],
                     required: str | None) -> None:
    if found.envelope is None:
        report.checks.append(Check("signature", required is None,
                                   f"no {SIGNATURE}" + (f", but {required}" if required else "")))
        return
    try:
        env = json.loads(found.envelope)
        payload = dsse.payload_of(env)
    except (ValueError, KeyError, TypeError) as exc:
        report.signature = "invalid"
        report.checks.append(Check("signature", False, f"{SIGNATURE} is not a DSSE envelope "
                                   f"({exc})"))
        return
    same = payload == found.manifest_bytes and env.get("payloadType") == PAYLOAD_TYPE
    report.checks.append(Check("signed payload", same, "the envelope's payload is the committed "
                               "manifest, byte for byte" if same else "the envelope's payload is "
                               "not the committed manifest (or not a federation release)"))
    if not env.get("signatures"):
        report.checks.append(Check("signature", required is None,
                                   "unsigned" + (f", but {required}" if required else
                                                 ": no key pinned or signed before it")))
        return
    try:
        good = dsse.verify(env, keys)
    except ValueError as exc:
        report.signature = "invalid"
        allowed = ", ".join(k[:16] for k in sorted(keys)) or "none"
        report.checks.append(Check("signature", False, f"{exc}; the keys allowed to sign "
                                   f"{found.release} are {allowed} ({report.allowed_from})"))
        return
    report.signature, report.keyids = "signed", good
    report.checks.append(Check("signature", True, "verified with pinned key "
                               + ", ".join(k[:16] for k in good)))


def _folder(report: FedReleaseReport, rh: RootHistory, found: FedCommitted) -> None:
    """The release's folder in the working tree holds exactly what its commit holds."""
    folder = f"{FED_RELEASES}/{found.release}"
    committed = {rel: sha256_bytes(rh.history.show(found.commit, rel) or b"")
                 for rel in rh.history.files(found.commit, folder)}
    local_dir = rh.history.root / folder
    local = {f"{folder}/{rel}": d for rel, d in tree_files(local_dir).items()} \
        if local_dir.is_dir() else {}
    bad = sorted(rel for rel in set(committed) | set(local) if committed.get(rel) != local.get(rel))
    report.checks += [Check(f"working tree: {rel}", False, f"differs from commit {found.short}")
                      for rel in bad] or [Check(f"working tree: {folder}/", True,
                                                f"as commit {found.short} holds it")]


def _members_listed(report: FedReleaseReport, rh: RootHistory, found: FedCommitted) -> None:
    """The members the root genops.toml lists at the release's commit are the ones it pins."""
    import tomllib

    data = rh.history.show(found.commit, CONFIG_NAME) or b""
    try:
        listed = tomllib.loads(data.decode("utf-8")).get("federation", {}).get("members", [])
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
        listed = []
    pinned = [str(p.get("path")) for p in found.manifest.get("members", [])]
    missing = sorted(set(listed) - set(pinned))
    extra = sorted(set(pinned) - set(listed))
    report.checks.append(Check("members pinned", not missing and not extra,
                               f"{len(pinned)} member(s), as the root {CONFIG_NAME} lists them"
                               if not missing and not extra else
                               f"listed but not pinned: {', '.join(missing) or '-'}; pinned but "
                               f"not listed: {', '.join(extra) or '-'}"))


def _walk(root: Path, rh: RootHistory, chain: list[FedCommitted], *, require_latest: bool
          ) -> list[FedReleaseReport]:
    reports: list[FedReleaseReport] = []
    signed_before: str | None = None
    pinned_before: str | None = None
    for index, found in enumerate(chain):
        parent = chain[index - 1] if index else None
        signers, problems = allowed_signers(rh, parent, found.commit, signed_before=signed_before)
        report = FedReleaseReport(found.release, found.commit, allowed=sorted(signers.keys),
                                  allowed_from=signers.source, checks=problems)
        report.checks.append(Check("release commit",
                                   found.manifest.get("federation_release") == found.release,
                                   f"{found.short} (from its Genops-Federation-Release trailer; "
                                   "tags are not read)"))
        _folder(report, rh, found)
        want = sha256_bytes(parent.manifest_bytes) if parent else None
        got = found.manifest.get("parent_manifest_sha256")
        link = f"chain link {parent.release if parent else '(none)'} -> {found.release}"
        report.checks.append(Check(link, got == want and found.manifest.get("parent") ==
                                   (parent.release if parent else None),
                                   "parent's manifest digest matches" if got == want else
                                   f"records {str(got)[:12]}…, the parent's committed manifest "
                                   f"is {str(want)[:12]}…"))
        if pinned_before and not found.pins and not found.pin_error:
            report.checks.append(Check("pinned keys", False, f"the root {CONFIG_NAME} at "
                                       f"{found.release}'s commit pins no key, but {pinned_before} "
                                       "pinned keys: pins may be rotated, never dropped"))
        required = signers.required
        if required is None and require_latest and index == len(chain) - 1:
            required = "[audit] require_signature is set"
        _judge_signature(report, found, signers.keys, required)
        _members_listed(report, rh, found)
        for pin in found.manifest.get("members", []):
            report.checks += check_pin(root, pin, working_tree=False)
        reports.append(report)
        signed_before = signed_before or (found.release if report.signature == "signed" else None)
        pinned_before = pinned_before or (found.release if found.pins else None)
    return reports


def _chain(root: Path, rh: RootHistory, upto: str | None) -> tuple[list[FedCommitted], str]:
    latest = rh.latest()
    local = sorted((p.name for p in (root / FED_RELEASES).glob("f*") if p.is_dir()),
                   key=fed_number) if (root / FED_RELEASES).is_dir() else []
    if latest is None:
        if local:
            raise UsageError(f"{FED_RELEASES}/{local[-1]} is not committed: verify trusts only "
                             "federation releases a commit holds")
        raise UsageError("this federation has no federation release yet",
                         hint="`genops federation release` pins every member's current release")
    if upto is not None:
        fed_number(upto)
    return rh.chain(latest), upto or latest


def verify_federation(root: Path, *, members: bool = True) -> FederationReport:
    """Every federation release from the first, then every pinned member's release chain."""
    fed = load_federation(root)
    rh = RootHistory(fed.root)
    chain, latest = _chain(fed.root, rh, None)
    report = FederationReport(fed.name, "verify", latest)
    report.releases = _walk(fed.root, rh, chain,
                            require_latest=root_audit(fed.root).get("require_signature") is True)
    on_chain = {c.release for c in chain}
    head = rh.history.head() or "HEAD"
    report.checks += [Check(f"{rid}: parent chain", False, f"{rid} is committed but not an "
                            f"ancestor of {latest} by the parents its manifests record")
                      for rid in rh.released_at(head) if rid not in on_chain]
    report.checks += [Check(f"root {c.name}", c.ok, c.detail)
                      for c in workspace_checks(rh.history)]
    pinned = {str(p.get("name")): p for p in chain[-1].manifest.get("members", [])}
    for member in fed.members:
        if member.name not in pinned:
            report.checks.append(Check(f"member {member.name}", False, f"{member.rel} is a member "
                                       f"but {latest} pins no release of it"))
    for name, pin in pinned.items():
        entry = MemberReport(name, str(pin.get("path")), str(pin.get("release")),
                             check_pin(fed.root, pin, working_tree=True))
        if members and (fed.root / entry.path / CONFIG_NAME).is_file():
            try:
                own = verify_all(fed.root / entry.path)
            except GenopsError as exc:
                entry.checks.append(Check(f"member {name}: its releases", False, exc.message))
            else:
                entry.detail["verify"] = own.to_dict()
                entry.checks += [Check(f"member {name}: {c.name}", False, c.detail)
                                 for c in own.failures]
                if own.ok:
                    entry.checks.append(Check(f"member {name}: its releases", True,
                                              f"{len(own.releases)} release(s) verified"))
        report.members.append(entry)
    return report


def replay_federation(root: Path, release: str | None = None, *, gates: bool = True,
                      progress: Any = None) -> FederationReport:
    """Rebuild every member release `release` (default: the latest federation release) pins,
    offline from each member's archive, and compare each tree with the pinned hash."""
    fed = load_federation(root)
    rh = RootHistory(fed.root)
    chain, target = _chain(fed.root, rh, release)
    found = next((c for c in chain if c.release == target), None) or rh.committed(target)
    report = FederationReport(fed.name, "replay", target)
    for pin in found.manifest.get("members", []):
        name = str(pin.get("name"))
        entry = MemberReport(name, str(pin.get("path")), str(pin.get("release")),
                             check_pin(fed.root, pin, working_tree=True))
        report.members.append(entry)
        if entry.failures:
            continue
        member_root = fed.root / entry.path
        try:
            with workspace_lock(member_root, "replay"):
                outcome = replay(member_root, entry.release, gates=gates, progress=progress)
        except GenopsError as exc:
            entry.checks.append(Check(f"member {name}: replay {entry.release}", False, exc.message))
            continue
        entry.detail["replay"] = outcome.to_dict()
        same = outcome.reproduced and outcome.actual_tree == pin.get("tree_sha256")
        entry.checks.append(Check(f"member {name}: replay {entry.release}", same,
                                  f"{outcome.file_count} file(s), tree {outcome.actual_tree[:12]}… "
                                  + ("= the pinned tree, byte for byte" if same else
                                     f"!= pinned {str(pin.get('tree_sha256'))[:12]}…"
                                     + (f"; first difference {outcome.first_difference[0]}: "
                                        f"{outcome.first_difference[1]}"
                                        if outcome.first_difference else ""))))
        failed = [g.gate for g in outcome.gates if not g.passed]
        if failed:
            entry.checks.append(Check(f"member {name}: gates on the rebuilt tree", False,
                                      ", ".join(failed)))
    return report
