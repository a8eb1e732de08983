"""One genops at a time: the workspace lock, billing that survives kills, and git kills recovered.

Each case copies one prepared workspace (release r0001 promoted, the spec changed, the model
scripted to answer differently) and runs the real CLI in subprocesses. A run is held at a known
instant with GENOPS_PAUSE_AT (genops.faults), or killed inside git by GENOPS_CRASH_AT.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from release_helpers import (
    clean_env,
    genops,
    in_process_env,
    make_louder,
    make_workspace,
    output_hash,
    paid_keys,
    snapshot,
    start_genops,
    tags,
    wait_paused,
    workspace,
)

from genops.faults import GIT_CRASH_POINTS
from genops.ledger.db import Ledger
from genops.release import lock as wslock
from genops.release.pipeline import regenerate
from genops.release.recovery import clear_stale_git_locks, git_lock_files
from genops.release.runs import list_runs
from genops.store.releases import current_release
from genops.store.tree import hash_tree


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> tuple[Path, str]:
    """(workspace on r0001 with a changed spec, the tree hash the next release must have)."""
    base = tmp_path_factory.mktemp("lock-base")
    with in_process_env(venv_cache):
        root = make_workspace(base)
        regenerate(workspace(root), reason="first")
    make_louder(root)
    check = shutil.copytree(root, base / "expected", symlinks=True)
    with in_process_env(venv_cache):
        regenerate(workspace(check), reason="expected")
    return root, output_hash(check)


@pytest.fixture
def ws(prepared: tuple[Path, str], tmp_path: Path) -> Path:
    return shutil.copytree(prepared[0], tmp_path / "ws", symlinks=True)


def _env(**extra: str) -> dict[str, str]:
    return clean_env(GENOPS_VENV_CACHE=os.environ["GENOPS_VENV_CACHE"], **extra)


def _finish(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _kill_group(pid: int) -> None:
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)


def test_two_regenerates_started_together(ws: Path, tmp_path: Path,
                                          prepared: tuple[Path, str]) -> None:
    """One wins and holds the lock for its whole run; the other exits 2 naming it, paying nothing;
    read-only commands run meanwhile."""
    go = tmp_path / "go"
    env = _env(GENOPS_PAUSE_AT="call-in-flight", GENOPS_PAUSE_UNTIL=str(go))
    before = snapshot(ws)
    paid_before = {c.run_id for c in Ledger.for_workspace(ws).calls()}
    procs = [start_genops(ws, "regenerate", "-m", f"rival {n}", env=env) for n in range(2)]
    holder_pid = wait_paused(go, *procs)
    winner = next(p for p in procs if p.pid == holder_pid)
    loser = next(p for p in procs if p.pid != holder_pid)
    code, _, err = _finish(loser, timeout=60)
    assert code == 2, err
    assert f"workspace is locked by pid {holder_pid} (genops regenerate" in " ".join(err.split())
    assert "Traceback" not in err
    [run] = [r for r in list_runs(ws) if r.stage not in ("promoted",)]
    # a third one, once the holder has its run: the refusal names the run too
    third = genops(ws, "regenerate", "-m", "third", env=_env())
    assert third.returncode == 2
    assert f"pid {holder_pid} (genops regenerate, run {run.run_id}, since" in \
        " ".join(third.stderr.split())
    assert snapshot(ws) == before, "a refused regenerate changed the workspace"
    assert {c.run_id for c in Ledger.for_workspace(ws).calls()} == paid_before | {run.run_id}
    # read-only commands neither wait nor fail while the lock is held
    for args in (("log",), ("cost", "--json"), ("runs", "--json"), ("diff", "r0001", "generated"),
                 ("check",), ("regenerate", "--dry-run")):
        started = time.monotonic()
        result = genops(ws, *args, env=_env(), timeout=60)
        assert result.returncode == 0, (args, result.stderr)
        assert time.monotonic() - started < 30
    cost = json.loads(genops(ws, "cost", "--json", env=_env()).stdout)
    assert cost["in_flight_usd"] > 0 and cost["may_have_been_billed"] == []
    go.touch()
    code, _, err = _finish(winner)
    assert code == 0, err
    assert current_release(ws) == "r0002" and output_hash(ws) == prepared[1]
    paid = paid_keys(ws)
    assert len(paid) == len(set(paid)) == 6, "a request was paid twice"
    assert not wslock.lock_path(ws).read_text(), "the holder left its record behind"


def test_a_call_cut_off_by_sigkill_may_have_been_billed_and_resume_resends_it(
        ws: Path, tmp_path: Path, prepared: tuple[Path, str]) -> None:
    go = tmp_path / "go"
    before = snapshot(ws)
    proc = start_genops(ws, "regenerate", "-m", "killed", env=_env(
        GENOPS_PAUSE_AT="call-in-flight", GENOPS_PAUSE_UNTIL=str(go)))
    wait_paused(go, proc)
    _kill_group(proc.pid)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(ws) == before, "a killed synthesis changed the workspace"
    [run] = [r for r in list_runs(ws) if r.stage == "synthesizing"]
    cost = genops(ws, "cost", "--json", env=_env())
    assert cost.returncode == 0, cost.stderr
    report = json.loads(cost.stdout)
    [cut] = report["may_have_been_billed"]
    assert (cut["run_id"], cut["label"], cut["may_have_been_billed"]) == \
        (run.run_id, "placement", True)  # selective: REQ-GREET-3 is placed first
    assert report["in_flight_usd"] == 0.0 and report["may_have_been_billed_usd"] > 0
    assert report["month_remaining_usd"] == pytest.approx(
        report["per_month_usd"] - report["month_total_usd"] - cut["reserved_usd"])
    assert Ledger.for_workspace(ws).reserved_usd() == pytest.approx(cut["reserved_usd"])
    human = genops(ws, "cost", env=_env())
    assert "1 call(s) may have been billed" in " ".join(human.stdout.split())
    runs = json.loads(genops(ws, "runs", "--json", env=_env()).stdout)["runs"]
    assert [(r["run"], r["stage"], r["may_have_been_billed"]) for r in runs[:1]] == \
        [(run.run_id, "synthesizing", 1)]
    resumed = genops(ws, "resume", env=_env())
    assert resumed.returncode == 0, resumed.stderr
    said = " ".join(resumed.stderr.split())
    assert f"resuming run {run.run_id}" in said
    assert f"1 call(s) of run {run.run_id} may have been billed" in said
    assert current_release(ws) == "r0002" and output_hash(ws) == prepared[1]
    paid = paid_keys(ws)
    assert len(paid) == len(set(paid)) == 6, "a request was paid twice"


# Each git kill point, followed by a read-only and a mutating command.
GIT_KILLS = [("in-git-commit", ("log",)), ("in-git-commit", ("cost", "--json")),
             ("in-git-tag", ("resume",)), ("in-git-tag", ("regenerate", "-m", "again"))]
assert {point for point, _ in GIT_KILLS} == set(GIT_CRASH_POINTS)


@pytest.mark.parametrize(("point", "then"), GIT_KILLS)
def test_sigkill_of_the_process_group_inside_git(ws: Path, prepared: tuple[Path, str],
                                                 point: str, then: tuple[str, ...]) -> None:
    """git dies holding its locks; the next command, whatever it is, finishes the release."""
    proc = start_genops(ws, "regenerate", "-m", f"killed {point}",
                        env=_env(GENOPS_CRASH_AT=point))
    code, _, err = _finish(proc)
    assert code == -signal.SIGKILL, f"{point} was not reached: {err}"
    _kill_group(proc.pid)
    left = [p.name for p in git_lock_files(ws)]
    assert left and (("index.lock" in left) == (point == "in-git-commit")), left
    assert (ws / ".genops/promote.journal").is_file()
    result = genops(ws, *then, env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removed stale git lock" in result.stderr
    assert "finished the interrupted promotion of r0002" in " ".join(result.stderr.split())
    assert git_lock_files(ws) == [] and not (ws / ".genops/promote.journal").exists()
    assert current_release(ws) == "r0002" and output_hash(ws) == prepared[1]
    assert "genops/r0002" in tags(ws)
    head = subprocess.run(["git", "log", "-1", "--format=%B"], cwd=ws, capture_output=True,
                          text=True).stdout
    assert "Genops-Release: r0002" in head
    status = subprocess.run(["git", "status", "--porcelain", "--", "generated", "diffs",
                             ".genops/releases"], cwd=ws, capture_output=True, text=True)
    assert status.stdout == ""
    assert hash_tree(ws / "generated") == prepared[1]


def test_git_locks_are_kept_while_a_git_process_works_in_the_repository(ws: Path) -> None:
    lock = ws / ".git" / "index.lock"
    lock.write_text("")
    assert clear_stale_git_locks(ws) == ([], []), "removed without holding the workspace lock"
    live = subprocess.Popen(["git", "hash-object", "--stdin"], cwd=ws / "specs",
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{live.pid}/comm").read_text().strip() != "git":  # exec'd yet?
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        with wslock.workspace_lock(ws, "test"):
            removed, blocking = clear_stale_git_locks(ws)
            assert (removed, blocking) == ([], [live.pid]) and lock.exists()
            live.communicate(b"x")
            removed, blocking = clear_stale_git_locks(ws)
            assert removed == [str(lock)] and blocking == [] and not lock.exists()
    finally:
        if live.poll() is None:
            live.kill()


def test_lock_file_names_the_holder_and_is_released_with_its_process(ws: Path) -> None:
    holder = subprocess.Popen(
        ["python", "-c", "import sys; from pathlib import Path; from genops.release import lock; "
         "held = lock.acquire(Path(sys.argv[1]), 'regenerate'); held.note_run('run-x'); "
         "print('held', flush=True); sys.stdin.readline()", str(ws)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(wslock.WorkspaceLocked) as refused:
        wslock.acquire(ws, "patch")
    assert refused.value.exit_code == 2
    assert refused.value.message.startswith(
        f"workspace is locked by pid {holder.pid} (genops regenerate, run run-x, since ")
    holder.kill()
    holder.wait()
    with wslock.workspace_lock(ws, "patch") as held:  # the kernel let go with the process
        assert held.holder.pid == os.getpid()
