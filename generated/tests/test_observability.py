"""Structured logs, per-MAD metrics, and circuit breakers that cut off a failing MAD."""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from mad.core.bus import Bus, Message
from mad.core.mad import MAD, MADError, ask
from mad.core.observability import CircuitBreaker, CircuitOpen, Observability, correlation


class Flaky(MAD):
    name = "flaky"

    def __init__(self, bus: Bus, obs: Observability) -> None:
        super().__init__(bus, obs)
        self.broken = True
        self.calls = 0

    def do_work(self, request: Message) -> str:
        self.calls += 1
        if self.broken:
            raise RuntimeError("disk on fire")
        return "done"

    def do_picky(self, request: Message, n: int) -> int:
        raise MADError("bad_request", "n is wrong")


@pytest.mark.req("REQ-OBS-1")
def test_logs_are_json_lines_with_correlation_ids() -> None:
    stream = io.StringIO()
    obs = Observability(stream=stream)
    with correlation("corr-obs-000001"):
        obs.log.write("rogers", "stored", conversation_id="c-1", password="hunter2", api_key="k",
                      session_token="t", secret_name="fiedler/key")
    obs.log.write("grace", "idle", level="debug")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [set(r) >= {"ts", "level", "mad", "event", "correlation_id"} for r in lines] == [True, True]
    first = lines[0]
    assert (first["mad"], first["event"], first["correlation_id"], first["conversation_id"]) == (
        "rogers", "stored", "corr-obs-000001", "c-1")
    assert first["password"] == first["api_key"] == first["session_token"] == "***"
    assert first["secret_name"] == "fiedler/key"
    assert lines[1]["correlation_id"] is None and lines[1]["level"] == "debug"


@pytest.mark.req("REQ-OBS-5", "REQ-OBS-3", "REQ-OBS-6")
def test_a_mad_that_keeps_failing_trips_its_breaker(memory_bus: Bus) -> None:
    obs = Observability(breaker_threshold=3, breaker_reset=0.3)
    flaky = Flaky(memory_bus, obs)
    flaky.start()
    for _ in range(3):
        with pytest.raises(MADError) as failed:
            ask(memory_bus, obs, "tester", "flaky", "work")
        assert failed.value.code == "internal" and "disk on fire" not in failed.value.message
    assert obs.breaker("flaky").state == "open"
    started = time.monotonic()
    with pytest.raises(MADError) as cut_off:
        ask(memory_bus, obs, "tester", "flaky", "work")
    assert cut_off.value.code == "unavailable" and "circuit open for 'flaky'" in cut_off.value.message
    assert time.monotonic() - started < 0.1 and flaky.calls == 3  # failed fast: never reached Flaky
    report = obs.report()
    assert report["breakers"]["flaky"] == "open"
    assert report["mads"]["flaky"]["handled"] == 3 and report["mads"]["flaky"]["errors"] == 3
    time.sleep(0.35)
    assert obs.breaker("flaky").state == "half-open"
    flaky.broken = False
    assert ask(memory_bus, obs, "tester", "flaky", "work") == "done"  # the trial call closes it
    assert obs.breaker("flaky").state == "closed"
    flaky.stop()


@pytest.mark.req("REQ-OBS-5")
def test_caller_mistakes_do_not_trip_the_breaker(memory_bus: Bus) -> None:
    obs = Observability(breaker_threshold=2)
    flaky = Flaky(memory_bus, obs)
    flaky.start()
    for action, args in (("picky", {"n": 1}), ("nonexistent", {}), ("work", {"surprise": 1})) * 2:
        with pytest.raises(MADError) as refused:
            ask(memory_bus, obs, "tester", "flaky", action, args)
        assert refused.value.code == "bad_request"
    assert obs.breaker("flaky").state == "closed"
    flaky.stop()
    with pytest.raises(MADError) as silent:
        ask(memory_bus, obs, "tester", "flaky", "work", timeout=0.2)
    assert silent.value.code == "timeout"


@pytest.mark.req("REQ-OBS-5")
def test_half_open_lets_one_trial_through() -> None:
    breaker = CircuitBreaker("x", threshold=1, reset_after=0.05)
    breaker.failure()
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    time.sleep(0.06)
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # a second caller waits for the trial's outcome
    breaker.failure()
    assert breaker.state == "open"


class Odd(MAD):
    name = "odd"

    def do_weird(self, request: Message) -> object:
        return {1, 2}  # not JSON: the reply cannot travel as it is


@pytest.mark.req("REQ-BUS-4", "REQ-OBS-3")
def test_an_unsendable_result_still_gets_an_answer(memory_bus: Bus) -> None:
    obs = Observability()
    odd = Odd(memory_bus, obs)
    odd.start()
    with pytest.raises(MADError) as failed:
        ask(memory_bus, obs, "tester", "odd", "weird", timeout=2)
    assert failed.value.code == "internal" and "unsendable reply" in failed.value.message
    assert obs.log.recent(mad="odd", event="reply_failed")
    odd.stop()


@pytest.mark.req("REQ-OBS-1")
def test_req_obs_1_the_json_log_rotates(tmp_path: Path) -> None:
    """REQ-OBS-1: logs/mad.jsonl rotates before it grows past its size limit, keeping a bounded
    number of older files (mad.jsonl.1 newest), every line still one JSON object (r0002's log
    grew without limit)."""
    from mad.core.observability import StructuredLog

    path = tmp_path / "mad.jsonl"
    log = StructuredLog(path, max_bytes=2000, backups=2)
    for i in range(100):
        log.write("rogers", "note", n=i)
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["mad.jsonl", "mad.jsonl.1", "mad.jsonl.2"]
    assert all((tmp_path / name).stat().st_size <= 2000 for name in files)
    newest = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    older = [json.loads(line) for line in (tmp_path / "mad.jsonl.1").read_text(encoding="utf-8").splitlines()]
    assert newest[-1]["n"] == 99 and older[-1]["n"] == newest[0]["n"] - 1


@pytest.mark.req("REQ-OBS-1")
def test_req_obs_1_bus_handler_failures_go_to_the_json_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """REQ-OBS-1: a bus handler that raises is logged as a JSON record with its traceback
    (``mad`` "bus", event "log"), in logs/mad.jsonl, not as a traceback on stderr (r0002)."""
    from mad.app import Config, Ecosystem
    from tests.helpers import ADMIN_TOKEN, wait_for

    def failing(message: Message) -> None:
        raise RuntimeError("handler exploded")

    with Ecosystem(Config(data_dir=tmp_path / "data", port=0, admin_token=ADMIN_TOKEN)) as eco:
        assert eco.bus is not None and eco.obs is not None
        eco.bus.subscribe("events.boom", failing, name="boomer")
        eco.bus.publish(Message(topic="events.boom", sender="alpha", body={}))
        obs = eco.obs
        record = wait_for(lambda: obs.log.recent(mad="bus", event="log"))[0]
    assert record["level"] == "error" and "handler boomer failed" in record["message"]
    assert "RuntimeError: handler exploded" in record["traceback"]
    logged = (tmp_path / "data" / "logs" / "mad.jsonl").read_text(encoding="utf-8")
    assert "handler exploded" in logged
    assert "Traceback" not in capsys.readouterr().err
