"""kill -9 anywhere in a run or a promotion: after recovery generated/ is the old tree or the new
one, never a mix; the release records agree with it; resume finishes the run without paying twice.

Each case copies one prepared workspace (release r0001 promoted, the spec changed, the model
scripted to answer differently), runs `genops regenerate` in a child process and kills it: either
at a named crash point (GENOPS_CRASH_AT makes the child `os._exit(137)` there) or with SIGKILL
a random moment after its run.json reaches a given stage. Recovery is
`genops.release.promote.recover_interrupted`, as every command runs it.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
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
    tags,
    workspace,
)

from genops.faults import CRASH_POINTS
from genops.release.pipeline import regenerate
from genops.release.promote import recover_interrupted
from genops.release.runs import list_runs
from genops.store.releases import current_release
from genops.store.tree import tree_hash

RANDOM_KILLS = 10
# Each random kill waits for its run to reach one of these stages, then a random 0-250 ms more.
KILL_TARGETS = ("created", "synthesizing", "staged", "gated", "promoting")
STAGE_ORDER = ("created", "synthesizing", "awaiting", "staged", "gates_failed", "gated",
               "promoting", "promoted", "unchanged", "failed")


def _expected_hash(files: dict[str, str]) -> str:
    return tree_hash({p: hashlib.sha256(c.encode()).hexdigest() for p, c in files.items()})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> tuple[Path, str, str]:
    """(workspace, old tree hash, new tree hash), the new hash checked by one uninterrupted run."""
    base = tmp_path_factory.mktemp("crash-base")
    with in_process_env(venv_cache):
        root = make_workspace(base)
        regenerate(workspace(root), reason="first")
    old = output_hash(root)
    new_files = make_louder(root)
    check = _copy(root, base / "uninterrupted")
    result = genops(check, "regenerate", "--reason", "whole",
                    env=clean_env(GENOPS_VENV_CACHE=str(venv_cache)))
    assert result.returncode == 0, result.stderr
    assert output_hash(check) == _expected_hash(new_files)
    return root, old, _expected_hash(new_files)


def _copy(root: Path, dest: Path) -> Path:
    shutil.copytree(root, dest, symlinks=True)
    return dest


def _wait_group_gone(pgid: int, timeout: float = 30.0) -> None:
    """Wait until no process of the killed child's group is left (e.g. a git it started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _check_after_recovery(root: Path, old: str, new: str) -> str:
    """Recover, then assert the tree is whole and the release records agree with it."""
    recover_interrupted(root)
    assert not (root / ".genops/promote.journal").exists()
    now = output_hash(root)
    assert now in (old, new), "generated/ is a mix of two releases"
    promoted = current_release(root) == "r0002"
    assert promoted == (now == new)
    assert ("genops/r0002" in tags(root)) == promoted
    return now


def _resume_and_check(root: Path, new: str, env: dict[str, str]) -> None:
    if current_release(root) != "r0002":
        unfinished = [r for r in list_runs(root) if r.stage not in ("promoted", "unchanged")]
        # killed before its run.json existed: nothing was paid, so simply start again
        args = ("resume",) if unfinished else ("regenerate", "--reason", "again")
        result = genops(root, *args, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    assert output_hash(root) == new
    assert current_release(root) == "r0002"
    paid = paid_keys(root)
    assert len(paid) == len(set(paid)), "a request was paid for twice"
    status = subprocess.run(["git", "status", "--porcelain", "--", "generated", "diffs",
                             ".genops/releases"], cwd=root, capture_output=True, text=True)
    assert status.stdout == ""


@pytest.mark.slow
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_point_never_leaves_a_mixed_tree(prepared: tuple[Path, str, str], tmp_path: Path,
                                               point: str) -> None:
    root, old, new = prepared
    ws = _copy(root, tmp_path / "ws")
    env = clean_env(GENOPS_VENV_CACHE=os.environ["GENOPS_VENV_CACHE"])
    crashed = genops(ws, "regenerate", "--reason", f"crash at {point}",
                     env={**env, "GENOPS_CRASH_AT": point})
    assert crashed.returncode == 137, f"crash point {point} was not reached: {crashed.stderr}"
    _check_after_recovery(ws, old, new)
    _resume_and_check(ws, new, env)


def _stage_of_new_run(root: Path, known: set[str]) -> str | None:
    for path in (root / ".genops/runs").glob("*/run.json"):
        if path.parent.name not in known:
            match = re.search(r'"stage": "(\w+)"', path.read_text())
            return match.group(1) if match else None
    return None


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(RANDOM_KILLS))
def test_sigkill_at_a_random_instant(prepared: tuple[Path, str, str], tmp_path: Path, seed: int,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Watch the child's run.json; once it reaches the target stage, kill it a random moment later."""
    root, old, new = prepared
    ws = _copy(root, tmp_path / "ws")
    env = clean_env(GENOPS_VENV_CACHE=os.environ["GENOPS_VENV_CACHE"])
    target = KILL_TARGETS[seed % len(KILL_TARGETS)]
    delay = random.Random(seed).uniform(0.0, 0.25)
    known = {p.name for p in (ws / ".genops/runs").iterdir()}
    child = subprocess.Popen([sys.executable, "-m", "genops.cli.main", "regenerate", "--reason",
                              f"killed in {target}"], cwd=ws, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    while child.poll() is None:
        stage = _stage_of_new_run(ws, known)
        if stage is not None and STAGE_ORDER.index(stage) >= STAGE_ORDER.index(target):
            break
        time.sleep(0.002)
    time.sleep(delay)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    _wait_group_gone(child.pid)
    journal = (ws / ".genops/promote.journal").exists()
    landed = _stage_of_new_run(ws, known) or "before run.json"
    _check_after_recovery(ws, old, new)
    _resume_and_check(ws, new, env)
    with capsys.disabled():
        print(f"\n[sigkill {delay:.3f}s after reaching {target!r}] run stage {landed}"
              + (", promotion journal pending" if journal else ""))
