"""A stream cut by a dying server is paid for (issue 24): its tokens are booked on its own ledger
row even when the retry succeeds, and `genops cost` counts them as estimates ("≈"), not as 0.
Through the real openai SDK against the wire emulator playing llama-cpp-python (no usage in a
stream), genops's ModelClient, and the `genops cost` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from genops.calls import Message
from genops.cli.cost import register
from genops.ledger.db import Ledger
from genops.ledger.pricing import cost_usd, estimate_request_tokens, estimate_tokens, price_for
from genops.providers.client import ModelClient
from genops.synthesis.conversation import build_request
from genops.testing.emulator import LLAMA_CPP_PYTHON, Emulator, Fault, Reply
from genops.workspace.toml_config import load_config

MODEL = "smollm2-135m-instruct-q4"
TEXT = '<file path="mad/bus.py">\nclass Bus:\n    """REQ-BUS-1."""\n</file>\n' * 4
TOML = """\
[project]
name = "cut-streams"

[models.local]
provider = "openai-compatible"
model = "{model}"
base_url = "{base_url}"
max_output_tokens = 800
timeout_s = 20

[ladder]
rungs = ["local"]

[retry]
max_attempts = 3
base_delay_s = 0

[prices."{model}"]
input = 2.0
output = 8.0
"""


def _cost(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """genops"""

    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["cost", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_cut_attempt_keeps_its_tokens_when_the_retry_succeeds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Emulator(local=LLAMA_CPP_PYTHON) as emu:
        (tmp_path / "genops.toml").write_text(TOML.format(model=MODEL,
                                                          base_url=emu.base_url("openai")))
        config = load_config(tmp_path)
        emu.script("openai", Fault(kind="drop", after_chunks=5, text=TEXT), Reply(text="ok"))
        request = build_request(config.models["local"],
                                (Message("system", "You write code."),
                                 Message("user", "Write mad/bus.py")), cache_key="",
                                label="single")
        client = ModelClient(tmp_path, config, run_id="run-cut", sleep=lambda _s: None)
        result = client.call("local", request, label="single")
        client.ledger.close()

    assert result.response.text == "ok" and result.attempts == 2
    rows = Ledger.for_workspace(tmp_path).calls("run-cut")
    [cut] = [r for r in rows if r.status == "error"]
    [answered] = [r for r in rows if r.status != "error"]
    produced = TEXT[:5 * 16]  # what the dying stream sent before it was cut
    assert (cut.status, cut.error_class, cut.label) == ("error", "network", "single")
    assert cut.usage.estimated and cut.usage.output_tokens == estimate_tokens(produced)
    assert cut.usage.input_tokens == estimate_request_tokens(request)
    assert cut.cost_usd == pytest.approx(cost_usd(cut.usage, price_for(config, MODEL)))
    assert cut.cost_usd > 0 and answered.status == "ok"
    assert answered.usage.output_tokens == estimate_tokens("ok")  # the retry's own, not the cut's

    report = json.loads(_cost(tmp_path, monkeypatch, "--json", "--by", "run"))
    [row] = report["by_run"]
    assert row["errors"] == 1 and row["estimated_calls"] == 2
    assert row["output_tokens"] == cut.usage.output_tokens + answered.usage.output_tokens
    assert row["cost_usd"] == pytest.approx(cut.cost_usd + answered.cost_usd)
    table = " ".join(_cost(tmp_path, monkeypatch, "--by", "run").split())
    assert f"≈{row['output_tokens']:,}" in table and "≈0" not in table
