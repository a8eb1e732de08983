"""First contact (issue 24), through the CLI on a released workspace: a long patch instruction is
the release's whole reason, and `genops resume --allow-breaking` lets a run the diff gate stopped
go on, as `regenerate --allow-breaking` would have."""

from __future__ import annotations

import json
import re
from pathlib import Path

from release_helpers import change_spec, commit_all, genops, make_workspace, manifest, tree_files

S, D, R = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
COMMENT = (f'<edit path="hello/__init__.py">\n{S}\n    if not name:\n{D}\n'
           f'    # a greeting needs someone to greet\n    if not name:\n{R}\n</edit>\n')


def released(tmp_path: Path) -> Path:
    root = make_workspace(tmp_path)
    result = genops(root, "regenerate", "-m", "first")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return root


def test_a_long_patch_instruction_is_the_whole_reason(tmp_path: Path) -> None:
    root = released(tmp_path)
    instruction = ("explain in a comment why greet refuses an empty name, "
                   + "because reviewers keep asking about it " * 6).strip()
    assert len(instruction) > 200
    path = root / ".genops" / "fake-responses.json"
    path.write_text(json.dumps({"explain in a comment": COMMENT, **json.loads(path.read_text())}))
    commit_all(root, "script the patch")
    result = genops(root, "patch", instruction + "\n\nmore detail on a second line")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert manifest(root, "r0002")["reason"] == instruction
    log = genops(root, "log")  # piped: plain lines, the reason whole on its release's line
    assert log.returncode == 0, log.stderr
    [line] = [line for line in log.stdout.splitlines() if line.startswith("r0002")]
    assert instruction in line
    summary = (root / "diffs" / "r0002.md").read_text()
    assert instruction in summary


def test_resume_allow_breaking_goes_on_after_the_diff_gate(tmp_path: Path) -> None:
    root = released(tmp_path)
    files = tree_files()
    files["hello/__init__.py"] = (files["hello/__init__.py"]
                                  .replace("def greet(name: str)", "def greet(who: str)")
                                  .replace("if not name:", "if not who:")
                                  .replace("{name}", "{who}"))
    change_spec(root, "- **REQ-GREET-3** the parameter is called `who`.\n", files=files)
    stopped = genops(root, "regenerate", "-m", "rename the parameter")
    assert stopped.returncode == 1, stopped.stdout[-2000:] + stopped.stderr[-2000:]
    assert re.search(r"gate 'diff(_policy)?' failed", stopped.stderr), stopped.stderr
    assert not (root / ".genops" / "releases" / "r0002").exists()

    resumed = genops(root, "resume", "--allow-breaking")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    record = manifest(root, "r0002")
    assert record["flags"]["allow_breaking"] is True
    assert "def greet(who: str)" in (root / "generated" / "hello" / "__init__.py").read_text()
