"""A federation release: a signed lock of member releases, committed at the federation root.

`federation/releases/fNNNN/manifest.json` pins each member's current release: its name and path,
the release id, the sha256 of that release's manifest as its own commit holds it, that commit,
the member's tree hash and (when the member records one) its `interface_version`. The manifest
records `parent` and `parent_manifest_sha256`, the previous federation release's committed
manifest, so the releases form a hash chain. `manifest.dsse.json` beside it is a DSSE envelope
over the manifest's exact bytes (payload type `PAYLOAD_TYPE`), signed with the same Ed25519 keys
as member releases (genops.audit.keys).

Trust follows genops.release.trust, read from commits only (never a tag, never the working tree):
a federation release is found by its commit's `Genops-Federation-Release: fNNNN` trailer (a
trailer no member release carries), else by the commit that added its manifest. The keys allowed
to sign fN are the ones pinned in the root genops.toml `[audit] trusted_keys` at fN-1's commit,
their public halves read from `.genops/keys/` at that commit; for the first federation release,
the pins at its own commit (trust on first use). Once a federation release is signed or keys are
pinned, every later one must be signed, and pins may be rotated, never dropped.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import git
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from genops import __version__
from genops.audit import dsse
from genops.audit.keys import signing_key
from genops.errors import UsageError
from genops.release.trust import RELEASES, Check, History, workspace_checks
from genops.store import gitops
from genops.store.releases import MANIFEST, current_release
from genops.store.tree import sha256_bytes
from genops.workspace.federation import Federation, load_federation
from genops.workspace.toml_config import CONFIG_NAME

FED_RELEASES = "federation/releases"
FED_ID = re.compile(r"^f(\d{4,})$")
TRAILER = "Genops-Federation-Release"
SIGNATURE = "manifest.dsse.json"
PAYLOAD_TYPE = "application/vnd.genops.federation-release+json"
SCHEMA = 1
_IDENTITY = {"GIT_AUTHOR_NAME": "genops", "GIT_AUTHOR_EMAIL": "genops@localhost",
             "GIT_COMMITTER_NAME": "genops", "GIT_COMMITTER_EMAIL": "genops@localhost"}


def fed_number(release: str) -> int:
    match = FED_ID.match(release)
    if not match:
        raise UsageError(f"{release!r} is not a federation release id (f0001, f0002, ...)")
    return int(match.group(1))


def fed_id(number: int) -> str:
    return f"f{number:04d}"


def trailer_of(message: str) -> str | None:
    for line in reversed(message.splitlines()):
        if line.startswith(f"{TRAILER}: "):
            return line.split(": ", 1)[1].strip()
    return None


# --- what the root's commits hold --------------------------------------------------------------


@dataclass(frozen=True)
class FedCommitted:
    """A federation release as its own commit holds it."""

    release: str
    commit: str
    manifest_bytes: bytes
    manifest: dict[str, Any]
    envelope: bytes | None
    pins: tuple[str, ...]
    pin_error: str | None

    @property
    def short(self) -> str:
        return self.commit[:12]


class RootHistory:
    """Federation releases in the git history of the federation root."""

    def __init__(self, root: Path) -> None:
        self.history = History(root)
        self._found: dict[str, FedCommitted] = {}

    def released_at(self, sha: str) -> list[str]:
        """Federation release ids with a manifest in commit `sha`, oldest first."""
        ids = {p.split("/")[2] for p in self.history.files(sha, FED_RELEASES)
               if p.count("/") == 3 and p.endswith(f"/{MANIFEST}")}
        return sorted((r for r in ids if FED_ID.match(r)), key=fed_number)

    def commit_of(self, release: str) -> str:
        """The oldest commit whose trailer names `release` and holds its manifest, else the commit
        that added the manifest (a squash merge); UsageError when neither is in this clone."""
        h, rel = self.history, f"{FED_RELEASES}/{release}/{MANIFEST}"
        claimed = [sha for sha in h._lines("log", "-E", "--format=%H", "HEAD",
                                           f"--grep=^{TRAILER}: {release}$")
                   if trailer_of(str(h.repo.commit(sha).message)) == release
                   and h.show(sha, rel) is not None]
        if claimed:
            return claimed[-1]
        added = h._lines("log", "--diff-filter=A", "--format=%H", "HEAD", "--",
                         f"{h.prefix}{rel}")
        if added and trailer_of(str(h.repo.commit(added[-1]).message)) in (release, None):
            return added[-1]
        raise UsageError(f"federation release {release} has a manifest, but the commit that made "
                         "it is not in this clone's history",
                         hint="fetch the history: `git fetch --unshallow` (or actions/checkout "
                              "with fetch-depth: 0)")

    def committed(self, release: str) -> FedCommitted:
        if release not in self._found:
            sha = self.commit_of(release)
            folder = f"{FED_RELEASES}/{release}"
            data = self.history.show(sha, f"{folder}/{MANIFEST}") or b"{}"
            try:
                manifest = json.loads(data)
            except json.JSONDecodeError:
                manifest = {}
            pins, error = self.history.pins_at(sha)
            self._found[release] = FedCommitted(release, sha, data, manifest,
                                                self.history.show(sha, f"{folder}/{SIGNATURE}"),
                                                pins, error)
        return self._found[release]

    def chain(self, upto: str) -> list[FedCommitted]:
        """`upto` and its ancestors by `parent`, first release first."""
        order: list[FedCommitted] = []
        seen: set[str] = set()
        release: str | None = upto
        while release is not None:
            if release in seen:
                raise UsageError(f"the chain of federation releases loops at {release}")
            seen.add(release)
            found = self.committed(release)
            order.append(found)
            parent = found.manifest.get("parent")
            release = str(parent) if parent else None
        return order[::-1]

    def latest(self) -> str | None:
        head = self.history.head()
        ids = self.released_at(head) if head else []
        return ids[-1] if ids else None


# --- member pins -------------------------------------------------------------------------------


def member_pin(fed: Federation, name: str) -> dict[str, Any]:
    """The pin of member `name`'s current release, read from the commit that made it."""
    member = fed.member(name)
    release = current_release(member.path)
    if release is None:
        raise UsageError(f"member {name} ({member.rel}) has no release yet",
                         hint=f"run `genops regenerate` in {member.rel} first")
    history = History(member.path)
    commit = history.commit_of(release)
    rel = f"{RELEASES}/{release}/{MANIFEST}"
    data = history.show(commit, rel)
    if data is None:
        raise UsageError(f"member {name}: commit {commit[:12]} holds no {rel}")
    local = member.path / rel
    if not local.is_file() or local.read_bytes() != data:
        raise UsageError(f"member {name}: {member.rel}/{rel} differs from the one its release "
                         f"commit {commit[:12]} holds", hint="restore it with `git checkout -- "
                         f"{member.rel}/{rel}`; a federation release pins committed releases only")
    manifest = json.loads(data)
    pin = {"name": name, "path": member.rel, "release": release,
           "manifest_sha256": sha256_bytes(data), "commit": commit,
           "tree_sha256": manifest.get("output", {}).get("tree_sha256")}
    if manifest.get("interface_version") is not None:
        pin["interface_version"] = manifest["interface_version"]
    return pin


def check_pin(root: Path, pin: dict[str, Any], *, working_tree: bool) -> list[Check]:
    """The member release a pin names, as the member's history holds it: its commit and its
    manifest's digest; with `working_tree`, the member's checked-out manifest too."""
    name, release = str(pin.get("name")), str(pin.get("release"))
    where = f"member {name}: {release}"
    member_root = root / str(pin.get("path", ""))
    if not (member_root / CONFIG_NAME).is_file():
        return [Check(where, False, f"{pin.get('path')}/ is not a workspace in this checkout")]
    history = History(member_root)
    try:
        commit = history.commit_of(release)
    except UsageError as exc:
        return [Check(f"{where}: release commit", False, exc.message)]
    checks = [Check(f"{where}: release commit", commit == pin.get("commit"),
                    f"{commit[:12]}" + ("" if commit == pin.get("commit") else
                                        f", but the federation release pins "
                                        f"{str(pin.get('commit'))[:12]}"))]
    rel = f"{RELEASES}/{release}/{MANIFEST}"
    data = history.show(commit, rel)
    digest = sha256_bytes(data) if data is not None else "absent"
    good = digest == pin.get("manifest_sha256")
    checks.append(Check(f"{where}: manifest", good,
                        f"sha256 {digest[:12]}… at commit {commit[:12]}" if good else
                        f"{pin.get('path')}/{rel} at commit {commit[:12]} is sha256 "
                        f"{digest[:12]}…, the federation release pins "
                        f"{str(pin.get('manifest_sha256'))[:12]}…"))
    if working_tree:
        local = member_root / rel
        now = sha256_bytes(local.read_bytes()) if local.is_file() else "missing"
        checks.append(Check(f"{where}: working tree manifest", now == pin.get("manifest_sha256"),
                            f"{pin.get('path')}/{rel} is "
                            + ("as pinned" if now == pin.get("manifest_sha256") else
                               f"sha256 {now[:12]}…, not the pinned "
                               f"{str(pin.get('manifest_sha256'))[:12]}…")))
    return checks


# --- making one --------------------------------------------------------------------------------


@dataclass
class Signers:
    """Who may sign the next federation release, and whether it must be signed."""

    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    source: str = ""
    required: str | None = None  # why a signature is required, or None


def root_audit(root: Path) -> dict[str, Any]:
    try:
        audit = tomllib.loads((root / CONFIG_NAME).read_text(encoding="utf-8")).get("audit", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return audit if isinstance(audit, dict) else {}


def allowed_signers(rh: RootHistory, parent: FedCommitted | None, at: str, *,
                    signed_before: str | None) -> tuple[Signers, list[Check]]:
    """The keys pinned at the parent's commit (or at `at`, the release's own commit, for the
    first federation release: trust on first use)."""
    sha = parent.commit if parent else at
    pins, error = (parent.pins, parent.pin_error) if parent else rh.history.pins_at(at)
    checks = [Check("pinned keys", False, error)] if error else []
    keys, problems = rh.history.keys_at(sha, pins)
    checks += [Check("pinned keys", False, p) for p in problems]
    source = (f"pinned in the root {CONFIG_NAME} at {parent.release}'s commit {parent.short}"
              if parent else f"pinned in the root {CONFIG_NAME} at commit {sha[:12]}, the first "
              "federation release: trust on first use")
    required = (f"keys are {source}" if pins else
                f"{signed_before} before it was signed" if signed_before else None)
    return Signers(keys, source, required), checks


def _commit(root: Path, folder: Path, release: str, message: str) -> str:
    repo = gitops.open_repo(root)
    reader = repo.config_reader()
    has_user = bool(reader.get_value("user", "email", default="")) or "GIT_AUTHOR_EMAIL" in os.environ
    env = {} if has_user else {k: os.environ.get(k, v) for k, v in _IDENTITY.items()}
    top = Path(repo.working_tree_dir or root).resolve()
    spec = Path(os.path.relpath(folder.resolve(), top)).as_posix()
    try:
        with gitops.hooks_off(repo) as run:
            run().add("-f", "--", spec, env=env)
            run("commit").commit("--no-verify", "-m", f"{message}\n\n{TRAILER}: {release}",
                                 "--", spec, env=env)
    except git.GitCommandError as exc:
        raise UsageError(f"git commit of federation release {release} failed: "
                         f"{exc.stderr.strip()}") from None
    return str(repo.head.commit.hexsha)


@dataclass
class FederationRelease:
    release: str
    commit: str
    manifest: dict[str, Any]
    signed_by: str | None
    path: str

    def to_dict(self) -> dict[str, Any]:
        return {"release": self.release, "commit": self.commit, "path": self.path,
                "signed_by": self.signed_by, "manifest": self.manifest}


def make_release(root: Path, reason: str = "") -> FederationRelease:
    """Pin every member's current release in a new, signed, committed federation release."""
    fed = load_federation(root)
    root = fed.root
    rh = RootHistory(root)
    repo = rh.history.repo
    gitops.refuse_dirty(repo, [root / FED_RELEASES])
    bad = [c for c in workspace_checks(rh.history) if not c.ok]
    if bad:
        raise UsageError(f"{bad[0].name}: {bad[0].detail}")
    pins = [member_pin(fed, m.name) for m in fed.members]
    latest = rh.latest()
    chain = rh.chain(latest) if latest else []
    parent = chain[-1] if chain else None
    signed_before = next((c.release for c in chain if c.envelope and json.loads(
        c.envelope).get("signatures")), None)
    signers, problems = allowed_signers(rh, parent, rh.history.head() or "HEAD",
                                        signed_before=signed_before)
    if problems:
        raise UsageError(f"{problems[0].name}: {problems[0].detail}")
    audit = root_audit(root)
    if audit.get("require_signature") is True and signers.required is None:
        signers.required = "[audit] require_signature is set"
    key = signing_key(audit.get("signing_key") if isinstance(audit.get("signing_key"), str)
                      else None, root)
    if key is not None and dsse.key_id(key.public_key()) not in signers.keys:
        allowed = ", ".join(k[:16] for k in sorted(signers.keys)) or "none"
        raise UsageError(f"the signing key {dsse.key_id(key.public_key())[:16]} is not pinned; "
                         f"the keys allowed to sign this federation release are {allowed} "
                         f"({signers.source})",
                         hint=f"pin it in the root {CONFIG_NAME} [audit] trusted_keys and commit "
                              "its .genops/keys/<id>.pub (a new key signs from the release after "
                              "the one whose commit pins it)")
    if key is None and signers.required:
        raise UsageError(f"this federation release must be signed: {signers.required}",
                         hint="set GENOPS_SIGNING_KEY to the private key of a pinned key")
    number = fed_number(latest) + 1 if latest else 1
    release = fed_id(number)
    manifest = {"schema": SCHEMA, "federation_release": release, "federation": fed.name,
                "parent": parent.release if parent else None,
                "parent_manifest_sha256": sha256_bytes(parent.manifest_bytes) if parent else None,
                "reason": reason, "genops_version": __version__,
                "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "root_config_sha256": sha256_bytes((root / CONFIG_NAME).read_bytes()),
                "members": pins}
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    folder = root / FED_RELEASES / release
    if folder.exists():
        raise UsageError(f"{folder} already exists, but no commit holds it",
                         hint="remove it (an interrupted federation release), then run again")
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_bytes(data)
    envelope = dsse.envelope(data, PAYLOAD_TYPE, key)
    (folder / SIGNATURE).write_text(json.dumps(envelope, sort_keys=True) + "\n", encoding="utf-8")
    shown = ", ".join(f"{p['name']} {p['release']}" for p in pins)
    try:
        sha = _commit(root, folder, release, f"genops: federation release {release} "
                      f"({fed.name}: {shown})" + (f"\n\n{reason}" if reason else ""))
    except UsageError:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
        raise
    return FederationRelease(release, sha, manifest,
                             dsse.key_id(key.public_key()) if key else None,
                             f"{FED_RELEASES}/{release}")
