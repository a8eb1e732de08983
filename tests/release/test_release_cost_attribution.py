"""A release's cost includes the runs that led to it (issue 24, "Cost where it belongs"): a run
whose gates failed and a run cut off after paying, then a run answered from the archive, make a
release whose own run cost $0 and which cost what the two before it paid. Real CLI, fake
provider; `genops log`, the reviewer summary and `genops cost` all say so."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from genops.ledger.db import Ledger
from release_helpers import (clean_env, commit_all, genops, make_workspace, manifest,
                             script_model, tree_files)


def run_total(root: Path, run_id: str) -> float:
    ledger = Ledger.for_workspace(root)
    try:
        return ledger.run_total(run_id)
    finally:
        ledger.close()


def runs(root: Path) -> list[str]:
    return [json.loads(p.read_text())["run_id"] for p in
            sorted((root / ".genops" / "runs").glob("*/run.json"))]


def test_the_runs_that_led_to_a_release_are_its_cost(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    script_model(root, tree_files(punct="?", expected="!"))  # its tests fail
    commit_all(root, "a model that writes a failing tree")
    gates_failed = genops(root, "regenerate", "-m", "try 1")
    assert gates_failed.returncode == 1, gates_failed.stderr[-2000:]
    script_model(root, tree_files())
    commit_all(root, "a better model")
    env = clean_env(GENOPS_VENV_CACHE=os.environ["GENOPS_VENV_CACHE"],
                    GENOPS_CRASH_AT="after-synthesis")
    cut = genops(root, "regenerate", "-m", "try 2", env=env)  # paid, then killed
    assert cut.returncode == 137, cut.stderr[-2000:]
    first, second = runs(root)
    spent = {run: run_total(root, run) for run in (first, second)}
    assert all(cost > 0 for cost in spent.values()), spent

    done = genops(root, "regenerate", "-m", "try 3")  # every answer from the archive
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    release = manifest(root, "r0001")
    assert release["totals"]["cost_usd"] == 0 and release["totals"]["archive_hits"] == 3
    earlier = release["earlier_runs"]
    assert [(r["run"], r["stage"]) for r in earlier["runs"]] == [(first, "gates_failed"),
                                                                 (second, "synthesizing")]
    total = sum(spent.values())
    assert earlier["cost_usd"] == pytest.approx(total, abs=1e-6)

    [entry] = json.loads(genops(root, "log", "--json").stdout)["releases"]
    assert entry["cost_usd"] == pytest.approx(total, abs=1e-6) and entry["run_cost_usd"] == 0
    assert [r["run"] for r in entry["earlier_runs"]] == [first, second]
    table = " ".join(genops(root, "log").stdout.split())
    assert f"${total:.4f} (3 runs)" in table, table

    summary = " ".join((root / "diffs" / "r0001.md").read_text().split())
    assert (f"${total:.4f} in 2 earlier runs on no release that led to it (1 gates failed, "
            f"1 synthesizing) · ${total:.4f} for the release in all") in summary, summary

    cost = json.loads(genops(root, "cost", "--json").stdout)
    [by_release] = cost["by_release"]
    assert by_release["group"] == "r0001"
    assert by_release["cost_usd"] == pytest.approx(total, abs=1e-6)
    assert by_release["calls"] == 6 and by_release["archive_hits"] == 3
    text = " ".join(genops(root, "cost", "--by", "release").stdout.split())
    assert "by release" in text and "r0001" in text
