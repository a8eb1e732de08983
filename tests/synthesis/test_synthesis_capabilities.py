"""Model capabilities as catalog data, and prompt caching, through the real Anthropic SDK at the
wire emulator: how a cut-off answer continues, which pins load, and what the groups read."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from synth_helpers import ALL_FILES, BLUEPRINT, GROUPS, make_client, write_workspace

from genops.errors import ConfigError
from genops.providers.anthropic_provider import AnthropicProvider
from genops.calls import ProviderSettings
from genops.synthesis.conversation import build_request
from genops.synthesis.engine import synthesize
from genops.protocol.files import format_protocol
from genops.testing.emulator import Emulator, Recorded, Reply
from genops.workspace import Workspace, load_workspace
from genops.workspace.config import ModelConfig

_GROUP = re.compile(r"Write the files of group `([^`]+)`")


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    for name in list(os.environ):
        if name.startswith("ANTHROPIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-capabilities-0123456789")
    with Emulator(prompt_cache=True) as emulator:
        yield emulator


def _texts(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


def _run(ws: Workspace, emu: Emulator) -> Any:
    provider = AnthropicProvider(ProviderSettings(base_url=emu.base_url("anthropic")))
    client = make_client(ws, {"senior": provider})  # type: ignore[dict-item]
    return synthesize(ws, client=client, rungs=ws.config.rung_models()[:1], previous_tree=None,
                      run_dir=ws.root / ".genops" / "runs" / "run-1")


def _demo(req: Recorded) -> Reply:
    last = _texts(req.body["messages"][-1])
    if "Plan the complete source tree" in last:
        return Reply(text=json.dumps(BLUEPRINT))
    match = _GROUP.search(last)
    assert match, last[:200]
    return Reply(text=format_protocol(GROUPS[match.group(1)][0]))


def test_group_requests_read_the_prefix_the_blueprint_request_wrote(tmp_path: Path,
                                                                     emu: Emulator) -> None:
    ws = write_workspace(tmp_path / "ws", senior_provider="anthropic")
    emu.responder(_demo, "anthropic")
    result = _run(ws, emu)
    assert result.files == dict(sorted(ALL_FILES.items()))
    blueprint, first_group = result.calls[0], result.calls[1]
    assert blueprint.label == "blueprint" and blueprint.usage.cache_write_tokens > 0
    assert first_group.label != "blueprint"
    assert first_group.usage.cache_read_tokens > 0  # the specs and ADRs the blueprint cached
    # every group reads at least the blueprint's prefix; only the blueprint part is new
    groups = result.calls[1:]
    assert all(c.usage.cache_read_tokens >= blueprint.usage.cache_write_tokens for c in groups)
    # on the wire: the group's context is two blocks, the first exactly the blueprint's context
    bodies = [r.body for r in emu.requests_for("anthropic")]
    blueprint_context = bodies[0]["messages"][0]["content"]
    group_context = bodies[1]["messages"][0]["content"]
    assert len(blueprint_context) == 1 and len(group_context) == 2
    assert group_context[0] == blueprint_context[0]
    assert group_context[0]["cache_control"] == {"type": "ephemeral"}


def test_the_cache_split_stays_out_of_the_archive_key(tmp_path: Path, emu: Emulator) -> None:
    """Where the cache breaks changes no answer: releases made before it replay unchanged."""
    from dataclasses import replace

    from genops.calls import CompletionRequest, Message

    plain = CompletionRequest("anthropic", "m", (Message("user", "specs + blueprint",
                                                         cache_prefix=True),), 10)
    split = replace(plain, messages=(replace(plain.messages[0], cache_split=7),))
    assert plain.key() == split.key()


def _cut_off_then_finish(full: str, seen: list[dict[str, Any]]) -> Any:
    def respond(req: Recorded) -> Reply:
        seen.append(req.body)
        if len(seen) == 1:
            return Reply(text=full[:len(full) // 2], stop="max_tokens")
        return Reply(text=full[len(full) // 2:])
    return respond


@pytest.mark.parametrize(("prefill", "last_role"), [(None, "assistant"), (False, "user")],
                         ids=["catalog-default-prefill", "marked-without-prefill"])
def test_continuation_method_comes_from_capabilities(tmp_path: Path, emu: Emulator,
                                                     prefill: bool | None, last_role: str) -> None:
    ws = write_workspace(tmp_path / "ws", strategy="single", senior_provider="anthropic")
    if prefill is not None:
        toml = ws.root / "genops.toml"
        toml.write_text(toml.read_text() + "\n[models.senior.capabilities]\nprefill = false\n")
        ws = load_workspace(ws.root)
    full = format_protocol({"demo/a.py": "".join(f"A_{i} = {i}\n" for i in range(60))})
    seen: list[dict[str, Any]] = []
    emu.responder(_cut_off_then_finish(full, seen), "anthropic")
    result = _run(ws, emu)
    assert len(seen) == 2
    follow = seen[1]["messages"]
    assert follow[-1]["role"] == last_role
    if last_role == "user":  # a continuation request quoting the tail, not a prefill
        assert "cut off at the output limit" in _texts(follow[-1])
        assert follow[-2]["role"] == "assistant"
    assert result.files == {"demo/a.py": "".join(f"A_{i} = {i}\n" for i in range(60))}


# (rung table lines, the refused key or None when the pins load)
PINS = [
    pytest.param('provider = "openai"\nmodel = "gpt-5-2025-08-07"\napi = "responses"\nseed = 7',
                 "seed", id="seed-on-responses"),
    pytest.param('provider = "openai"\nmodel = "gpt-5-2025-08-07"\ntemperature = 0.2',
                 "temperature", id="temperature-on-gpt-5"),
    pytest.param('provider = "anthropic"\nmodel = "claude-sonnet-4-5-20250929"\nseed = 1',
                 "seed", id="seed-on-anthropic"),
    pytest.param('provider = "anthropic"\nmodel = "claude-sonnet-4-5-20250929"\ntop_p = 0.9',
                 "top_p", id="top-p-on-claude-4-5"),
    pytest.param('provider = "openai"\nmodel = "gpt-5-2025-08-07"\nseed = 7\ntemperature = 1.0',
                 None, id="seed-on-chat-and-the-only-temperature"),
    pytest.param('provider = "anthropic"\nmodel = "claude-future-1"\ntop_p = 0.9\n'
                 '[models.extra.capabilities]\ntop_p = true', None, id="pinned-capabilities"),
]


@pytest.mark.parametrize(("rung", "refused"), PINS)
def test_a_pin_the_model_cannot_honour_is_refused_at_load(tmp_path: Path, rung: str,
                                                          refused: str | None) -> None:
    ws = write_workspace(tmp_path / "ws")
    toml = ws.root / "genops.toml"
    text = toml.read_text() + f"\n[models.extra]\n{rung}\n"
    toml.write_text(text)
    if refused is None:
        load_workspace(ws.root)
        return
    with pytest.raises(ConfigError) as caught:
        load_workspace(ws.root)
    lines = text.splitlines()
    assert caught.value.line is not None
    assert lines[caught.value.line - 1].startswith(f"{refused} =")
    assert f"models.extra.{refused}" in caught.value.message


@pytest.mark.parametrize(("pins", "sent"), [
    ({"provider": "openai", "model": "gpt-5-2025-08-07", "api": "responses", "seed": 7},
     {"seed": None, "temperature": None}),
    ({"provider": "openai", "model": "gpt-5-2025-08-07", "seed": 7},
     {"seed": 7, "temperature": None}),
    ({"provider": "anthropic", "model": "claude-sonnet-4-5-20250929", "seed": 3},
     {"seed": None, "temperature": 0.0}),
])
def test_a_parameter_never_sent_is_not_in_the_request(pins: dict[str, Any],
                                                      sent: dict[str, Any]) -> None:
    """Past releases load without the pin check; their unsent pins still stay out of keys."""
    request = build_request(ModelConfig(**pins), (), cache_key="k", label="x")
    assert {"seed": request.seed, "temperature": request.temperature} == sent


def test_the_fake_standing_in_for_a_real_model_books_no_cost(tmp_path: Path) -> None:
    """`--provider fake` rewrites a Claude rung to the fake: the ledger must not bill Claude's
    list price for the fake's answers (a fake model of the catalog's own is priced as pinned)."""
    from synth_helpers import demo_responder

    from genops.ledger.db import Ledger
    from genops.providers.fake import FakeProvider

    ws = write_workspace(tmp_path / "ws")
    toml = ws.root / "genops.toml"
    toml.write_text(toml.read_text().replace('model = "senior-1"',
                                             'model = "claude-sonnet-4-5-20250929"'))
    ws = load_workspace(ws.root)
    client = make_client(ws, {"senior": FakeProvider(responder=demo_responder())})
    result = synthesize(ws, client=client, rungs=ws.config.rung_models()[:1], previous_tree=None,
                        run_dir=ws.root / ".genops" / "runs" / "run-1")
    assert result.calls and all(c.cost_usd == 0.0 for c in result.calls)
    rows = [c for c in Ledger.for_workspace(ws.root).calls() if c.status == "ok"]
    assert rows and all(c.cost_usd == 0.0 for c in rows)
