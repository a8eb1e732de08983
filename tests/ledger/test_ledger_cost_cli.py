"""`genops cost`: spend by run, model and month, in a fresh workspace and after real calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from ledger_helpers import make_request
from typer.testing import CliRunner

from genops.cli.cost import register
from genops.providers.client import ModelClient
from genops.providers.fake import FakeProvider
from genops.workspace.config import GenopsConfig


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:  # keeps `cost` a subcommand, as in the real app
        """genops"""

    return app


def _cost(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(_app(), ["cost", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_a_fresh_workspace_shows_zero_spend_and_creates_nothing(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workspace)
    code, output = _cost(["--json"])
    assert code == 0
    report = json.loads(output)
    assert report["month_total_usd"] == 0.0 and report["per_month_usd"] == 50.0
    assert report["by_run"] == report["by_model"] == report["by_month"] == []
    code, output = _cost([])
    assert code == 0
    assert "no calls recorded yet" in output and "this month" in output and "$50.00" in output
    assert not (workspace / ".genops").exists()


def test_spend_by_model_run_and_month_after_real_calls(
        workspace: Path, config: GenopsConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    client = ModelClient(workspace, config, run_id="run-7",
                         providers={"senior": FakeProvider(responder=lambda r: "x" * 4000)})
    paid = client.call("senior", make_request("one"))
    client.call("senior", make_request("one"))  # an archive hit costs nothing
    client.ledger.close()
    monkeypatch.chdir(workspace / ".genops")  # any directory inside the workspace
    code, output = _cost(["--by", "model", "--json"])
    assert code == 0
    report = json.loads(output)
    assert "by_run" not in report
    [row] = report["by_model"]
    assert (row["group"], row["calls"], row["archive_hits"]) == ("fake-1", 1, 1)
    assert row["cost_usd"] == pytest.approx(paid.cost_usd)
    assert report["month_total_usd"] == pytest.approx(paid.cost_usd)
    code, output = _cost([])
    assert code == 0
    assert "run-7" in output and "fake-1" in output and "spend by month" in output


def test_the_genops_command_reports_cost_and_refuses_outside_a_workspace(
        workspace: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    command = [sys.executable, "-m", "genops.cli.main", "cost", "--json"]
    done = subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["month_total_usd"] == 0.0
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    done = subprocess.run(command, cwd=outside, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "genops.toml" in done.stderr
