"""Federation releases: a signed lock of member releases, its chain, trust, tampering, and the
whole federation verified and replayed byte for byte from a fresh clone (real git, real CLI)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import git
import pytest
from fedhelpers import commit_all, genops, git_env

from genops.audit import dsse
from genops.audit.keys import generate, pin_key
from genops.federation.release import FED_RELEASES, PAYLOAD_TYPE, SIGNATURE, TRAILER


def ok_json(cwd: Path, *args: str, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(["python", "-m", "genops.cli.main", *args], cwd=cwd,
                          env=env or git_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    data: dict = json.loads(done.stdout)  # type: ignore[type-arg]
    return data


def pin_new_key(root: Path, where: Path) -> tuple[str, Path]:
    """A key made outside the repository, its public half committed and pinned at the root."""
    private = where / "release.pem"
    keyid, _ = generate(root, private)
    toml = root / "genops.toml"
    toml.write_text(pin_key(toml.read_text(encoding="utf-8"), keyid), encoding="utf-8")
    commit_all(root, "pin a federation key")
    return keyid, private


def test_release_pins_members_and_is_found_by_its_trailer(released: Path) -> None:
    made = ok_json(released, "federation", "release", "--reason", "first", "--json")
    assert made["release"] == "f0001" and made["signed_by"] is None
    pins = {p["name"]: p for p in made["manifest"]["members"]}
    assert set(pins) == {"identity", "orders", "web"}
    for name, pin in pins.items():
        manifest = released / "members" / name / ".genops/releases" / pin["release"] / \
            "manifest.json"
        assert pin["path"] == f"members/{name}" and len(pin["commit"]) == 40
        assert "interface_version" in pin or name == "web"
        assert manifest.is_file()
    head = git.Repo(released).head.commit
    assert str(head.message).rstrip().endswith(f"{TRAILER}: f0001")
    assert "Genops-Release:" not in str(head.message)
    assert not [t.name for t in git.Repo(released).tags if "f0001" in t.name]  # no tag needed
    second = ok_json(released, "federation", "release", "--json")
    assert second["manifest"]["parent"] == "f0001"
    report = ok_json(released, "verify", "--all", "--json")
    assert report["ok"] and [r["release"] for r in report["releases"]] == ["f0001", "f0002"]
    assert {m["name"] for m in report["members"]} == {"identity", "orders", "web"}


def test_signed_chain_and_an_unpinned_key(released: Path, tmp_path: Path) -> None:
    keyid, private = pin_new_key(released, tmp_path / "keys")
    env = {**git_env(), "GENOPS_SIGNING_KEY": str(private)}
    made = ok_json(released, "federation", "release", "--json", env=env)
    assert made["signed_by"] == keyid
    report = ok_json(released, "verify", "--all", "--json")
    assert report["releases"][0]["signature"] == "signed", report
    # an unsigned release after a signed one is refused
    refused = genops(released, "federation", "release")
    assert refused.returncode == 2 and "must be signed" in refused.stderr
    # a key nobody pinned cannot sign the next one
    other, _ = generate(tmp_path / "elsewhere", tmp_path / "other.pem")
    refused = subprocess.run(["python", "-m", "genops.cli.main", "federation", "release"],
                             cwd=released, capture_output=True, text=True,
                             env={**git_env(), "GENOPS_SIGNING_KEY": str(tmp_path / "other.pem")})
    assert refused.returncode == 2 and "is not pinned" in refused.stderr
    # ... and a release forged with it (committed by hand) fails verify
    manifest = json.loads((released / FED_RELEASES / "f0001" / "manifest.json").read_bytes())
    raw = (released / FED_RELEASES / "f0001" / "manifest.json").read_bytes()
    from genops.store.tree import sha256_bytes

    manifest.update(federation_release="f0002", parent="f0001",
                    parent_manifest_sha256=sha256_bytes(raw))
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    folder = released / FED_RELEASES / "f0002"
    folder.mkdir()
    (folder / "manifest.json").write_bytes(data)
    from genops.audit.keys import signing_key

    forged = signing_key(str(tmp_path / "other.pem"), released)
    (folder / SIGNATURE).write_text(json.dumps(dsse.envelope(data, PAYLOAD_TYPE, forged)) + "\n")
    repo = git.Repo(released)
    repo.git.add(str(folder))
    repo.git.commit("-m", f"forged\n\n{TRAILER}: f0002")
    done = genops(released, "verify", "--all", "--json")
    assert done.returncode == 1
    failed = [c for r in json.loads(done.stdout)["releases"] for c in r["checks"] if not c["ok"]]
    assert any(other in c["detail"] and keyid[:16] in c["detail"] for c in failed), failed


def test_tampered_member_manifest_and_a_moved_pin_name_the_member(released: Path) -> None:
    ok_json(released, "federation", "release", "--json")
    pin = json.loads((released / FED_RELEASES / "f0001" / "manifest.json").read_text())
    orders = next(p for p in pin["members"] if p["name"] == "orders")
    path = released / orders["path"] / ".genops/releases" / orders["release"] / "manifest.json"
    path.write_text(path.read_text().replace('"reason": "', '"reason": "tampered '))
    done = genops(released, "verify", "--all", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    bad = {m["name"] for m in report["members"] if not m["ok"]}
    assert bad == {"orders"}
    assert any("member orders" in c["name"] and not c["ok"]
               for m in report["members"] for c in m["checks"])
    replayed = genops(released, "replay", "--no-gates")
    assert replayed.returncode == 1 and "orders" in replayed.stderr


def test_verify_and_replay_byte_for_byte_from_a_fresh_clone(released: Path,
                                                            tmp_path: Path) -> None:
    ok_json(released, "federation", "release", "--reason", "first", "--json")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-tags", str(released), str(clone)], check=True)
    assert ok_json(clone, "verify", "--all", "--json")["ok"]
    before = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True,
                            text=True, check=True).stdout
    report = ok_json(clone, "replay", "--no-gates", "--json")
    assert report["ok"] and report["release"] == "f0001"
    for member in report["members"]:
        replay = member["replay"]
        assert replay["reproduced"] and replay["calls"] >= 1, member
        assert any("byte for byte" in c["detail"] for c in member["checks"])
    after = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True,
                           text=True, check=True).stdout
    assert after == before  # replay writes only ignored run folders


@pytest.mark.parametrize("args", [("verify", "--all"), ("replay",)])
def test_no_federation_release_yet_is_a_usage_error(released: Path, args: tuple[str, ...]) -> None:
    done = genops(released, *args)
    assert done.returncode == 2 and "no federation release yet" in done.stderr


def test_keygen_at_the_root_pins_a_key_that_signs_federation_releases(
        released: Path, tmp_path: Path) -> None:
    made = genops(released, "keygen", str(tmp_path / "root.pem"), "--json")
    assert made.returncode == 0, made.stdout + made.stderr
    keyid = json.loads(made.stdout)["keyid"]
    assert keyid in (released / "genops.toml").read_text()
    assert (released / ".genops" / "keys" / f"{keyid}.pub").is_file()
    commit_all(released, "pin the federation's key")
    env = {**git_env(), "GENOPS_SIGNING_KEY": str(tmp_path / "root.pem")}
    assert ok_json(released, "federation", "release", "--json", env=env)["signed_by"] == keyid
    assert ok_json(released, "verify", "--all", "--json")["releases"][0]["signature"] == "signed"
