"""The client in front of the real SDKs, over HTTP at the local emulator: keys never persist."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from ledger_helpers import make_request

from genops.errors import ProviderError
from genops.ledger.pricing import cost_usd
from genops.providers.client import ModelClient
from genops.testing.emulator import Emulator, Fault, Reply
from genops.workspace.config import Price
from genops.workspace.toml_config import load_config

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

KEYS = {"ANTHROPIC_API_KEY": "sk-ant-api03-LEDGERCANARY-aaaaaaaaaaaaaaaa",
        "OPENAI_API_KEY": "sk-proj-LEDGERCANARY-bbbbbbbbbbbbbbbbbbbb"}
MODELS = {"anthropic": "claude-sonnet-4-5-20250929", "openai": "gpt-5-2025-08-07"}
TOML = """\
[project]
name = "sdk-ledger-test"

[models.senior]
provider = "{provider}"
model = "{model}"
base_url = "{base_url}"
max_output_tokens = 2000
timeout_s = 20

[retry]
max_attempts = 3

[prices."{model}"]
input = 3.0
output = 15.0
cache_read = 0.3
cache_write = 3.75
"""


@pytest.fixture(autouse=True)
def canary_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("ANTHROPIC_", "OPENAI_", "GEMINI_", "GOOGLE_")):
            monkeypatch.delenv(name)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", "/nonexistent/genops-test")


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_paid_failed_and_retried_calls_leave_no_key_on_disk(tmp_path: Path,
                                                            provider: str) -> None:
    with Emulator() as emu:
        (tmp_path / "genops.toml").write_text(TOML.format(
            provider=provider, model=MODELS[provider], base_url=emu.base_url(provider)))
        config = load_config(tmp_path)
        emu.script(provider,
                   Reply(text="first answer", input_tokens=1200, output_tokens=300,
                         cache_read=5000),
                   Fault(status=429, retry_after=0.01),
                   Reply(text="second answer", input_tokens=10, output_tokens=5),
                   Fault(status=401, echo_key=True))
        slept: list[float] = []
        client = ModelClient(tmp_path, config, run_id="sdk-run", sleep=slept.append)
        first = client.call("senior", make_request("one", model=MODELS[provider]))
        second = client.call("senior", make_request("two", model=MODELS[provider]))
        with pytest.raises(ProviderError) as caught:
            client.call("senior", make_request("three", model=MODELS[provider]))
        client.call("senior", make_request("one", model=MODELS[provider]))  # archive hit
    price = Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)
    assert first.response.text == "first answer" and first.response.usage.cache_read_tokens == 5000
    # 1,200 x $3/M + 300 x $15/M + 5,000 x $0.30/M = 0.0036 + 0.0045 + 0.0015
    assert first.cost_usd == pytest.approx(0.0096)
    assert first.cost_usd == pytest.approx(cost_usd(first.response.usage, price))
    assert second.attempts == 2 and slept == [0.01]
    assert caught.value.error_class == "auth"
    rows = client.ledger.calls("sdk-run")
    assert [r.status for r in rows] == ["ok", "ok", "error", "archive_hit"]
    assert client.budget.status().run_reserved_usd == 0.0
    client.ledger.close()

    assert all(value not in f"{caught.value}" for value in KEYS.values())
    files = [p for p in (tmp_path / ".genops").rglob("*") if p.is_file()]
    assert len([p for p in files if p.name.endswith(".json.gz")]) == 2
    for path in files:
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        assert b"LEDGERCANARY" not in data, path
