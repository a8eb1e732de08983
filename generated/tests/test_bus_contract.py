"""The bus contract: every test here runs on the in-process bus and on a real Redis server."""
from __future__ import annotations

import threading
import time

import pytest

from mad.core.bus import Bus, BusError, BusTimeout, Message
from mad.core.redis_bus import RedisBus
from tests.helpers import free_port, wait_for


class Inbox:
    def __init__(self, bus: Bus, pattern: str, fail_on: str | None = None) -> None:
        self.items: list[Message] = []
        self.fail_on = fail_on
        self.sub = bus.subscribe(pattern, self._take)

    def _take(self, message: Message) -> None:
        self.items.append(message)
        if self.fail_on and message.body.get("n") == self.fail_on:
            raise RuntimeError("handler failure")

    def wait(self, count: int, timeout: float = 5.0) -> list[Message]:
        wait_for(lambda: len(self.items) >= count, timeout)
        return self.items


def msg(topic: str, **body: object) -> Message:
    return Message(topic=topic, sender="tester", body=dict(body))


@pytest.mark.req("REQ-BUS-1", "REQ-BUS-7", "REQ-REDIS-2")
def test_publish_reaches_every_matching_subscriber(bus: Bus) -> None:
    first, second, other = Inbox(bus, "conversation.a"), Inbox(bus, "conversation.a"), Inbox(bus, "conversation.b")
    bus.publish(msg("conversation.a", text="hi"))
    assert first.wait(1)[0].body == {"text": "hi"}
    assert second.wait(1)[0].body == {"text": "hi"}
    time.sleep(0.1)
    assert other.items == []


@pytest.mark.req("REQ-BUS-2", "REQ-REDIS-2")
def test_wildcard_patterns(bus: Bus) -> None:
    everything, conversations = Inbox(bus, "*"), Inbox(bus, "conversation.*")
    bus.publish(msg("conversation.x", n=1))
    bus.publish(msg("mad.rogers", n=2))
    assert [m.topic for m in everything.wait(2)] == ["conversation.x", "mad.rogers"]
    assert [m.topic for m in conversations.wait(1)] == ["conversation.x"]


@pytest.mark.req("REQ-BUS-3", "REQ-REDIS-2")
def test_request_reply_and_timeout(bus: Bus) -> None:
    def answer(message: Message) -> None:
        bus.publish(message.reply("echo", {"echo": message.body["text"]}))

    bus.subscribe("mad.echo", answer)
    reply = bus.request(msg("mad.echo", text="ping"), timeout=5)
    assert reply.kind == "reply" and reply.body == {"echo": "ping"} and reply.sender == "echo"
    started = time.monotonic()
    with pytest.raises(BusTimeout, match="no reply from mad.nobody"):
        bus.request(msg("mad.nobody", text="hello?"), timeout=0.3)
    assert time.monotonic() - started < 2


@pytest.mark.req("REQ-BUS-4", "REQ-REDIS-2")
def test_envelope_is_json_and_each_subscriber_gets_a_copy(bus: Bus) -> None:
    with pytest.raises(BusError, match="JSON"):
        bus.publish(msg("conversation.a", payload={1, 2}))
    with pytest.raises(BusError, match="invalid topic"):
        bus.publish(msg("bad topic!"))
    with pytest.raises(BusError, match="larger than"):
        bus.publish(msg("conversation.a", blob="x" * 1_100_000))
    first, second = Inbox(bus, "conversation.a"), Inbox(bus, "conversation.a")
    sent = Message(topic="conversation.a", sender="tester", body={"items": [1]}, conversation_id="c-1",
                   correlation_id="corr-12345678")
    bus.publish(sent)
    got = first.wait(1)[0]
    assert (got.id, got.sender, got.conversation_id, got.correlation_id) == (sent.id, "tester", "c-1",
                                                                              "corr-12345678")
    assert got.ts == pytest.approx(sent.ts)
    got.body["items"].append(2)
    assert second.wait(1)[0].body == {"items": [1]}


@pytest.mark.req("REQ-BUS-5", "REQ-REDIS-2")
def test_order_is_kept_and_a_failing_handler_is_isolated(bus: Bus) -> None:
    failing = Inbox(bus, "conversation.o", fail_on="3")
    healthy = Inbox(bus, "conversation.o")
    for n in range(40):
        bus.publish(msg("conversation.o", n=str(n)))
    assert [m.body["n"] for m in failing.wait(40)] == [str(n) for n in range(40)]
    assert [m.body["n"] for m in healthy.wait(40)] == [str(n) for n in range(40)]


@pytest.mark.req("REQ-BUS-5", "REQ-REDIS-2")
def test_slow_subscriber_does_not_block_the_publisher(bus: Bus) -> None:
    release = threading.Event()
    bus.subscribe("conversation.slow", lambda m: release.wait(5))
    fast = Inbox(bus, "conversation.slow")
    started = time.monotonic()
    for _ in range(5):
        bus.publish(msg("conversation.slow"))
    fast.wait(5)
    assert time.monotonic() - started < 2
    release.set()


@pytest.mark.req("REQ-BUS-6", "REQ-REDIS-2")
def test_unsubscribe_stops_delivery(bus: Bus) -> None:
    inbox, control = Inbox(bus, "conversation.u"), Inbox(bus, "conversation.u")
    bus.publish(msg("conversation.u", n="1"))
    inbox.wait(1)
    control.wait(1)
    inbox.sub.unsubscribe()
    bus.publish(msg("conversation.u", n="2"))
    control.wait(2)
    time.sleep(0.1)
    assert [m.body["n"] for m in inbox.items] == ["1"]


@pytest.mark.req("REQ-REDIS-2", "REQ-REDIS-3")
def test_two_redis_buses_talk_through_one_server(redis_url: str) -> None:
    left, right = RedisBus(redis_url), RedisBus(redis_url)
    try:
        right.subscribe("mad.far", lambda m: right.publish(m.reply("far", {"seen_by": right.instance_id})))
        reply = left.request(msg("mad.far"), timeout=5)
        assert reply.body == {"seen_by": right.instance_id}
    finally:
        left.close()
        right.close()


@pytest.mark.req("REQ-REDIS-4")
def test_unreachable_redis_is_a_clear_error() -> None:
    port = free_port()
    with pytest.raises(BusError, match=f"cannot connect to Redis at redis://127.0.0.1:{port}"):
        RedisBus(f"redis://127.0.0.1:{port}/0", connect_timeout=1)
