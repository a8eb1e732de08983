"""`genops patch --from-drift`: a hand edit that `genops check` refuses becomes a gated, replayable
patch release; without drift the command refuses with exit 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from release_helpers import genops, make_workspace, manifest, output_hash, tags


def released(tmp_path: Path) -> Path:
    root = make_workspace(tmp_path)
    result = genops(root, "regenerate", "--reason", "first")
    assert result.returncode == 0, result.stderr
    return root


def test_hand_edit_is_recorded_as_a_patch_release_and_replays(tmp_path: Path) -> None:
    root = released(tmp_path)
    target = root / "generated" / "hello" / "__init__.py"
    target.write_text(target.read_text().replace('"""Greetings."""', '"""Greetings, by hand."""'))
    (root / "generated" / "hello" / "extra.py").write_text('"""Added by hand."""\nX = 1\n')

    check = genops(root, "check")
    assert check.returncode == 1
    assert "hello/__init__.py" in check.stdout + check.stderr
    assert "patch --from-drift" in check.stdout + check.stderr

    edited_hash = output_hash(root)
    result = genops(root, "patch", "--from-drift", "--reason", "keep the hand edit")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert output_hash(root) == edited_hash  # the edit is what was released
    release = manifest(root, "r0002")
    assert release["kind"] == "patch" and release["parent"] == "r0001"
    assert release["hand_edits"]["written"] == ["hello/__init__.py", "hello/extra.py"]
    assert release["flags"]["source"] == "drift"
    assert {g["gate"]: g["verdict"] for g in release["gates"]}["tests"] == "pass"
    # the gates judged the edit against r0001's tree, not against the edited generated/ itself
    diff_gate = {g["gate"]: g for g in release["gates"]}["diff_policy"]
    assert diff_gate["summary"] == "2 semantic change(s), none against fail_on='breaking'"
    assert "genops/r0002" in tags(root)
    assert genops(root, "check").returncode == 0

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    replay = genops(clone, "replay", "r0002", "--json")
    assert replay.returncode == 0, replay.stdout[-2000:] + replay.stderr[-2000:]
    body = "\n".join(line for line in replay.stdout.splitlines() if not line.startswith('{"event'))
    assert json.loads(body)["reproduced"] is True


def test_without_drift_patch_refuses(tmp_path: Path) -> None:
    root = released(tmp_path)
    result = genops(root, "patch", "--from-drift")
    assert result.returncode == 2
    assert "nothing to record" in result.stderr


def test_patch_needs_from_drift(tmp_path: Path) -> None:
    root = released(tmp_path)
    result = genops(root, "patch")
    assert result.returncode == 2 and "--from-drift" in result.stderr
