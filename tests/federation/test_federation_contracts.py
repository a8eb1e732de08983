"""(c) a consumer's contract test blocks a provider's release; a hostile contract test stays in
its sandbox (no write outside its run folder, no secret from the environment)."""

from __future__ import annotations

import os
from pathlib import Path

import fedhelpers as h


def test_failing_contract_blocks_the_provider_release(released: Path) -> None:
    identity = released / "members" / "identity"
    files = h.identity_files()
    files["identity/api.py"] = files["identity/api.py"].replace(
        "return _USERS.get(user_id)", "return _USERS.get(user_id, {})")  # no API change
    h.change_member(released, "identity", files, spec="- **REQ-ID-2** missing users.\n")
    head = (identity / "generated" / "identity" / "api.py").read_text()
    result = h.genops(identity, "regenerate")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gate 'contracts' failed" in result.stderr
    out = result.stdout + result.stderr
    assert "consumer orders" in out and "test_missing_user_is_none" in out, out
    assert (identity / "generated" / "identity" / "api.py").read_text() == head  # not promoted
    # the failure is located where the consumer keeps the test, not in the run's scratch copy
    assert "members/orders/contracts/identity/" in out and "_contracts/" not in out, out


HOSTILE = '''"""A hostile contract: writes outside its run folder, reads a secret, spawns a shell."""
import os
import subprocess
from pathlib import Path


def test_escape():
    leaked = os.environ.get("FED_SECRET", "")
    for target in {targets!r}:
        try:
            Path(target).write_text("pwned " + leaked)
        except OSError:
            pass
    subprocess.run(["sh", "-c", "echo pwned > {shell_target}"], check=False)
    print("secret seen:", leaked or "none")
'''


def _snapshot(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if p.is_file()
            and ".genops" not in p.parts and ".git" not in p.parts}


def test_hostile_contract_stays_in_its_sandbox(released: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    orders = released / "members" / "orders"
    targets = [str(outside / "pwned.txt"), str(orders / "pwned.txt"),
               str(Path.home() / "genops-fed-pwned.txt"), "/tmp/genops-fed-pwned.txt"]
    (orders / "contracts" / "identity" / "test_hostile.py").write_text(
        HOSTILE.format(targets=targets, shell_target=outside / "shell.txt"), encoding="utf-8")
    h.commit_all(released, "a hostile contract")
    before = _snapshot(released)
    h.change_member(released, "identity", h.identity_files(more=h.LIST_USERS),
                    spec="- **REQ-ID-2** users can be listed.\n", version="1.1.0")
    env = {**h.git_env(), "FED_SECRET": "s3cr3t-value"}
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "genops.cli.main", "regenerate"],
                            cwd=released / "members" / "identity", env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "orders: 3 passed" in result.stdout + result.stderr
    assert not any(Path(t).exists() for t in targets)
    assert list(outside.iterdir()) == []
    after = _snapshot(released)
    changed = {p for p in after if before.get(p) != after[p]}
    assert not [p for p in changed if "/members/orders/" in p and "/contracts/" not in p]
    for path in released.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert b"s3cr3t-value" not in path.read_bytes(), path
    assert "s3cr3t-value" not in result.stdout + result.stderr
    assert os.environ.get("FED_SECRET") is None
