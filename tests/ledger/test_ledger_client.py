"""ModelClient end to end on real files and SQLite: archive, budget, retries, ledger, offline."""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path

import pytest
from ledger_helpers import make_request, write_workspace

from genops.errors import BudgetExceeded, ProviderError, UsageError
from genops.ledger.archive import Archive
from genops.ledger.db import Ledger
from genops.ledger.pricing import cost_usd, estimate_request_tokens
from genops.calls import CompletionRequest, CompletionResponse, TokenCallback, Usage
from genops.providers.client import ModelClient
from genops.providers.fake import FakeProvider
from genops.providers.replay import ReplayProvider
from genops.workspace.config import GenopsConfig, Price

FAKE_PRICE = Price(input=1.0, output=2.0, cache_read=0.1, cache_write=1.25)


class NetworkProvider:
    """Stands in for an SDK provider: has a network provider's name, must never be reached."""

    name = "anthropic"

    def complete(self, request: CompletionRequest, on_text: TokenCallback | None = None
                 ) -> CompletionResponse:
        raise AssertionError("an offline run reached a network provider")


def _client(root: Path, config: GenopsConfig, run_id: str = "run-1", **kwargs: object
            ) -> ModelClient:
    kwargs.setdefault("sleep", lambda seconds: None)
    return ModelClient(root, config, run_id=run_id, **kwargs)  # type: ignore[arg-type]


def test_a_miss_is_paid_archived_and_booked_and_a_repeat_is_free(
        workspace: Path, config: GenopsConfig) -> None:
    fake = FakeProvider(workspace)
    client = _client(workspace, config, providers={"senior": fake})
    request = make_request("write the bus")
    streamed: list[str] = []
    first = client.call("senior", request, on_text=streamed.append, label="bus")
    usage = first.response.usage
    assert usage == Usage(input_tokens=estimate_request_tokens(request), output_tokens=8)
    # input: "You write code." 15 bytes -> 4 tokens, "write the bus" 13 bytes -> 4, plus 4 per
    # message = 16 tokens at $1/M; output: "fake response <16 hex>" 30 bytes -> 8 tokens at $2/M
    assert usage.input_tokens == 16
    assert first.cost_usd == pytest.approx((16 * 1.0 + 8 * 2.0) / 1e6)
    assert first.cost_usd == cost_usd(usage, FAKE_PRICE)
    assert (first.from_archive, first.attempts, first.rung) == (False, 1, "senior")
    assert "".join(streamed) == first.response.text
    assert Archive.for_workspace(workspace).get(first.key) is not None

    again = client.call("senior", request, label="bus")
    assert again.from_archive and again.cost_usd == 0.0 and again.attempts == 0
    assert again.response.text == first.response.text and len(fake.requests) == 1

    rows = client.ledger.calls("run-1")
    assert [(r.status, r.label, r.archive_key) for r in rows] == [
        ("ok", "bus", first.key), ("archive_hit", "bus", first.key)]
    assert rows[0].cost_usd == pytest.approx(first.cost_usd) and rows[1].cost_usd == 0.0
    assert rows[0].latency_s >= 0 and rows[0].model == "fake-1" and rows[0].rung == "senior"
    assert client.budget.status().run_reserved_usd == 0.0


def test_retryable_errors_are_retried_through_the_retry_policy(
        workspace: Path, config: GenopsConfig) -> None:
    failures = iter([ProviderError("overloaded", error_class="overloaded", retryable=True),
                     ProviderError("slow down", error_class="rate_limit", retryable=True,
                                   retry_after=2.0)])

    def responder(request: CompletionRequest) -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "done"

    slept: list[float] = []
    client = _client(workspace, config, providers={"senior": FakeProvider(responder=responder)},
                     sleep=slept.append)
    result = client.call("senior", make_request())
    assert result.response.text == "done" and result.attempts == 3
    assert len(slept) == 2 and 2.0 in slept
    assert [r.status for r in client.ledger.calls()] == ["ok"]


def test_a_failed_call_releases_its_reservation_and_is_booked_as_an_error(
        workspace: Path, config: GenopsConfig) -> None:
    def responder(request: CompletionRequest) -> str:
        raise ProviderError("invalid x-api-key", error_class="auth", retryable=False)

    client = _client(workspace, config, providers={"senior": FakeProvider(responder=responder)})
    with pytest.raises(ProviderError, match="invalid x-api-key"):
        client.call("senior", make_request(), label="bus")
    [row] = client.ledger.calls()
    assert (row.status, row.error_class, row.cost_usd, row.label) == ("error", "auth", 0.0, "bus")
    assert client.budget.status().run_reserved_usd == 0.0
    assert Archive.for_workspace(workspace).keys() == []


def test_a_request_over_budget_is_never_sent(tmp_path: Path) -> None:
    config = write_workspace(tmp_path, per_run=0.001)
    fake = FakeProvider(tmp_path)
    client = _client(tmp_path, config, providers={"senior": fake})
    with pytest.raises(BudgetExceeded) as caught:
        client.call("senior", make_request(), label="group core")  # worst case ~ $0.002
    assert int(caught.value.exit_code) == 4 and "group core" in caught.value.message
    assert fake.requests == [] and client.ledger.calls() == []


def test_sixteen_concurrent_calls_never_cross_the_run_budget(tmp_path: Path) -> None:
    # Each answer fills the output limit, so a call costs about what it reserved: $0.002014
    # against $0.0020175 reserved (input reserved at the cache-write price).
    config = write_workspace(tmp_path, per_run=0.01)

    def responder(request: CompletionRequest) -> str:
        time.sleep(0.05)  # keep the reservations in flight together
        return "x" * 4000

    client = _client(tmp_path, config, providers={"senior": FakeProvider(responder=responder)})
    outcomes: list[str] = []
    start = threading.Barrier(16)

    def worker(n: int) -> None:
        start.wait()
        try:
            client.call("senior", make_request(f"task {n:02d}"))
            outcomes.append("ok")
        except BudgetExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] * 4 + ["refused"] * 12
    spent = client.ledger.run_total("run-1")
    assert spent <= 0.01 and spent == pytest.approx(4 * 0.002014)


def test_identical_requests_in_flight_are_paid_for_once(workspace: Path,
                                                       config: GenopsConfig) -> None:
    def responder(request: CompletionRequest) -> str:
        time.sleep(0.05)
        return "shared"

    fake = FakeProvider(responder=responder)
    client = _client(workspace, config, providers={"senior": fake})
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        client.call("senior", make_request("same")))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.requests) == 1
    assert sorted(r.from_archive for r in results) == [False] + [True] * 7


def test_replay_answers_the_original_requests_at_no_cost(workspace: Path,
                                                        config: GenopsConfig) -> None:
    request = make_request("write the gateway")
    recorded = _client(workspace, config, providers={"senior": FakeProvider()}).call(
        "senior", request)
    replay = _client(workspace, config, run_id="replay-1", offline=True,
                     providers={"replayed": ReplayProvider(workspace)})
    again = replay.call("replayed", request)
    assert again.from_archive and again.response.text == recorded.response.text
    with pytest.raises(ProviderError) as caught:
        replay.call("replayed", make_request("write the gateway!"))
    assert caught.value.error_class == "archive_miss"
    assert "message 2 (user) differs at line 1" in caught.value.message
    assert [r.status for r in replay.ledger.calls("replay-1")] == ["archive_hit", "error"]
    assert replay.ledger.run_total("replay-1") == 0.0


def test_offline_never_reaches_a_network_provider(workspace: Path,
                                                  config: GenopsConfig) -> None:
    request = make_request("write the bus")
    _client(workspace, config, providers={"senior": FakeProvider()}).call("senior", request)
    offline = _client(workspace, config, offline=True, providers={"senior": NetworkProvider()})
    assert offline.call("senior", request).from_archive  # archived answers need no network
    with pytest.raises(ProviderError) as caught:
        offline.call("senior", make_request("write the store"))
    assert caught.value.error_class == "archive_miss"
    assert "offline" in caught.value.message and "'anthropic'" in caught.value.message
    assert "nearest archived request" in caught.value.message


def test_an_unknown_rung_is_a_usage_error(workspace: Path, config: GenopsConfig) -> None:
    with pytest.raises(UsageError, match="no model named 'junior'"):
        _client(workspace, config).call("junior", make_request())


def test_providers_come_from_the_registry_when_not_given(workspace: Path,
                                                        config: GenopsConfig) -> None:
    pytest.importorskip("genops.providers.registry")
    (workspace / ".genops").mkdir(exist_ok=True)
    (workspace / ".genops" / "fake-responses.json").write_text('{"bus": "scripted bus"}')
    result = _client(workspace, config).call("senior", make_request("write the bus"))
    assert result.response.text == "scripted bus"


CANARIES = {"ANTHROPIC_API_KEY": "sk-ant-api03-CANARYCANARY-0001",
            "OPENAI_API_KEY": "sk-proj-CANARYCANARY-0002",
            "GOOGLE_API_KEY": "AIzaCANARYCANARY-0003-xxxxxxxxxxxx"}


def test_no_api_key_ever_reaches_the_archive_or_the_ledger(
        workspace: Path, config: GenopsConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)

    def responder(request: CompletionRequest) -> str:
        if "fail" in request.messages[-1].content:
            raise ProviderError("server error", error_class="server", retryable=False)
        return "answer"

    client = _client(workspace, config,
                     providers={"senior": FakeProvider(responder=responder),
                                "replayed": ReplayProvider(workspace)})
    errors: list[str] = []
    for rung, text in [("senior", "a"), ("senior", "a"), ("senior", "b"), ("senior", "fail"),
                       ("replayed", "c")]:
        try:
            client.call(rung, make_request(text))
        except ProviderError as exc:
            errors.append(f"{exc}\n{exc.hint}")
    assert len(errors) == 2
    client.ledger.close()

    files = [p for p in (workspace / ".genops").rglob("*") if p.is_file()]
    assert any(p.name.endswith(".json.gz") for p in files) and any(
        p.name == "ledger.db" for p in files)
    for path in files:
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        for value in CANARIES.values():
            assert value.encode() not in data, path
            assert b"CANARYCANARY" not in data, path
    assert not any("CANARYCANARY" in text for text in errors)
    assert len(Ledger.for_workspace(workspace).calls()) == 5


@pytest.mark.parametrize("interrupt", [False, True], ids=["answered", "interrupted"])
def test_a_call_is_in_the_ledger_as_in_flight_before_its_request_is_sent(
        workspace: Path, config: GenopsConfig, interrupt: bool) -> None:
    """What the provider sees is already booked; an interrupt mid-request leaves it unsettled."""
    seen: list[tuple[str, str, float]] = []

    def responder(request: CompletionRequest) -> str:
        ledger = Ledger.for_workspace(workspace)  # another connection, as another process
        seen.extend((c.status, c.label, c.reserved_usd) for c in ledger.calls())
        ledger.close()
        if interrupt:
            raise KeyboardInterrupt
        return "answer"

    client = _client(workspace, config, providers={"senior": FakeProvider(responder=responder)})
    request = make_request()
    if interrupt:
        with pytest.raises(KeyboardInterrupt):
            client.call("senior", request, label="bus")
    else:
        client.call("senior", request, label="bus")
    [(status, label, reserved)] = seen
    assert (status, label) == ("in_flight", "bus") and reserved > 0
    [row] = client.ledger.calls()
    assert row.status == ("in_flight" if interrupt else "ok")
    held = client.budget.status().run_reserved_usd
    assert held == (pytest.approx(reserved) if interrupt else 0.0)
    unsettled = client.ledger.unsettled()
    assert [(u.alive, u.archive_key) for u in unsettled] == \
        ([(True, request.key())] if interrupt else [])  # alive: this process still runs
