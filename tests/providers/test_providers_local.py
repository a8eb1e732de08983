"""Local OpenAI-compatible servers, as measured on llama.cpp, through the real openai SDK.

The emulator plays llama-cpp-python (`LLAMA_CPP_PYTHON`: no usage in a stream, an empty 200 stream
for an oversized prompt, 404 on /v1/responses, a stream closed mid-answer where the window fills)
and upstream llama-server (`LLAMA_SERVER`: usage with cached tokens, 400
exceed_context_size_error, a partial /v1/responses, finish_reason "length" where the window
fills). Each case goes through genops' `ModelClient` (archive, budget, retries, ledger) or the
synthesis `Unit`, because what a user notices is the ledger row, the exit code and the hint.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from genops.errors import ExitCode, ProviderError, UsageError
from genops.ledger.db import Ledger
from genops.ledger.pricing import cost_usd, estimate_request_tokens, estimate_tokens, price_for
from genops.calls import Message, Usage
from genops.providers.client import ModelClient
from genops.synthesis.conversation import RunSettings, Unit
from genops.synthesis.journal import RunJournal
from genops.synthesis.progress import NullProgress
from genops.testing.emulator import LLAMA_CPP_PYTHON, LLAMA_SERVER, Emulator, Fault, Reply
from genops.workspace.config import GenopsConfig
from genops.workspace.toml_config import load_config

MODEL = "smollm2-135m-instruct-q4"
TEXT = '<file path="mad/bus.py">\nclass Bus:\n    """REQ-BUS-1."""\n</file>\n' * 4
TOML = """\
[project]
name = "local-model"

[models.local]
provider = "openai-compatible"
model = "{model}"
base_url = "{base_url}"
api = "{api}"
max_output_tokens = {max_out}
timeout_s = 20
{window}

[ladder]
rungs = ["local"]

[retry]
max_attempts = 3
base_delay_s = 0

[prices."{model}"]
input = 2.0
output = 8.0
"""


def workspace(root: Path, emu: Emulator, *, api: str = "chat", max_out: int = 800,
              window: int | None = None, budget: str = "") -> GenopsConfig:
    root.mkdir(parents=True, exist_ok=True)
    pin = f"context_window = {window}" if window is not None else ""
    (root / "genops.toml").write_text(TOML.format(model=MODEL, base_url=emu.base_url("openai"),
                                                  api=api, max_out=max_out, window=pin)
                                      + (f"\n[budget]\n{budget}\n" if budget else ""))
    return load_config(root)


def client_for(root: Path, config: GenopsConfig, run_id: str = "run-local") -> ModelClient:
    return ModelClient(root, config, run_id=run_id, sleep=lambda _s: None)


def request(config: GenopsConfig, user: str = "Write mad/bus.py") -> Any:
    from genops.synthesis.conversation import build_request

    messages = (Message("system", "You write code."), Message("user", user))
    return build_request(config.models["local"], messages, cache_key="", label="single")


def open_reservations(root: Path) -> int:
    """Calls still holding money in flight (none may be left once a call has failed)."""
    ledger = Ledger.for_workspace(root)
    try:
        return len(ledger.unsettled())
    finally:
        ledger.close()


def test_a_stream_without_usage_is_counted_by_genops_and_marked_estimated(tmp_path: Path) -> None:
    with Emulator(local=LLAMA_CPP_PYTHON) as emu:
        config = workspace(tmp_path, emu)
        emu.script("openai", Reply(text=TEXT, input_tokens=55, output_tokens=70))
        req = request(config)
        result = client_for(tmp_path, config).call("local", req)

    assert "stream_options" in emu.requests[-1].body  # asked for, ignored by the server
    usage = result.response.usage
    assert usage == Usage(input_tokens=estimate_request_tokens(req),
                          output_tokens=estimate_tokens(TEXT), estimated=True)
    price = price_for(config, MODEL)
    assert result.cost_usd == pytest.approx(cost_usd(usage, price)) and result.cost_usd > 0
    [row] = Ledger.for_workspace(tmp_path).calls()
    assert row.status == "ok" and row.usage == usage and row.usage.estimated
    assert row.cost_usd == pytest.approx(result.cost_usd)
    # the archived answer carries the same counted usage, so a replay books the same figures
    archived = client_for(tmp_path, config, "run-replay").call("local", req)
    assert archived.from_archive and archived.response.usage == usage


def test_a_server_that_reports_usage_is_believed(tmp_path: Path) -> None:
    with Emulator(local=LLAMA_SERVER) as emu:
        config = workspace(tmp_path, emu)
        emu.script("openai", Reply(text=TEXT, input_tokens=55, output_tokens=70))
        result = client_for(tmp_path, config).call("local", request(config))

    assert result.response.usage == Usage(55, 70)
    assert Ledger.for_workspace(tmp_path).calls()[0].usage.estimated is False


def test_cached_tokens_without_a_cache_price_cost_the_input_price(tmp_path: Path) -> None:
    with Emulator(local=LLAMA_SERVER) as emu:
        config = workspace(tmp_path, emu)  # its price table names input and output only
        emu.script("openai", Reply(text="ok", input_tokens=100, output_tokens=10, cache_read=900))
        result = client_for(tmp_path, config).call("local", request(config))

    assert result.response.usage == Usage(100, 10, 900, 0)
    # 1,000 prompt tokens at $2/M (cached or not) + 10 output at $8/M
    assert result.cost_usd == pytest.approx((1000 * 2.0 + 10 * 8.0) / 1e6)


@pytest.mark.parametrize(("window", "error_class", "retryable", "requests"), [
    (None, "context_too_long", False, 1),  # window unknown: not retried blindly
    # a prompt over a pinned window is refused before sending (test_a_request_that_cannot_fit...)
])
def test_an_empty_200_stream_on_overflow_is_context_overflow_not_a_network_error(
        tmp_path: Path, window: int | None, error_class: str, retryable: bool,
        requests: int) -> None:
    server = dataclasses.replace(LLAMA_CPP_PYTHON, context_window=200)
    with Emulator(local=server) as emu:
        config = workspace(tmp_path, emu, window=window)
        with pytest.raises(ProviderError) as info:
            client_for(tmp_path, config).call("local", request(config, "x" * 2000))

    err = info.value
    assert (err.error_class, err.retryable, len(emu.requests)) == (error_class, retryable, requests)
    assert err.exit_code == ExitCode.PROVIDER
    assert "context overflow" in err.message and "before any token" in err.message
    assert "context_window" in (err.hint or "") and "retries" not in (err.hint or "")
    assert open_reservations(tmp_path) == 0


def test_an_empty_stream_far_below_a_known_window_is_a_network_cut_and_retried(
        tmp_path: Path) -> None:
    with Emulator(local=LLAMA_SERVER) as emu:
        config = workspace(tmp_path, emu, window=100_000)
        emu.script("openai", Fault(kind="drop", after_chunks=0), Reply(text="ok"))
        result = client_for(tmp_path, config).call("local", request(config))

    assert result.response.text == "ok" and result.attempts == 2


def test_llama_server_overflow_400_is_context_too_long(tmp_path: Path) -> None:
    server = dataclasses.replace(LLAMA_SERVER, context_window=200)
    with Emulator(local=server) as emu:
        config = workspace(tmp_path, emu)
        with pytest.raises(ProviderError) as info:
            client_for(tmp_path, config).call("local", request(config, "x" * 2000))

    assert info.value.error_class == "context_too_long" and len(emu.requests) == 1


def test_404_on_the_responses_path_says_the_server_lacks_it(tmp_path: Path) -> None:
    with Emulator(local=LLAMA_CPP_PYTHON) as emu:
        config = workspace(tmp_path, emu, api="responses")
        with pytest.raises(ProviderError) as info:
            client_for(tmp_path, config).call("local", request(config))

    err = info.value
    assert emu.requests[-1].path == "/v1/responses" and len(emu.requests) == 1
    assert err.error_class == "bad_request" and "Responses API" in err.message
    assert 'api = "chat"' in (err.hint or "") and "model id" not in (err.hint or "")


def test_a_killed_stream_books_the_tokens_it_produced(tmp_path: Path) -> None:
    with Emulator(local=LLAMA_CPP_PYTHON) as emu:
        config = workspace(tmp_path, emu)
        config = config.model_copy(update={"retry": config.retry.model_copy(
            update={"max_attempts": 1})})
        emu.script("openai", Fault(kind="drop", after_chunks=5, text=TEXT))
        req = request(config)
        with pytest.raises(ProviderError):
            client_for(tmp_path, config).call("local", req)

    [row] = Ledger.for_workspace(tmp_path).calls()
    assert row.status == "error" and row.error_class == "network"
    assert row.usage.estimated and row.usage.output_tokens == estimate_tokens(TEXT[:5 * 16])
    assert row.usage.input_tokens == estimate_request_tokens(req)
    assert row.cost_usd == pytest.approx(cost_usd(row.usage, price_for(config, MODEL)))
    assert open_reservations(tmp_path) == 0


def _unit(root: Path, config: GenopsConfig, client: ModelClient, repairs: int = 0) -> Unit:
    settings = RunSettings(client=client, rungs=config.rung_models(),
                           journal=RunJournal(root / "run"), progress=NullProgress(),
                           render=lambda name, overrides: "Continue exactly where you stopped.",
                           max_continuations=3, max_repairs=repairs, on_failure="stop",
                           on_budget="stop")
    return Unit(settings, "single", (Message("system", "You write code."),
                                     Message("user", "Write mad/bus.py " + "y" * 2400)),
                cache_key="", repair_instruction="")


def test_a_cut_at_the_window_below_the_output_limit_is_not_continued(tmp_path: Path) -> None:
    # a 1,024-token window, a ~620-token prompt, 800 output tokens allowed: the answer is cut at
    # the window, below the limit (the server's usage shows it); a continuation would be larger
    # still. (With the window pinned, this request would not be sent at all: see below.)
    with Emulator(local=dataclasses.replace(LLAMA_SERVER, context_window=1024)) as emu:
        config = workspace(tmp_path, emu, max_out=800)
        emu.script("openai", Reply(text=TEXT * 20))
        with pytest.raises(ProviderError) as info:
            _unit(tmp_path, config, client_for(tmp_path, config)).run(lambda text: text)

    err = info.value
    assert len(emu.requests) == 1, "no continuation is paid for"
    assert err.error_class == "context_too_long" and "ran out of context window" in err.message
    assert "multi" in (err.hint or "") and "context_window" in (err.hint or "")
    assert Ledger.for_workspace(tmp_path).calls()[0].usage.output_tokens > 0


def test_a_request_that_cannot_fit_a_pinned_window_is_refused_before_sending(
        tmp_path: Path) -> None:
    # ~620 prompt tokens + 800 output tokens > a pinned 1,024-token window
    with Emulator(local=dataclasses.replace(LLAMA_SERVER, context_window=1024)) as emu:
        config = workspace(tmp_path, emu, max_out=800, window=1024)
        req = request(config, "Write mad/bus.py " + "y" * 2400)
        with pytest.raises(UsageError) as info:
            client_for(tmp_path, config).call("local", req, label="single")

    err = info.value
    prompt = estimate_request_tokens(req)
    assert emu.requests == [], "nothing is sent"
    assert err.exit_code == ExitCode.USAGE
    assert "'local'" in err.message and "1,024" in err.message and f"{prompt:,}" in err.message
    assert f"{prompt + 800:,}" in err.message and "max_output_tokens" in (err.hint or "")
    assert Ledger.for_workspace(tmp_path).calls() == [] and open_reservations(tmp_path) == 0


def test_a_stream_closed_where_the_pinned_window_fills_is_not_retried(tmp_path: Path) -> None:
    # llama-cpp-python closes the stream mid-answer when n_ctx fills. The server was started with
    # -c 1024 while genops.toml pins 1,100 (or genops' estimate runs under the server's count):
    # ~620 + 450 fits the pin, so the request is sent, and the answer dies at the real window.
    with Emulator(local=dataclasses.replace(LLAMA_CPP_PYTHON, context_window=1024)) as emu:
        config = workspace(tmp_path, emu, max_out=450, window=1_100)
        emu.script("openai", Reply(text=TEXT * 20), Reply(text="never asked for"))
        req = request(config, "Write mad/bus.py " + "y" * 2400)
        with pytest.raises(ProviderError) as info:
            client_for(tmp_path, config).call("local", req)

    err = info.value
    assert len(emu.requests) == 1, "not retried as a network error (the prompt is paid once)"
    assert (err.error_class, err.retryable) == ("context_too_long", False)
    assert "context window" in err.message and "1,100" in err.message
    assert "context_window" in (err.hint or "")
    [row] = Ledger.for_workspace(tmp_path).calls()
    assert row.error_class == "context_too_long" and row.usage.output_tokens > 0
    assert open_reservations(tmp_path) == 0


def test_a_continuation_that_cannot_fit_the_pinned_window_is_not_sent(tmp_path: Path) -> None:
    # the server counted 300 prompt + 400 answer tokens; a continuation re-sends both and may
    # answer 400 more: 1,100 > the pinned 1,024 (genops' estimate of it would have fitted)
    with Emulator(local=LLAMA_SERVER) as emu:
        config = workspace(tmp_path, emu, max_out=400, window=1024)
        emu.script("openai", Reply(text="part one\n", input_tokens=300, output_tokens=400,
                                   stop="max_tokens"), Reply(text="part two\n"))
        with pytest.raises(UsageError) as info:
            Unit(RunSettings(client=client_for(tmp_path, config), rungs=config.rung_models(),
                             journal=RunJournal(tmp_path / "run"), progress=NullProgress(),
                             render=lambda name, overrides: "Continue.", max_continuations=3,
                             max_repairs=0, on_failure="stop", on_budget="stop"),
                 "single", (Message("user", "Write mad/bus.py"),), cache_key="",
                 repair_instruction="").run(lambda text: text)

    err = info.value
    assert len(emu.requests) == 1 and err.exit_code == ExitCode.USAGE
    assert "'local'" in err.message and "1,100 > context_window 1,024" in err.message
    assert "not sent" in err.message


def test_a_cut_at_the_output_limit_is_still_continued(tmp_path: Path) -> None:
    with Emulator(local=LLAMA_SERVER) as emu:
        config = workspace(tmp_path, emu, max_out=800, window=32_768)
        emu.script("openai", Reply(text="part one\n", output_tokens=800, stop="max_tokens"),
                   Reply(text="part two\n", output_tokens=3))
        text = _unit(tmp_path, config, client_for(tmp_path, config)).run(lambda t: t)[0]

    assert text == "part one\npart two\n" and len(emu.requests) == 2


# --- llama-server's partial Responses API ---------------------------------------------------------


def test_the_emulated_partial_responses_api_behaves_like_llama_server() -> None:
    import openai

    with Emulator(local=LLAMA_SERVER) as emu:
        emu.script("openai", Reply(text="z" * 400))
        sdk = openai.OpenAI(base_url=emu.base_url("openai"), api_key="none", max_retries=0)
        done = sdk.responses.create(model=MODEL, input="hi", max_output_tokens=20)
        with pytest.raises(openai.BadRequestError) as info:
            sdk.responses.create(model=MODEL, input=[{"role": "user", "content": "hi"},
                                                     {"role": "assistant", "content": "z"}])

    # cut at the limit, and still "completed", with no incomplete_details
    assert done.status == "completed" and done.incomplete_details is None
    assert done.usage is not None and done.usage.output_tokens == 20
    assert done.output_text == "z" * 80
    assert info.value.status_code == 400 and "Cannot determine type of 'item'" in str(info.value)


def test_a_responses_answer_cut_at_the_limit_but_reported_completed_is_continued(
        tmp_path: Path) -> None:
    with Emulator(local=LLAMA_SERVER) as emu:
        config = workspace(tmp_path, emu, api="responses", max_out=100)
        emu.script("openai", Reply(text="a" * 399 + "\n" + "b" * 400),  # cut at 100 tokens
                   Reply(text="the end\n", output_tokens=3))
        text, _rung = _unit(tmp_path, config, client_for(tmp_path, config)).run(lambda t: t)

    first, second = emu.requests
    assert len(emu.requests) == 2, "the truncated answer is continued, not taken as complete"
    assert text == "a" * 399 + "\n" + "the end\n"
    # the continuation carries the answer so far as an item llama-server accepts
    assert second.body["input"][-2] == {"type": "message", "role": "assistant",
                                        "content": "a" * 399 + "\n"}
    assert all(item["type"] == "message" for item in first.body["input"] + second.body["input"])
    rows = Ledger.for_workspace(tmp_path).calls()
    assert [r.status for r in rows] == ["ok", "ok"] and rows[0].usage.output_tokens == 100


def test_a_repair_request_over_llama_server_responses_is_accepted(tmp_path: Path) -> None:
    answers = iter(["prose, not code", '<file path="mad/bus.py">\nX = 1\n</file>\n'])

    def parse(text: str) -> str:
        from genops.protocol.files import parse_protocol
        parsed = parse_protocol(text)
        if not parsed.files:
            from genops.protocol.files import ProtocolError
            raise ProtocolError("the answer holds no <file> blocks")
        return text

    with Emulator(local=LLAMA_SERVER) as emu:
        config = workspace(tmp_path, emu, api="responses", max_out=100)
        emu.script("openai", Reply(text=next(answers), output_tokens=4),
                   Reply(text=next(answers), output_tokens=9))
        text, _rung = _unit(tmp_path, config, client_for(tmp_path, config), repairs=1).run(parse)

    assert text.startswith('<file path="mad/bus.py">') and len(emu.requests) == 2
    assert emu.requests[1].body["input"][2]["role"] == "assistant"


def test_a_responses_answer_cut_at_the_window_but_reported_completed_is_a_window_cut(
        tmp_path: Path) -> None:
    # As measured on llama-server with a 4,096-token window: a continuation whose prompt genops
    # estimated well under the server's count was sent, and the answer stopped where the window
    # filled (prompt 3,244 + 851 output tokens + 1 = n_ctx), below the output limit, "completed".
    # Here the server's tokenizer counts 3 characters a token where genops estimates 4.
    server = dataclasses.replace(LLAMA_SERVER, context_window=1024, chars_per_token=3.0)
    with Emulator(local=server) as emu:
        config = workspace(tmp_path, emu, api="responses", max_out=600, window=1024)
        emu.script("openai", Reply(text=TEXT * 20))
        unit = Unit(RunSettings(client=client_for(tmp_path, config), rungs=config.rung_models(),
                                journal=RunJournal(tmp_path / "run"), progress=NullProgress(),
                                render=lambda name, overrides: "Continue.", max_continuations=3,
                                max_repairs=0, on_failure="stop", on_budget="stop"),
                    "single", (Message("system", "You write code."),
                               Message("user", "Write mad/bus.py " + "y" * 1500)),
                    cache_key="", repair_instruction="")
        sent = request(config, "Write mad/bus.py " + "y" * 1500)  # the unit's messages
        assert estimate_request_tokens(sent) + 600 <= 1024, "it fits genops' estimate: it is sent"
        with pytest.raises(ProviderError) as info:
            unit.run(lambda text: text)

    err = info.value
    assert len(emu.requests) == 1, "neither taken as complete nor continued"
    assert err.error_class == "context_too_long" and "ran out of context window" in err.message
    [row] = Ledger.for_workspace(tmp_path).calls()
    assert 0 < row.usage.output_tokens < 600
    assert row.usage.prompt_tokens + row.usage.output_tokens + 1 >= 1024


def test_a_server_that_refuses_the_earlier_answer_says_it_cannot_continue(
        tmp_path: Path) -> None:
    with Emulator(local=LLAMA_SERVER) as emu:
        config = workspace(tmp_path, emu, api="responses", max_out=100)
        emu.script("openai", Reply(text="c" * 800),
                   Fault(status=400, message="'type' must be one of 'output_text' or 'refusal'"))
        with pytest.raises(ProviderError) as info:
            _unit(tmp_path, config, client_for(tmp_path, config)).run(lambda t: t)

    err = info.value
    assert len(emu.requests) == 2
    assert err.error_class == "bad_request" and "cannot continue" in err.message
    assert "'type' must be one of" in err.message and 'api = "chat"' in (err.hint or "")


@pytest.mark.parametrize(("window", "fits", "gate"), [
    (None, None, "skip"),  # nobody knows a local model's window: say how to pin it
    (65_536, True, "pass"),
    (1_024, False, "fail"),
])
def test_a_pinned_context_window_reaches_the_plan_and_the_context_fit_gate(
        tmp_path: Path, window: int | None, fits: bool | None, gate: str) -> None:
    from genops.gates.context_fit import fit_result
    from genops.release.planning import build_plan
    from genops.workspace import load_workspace
    from genops.workspace.scaffold import init_workspace

    root = init_workspace(tmp_path / "ws", name="local", provider="openai-compatible",
                          git=False).root
    with Emulator() as emu:
        workspace(root, emu, window=window, max_out=512)
    (root / "genops.toml").write_text((root / "genops.toml").read_text().replace(
        '[ladder]\nrungs = ["local"]', '[ladder]\nrungs = ["local"]\n\n[synthesis]\nstrategy = "single"'))
    ws = load_workspace(root)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big.py").write_text("x = 1\n" * 700)  # ~1,050 tokens

    plan = build_plan(ws, ws.config.rung_models(), previous_tree=None, release=None)
    result = fit_result("context_fit", ws, tree)

    assert [r.fits for r in plan.requests] == [fits]
    assert plan.requests[0].context_window == window
    assert result.verdict == gate
    if window is None:
        assert "context_window" in result.summary and "catalog.toml" not in result.summary
        assert any("context_window" in note for note in plan.notes)


def test_estimated_tokens_are_marked_in_the_manifest_and_the_reviewer_summary() -> None:
    from genops.release.manifest import ReleaseFacts, call_entry, totals
    from genops.render.summary import cost_line
    from genops.synthesis.progress import CallRecord

    def record(usage: Usage) -> CallRecord:
        return CallRecord(label="single", rung="local", provider="openai-compatible", model=MODEL,
                          key="k", usage=usage, cost_usd=0.001, latency_s=1.0,
                          from_archive=False, stop="complete")

    counted, reported = record(Usage(668, 177, estimated=True)), record(Usage(10, 5))
    config = load_config_text()
    facts = ReleaseFacts(kind="regenerate", reason="", run_id="r", calls=[counted, reported],
                         cost_usd=0.002)

    assert call_entry(counted)["tokens_estimated"] is True
    assert "tokens_estimated" not in call_entry(reported)  # manifests of servers that report stay as they were
    total = totals(facts, config)
    assert total["estimated_token_calls"] == 1
    line = cost_line({"spent_usd": 0.002, "list_usd": 0.002, "budget_usd": 1.0,
                      "tokens": total["tokens"], "calls": 2, "archive_hits": 0, "answered": [],
                      "estimated_token_calls": total["estimated_token_calls"]})
    assert "tokens of 1 calls estimated by genops" in line


def load_config_text() -> GenopsConfig:
    return GenopsConfig.model_validate({"project": {"name": "x"}, "models": {
        "senior": {"provider": "openai-compatible", "model": MODEL}}})


def _held_and_settled(root: Path) -> list[tuple[float, float]]:
    """(reserved, settled cost) of every answered call, from the ledger's own columns."""
    import sqlite3

    with sqlite3.connect(root / ".genops" / "ledger.db") as conn:
        return [(held / 1e9, cost / 1e9) for held, cost in conn.execute(
            "SELECT reserved_nusd, cost_nusd FROM calls WHERE status = 'ok' ORDER BY id")]


def test_the_per_run_budget_holds_against_a_tokenizer_that_counts_more_than_the_estimate(
        tmp_path: Path) -> None:
    # As measured against llama-server with SmolLM2-135M: the server counted 1.8 bytes a token
    # on a continuation where genops estimates 4. Before the margin, the second call below was
    # reserved at the estimate ($0.0028: it fitted the $0.009 budget) and the run settled at
    # $0.00969. Now the first call's measured ratio (2.2) calibrates the second's reservation,
    # which no longer fits: refused before sending, and the run stays within its budget.
    server = dataclasses.replace(LLAMA_SERVER, chars_per_token=1.8)
    with Emulator(local=server) as emu:
        config = workspace(tmp_path, emu, max_out=100, budget="per_run_usd = 0.009")
        emu.script("openai", Reply(text="ok " * 20), Reply(text="ok " * 20))
        client = client_for(tmp_path, config)
        req = request(config, "Write mad/bus.py " + "z" * 4000)
        client.call("local", req)
        from genops.errors import BudgetExceeded
        with pytest.raises(BudgetExceeded):
            client.call("local", request(config, "Write mad/bus.py " + "w" * 4000))

    assert len(emu.requests) == 1, "the second request was refused before it was sent"
    [(held, settled)] = _held_and_settled(tmp_path)
    assert settled <= 0.009
    ledger = Ledger.for_workspace(tmp_path)
    [row] = ledger.calls()
    assert row.estimated_input_tokens == estimate_request_tokens(req)
    assert ledger.prompt_ratio("openai-compatible", MODEL) == pytest.approx(
        row.usage.prompt_tokens / row.estimated_input_tokens)


@pytest.mark.parametrize("chars_per_token", [1.0, 1.8, 3.0, 4.0])
def test_margin_4_reserves_the_provable_bound_whatever_the_tokenizer(
        tmp_path: Path, chars_per_token: float) -> None:
    # No tokenizer makes more tokens than bytes: at estimate_margin = 4.0 every call settles at
    # or under what it held, on a fresh ledger (nothing measured yet) and a server counting down
    # to one character a token.
    server = dataclasses.replace(LLAMA_SERVER, chars_per_token=chars_per_token)
    with Emulator(local=server) as emu:
        config = workspace(tmp_path, emu, max_out=50, budget="estimate_margin = 4.0")
        emu.script("openai", Reply(text="a" * 40))
        client_for(tmp_path, config).call("local", request(config, "Write mad/bus.py " +
                                                            "é q" * 900))

    [(held, settled)] = _held_and_settled(tmp_path)
    assert 0 < settled <= held


@pytest.mark.parametrize(("measured", "margin", "ratio"), [
    (None, 2.0, 2.0),     # nothing measured: the configured margin (the default)
    (1.05, 1.5, 1.5),     # a tokenizer close to the estimate: the margin still holds
    (2.2, 1.5, 2.42),     # measured above it: the measured ratio with 10% slack
    (5.0, 1.5, 4.0),      # never above the provable bound
    (1.0, 4.0, 4.0),      # the bound on request
])
def test_the_reservation_margin_is_the_larger_of_the_setting_and_the_measured_ratio(
        tmp_path: Path, measured: float | None, margin: float, ratio: float) -> None:
    from genops.ledger.budget import input_ratio, workspace_input_ratio
    from genops.ledger.db import CallRecord

    assert workspace_input_ratio(tmp_path, margin, "p", "m") == margin
    assert not (tmp_path / ".genops").exists(), "planning reads a ledger, it never creates one"
    ledger = Ledger.for_workspace(tmp_path)
    if measured is not None:
        ledger.record(CallRecord(run_id="r", provider="p", model="m", status="ok",
                                 usage=Usage(input_tokens=int(1000 * measured)),
                                 estimated_input_tokens=1000))
    ledger.record(CallRecord(run_id="r", provider="p", model="other", status="ok",
                             usage=Usage(input_tokens=9000), estimated_input_tokens=1000))
    assert input_ratio(ledger, margin, "p", "m") == pytest.approx(ratio)
    assert workspace_input_ratio(tmp_path, margin, "p", "m") == pytest.approx(ratio)
