"""Write a release's audit pack: `sbom.cdx.json` and `provenance.intoto.jsonl` beside its manifest.

The pack is a pure function of committed files (the manifest, the evidence, the lock, the archive
entries, the inputs' hashes), so replay rebuilds it byte for byte; only the signatures depend on
the key. `provenance.intoto.jsonl` holds one DSSE envelope per line: the SLSA provenance, then the
test-result attestation when the tests gate left JUnit evidence.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from genops.audit import dsse
from genops.audit.lockfile import parse_lock
from genops.audit.provenance import canonical, provenance_statement, test_result_statement
from genops.audit.sbom import SBOM_FILE, build_sbom

PROVENANCE_FILE = "provenance.intoto.jsonl"
ARCHIVE_DIR = Path(".genops") / "archive"


@dataclass(frozen=True)
class PackFiles:
    """The pack's file contents, by file name, before anything is written."""

    files: dict[str, bytes]
    signed_by: str | None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_rd(root: Path, rel: str) -> dict[str, Any]:
    return {"name": rel, "digest": {"sha256": sha256_bytes((root / rel).read_bytes())}}


def _archive_rel(key: str) -> str:
    return (ARCHIVE_DIR / key[:2] / f"{key}.json.gz").as_posix()


def resolved_dependencies(root: Path, manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Inputs by their manifest hashes, every archived answer by its file digest, and the lock."""
    deps = [{"name": path, "digest": {"sha256": digest}}
            for path, digest in sorted(manifest.get("inputs", {}).items())]
    keys = sorted({c["key"] for c in manifest.get("calls", []) if c.get("key")})
    deps += [_file_rd(root, _archive_rel(k)) for k in keys if (root / _archive_rel(k)).is_file()]
    lock = manifest.get("lock")
    if lock:
        deps.append({"name": lock["path"], "digest": {"sha256": lock["sha256"]}})
    return deps


def _evidence(release_dir: Path, root: Path) -> list[str]:
    evidence = release_dir / "evidence"
    if not evidence.is_dir():
        return []
    return sorted(p.relative_to(release_dir).as_posix() for p in evidence.rglob("*") if p.is_file())


def tests_command(manifest: Mapping[str, Any]) -> str:
    """The tests gate's command as the release's pinned config recorded it."""
    sections = manifest.get("config", {}).get("sections", {})
    return str(sections.get("gates", {}).get("tests", {}).get("command", ""))


def build_pack(root: Path, release_dir: Path, *, key: Ed25519PrivateKey | None) -> PackFiles:
    """The pack of the release whose manifest and evidence are in `release_dir`."""
    manifest_bytes = (release_dir / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    lock = manifest.get("lock")
    packages = parse_lock((root / lock["path"]).read_text(encoding="utf-8")) if lock else []
    sbom = build_sbom(project=manifest.get("project") or manifest["output"]["dir"],
                      release=manifest["release"], tree_sha256=manifest["output"]["tree_sha256"],
                      created=manifest["created"], packages=packages).encode("utf-8")
    byproducts = [{"name": "manifest.json", "digest": {"sha256": sha256_bytes(manifest_bytes)}},
                  {"name": SBOM_FILE, "digest": {"sha256": sha256_bytes(sbom)}}]
    byproducts += [{"name": rel, "digest": {"sha256": sha256_bytes((release_dir / rel).read_bytes())}}
                   for rel in _evidence(release_dir, root)]
    statements = [provenance_statement(manifest, resolved=resolved_dependencies(root, manifest),
                                       byproducts=byproducts)]
    junit = release_dir / "evidence" / "tests" / "junit.xml"
    if junit.is_file():
        statements.append(test_result_statement(
            manifest, junit, "evidence/tests/junit.xml", sha256_bytes(junit.read_bytes()),
            tests_command(manifest)))
    lines = [json.dumps(dsse.envelope(canonical(s), key=key), sort_keys=True) for s in statements]
    signed_by = None if key is None else dsse.key_id(key.public_key())
    return PackFiles({SBOM_FILE: sbom, PROVENANCE_FILE: ("\n".join(lines) + "\n").encode()},
                     signed_by)


def write_pack(root: Path, release_dir: Path, *, key: Ed25519PrivateKey | None) -> PackFiles:
    """Build the pack and write its files into `release_dir`."""
    pack = build_pack(root, release_dir, key=key)
    for name, data in pack.files.items():
        (release_dir / name).write_bytes(data)
    return pack
