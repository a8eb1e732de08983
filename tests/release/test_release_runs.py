"""`genops runs`, `runs cancel`, which run `resume` takes, and manual answers that are refused.

A refused manual answer (empty, not UTF-8, unparseable) is exit 2 naming the response file; it is
never archived, so fixing the file and resuming is all it takes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from release_helpers import (
    BLUEPRINT,
    change_spec,
    genops,
    in_process_env,
    make_louder,
    make_workspace,
    snapshot,
    tree_files,
    workspace,
)

from genops.release.pipeline import regenerate
from genops.release.runs import RunState, list_runs
from genops.store.releases import current_release


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> Path:
    """A workspace on r0001 whose spec changed since."""
    base = tmp_path_factory.mktemp("runs-base")
    with in_process_env(venv_cache):
        root = make_workspace(base)
        regenerate(workspace(root), reason="first")
    make_louder(root)
    return root


@pytest.fixture
def ws(prepared: Path, tmp_path: Path) -> Path:
    return shutil.copytree(prepared, tmp_path / "ws", symlinks=True)


def _manual_run(ws: Path) -> RunState:
    # --full: these tests are about a full run's request files (blueprint first); a selective
    # run would start with the placement of REQ-GREET-3 instead
    result = genops(ws, "regenerate", "--full", "--provider", "manual", "-m", "by hand")
    assert result.returncode == 5, result.stderr  # waiting for manual answers
    return list_runs(ws)[-1]


def _archive(ws: Path) -> list[str]:
    return sorted(p.name for p in (ws / ".genops/archive").rglob("*") if p.is_file())


def test_request_files_name_their_run_in_the_resume_command(ws: Path) -> None:
    run = _manual_run(ws)
    assert run.stage == "awaiting"
    request = (run.dir / "requests" / "01-blueprint.md").read_text()
    assert f"then run `genops resume {run.run_id}`." in request


BAD_ANSWERS = [
    ("empty", "01-blueprint.md", b"  \n\n", "the answer is empty"),
    ("not UTF-8", "01-blueprint.md", b'{"groups": [\xff\xfe]}', "not UTF-8 text (byte 0xff at offset 12)"),
    ("not JSON", "01-blueprint.md", b"here are the groups: core, tests", "holds no JSON object"),
    ("no file blocks", "02-core.md", b"Sure! Here is the code.", "no <file> or <delete> blocks"),
    ("open block", "02-core.md", b'<file path="hello/__init__.py">\nx = 1\n', "block"),
]


@pytest.mark.parametrize(("what", "name", "data", "says"), BAD_ANSWERS,
                         ids=[a[0] for a in BAD_ANSWERS])
def test_a_bad_manual_answer_is_refused_and_never_archived(ws: Path, what: str, name: str,
                                                           data: bytes, says: str) -> None:
    run = _manual_run(ws)
    responses = run.dir / "responses"
    if name != "01-blueprint.md":  # answer the blueprint first, to reach the group requests
        (responses / "01-blueprint.md").write_text(json.dumps(BLUEPRINT))
        assert genops(ws, "resume", run.run_id).returncode == 5  # the next level waits
        assert (run.dir / "requests" / name).is_file()
    before, archived = snapshot(ws), _archive(ws)
    (responses / name).write_bytes(data)
    result = genops(ws, "resume", run.run_id)
    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert f"responses/{name}" in said and says in said, said
    assert "Traceback" not in result.stderr
    assert _archive(ws) == archived, "a refused answer was archived"
    assert snapshot(ws) == before
    state = RunState.load(ws, run.run_id)
    assert state.stage == "awaiting" and any(p.endswith(name) for p in state.pending)
    # the person fixes the file; the same run carries on from it
    (responses / name).write_text(json.dumps(BLUEPRINT) if name == "01-blueprint.md" else
                                  '<file path="hello/__init__.py">\nx = 1\n</file>\n')
    again = genops(ws, "resume", run.run_id)
    assert again.returncode == 5, again.stderr  # accepted; the next request waits
    assert len(_archive(ws)) > len(archived)


def test_runs_lists_state_base_and_waiting_requests(ws: Path) -> None:
    run = _manual_run(ws)
    result = genops(ws, "runs", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["runs"]
    newest = rows[0]
    assert (newest["run"], newest["stage"], newest["base"], newest["on_current_release"]) == \
        (run.run_id, "awaiting", "r0001", True)
    assert newest["waiting"] == [f".genops/runs/{run.run_id}/requests/01-blueprint.md"]
    assert [(r["stage"], r["release"]) for r in rows[1:]] == [("promoted", "r0001")]
    human = genops(ws, "runs")
    assert human.returncode == 0 and run.run_id in human.stdout


def test_cancel_abandons_a_run_and_resume_no_longer_takes_it(ws: Path) -> None:
    run = _manual_run(ws)
    before = snapshot(ws)
    cancelled = genops(ws, "runs", "cancel", run.run_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert RunState.load(ws, run.run_id).stage == "cancelled"
    assert snapshot(ws) == before
    resumed = genops(ws, "resume")
    assert resumed.returncode == 2 and "no unfinished run" in resumed.stderr
    explicit = genops(ws, "resume", run.run_id)
    assert explicit.returncode == 2 and "was cancelled" in explicit.stderr
    promoted = next(r for r in list_runs(ws) if r.stage == "promoted")
    refused = genops(ws, "runs", "cancel", promoted.run_id)
    assert refused.returncode == 2 and "already promoted" in refused.stderr
    missing = genops(ws, "runs", "cancel", "no-such-run")
    assert missing.returncode == 2 and "no run 'no-such-run'" in missing.stderr
    assert snapshot(ws) == before


def test_resume_takes_only_a_run_started_on_the_current_release(ws: Path) -> None:
    old = _manual_run(ws)  # waits, on r0001
    promoted = genops(ws, "regenerate", "-m", "r0002 meanwhile")
    assert promoted.returncode == 0, promoted.stderr
    assert current_release(ws) == "r0002"
    before = snapshot(ws)
    refused = genops(ws, "resume")
    assert refused.returncode == 2
    said = " ".join(refused.stderr.split())
    assert "no unfinished run started on the current release (r0002)" in said
    assert f"{old.run_id} (on r0001)" in said
    assert snapshot(ws) == before and RunState.load(ws, old.run_id).stage == "awaiting"
    change_spec(ws, "- **REQ-GREET-4** quieter.\n", files=tree_files(punct="."))
    new = _manual_run(ws)
    taken = genops(ws, "resume")
    assert taken.returncode == 5, taken.stderr  # taken, and still waiting for its answer
    assert f"resuming run {new.run_id}" in " ".join(taken.stderr.split())
    assert RunState.load(ws, old.run_id).stage == "awaiting"
