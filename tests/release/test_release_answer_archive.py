"""The answer archive's rules (issue 24, "Retrying a bad answer re-asks"), through the real CLI
with the fake provider: an answer that failed, or a run that failed, is never the answer a later
run is served; a release's answers are what replay reads; `genops resume` keeps a failed run's
answers at no cost."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from release_helpers import (commit_all, genops, make_workspace, manifest, paid_keys, script_model,
                             tree_files)

S, D, R = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
PROSE = "Sure! I would make the greeting louder by adding another exclamation mark."
LOUDER = (f'<edit path="hello/__init__.py">\n{S}\n    return f"Hello, {{name}}!"\n{D}\n'
          f'    return f"Hello, {{name}}!!"\n{R}\n</edit>\n'
          f'<edit path="tests/test_greet.py">\n{S}\n    assert greet("Ada") == "Hello, Ada!"\n{D}\n'
          f'    assert greet("Ada") == "Hello, Ada!!"\n{R}\n</edit>\n')


def answer_with(root: Path, instruction: str, reply: str) -> None:
    """Script the fake model's reply to a patch instruction (checked before the other replies)."""
    path = root / ".genops" / "fake-responses.json"
    replies = {k: v for k, v in json.loads(path.read_text()).items() if k != instruction}
    path.write_text(json.dumps({instruction: reply, **replies}), encoding="utf-8")
    commit_all(root, "script the model")


def archive_status(root: Path) -> str:
    """What `git status` shows of archived answers: those a release commit would take along."""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--",
                           ".genops/archive/*.json.gz"], cwd=root, capture_output=True,
                          text=True, check=True).stdout


def test_a_patch_answered_in_prose_is_asked_again_on_the_next_try(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    assert genops(root, "regenerate", "-m", "first").returncode == 0
    answer_with(root, "make greet louder", PROSE)

    failed = genops(root, "patch", "make greet louder")
    assert failed.returncode == 2, failed.stdout[-2000:] + failed.stderr[-2000:]
    said = " ".join(failed.stderr.split())
    [run] = [p.parent.name for p in (root / ".genops/runs").glob("*/context.json")]
    kept = root / ".genops" / "runs" / run / "answers"
    assert f".genops/runs/{run}/answers/" in said and "edits-patch-r1.txt" in said
    assert "`genops patch` asks the model again" in said
    assert "answer with edit blocks" not in said  # the model's repair hint is not the user's
    assert (kept / "edits-patch-r1.txt").read_text() == PROSE
    assert archive_status(root) == ""  # nothing of the failed run would be committed
    bad_keys = set(paid_keys(root)) - set(c["key"] for c in manifest(root, "r0001")["calls"])
    assert len(bad_keys) == 2  # the round and its repair request

    answer_with(root, "make greet louder", LOUDER)  # the model answers properly this time
    again = genops(root, "patch", "make greet louder")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    release = manifest(root, "r0002")
    assert release["kind"] == "patch" and not release["calls"][0]["from_archive"]
    first_round = release["calls"][0]["key"]
    assert first_round in bad_keys and paid_keys(root).count(first_round) == 2  # asked again
    assert "Hello, {name}!!" in (root / "generated/hello/__init__.py").read_text()
    replayed = genops(root, "replay", "r0002", "--no-gates")
    assert replayed.returncode == 0, replayed.stdout[-2000:] + replayed.stderr[-2000:]
    assert "reproduced" in replayed.stdout


def test_a_run_whose_gates_failed_is_asked_again_and_resume_keeps_its_answers(
        tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    script_model(root, tree_files(punct="?", expected="!"))  # the tests fail
    commit_all(root, "a model that writes a failing tree")

    failed = genops(root, "regenerate", "-m", "first")
    assert failed.returncode == 1, failed.stdout[-2000:] + failed.stderr[-2000:]
    [run] = [p.parent.name for p in (root / ".genops/runs").glob("*/run.json")]
    said = " ".join(failed.stderr.split())
    assert f".genops/runs/{run}/answers/" in said and "`genops regenerate` asks the model again" \
        in said and f"`genops resume {run}` continues this run with them" in said
    assert archive_status(root) == ""
    paid = paid_keys(root)
    assert len(paid) == 3

    resumed = genops(root, "resume", run)  # the same answers, back from the run's folder
    assert resumed.returncode == 1, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert paid_keys(root) == paid, "resume paid for an answer it already had"
    assert archive_status(root) == ""

    script_model(root, tree_files())  # the model now writes a passing tree
    commit_all(root, "a better model")
    done = genops(root, "regenerate", "-m", "again")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    release = manifest(root, "r0001")
    assert not any(c["from_archive"] for c in release["calls"])  # asked again, not served
    assert sorted(paid_keys(root)) == sorted(paid * 2)  # the same three requests, each re-asked
    replayed = genops(root, "replay", "r0001", "--no-gates")
    assert replayed.returncode == 0, replayed.stdout[-2000:] + replayed.stderr[-2000:]
