"""`genops verify`: check releases offline against the keys their own history pinned.

Every check names what it looked at. Who may sign each release is `genops.release.trust` (read
from commits, never from the working tree or a tag; docs/security.md "Trust root"). Here: the signed
provenance is the anchor of the digests: its subjects are the tree's files, its byproducts the
manifest, SBOM and evidence, its resolved dependencies the inputs, the archived answers and the
lock; each is re-hashed from what the release's commit holds. The release's folder in the working
tree must equal the one its commit holds. `verify_all` does this for every release from the first,
in parent order, with the chain links between them.
"""

from __future__ import annotations

import json
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.audit import dsse
from genops.audit.pack import PROVENANCE_FILE, build_pack
from genops.audit.provenance import SLSA_PROVENANCE, subjects
from genops.audit.sbom import SBOM_FILE, validate_sbom
from genops.errors import UsageError
from genops.gates.base import Finding, GateResult
from genops.release.trust import (
    RELEASES,
    Check,
    Committed,
    History,
    Trust,
    envelopes_of,
    judge_pack,
    shallow_refusal,
    walk,
    workspace_checks,
)
from genops.store import gitops
from genops.store.releases import (
    MANIFEST,
    load_manifest,
    release_dir,
    release_ids,
    release_number,
    resolve_release,
)
from genops.store.tree import sha256_bytes, tree_files, tree_hash
from genops.workspace import Workspace
from genops.workspace.toml_config import CONFIG_NAME


@dataclass
class VerifyReport:
    release: str
    signature: str = "unsigned"  # "signed", "unsigned", or "invalid"
    keyids: list[str] = field(default_factory=list)
    has_pack: bool = False
    checks: list[Check] = field(default_factory=list)
    commit: str | None = None
    trusted_keys_from: str = ""  # where the keys allowed to sign this release were pinned
    trusted_keys: list[str] = field(default_factory=list)  # the key ids allowed to sign it
    chain: str = ""  # the link to the parent, in words
    shallow: str | None = None  # the first ancestor a shallow clone lacks (trust starts after it)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def ok(self, *, require_signature: bool) -> bool:
        if self.failures:
            return False
        return self.signature == "signed" or not require_signature

    def to_dict(self) -> dict[str, Any]:
        return {"release": self.release, "commit": self.commit, "signature": self.signature,
                "keyids": self.keyids, "trusted_keys": self.trusted_keys,
                "trusted_keys_from": self.trusted_keys_from,
                "chain": self.chain, "shallow": self.shallow, "has_pack": self.has_pack,
                "failures": len(self.failures), "checks": [c.__dict__ for c in self.checks]}


@dataclass
class ChainReport:
    """`genops verify --all`: every release from the first, in parent order, and the workspace."""

    releases: list[VerifyReport] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)  # the workspace's and the chain's own
    trust_root: str = ""

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok] + [c for r in self.releases for c in r.failures]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"releases": [r.to_dict() for r in self.releases], "trust_root": self.trust_root,
                "checks": [c.__dict__ for c in self.checks], "failures": len(self.failures),
                "ok": self.ok}


# --- digests of one release ------------------------------------------------------------------


def _compare(report: VerifyReport, name: str, expected: dict[str, str], actual: dict[str, str]) -> None:
    """One check per mismatching entry, or one passing check for the whole set."""
    bad = sorted(k for k in expected if actual.get(k) != expected[k])
    for key in bad:
        got = actual.get(key)
        report.checks.append(Check(f"{name}: {key}", False,
                                   "missing" if got is None else f"sha256 {got[:12]}… != {expected[key][:12]}…"))
    if not bad:
        report.checks.append(Check(name, True, f"{len(expected)} digest(s) match"))


def _release_tree(history: History, sha: str, manifest: dict[str, Any], work: Path) -> dict[str, str]:
    """The output files as the release's commit holds them."""
    output = manifest["output"]["dir"]
    exported = gitops.export_tree(history.repo, sha, work / "tree", f"{history.prefix}{output}")
    return tree_files(exported / history.prefix / output)


def _release_files(history: History, sha: str, paths: list[str]) -> dict[str, str]:
    """sha256 of `paths` as the release's commit holds them (missing ones left out)."""
    found: dict[str, str] = {}
    for rel in paths:
        blob = history.show(sha, rel)
        if blob is not None:
            found[rel] = sha256_bytes(blob)
    return found


def _folder_matches(report: VerifyReport, history: History, found: Committed) -> None:
    """The release's folder in the working tree holds exactly what its commit holds."""
    folder = f"{RELEASES}/{found.release}"
    committed = {rel: sha256_bytes(history.show(found.commit, rel) or b"")
                 for rel in history.files(found.commit, folder)}
    local_dir = history.root / folder
    local = {f"{folder}/{rel}": digest for rel, digest in tree_files(local_dir).items()} \
        if local_dir.is_dir() else {}
    bad = []
    for rel in sorted(set(committed) | set(local)):
        if rel not in local:
            bad.append(Check(f"working tree: {rel}", False,
                             f"missing, but commit {found.short} of {found.release} holds it"))
        elif rel not in committed:
            bad.append(Check(f"working tree: {rel}", False,
                             f"not in commit {found.short} of {found.release}: verify trusts "
                             "only what the release committed"))
        elif local[rel] != committed[rel]:
            bad.append(Check(f"working tree: {rel}", False,
                             f"differs from commit {found.short} of {found.release} "
                             f"(sha256 {local[rel][:12]}… vs {committed[rel][:12]}…)"))
    report.checks += bad or [Check(f"working tree: {folder}/", True,
                                   f"{len(committed)} file(s) as commit {found.short} holds them")]


def _rebuilt(report: VerifyReport, root: Path, folder: Path, envelopes: list[dict[str, Any]]) -> None:
    """The pack rebuilt from the committed files matches the committed one (signatures aside)."""
    try:
        rebuilt = build_pack(root, folder, key=None)
    except (OSError, ValueError, KeyError, SyntaxError) as exc:  # SyntaxError: bad XML
        report.checks.append(Check("pack rebuilds", False, f"cannot rebuild: {exc}"))
        return
    same_sbom = (folder / SBOM_FILE).is_file() and rebuilt.files[SBOM_FILE] == (folder / SBOM_FILE).read_bytes()
    payloads = [dsse.payload_of(e) for e in envelopes]
    fresh = [dsse.payload_of(json.loads(line))
             for line in rebuilt.files[PROVENANCE_FILE].decode().splitlines() if line]
    ok = same_sbom and payloads == fresh
    report.checks.append(Check("pack rebuilds byte for byte", ok,
                               "SBOM and statements identical" if ok else
                               ("SBOM differs" if not same_sbom else "statements differ")))


def _digests(report: VerifyReport, history: History, found: Committed, trust: Trust) -> None:
    """Tree, inputs and the pack's contents (as the working tree holds them) against the manifest."""
    root = history.root
    folder = release_dir(root, found.release)
    manifest_path = folder / MANIFEST
    manifest: dict[str, Any] = json.loads(manifest_path.read_bytes()) if manifest_path.is_file() \
        else found.manifest
    with tempfile.TemporaryDirectory(prefix="genops-verify-") as tmp:
        files = _release_tree(history, found.commit, manifest, Path(tmp))
        _compare(report, "tree files", manifest["output"]["files"], files)
        recorded = manifest["output"]["tree_sha256"]
        report.checks.append(Check("tree hash", tree_hash(files) == recorded,
                                   f"{tree_hash(files)[:12]}… vs manifest {recorded[:12]}…"))
        inputs = manifest.get("inputs", {})
        _compare(report, "inputs at the release commit", inputs,
                 _release_files(history, found.commit, sorted(inputs)))
    provenance = folder / PROVENANCE_FILE
    if not provenance.is_file():
        return
    report.has_pack = True
    data = provenance.read_bytes()
    try:
        envelopes = envelopes_of(data)
        statements = [dsse.statement_of(env) for env in envelopes]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        report.checks.append(Check(f"{PROVENANCE_FILE} (working tree)", False,
                                   f"not DSSE envelopes of in-toto statements ({exc})"))
        return
    if data != found.pack:  # the working tree's pack is not the committed one: judge it too
        status, _, checks = judge_pack(data, trust.keys, trust.source, where=" (working tree)")
        report.checks += [c for c in checks if not c.ok]
        if status == "unsigned" and found.pack is not None and trust.signature == "signed":
            report.checks.append(Check(f"signature of {PROVENANCE_FILE} (working tree)", False,
                                       "unsigned, but the committed pack is signed"))
    expected_subjects = {s["name"]: s["digest"]["sha256"] for s in subjects(manifest)}
    for statement in statements:
        got = {s["name"]: s["digest"]["sha256"] for s in statement.get("subject", [])}
        _compare(report, f"subjects of {statement.get('predicateType')}", got, expected_subjects)
    slsa = next((s for s in statements if s.get("predicateType") == SLSA_PROVENANCE), None)
    if slsa is None:
        report.checks.append(Check("SLSA provenance", False, f"no {SLSA_PROVENANCE} statement"))
        return
    predicate = slsa["predicate"]
    byproducts = {b["name"]: b["digest"]["sha256"] for b in predicate["runDetails"].get("byproducts", [])}
    actual = {name: sha256_bytes((folder / name).read_bytes())
              for name in byproducts if (folder / name).is_file()}
    _compare(report, "manifest, SBOM and evidence", byproducts, actual)
    deps = {d["name"]: d["digest"]["sha256"]
            for d in predicate["buildDefinition"].get("resolvedDependencies", [])}
    on_disk = {name: sha256_bytes((root / name).read_bytes())
               for name in deps if name.startswith(".genops/archive/") and (root / name).is_file()}
    archive = {k: v for k, v in deps.items() if k.startswith(".genops/archive/")}
    _compare(report, "archived answers", archive, on_disk)
    lock = manifest.get("lock")
    if lock:
        path = root / lock["path"]
        digest = sha256_bytes(path.read_bytes()) if path.is_file() else "missing"
        report.checks.append(Check(f"lock {lock['path']}", digest == deps.get(lock["path"]),
                                   f"sha256 {digest[:12]}…"))
    _rebuilt(report, root, folder, envelopes)
    sbom = folder / SBOM_FILE
    if sbom.is_file():
        error = validate_sbom(sbom.read_text(encoding="utf-8"))
        report.checks.append(Check("SBOM is CycloneDX 1.6", error is None, error or "valid"))


def _release_report(history: History, found: Committed, trust: Trust) -> VerifyReport:
    report = VerifyReport(found.release, signature=trust.signature, keyids=trust.keyids,
                          commit=found.commit, trusted_keys_from=trust.source,
                          trusted_keys=sorted(trust.keys), chain=trust.chain)
    report.checks.append(Check("release commit", found.manifest.get("release") == found.release,
                               f"{found.short} (from its Genops-Release trailer and manifest; "
                               "tags are not read)"))
    _folder_matches(report, history, found)
    _digests(report, history, found, trust)
    report.checks += trust.checks
    return report


# --- the workspace around the releases -------------------------------------------------------


def _require(root: Path) -> bool:
    """`[audit] require_signature` in the working tree's genops.toml (it can only tighten)."""
    path = root / CONFIG_NAME
    try:
        audit = tomllib.loads(path.read_text(encoding="utf-8")).get("audit", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return bool(isinstance(audit, dict) and audit.get("require_signature") is True)


def _uncommitted(release: str, history: History) -> VerifyReport | None:
    """A report that fails at once when the release's manifest exists only in the working tree."""
    head = history.head()
    if head is not None and release in history.releases_at(head):
        return None
    try:
        history.commit_of(release)
    except UsageError:
        report = VerifyReport(release)
        report.checks.append(Check("release commit", False,
                                   f"{RELEASES}/{release}/{MANIFEST} is not committed: verify "
                                   "trusts only releases a commit holds"))
        return report
    return None


def verify(root: Path, release: str | None = None, *, shallow_ok: bool = False) -> VerifyReport:
    """Verify `release` (default: the current one) along the chain of releases before it.

    In a shallow clone the releases whose commits are missing cannot be judged: UsageError,
    unless `shallow_ok` (`genops check`), where trust starts at the first release the clone holds
    (its own pins, as for a first release) and the report says so."""
    rid = resolve_release(root, release)
    load_manifest(root, rid)  # a clear error for an unknown release
    history = History(root)
    failed = _uncommitted(rid, history)
    if failed is not None:
        failed.checks += workspace_checks(history)
        return failed
    head = history.head()
    committed = history.releases_at(head) if head else []
    chain = history.chain(committed[-1] if committed else rid)  # later releases may hold the root
    if rid not in {c.release for c in chain}:
        chain = history.chain(rid)
    if history.missing and not shallow_ok:
        raise shallow_refusal(history.missing)
    verdicts = walk(history, chain, require=rid if _require(root) else None).verdicts
    chain = chain[:[c.release for c in chain].index(rid) + 1]
    report = _release_report(history, chain[-1], verdicts[rid])
    if history.missing:
        report.shallow = history.missing
        report.checks.append(Check("history", True, f"shallow clone: {history.missing} and the "
                                   f"releases before it are not in this clone, so trust starts at "
                                   f"{chain[0].release}'s own commit; `git fetch --unshallow` and "
                                   "`genops verify --all` judge the whole chain"))
    for earlier in chain[:-1]:
        report.checks += [Check(f"{earlier.release} (before {rid}): {c.name}", False, c.detail)
                          for c in verdicts[earlier.release].checks if not c.ok]
    report.checks += workspace_checks(history)
    return report


def verify_release(root: Path, release: str) -> VerifyReport:
    """Verify one release by id (what `genops check` runs on the current release; a shallow
    clone is judged from what it holds, with a warning)."""
    return verify(root, release, shallow_ok=True)


def verify_all(root: Path) -> ChainReport:
    """Every release from the first, in parent order, with the chain links and the workspace."""
    history = History(root)
    head = history.head()
    committed = history.releases_at(head) if head else []
    local = release_ids(root)
    if not committed and not local:
        raise UsageError("this workspace has no release yet",
                         hint="`genops regenerate` makes the first one")
    report = ChainReport()
    for rid in sorted(set(local) - set(committed), key=release_number):
        failed = _uncommitted(rid, history)
        if failed is not None:
            report.releases.append(failed)
    if committed:
        chain = history.chain(committed[-1])
        if history.missing:
            raise shallow_refusal(history.missing)
        verdicts = walk(history, chain,
                        require=committed[-1] if _require(root) else None).verdicts
        report.releases[:0] = [_release_report(history, c, verdicts[c.release]) for c in chain]
        roots = dict.fromkeys(f"{', '.join(r.trusted_keys)}: {r.trusted_keys_from}"
                              for r in report.releases if r.trusted_keys
                              and ("trust root" in r.trusted_keys_from
                                   or (" at HEAD " in r.trusted_keys_from and r.signature == "signed")))
        report.trust_root = "; ".join(roots) or \
            "none: no release is signed and no committed genops.toml pins a key"
        on_chain = {c.release for c in chain}
        report.checks += [Check(f"{rid}: parent chain", False,
                                f"{rid} is committed but not an ancestor of {committed[-1]} by "
                                "the parents its manifests record")
                          for rid in committed if rid not in on_chain]
    report.checks += workspace_checks(history)
    return report


def verify_result(ws: Workspace, release: str | None) -> Any:
    """`genops check`'s verdict on the current release's audit pack (a GateResult named audit)."""
    if release is None:
        return GateResult("audit", "skip", "no release yet")
    report = verify_release(ws.root, release)
    findings = tuple(Finding(f"{c.name}: {c.detail}", rule="audit") for c in report.failures)
    if findings:
        return GateResult("audit", "fail", f"{len(findings)} check(s) of {release} failed: "
                          f"{findings[0].message}", findings=findings, data=report.to_dict())
    if report.signature != "signed" and ws.config.audit.require_signature:
        return GateResult("audit", "fail", f"{release} is unsigned and [audit] require_signature "
                          "is set", data=report.to_dict())
    what = (f"signed by pinned key {', '.join(k[:16] for k in report.keyids)}"
            if report.signature == "signed" else "unsigned")
    pack = "audit pack" if report.has_pack else "no audit pack"
    if report.shallow:
        return GateResult("audit", "warn", f"{release}: {pack}, {what}; the commit of "
                          f"{report.shallow} is not in this clone (shallow), so the chain of "
                          "trust before it is not checked: fetch the history and run `genops "
                          "verify --all`", data=report.to_dict())
    return GateResult("audit", "pass", f"{release}: {len(report.checks)} checks hold; {pack}, {what}",
                      data=report.to_dict())

