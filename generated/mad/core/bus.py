"""The conversation bus: the only channel between MADs.

One interface (:class:`Bus`) with two transports: :class:`InMemoryBus` for the
cellular monolith (one process) and ``mad.core.redis_bus.RedisBus`` for when one
machine is not enough. Both share the delivery machinery defined here, so they
keep the same contract:

* every message is a JSON envelope (:class:`Message`); a body that is not JSON
  is refused at ``publish`` on every transport, so nothing works in-process
  that would break over the wire;
* topics are dotted names; subscriptions take ``fnmatch``-style patterns
  (``conversation.*``, ``*``);
* each subscription has its own worker thread and queue: messages reach a
  subscriber in the order they were published, a slow or failing handler never
  blocks the publisher or other subscribers;
* ``request`` publishes a request and waits for the reply addressed to this
  bus instance's reply topic; it raises :class:`BusTimeout` when none arrives.
Delivery is at most once: a message published to a topic nobody listens on is
dropped, as Redis pub/sub does.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import queue
import re
import threading
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

_log = logging.getLogger("mad.bus")

TOPIC_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")
PATTERN_RE = re.compile(r"^[A-Za-z0-9_.:\-*?]{1,200}$")
MAX_MESSAGE_BYTES = 1_000_000


class BusError(Exception):
    """A message or subscription the bus cannot accept."""


class BusTimeout(BusError):
    """No reply arrived within the request's timeout."""


def new_id() -> str:
    return uuid.uuid4().hex


def inbox(mad_name: str) -> str:
    """The topic a MAD listens on for requests addressed to it."""
    return f"mad.{mad_name}"


@dataclass
class Message:
    """The envelope every conversation message travels in."""

    topic: str
    sender: str
    body: dict[str, Any]
    kind: str = "event"  # event | request | reply
    conversation_id: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    in_reply_to: str | None = None
    id: str = field(default_factory=new_id)
    ts: float = field(default_factory=time.time)

    def to_json(self) -> str:
        try:
            data = json.dumps(asdict(self), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise BusError(f"message body is not JSON-serializable: {exc}") from None
        if len(data.encode("utf-8")) > MAX_MESSAGE_BYTES:
            raise BusError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
        return data

    @classmethod
    def from_json(cls, data: str | bytes) -> "Message":
        raw = json.loads(data)
        if not isinstance(raw, dict) or not isinstance(raw.get("body"), dict):
            raise BusError("not a message envelope")
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**known)

    def reply(self, sender: str, body: dict[str, Any]) -> "Message":
        """The reply to this request, addressed to its ``reply_to`` topic."""
        if not self.reply_to:
            raise BusError("message has no reply_to")
        return Message(
            topic=self.reply_to, sender=sender, body=body, kind="reply",
            conversation_id=self.conversation_id, correlation_id=self.correlation_id,
            in_reply_to=self.id,
        )


Handler = Callable[[Message], None]


class Subscription:
    """One subscriber: a pattern, a handler, and a worker thread draining its queue."""

    def __init__(self, bus: "Bus", pattern: str, handler: Handler, name: str) -> None:
        self.bus = bus
        self.pattern = pattern
        self.handler = handler
        self.name = name
        self.active = True
        self._queue: queue.Queue[Message | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"bus-{name}", daemon=True)
        self._thread.start()

    def matches(self, topic: str) -> bool:
        return fnmatch.fnmatchcase(topic, self.pattern)

    def deliver(self, message: Message) -> None:
        if self.active:
            self._queue.put(message)

    def _run(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            try:
                self.handler(message)
            except Exception:  # a failing handler must not stop delivery
                _log.exception("handler %s failed on %s", self.name, message.topic)

    def close(self, wait: float = 0.0) -> None:
        """Stop delivery; the messages already queued are still handled. With ``wait``, return
        only once they are (at most ``wait`` seconds; never waits on its own worker thread)."""
        if self.active:
            self.active = False
            self.bus._remove(self)
            self._queue.put(None)
        if wait > 0 and threading.current_thread() is not self._thread:
            self._thread.join(wait)

    def unsubscribe(self) -> None:
        self.close()


class Bus(ABC):
    """The conversation bus interface. Transports implement ``_transmit``."""

    def __init__(self) -> None:
        self.instance_id = new_id()[:12]
        self.reply_topic = f"_reply.{self.instance_id}"
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[threading.Event, list[Message]]] = {}
        self._closed = False
        self._reply_sub = self.subscribe(self.reply_topic, self._on_reply, name="replies")

    # -- the contract ---------------------------------------------------
    def publish(self, message: Message) -> None:
        """Send ``message`` to every subscription whose pattern matches its topic."""
        if self._closed:
            raise BusError("bus is closed")
        if not TOPIC_RE.match(message.topic or ""):
            raise BusError(f"invalid topic {message.topic!r}")
        if not isinstance(message.body, dict):
            raise BusError("message body must be a JSON object")
        self._transmit(message.topic, message.to_json())

    def subscribe(self, pattern: str, handler: Handler, name: str | None = None) -> Subscription:
        """Call ``handler`` for every message on a topic matching ``pattern``."""
        if not PATTERN_RE.match(pattern or ""):
            raise BusError(f"invalid topic pattern {pattern!r}")
        sub = Subscription(self, pattern, handler, name or pattern)
        with self._lock:
            self._subs.append(sub)
        return sub

    def request(self, message: Message, timeout: float = 10.0) -> Message:
        """Publish ``message`` as a request and return its reply."""
        message.kind = "request"
        message.reply_to = self.reply_topic
        event: threading.Event = threading.Event()
        box: list[Message] = []
        with self._lock:
            self._pending[message.id] = (event, box)
        try:
            self.publish(message)
            if not event.wait(timeout):
                raise BusTimeout(f"no reply from {message.topic} within {timeout:g}s")
            return box[0]
        finally:
            with self._lock:
                self._pending.pop(message.id, None)

    def close(self) -> None:
        """Stop every subscription and release the transport."""
        self._closed = True
        for sub in list(self._subs):
            sub.close()

    # -- shared machinery -------------------------------------------------
    @abstractmethod
    def _transmit(self, topic: str, data: str) -> None:
        """Hand a serialized message for ``topic`` to the transport."""

    def _dispatch(self, data: str | bytes) -> None:
        """Deliver one serialized message that came off the transport."""
        try:
            message = Message.from_json(data)
        except (ValueError, TypeError, BusError):
            _log.warning("dropped a malformed message")
            return
        with self._lock:
            targets = [s for s in self._subs if s.matches(message.topic)]
        for sub in targets:
            # every subscriber gets its own copy, exactly as over the wire
            sub.deliver(message if len(targets) == 1 else Message.from_json(data))

    def _on_reply(self, message: Message) -> None:
        with self._lock:
            waiting = self._pending.get(message.in_reply_to or "")
        if waiting:
            waiting[1].append(message)
            waiting[0].set()

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def subscription_count(self) -> int:
        with self._lock:
            return len(self._subs)


class InMemoryBus(Bus):
    """The in-process transport of the cellular monolith."""

    def _transmit(self, topic: str, data: str) -> None:
        self._dispatch(data)
