"""Whom a release's history allows to sign it: release commits, pins and keys, read from git.

Trust comes from commits, never from the working tree or a tag (docs/security.md "Trust root"):

- **Which commit.** A release's commit is the oldest commit whose `Genops-Release:` trailer names
  it and that holds its manifest, else the commit that added its manifest (a squash merge). Tags
  are never read: moving `genops/<release>` changes nothing verify trusts.
- **Which keys.** A release may be signed only by a key pinned (`[audit] trusted_keys`) in
  genops.toml at its parent's commit, the public key read from `.genops/keys/` at that same
  commit and hashing to the pinned id. Before any release pinned a key, the trust root is the
  first release that pins keys at its own commit (the root: trust on first use, printed by
  `genops verify --all` for an auditor to compare out of band), else (for releases made before
  pinning existed) the keys genops.toml pins as committed at HEAD. Rotation: a release signed by
  the old key whose commit pins the new one; from then on the new key signs.
- **No downgrade.** Once a release is signed, or keys are pinned, every later release must be
  signed by a pinned key and carry its pack; pins may be rotated, never dropped; once a manifest
  records its chain link (`parent_pack_sha256`, `parent_manifest_sha256`), every later one must.
- **The working tree** holds no uncommitted change to `.genops/keys/` or the pins
  (`workspace_checks`); `genops.release.verify` adds the release folders and every digest.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from genops.audit import dsse
from genops.audit.keys import KEYS_DIR, key_file_names, public_key_from_pem
from genops.audit.pack import PROVENANCE_FILE
from genops.errors import UsageError
from genops.release.manifest import LINK_FIELDS
from genops.store import gitops
from genops.store.releases import MANIFEST, RELEASE_ID, release_number
from genops.store.tree import sha256_bytes
from genops.workspace.config import AuditConfig
from genops.workspace.toml_config import CONFIG_NAME

RELEASES = ".genops/releases"


@dataclass(frozen=True)
class Check:
    """One verified fact: what, whether it holds, and the detail a person needs."""

    name: str
    ok: bool
    detail: str


# --- what the commits hold -------------------------------------------------------------------


@dataclass(frozen=True)
class Committed:
    """A release as its own commit holds it."""

    release: str
    commit: str
    manifest_bytes: bytes
    manifest: dict[str, Any]
    pack: bytes | None  # provenance.intoto.jsonl at the commit
    pins: tuple[str, ...]  # [audit] trusted_keys in genops.toml at the commit
    pin_error: str | None

    @property
    def short(self) -> str:
        return self.commit[:12]


class History:
    """Reads of one workspace's git history: release commits, committed files, pins and keys."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = gitops.open_repo(root)
        top = Path(self.repo.working_tree_dir or root).resolve()
        rel = Path(os.path.relpath(root.resolve(), top)).as_posix()
        self.prefix = "" if rel == "." else rel.rstrip("/") + "/"
        self._commits: dict[str, str] = {}
        self._committed: dict[str, Committed] = {}
        self.missing: str | None = None  # the first ancestor whose commit a shallow clone lacks

    def _lines(self, *args: str) -> list[str]:
        try:
            return [line for line in str(self.repo.git.execute(["git", *args])).splitlines() if line]
        except git.GitCommandError:
            return []

    def shallow(self) -> bool:
        return self._lines("rev-parse", "--is-shallow-repository") == ["true"]

    def head(self) -> str | None:
        found = self._lines("rev-parse", "--verify", "-q", "HEAD")
        return found[0] if found else None

    def show(self, sha: str, rel: str) -> bytes | None:
        """The bytes of workspace path `rel` in commit `sha`, or None when it holds no such file."""
        try:
            data = self.repo.git.show(f"{sha}:{self.prefix}{rel}", stdout_as_string=False,
                                      strip_newline_in_stdout=False)
        except git.GitCommandError:
            return None
        return bytes(data)

    def files(self, sha: str, folder: str) -> list[str]:
        """Workspace paths of every file under `folder` in commit `sha`."""
        names = self._lines("ls-tree", "-r", "--name-only", sha, "--", f"{self.prefix}{folder}/")
        return [n[len(self.prefix):] for n in names]

    def releases_at(self, sha: str) -> list[str]:
        """Release ids with a manifest in commit `sha`, oldest first."""
        found = {p.split("/")[2] for p in self.files(sha, RELEASES)
                 if p.count("/") == 3 and p.endswith(f"/{MANIFEST}")}
        return sorted((r for r in found if RELEASE_ID.match(r)), key=release_number)

    def commit_of(self, release: str) -> str:
        """The release's commit, from committed files only (see the module docstring)."""
        if release in self._commits:
            return self._commits[release]
        manifest = f"{self.prefix}{RELEASES}/{release}/{MANIFEST}"
        claimed = [sha for sha in self._lines("log", "-E", "--format=%H", "HEAD",
                                              f"--grep=^{gitops.RELEASE_TRAILER}: {release}$")
                   if gitops.release_of_commit(self.repo.commit(sha)) == release
                   and self.show(sha, f"{RELEASES}/{release}/{MANIFEST}") is not None]
        sha = claimed[-1] if claimed else None  # the oldest: a later commit naming it is not it
        if sha is None:
            added = self._lines("log", "--diff-filter=A", "--format=%H", "HEAD", "--", manifest)
            if added and gitops.release_of_commit(self.repo.commit(added[-1])) in (release, None) \
                    and self.releases_at(added[-1])[-1:] == [release]:
                sha = added[-1]
        if sha is None:
            raise UsageError(f"release {release} has a manifest, but the commit that made it is "
                             "not in this clone's history (no commit with its trailer)",
                             hint="fetch the history: `git fetch --unshallow` (or "
                             "actions/checkout with fetch-depth: 0)")
        self._commits[release] = sha
        return sha

    def pins_at(self, sha: str) -> tuple[tuple[str, ...], str | None]:
        """`[audit] trusted_keys` of genops.toml in commit `sha`, or the reason it is unusable."""
        data = self.show(sha, CONFIG_NAME)
        if data is None:
            return (), None
        try:
            doc = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            return (), f"{CONFIG_NAME} at commit {sha[:12]} is not valid TOML ({exc})"
        audit = doc.get("audit", {})
        raw = audit.get("trusted_keys", []) if isinstance(audit, dict) else []
        try:
            AuditConfig.model_validate({"trusted_keys": raw})
        except ValidationError as exc:
            why = "; ".join(e["msg"] for e in exc.errors())
            return (), f"{CONFIG_NAME} at commit {sha[:12]}: [audit] trusted_keys: {why}"
        return tuple(raw), None

    def keys_at(self, sha: str, keyids: tuple[str, ...] | list[str],
                ) -> tuple[dict[str, Ed25519PublicKey], list[str]]:
        """The public keys of `keyids` as `.genops/keys/` holds them in commit `sha`; problems."""
        keys: dict[str, Ed25519PublicKey] = {}
        problems: list[str] = []
        for keyid in keyids:
            for name in key_file_names(keyid):
                rel = f"{KEYS_DIR.as_posix()}/{name}"
                data = self.show(sha, rel)
                if data is not None:
                    break
            else:
                problems.append(f"key {keyid} is pinned, but commit {sha[:12]} holds no "
                                f"{KEYS_DIR.as_posix()}/{key_file_names(keyid)[0]}")
                continue
            try:
                public = public_key_from_pem(data, f"{rel} at commit {sha[:12]}")
            except UsageError as exc:
                problems.append(exc.message)
                continue
            actual = dsse.key_id(public)
            if actual != keyid:
                problems.append(f"{rel} at commit {sha[:12]} holds key {actual}, not the pinned "
                                f"{keyid}")
                continue
            keys[keyid] = public
        return keys, problems

    def committed(self, release: str) -> Committed:
        if release in self._committed:
            return self._committed[release]
        sha = self.commit_of(release)
        data = self.show(sha, f"{RELEASES}/{release}/{MANIFEST}") or b"{}"
        pins, pin_error = self.pins_at(sha)
        found = Committed(release, sha, data, json.loads(data),
                          self.show(sha, f"{RELEASES}/{release}/{PROVENANCE_FILE}"), pins, pin_error)
        self._committed[release] = found
        return found

    def chain(self, upto: str) -> list[Committed]:
        """`upto` and its ancestors by the `parent` of each committed manifest, first release first."""
        order: list[Committed] = []
        seen: set[str] = set()
        release: str | None = upto
        while release is not None:
            if release in seen:
                raise UsageError(f"the chain of parents loops at {release}")
            seen.add(release)
            try:
                found = self.committed(release)
            except UsageError:
                if not order or not self.shallow():
                    raise
                self.missing = release  # a shallow clone: the chain starts after it
                break
            order.append(found)
            parent = found.manifest.get("parent")
            release = str(parent) if parent else None
        return order[::-1]


# --- trust: who may sign each release, and did they ------------------------------------------


@dataclass
class Trust:
    """The trust verdict of one release along its chain."""

    signature: str = "unsigned"
    keyids: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)  # allowed to sign it
    source: str = ""
    chain: str = ""


def envelopes_of(pack: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in pack.decode("utf-8").splitlines() if line.strip()]


def judge_pack(pack: bytes, keys: Mapping[str, Ed25519PublicKey], source: str, *,
               where: str = "") -> tuple[str, list[str], list[Check]]:
    """(signed/unsigned/invalid, the key ids that verified, one check per envelope)."""
    checks: list[Check] = []
    try:
        envelopes = envelopes_of(pack)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return "invalid", [], [Check(f"{PROVENANCE_FILE}{where}", False, f"not JSON lines ({exc})")]
    status, signed, unsigned = "unsigned", set(), []
    for index, env in enumerate(envelopes, 1):
        name = f"signature of {PROVENANCE_FILE}{where} line {index}"
        entries = env.get("signatures") or []
        if not entries:
            unsigned.append(name)
            continue
        foreign = [str(e.get("keyid", "")) for e in entries if str(e.get("keyid", "")) not in keys]
        if foreign:
            status = "invalid"
            allowed = ", ".join(k[:16] for k in sorted(keys)) or "none"
            checks.append(Check(name, False, f"signed by key {', '.join(foreign)}, which is not "
                                f"pinned; the keys allowed to sign are {allowed} ({source})"))
            continue
        try:
            good = dsse.verify(env, keys)
        except (ValueError, KeyError) as exc:
            status = "invalid"
            checks.append(Check(name, False, str(exc)))
            continue
        signed.update(good)
        checks.append(Check(name, True, "verified with pinned key " + ", ".join(k[:16] for k in good)))
    if signed and unsigned:
        status = "invalid"
        checks += [Check(n, False, "unsigned envelope in a signed pack") for n in unsigned]
    if status != "invalid" and signed:
        status = "signed"
    return status, sorted(signed), checks


def _link(found: Committed, parent: Committed | None, before: list[Committed],
          linked_before: str | None) -> tuple[list[Check], str]:
    """The chain link `found` records to its parent (and, once, to every release before it)."""
    name = f"chain link {parent.release if parent else '(none)'} -> {found.release}"
    manifest = found.manifest
    if not any(f in manifest for f in LINK_FIELDS):
        if linked_before:
            return [Check(name, False, f"{found.release}'s manifest records no parent_pack_sha256, "
                          f"but {linked_before} before it did: a release cannot leave the chain")], \
                "missing"
        return [Check(name, True, f"none recorded: {found.release} predates chain links "
                      "(verified on its own)")], "before the chain"
    expected = {"parent_manifest_sha256": sha256_bytes(parent.manifest_bytes) if parent else None,
                "parent_pack_sha256": sha256_bytes(parent.pack) if parent and parent.pack else None}
    checks = []
    for key, want in expected.items():
        got = manifest.get(key)
        if got != want:
            what = (f"{RELEASES}/{parent.release}/"
                    f"{MANIFEST if key == 'parent_manifest_sha256' else PROVENANCE_FILE}"
                    if parent else "no parent")
            checks.append(Check(f"{name}: {key}", False,
                                f"records {str(got)[:12]}…, but {what} at commit "
                                f"{parent.short if parent else '-'} is "
                                f"{str(want)[:12] if want else 'absent'}"))
    anchors = manifest.get("legacy_anchors") or {}
    anchors = anchors if isinstance(anchors, dict) else {"(not an object)": None}
    by_id = {c.release: c for c in before}
    for rid, digests in sorted(anchors.items()):
        old = by_id.get(rid)
        if old is None or not isinstance(digests, dict):
            checks.append(Check(f"{name}: legacy_anchors {rid}", False,
                                f"{rid} is not a release before {found.release}"))
            continue
        want_pack = sha256_bytes(old.pack) if old.pack else None
        if digests.get("manifest_sha256") != sha256_bytes(old.manifest_bytes) \
                or digests.get("pack_sha256") != want_pack:
            checks.append(Check(f"{name}: legacy_anchors {rid}", False,
                                f"the digests recorded for {rid} differ from its manifest and "
                                f"pack at commit {old.short}"))
    if checks:
        return checks, "broken"
    extra = f"; anchors {len(anchors)} release(s) before the chain" if anchors else ""
    return [Check(name, True, "parent's manifest and pack digests match" + extra)], "linked"


@dataclass
class Walk:
    """Every release's trust verdict, and what the next release inherits."""

    verdicts: dict[str, Trust]
    next_keys: dict[str, Ed25519PublicKey] | None  # None: nothing pinned or signed yet
    next_from: str


def walk(history: History, chain: list[Committed], *, require: str | None = None) -> Walk:
    """The trust verdict of every release of `chain` (first release first); see the docstring.

    `require`: the release `[audit] require_signature` applies to (the one being verified)."""
    verdicts: dict[str, Trust] = {}
    rooted = next((c for c in chain if c.pins and not c.pin_error), None)
    trusted: dict[str, Ed25519PublicKey] | None = None
    trusted_from = ""
    pinned_at = signed_at = packed_at = linked_at = None
    head_root: tuple[dict[str, Ed25519PublicKey], str, list[str]] | None = None
    for index, found in enumerate(chain):
        rid, trust = found.release, Trust()
        verdicts[rid] = trust
        if found.pin_error:
            trust.checks.append(Check("pinned keys", False, f"{rid}: {found.pin_error}"))
        if trusted is not None:
            trust.keys, trust.source = trusted, trusted_from
        elif found.pins:
            trust.keys, problems = history.keys_at(found.commit, found.pins)
            trust.source = (f"pinned in {CONFIG_NAME} at {rid}'s commit {found.short}, the "
                            "first release to pin keys: the trust root")
            trust.checks += [Check("pinned keys", False, f"{rid}: {p}") for p in problems]
        elif rooted is not None:  # made before the first release that pins keys: its root
            trust.keys, _ = history.keys_at(rooted.commit, rooted.pins)
            trust.source = (f"pinned in {CONFIG_NAME} at {rooted.release}'s commit "
                            f"{rooted.short}, the first release to pin keys: the trust root")
        else:
            if head_root is None:
                head = history.head() or ""
                pins, error = history.pins_at(head)
                keys, problems = history.keys_at(head, pins)
                head_root = (keys, f"pinned in {CONFIG_NAME} at HEAD {head[:12]} (for releases "
                             "made before any release pinned a key)" if pins else
                             f"no committed {CONFIG_NAME} pins a key in [audit] trusted_keys",
                             [error] if error else problems)
            trust.keys, trust.source = head_root[0], head_root[1]
            trust.checks += [Check("pinned keys at HEAD", False, p) for p in head_root[2]]
        required = [why for why, hit in (
            (f"{signed_at} before it was signed", signed_at),
            (f"keys are pinned since {pinned_at}", pinned_at),
            (f"its own commit pins keys in {CONFIG_NAME}", found.pins),
            ("[audit] require_signature is set", require == rid)) if hit]
        if found.pack is None:
            if packed_at or required:
                why = f"{packed_at} before it had one" if packed_at else required[0]
                trust.checks.append(Check("audit pack", False,
                                          f"{rid}: commit {found.short} holds no {RELEASES}/{rid}/"
                                          f"{PROVENANCE_FILE}, but {why}"))
            else:
                trust.checks.append(Check("audit pack", True,
                                          "none (a release made before audit packs)"))
        else:
            status, ids, checks = judge_pack(found.pack, trust.keys, trust.source)
            trust.signature, trust.keyids = status, ids
            trust.checks += checks
            if status == "unsigned" and required:
                trust.checks.append(Check("signature", False,
                                          f"{rid}'s {PROVENANCE_FILE} is unsigned, but "
                                          f"{required[0]}: it must be signed by a pinned key "
                                          f"({trust.source})"))
            elif status == "unsigned":
                trust.checks.append(Check("signature", True, "unsigned: no key pinned or signed "
                                          "before it, and none required"))
        parent = chain[index - 1] if index else None
        if parent is None and found.manifest.get("parent"):
            trust.chain = "not in this clone"
            trust.checks.append(Check(f"chain link {found.manifest['parent']} -> {rid}", True,
                                      f"not checked: the commit of {found.manifest['parent']} is "
                                      "not in this clone (shallow)"))
        else:
            links, trust.chain = _link(found, parent, chain[:index], linked_at)
            trust.checks += links
        # what the next release inherits
        if found.pins and not found.pin_error:
            keys, problems = history.keys_at(found.commit, found.pins)
            if trusted is not None:  # the trust root's own problems were reported above
                trust.checks += [Check("pinned keys", False, f"{rid}: {p}") for p in problems]
            trusted, trusted_from = keys, f"pinned in {CONFIG_NAME} at {rid}'s commit {found.short}"
            pinned_at = pinned_at or rid
        elif pinned_at and not found.pin_error:
            trust.checks.append(Check("pinned keys", False,
                                      f"{CONFIG_NAME} at {rid}'s commit {found.short} pins no key, "
                                      f"but {pinned_at} pinned keys: pins may be rotated, never "
                                      "dropped"))
        if trust.signature == "signed":
            signed_at = signed_at or rid
        if found.pack is not None:
            packed_at = packed_at or rid
        if trust.chain == "linked" or any(f in found.manifest for f in LINK_FIELDS):
            linked_at = rid
    return Walk(verdicts, trusted, trusted_from)


# --- the working tree and the next release ---------------------------------------------------


def workspace_checks(history: History) -> list[Check]:
    """No uncommitted change to what trust is read from: `.genops/keys/` and the pins."""
    repo, checks = history.repo, []
    for rel in gitops.dirty_paths(repo, [history.root / KEYS_DIR]):
        state = "not committed" if not history.show("HEAD", rel[len(history.prefix):]) else \
            "changed or deleted since HEAD"
        checks.append(Check(f"working tree: {rel[len(history.prefix):]}", False,
                            f"{state}: verify trusts only keys committed at a release's parent "
                            f"and pinned there; commit it or remove it"))
    local = history.root / CONFIG_NAME
    if local.is_file():
        try:
            audit = tomllib.loads(local.read_text(encoding="utf-8")).get("audit", {})
        except tomllib.TOMLDecodeError:
            audit = {}
        pins = tuple(audit.get("trusted_keys", []) if isinstance(audit, dict) else [])
        committed, _ = history.pins_at("HEAD")
        if pins != committed:
            checks.append(Check(f"working tree: {CONFIG_NAME} [audit] trusted_keys", False,
                                "differs from HEAD's: verify reads pins only from commits; "
                                "commit the change (or undo it)"))
    return checks or [Check("working tree: keys and pins", True,
                            f"{KEYS_DIR.as_posix()}/ and [audit] trusted_keys as HEAD holds them")]


def shallow_refusal(missing: str) -> UsageError:
    return UsageError(f"cannot verify the chain of trust: the commit of {missing} is not in this "
                      "clone (a shallow clone)",
                      hint="fetch the history: `git fetch --unshallow` (or actions/checkout with "
                      "fetch-depth: 0); `genops check` judges a shallow clone with a warning")


def next_signers(root: Path, pinned_here: list[str]) -> tuple[list[str], str] | None:
    """The key ids allowed to sign the next release and where they come from, or None when the
    next release may be unsigned (nothing pinned or signed before it, nothing pinned here).

    `pinned_here`: the workspace's own `[audit] trusted_keys`, which the next release's commit
    will hold (they authorize it only when no earlier release pinned or signed anything)."""
    history = History(root)
    head = history.head()
    committed = history.releases_at(head) if head else []
    if committed:
        chain = history.chain(committed[-1])
        if history.missing:
            return None  # a shallow clone cannot tell; `genops verify` will
        after = walk(history, chain)
        if after.next_keys is not None:
            return sorted(after.next_keys), after.next_from
    if pinned_here:
        return sorted(pinned_here), f"pinned in {CONFIG_NAME}, the first release to pin keys"
    return None


def release_commit(root: Path, release: str) -> str:
    """The commit of `release` from committed files only (no tag); UsageError when not found."""
    return History(root).commit_of(release)
