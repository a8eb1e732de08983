"""Helpers shared by the ledger tests: a tiny real workspace on disk and request builders."""

from __future__ import annotations

from pathlib import Path

from genops.calls import CompletionRequest, Message
from genops.workspace.config import GenopsConfig
from genops.workspace.toml_config import load_config

GENOPS_TOML = """\
[project]
name = "ledger-test"

[models.senior]
provider = "fake"
model = "fake-1"
max_output_tokens = 1000

[models.replayed]
provider = "replay"
model = "fake-1"

[budget]
per_run_usd = {per_run}
per_month_usd = {per_month}

[prices."fake-1"]
input = 1.0
output = 2.0
cache_read = 0.1
cache_write = 1.25
"""


def write_workspace(root: Path, *, per_run: float = 5.0, per_month: float = 50.0) -> GenopsConfig:
    root.mkdir(parents=True, exist_ok=True)
    (root / "genops.toml").write_text(GENOPS_TOML.format(per_run=per_run, per_month=per_month))
    return load_config(root)


def make_request(text: str = "hello", *, model: str = "fake-1", max_output_tokens: int = 1000,
                 temperature: float = 0.0, system: str = "You write code.") -> CompletionRequest:
    return CompletionRequest(provider="fake", model=model, max_output_tokens=max_output_tokens,
                             temperature=temperature,
                             messages=(Message("system", system), Message("user", text)))
