"""A private signing key inside the workspace is refused (exit 2) before anything runs.

Whether it is named by $GENOPS_SIGNING_KEY or `[audit] signing_key`, absolutely, relatively or
through a link outside the workspace, `genops regenerate` (the real CLI) refuses it naming the path
and saying to move it outside the workspace: no model call, no release, nothing promoted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from release_helpers import clean_env, commit_all, genops, make_workspace

from genops.testing.snapshot import workspace_files


def write_key(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def set_audit_key(root: Path, value: str) -> None:
    toml = root / "genops.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + f'\n[audit]\nsigning_key = "{value}"\n',
                    encoding="utf-8")
    commit_all(root, "signing key configured")


# Each: (root, tmp) -> (environment additions, the path the error must name). The key file is
# written after the workspace's last commit, so it is never committed.
Setup = Callable[[Path, Path], tuple[dict[str, str], Path]]


def env_absolute(root: Path, tmp: Path) -> tuple[dict[str, str], Path]:
    key = write_key(root / "keys" / "release.pem")
    return {"GENOPS_SIGNING_KEY": str(key)}, key


def env_relative(root: Path, tmp: Path) -> tuple[dict[str, str], Path]:
    key = write_key(root / "keys" / "release.pem")
    return {"GENOPS_SIGNING_KEY": "keys/release.pem"}, key


def env_in_genops_folder(root: Path, tmp: Path) -> tuple[dict[str, str], Path]:
    key = write_key(root / ".genops" / "release.pem")
    return {"GENOPS_SIGNING_KEY": str(key)}, key


def env_link_outside_to_inside(root: Path, tmp: Path) -> tuple[dict[str, str], Path]:
    key = write_key(root / "keys" / "release.pem")
    link = tmp / "elsewhere" / "release.pem"
    link.parent.mkdir(parents=True)
    link.symlink_to(key)
    return {"GENOPS_SIGNING_KEY": str(link)}, link


def toml_relative(root: Path, tmp: Path) -> tuple[dict[str, str], Path]:
    set_audit_key(root, "keys/release.pem")
    return {}, write_key(root / "keys" / "release.pem")


def toml_absolute(root: Path, tmp: Path) -> tuple[dict[str, str], Path]:
    key = root / "secrets" / "release.pem"
    set_audit_key(root, str(key))
    return {}, write_key(key)


SETUPS: list[Setup] = [env_absolute, env_relative, env_in_genops_folder,
                       env_link_outside_to_inside, toml_relative, toml_absolute]


@pytest.mark.parametrize("setup", SETUPS, ids=[s.__name__ for s in SETUPS])
def test_a_signing_key_inside_the_workspace_is_refused(tmp_path: Path, setup: Setup) -> None:
    root = make_workspace(tmp_path)
    extra, named = setup(root, tmp_path)
    before = workspace_files(root, (".git/", ".genops/runs/"))
    result = genops(root, "regenerate", "--reason", "first", env=clean_env(**extra))
    said = re.sub(r"\s+", " ", result.stderr)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"signing key {named}" in said and "is inside the workspace" in said, said
    assert "move it outside the workspace" in said, said
    assert "Traceback" not in result.stderr
    assert workspace_files(root, (".git/", ".genops/runs/")) == before, "nothing is written"
    assert not list((root / ".genops" / "runs").glob("*/run.json")), "no run was started"


def test_a_signing_key_outside_the_workspace_is_accepted(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    key = write_key(tmp_path / "keys" / "release.pem")
    result = genops(root, "regenerate", "--dry-run",
                    env=clean_env(GENOPS_SIGNING_KEY=str(key)))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
