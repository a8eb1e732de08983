"""`genops verify`: check a release's audit pack offline, with no key but the committed public ones.

Every check names what it looked at. The signed provenance is the anchor: its subjects are the
tree's files, its byproducts the manifest, SBOM and evidence, its resolved dependencies the inputs,
the archived answers and the lock; each is re-hashed here from what the release's commit holds.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.audit import dsse
from genops.audit.keys import KEYS_DIR, load_public_keys
from genops.audit.pack import PROVENANCE_FILE, build_pack
from genops.audit.provenance import SLSA_PROVENANCE, subjects
from genops.audit.sbom import SBOM_FILE, validate_sbom
from genops.gates.base import Finding, GateResult
from genops.store import gitops
from genops.store.releases import load_manifest, release_dir, resolve_release
from genops.store.tree import sha256_bytes, tree_files, tree_hash
from genops.workspace import Workspace


@dataclass(frozen=True)
class Check:
    """One verified fact: what, whether it holds, and the detail a person needs."""

    name: str
    ok: bool
    detail: str


@dataclass
class VerifyReport:
    release: str
    signature: str = "unsigned"  # "signed", "unsigned", or "invalid"
    keyids: list[str] = field(default_factory=list)
    has_pack: bool = False
    checks: list[Check] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def ok(self, *, require_signature: bool) -> bool:
        if self.failures:
            return False
        return self.signature == "signed" or not require_signature

    def to_dict(self) -> dict[str, Any]:
        return {"release": self.release, "signature": self.signature, "keyids": self.keyids,
                "has_pack": self.has_pack, "failures": len(self.failures),
                "checks": [c.__dict__ for c in self.checks]}


def _compare(report: VerifyReport, name: str, expected: dict[str, str], actual: dict[str, str]) -> None:
    """One check per mismatching entry, or one passing check for the whole set."""
    bad = sorted(k for k in expected if actual.get(k) != expected[k])
    for key in bad:
        got = actual.get(key)
        report.checks.append(Check(f"{name}: {key}", False,
                                   "missing" if got is None else f"sha256 {got[:12]}… != {expected[key][:12]}…"))
    if not bad:
        report.checks.append(Check(name, True, f"{len(expected)} digest(s) match"))


def _release_tree(root: Path, release: str, manifest: dict[str, Any], work: Path) -> dict[str, str]:
    """The output files as the release's commit holds them."""
    repo = gitops.open_repo(root)
    output = manifest["output"]["dir"]
    exported = gitops.export_tree(repo, gitops.release_ref(repo, release), work / "tree", output)
    return tree_files(exported / output)


def _release_files(root: Path, release: str, paths: list[str], work: Path) -> dict[str, str]:
    """sha256 of `paths` as the release's commit holds them (missing ones left out)."""
    repo = gitops.open_repo(root)
    ref = gitops.release_ref(repo, release)
    found: dict[str, str] = {}
    for rel in paths:
        try:
            blob = repo.git.show(f"{ref}:{rel}", stdout_as_string=False,
                                 strip_newline_in_stdout=False)
        except Exception:  # noqa: BLE001 - gitpython raises GitCommandError; absent means missing
            continue
        found[rel] = sha256_bytes(blob)
    return found


def _signatures(report: VerifyReport, envelopes: list[dict[str, Any]], root: Path) -> None:
    keys = load_public_keys(root / KEYS_DIR)
    signed: set[str] = set()
    for index, env in enumerate(envelopes, 1):
        try:
            good = dsse.verify(env, keys)
        except ValueError as exc:
            report.signature = "invalid"
            report.checks.append(Check(f"signature of {PROVENANCE_FILE} line {index}", False, str(exc)))
            continue
        signed.update(good)
        if good:
            report.checks.append(Check(f"signature of {PROVENANCE_FILE} line {index}", True,
                                       "verified with key " + ", ".join(k[:16] for k in good)))
        elif signed or report.signature == "signed":
            report.checks.append(Check(f"signature of {PROVENANCE_FILE} line {index}", False,
                                       "unsigned envelope in a signed pack"))
    if report.signature != "invalid" and signed:
        report.signature = "signed"
        report.keyids = sorted(signed)


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


def verify_release(root: Path, release: str) -> VerifyReport:
    """Every digest and signature of `release` (see the module docstring)."""
    report = VerifyReport(release)
    folder = release_dir(root, release)
    manifest_bytes = (folder / "manifest.json").read_bytes()
    manifest: dict[str, Any] = json.loads(manifest_bytes)
    with tempfile.TemporaryDirectory(prefix="genops-verify-") as tmp:
        files = _release_tree(root, release, manifest, Path(tmp))
        _compare(report, "tree files", manifest["output"]["files"], files)
        recorded = manifest["output"]["tree_sha256"]
        report.checks.append(Check("tree hash", tree_hash(files) == recorded,
                                   f"{tree_hash(files)[:12]}… vs manifest {recorded[:12]}…"))
        inputs = manifest.get("inputs", {})
        _compare(report, "inputs at the release commit", inputs,
                 _release_files(root, release, sorted(inputs), Path(tmp)))
    provenance = folder / PROVENANCE_FILE
    if not provenance.is_file():
        report.checks.append(Check("audit pack", True, "none (a release made before audit packs)"))
        return report
    report.has_pack = True
    envelopes = [json.loads(line) for line in provenance.read_text(encoding="utf-8").splitlines() if line]
    _signatures(report, envelopes, root)
    statements = [dsse.statement_of(env) for env in envelopes]
    expected_subjects = {s["name"]: s["digest"]["sha256"] for s in subjects(manifest)}
    for statement in statements:
        got = {s["name"]: s["digest"]["sha256"] for s in statement.get("subject", [])}
        _compare(report, f"subjects of {statement.get('predicateType')}", got, expected_subjects)
    slsa = next((s for s in statements if s.get("predicateType") == SLSA_PROVENANCE), None)
    if slsa is None:
        report.checks.append(Check("SLSA provenance", False, f"no {SLSA_PROVENANCE} statement"))
        return report
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
    return report


def verify(root: Path, release: str | None = None) -> VerifyReport:
    """Verify `release` (default: the current one)."""
    rid = resolve_release(root, release)
    load_manifest(root, rid)  # a clear error for an unknown release
    return verify_release(root, rid)


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
    what = (f"signed by {', '.join(k[:16] for k in report.keyids)}" if report.signature == "signed"
            else "unsigned")
    pack = "audit pack" if report.has_pack else "no audit pack"
    return GateResult("audit", "pass", f"{release}: {len(report.checks)} checks hold; {pack}, {what}",
                      data=report.to_dict())
