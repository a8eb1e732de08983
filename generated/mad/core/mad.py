"""What every MAD is made of: an inbox on the bus, actions, tools, and ``ask``.

A MAD is addressed by name. Requests to it arrive on its inbox topic
(``mad.<name>``) as ``{"action": ..., "args": {...}}``; the action is served by
the method ``do_<action>(request, **args)`` and answered with
``{"ok": true, "result": ...}`` or ``{"ok": false, "code": ..., "error": ...}``.
A MAD never calls another MAD's code: it ``ask``s over the bus, through the
target's circuit breaker.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mad.core.bus import Bus, BusError, BusTimeout, Message, Subscription, inbox
from mad.core.observability import CircuitOpen, Observability, correlation, current_correlation_id

# error codes a reply may carry; those in BREAKER_CODES count as the target failing
ERROR_CODES = ("bad_request", "forbidden", "not_found", "quota", "budget", "refused",
               "unavailable", "timeout", "internal")
BREAKER_CODES = ("internal", "timeout")


class MADError(Exception):
    """A failure with a code from :data:`ERROR_CODES` and a message safe to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code if code in ERROR_CODES else "internal"
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class ToolSpec:
    """A tool a MAD offers through the gateway as ``mads.<mad>.<name>``."""

    name: str
    description: str
    action: str
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # JSON-schema properties
    required: tuple[str, ...] = ()

    def input_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": dict(self.params), "required": list(self.required),
                "additionalProperties": False}


def ask(bus: Bus, obs: Observability, sender: str, to: str, action: str,
        args: dict[str, Any] | None = None, *, in_conversation: str | None = None,
        timeout: float = 10.0) -> Any:
    """Send ``action`` to MAD ``to`` on behalf of ``sender`` and return its result.

    ``in_conversation`` puts the request (and its reply) into that conversation,
    where Rogers records it; queries *about* a conversation pass its id in ``args``.
    Raises :class:`MADError`: the target's own error, ``unavailable`` when its
    breaker is open, ``timeout`` when it does not answer.
    """
    breaker = obs.breaker(to)
    try:
        breaker.before_call()
    except CircuitOpen as exc:
        raise MADError("unavailable", str(exc)) from None
    message = Message(topic=inbox(to), sender=sender, body={"action": action, "args": args or {}},
                      conversation_id=in_conversation, correlation_id=current_correlation_id())
    try:
        reply = bus.request(message, timeout=timeout)
    except BusTimeout as exc:
        breaker.failure()
        raise MADError("timeout", str(exc)) from None
    body = reply.body
    if body.get("ok"):
        breaker.success()
        return body.get("result")
    code = str(body.get("code", "internal"))
    if code in BREAKER_CODES:
        breaker.failure()
    else:
        breaker.success()  # the MAD answered sensibly; the caller was wrong
    raise MADError(code, str(body.get("error", "failed")))


class MAD:
    """Base class of every MAD in the cell."""

    name: ClassVar[str] = "mad"
    tools: ClassVar[tuple[ToolSpec, ...]] = ()
    stop_timeout: ClassVar[float] = 10.0  # seconds stop() waits for the messages already delivered

    def __init__(self, bus: Bus, obs: Observability) -> None:
        self.bus = bus
        self.obs = obs
        self._subs: list[Subscription] = []

    # -- lifecycle --------------------------------------------------------
    def topics(self) -> list[str]:
        """Topic patterns this MAD listens on; its inbox by default."""
        return [inbox(self.name)]

    def start(self) -> None:
        for pattern in self.topics():
            self._subs.append(self.bus.subscribe(pattern, self.receive, name=self.name))
        self.log("started")

    def stop(self) -> None:
        """Stop receiving; returns once the messages already delivered are handled (so a MAD
        that closes its store after this loses none of them)."""
        for sub in self._subs:
            sub.close(wait=self.stop_timeout)
        self._subs.clear()
        self.log("stopped")

    # -- talking ----------------------------------------------------------
    def ask(self, to: str, action: str, *, in_conversation: str | None = None,
            timeout: float = 10.0, **args: Any) -> Any:
        return ask(self.bus, self.obs, self.name, to, action, args,
                   in_conversation=in_conversation, timeout=timeout)

    def tell(self, topic: str, body: dict[str, Any], conversation_id: str | None = None) -> None:
        """Publish an event (no reply expected)."""
        self.bus.publish(Message(topic=topic, sender=self.name, body=body,
                                 conversation_id=conversation_id,
                                 correlation_id=current_correlation_id()))

    def log(self, event: str, level: str = "info", **fields: Any) -> None:
        self.obs.log.write(self.name, event, level, **fields)

    # -- receiving --------------------------------------------------------
    def receive(self, message: Message) -> None:
        with correlation(message.correlation_id):
            if message.kind == "request" and message.topic == inbox(self.name):
                self.handle_request(message)
            else:
                self.on_event(message)

    def on_event(self, message: Message) -> None:
        """Events and other traffic on subscribed topics; ignored by default."""

    def handle_request(self, message: Message) -> None:
        started = time.monotonic()
        action = str(message.body.get("action", ""))
        args = message.body.get("args") or {}
        try:
            result = self.perform(message, action, args)
            body: dict[str, Any] = {"ok": True, "result": result}
        except MADError as exc:
            body = {"ok": False, "code": exc.code, "error": exc.message}
        except Exception as exc:  # never leak internals to the caller
            self.log("action_failed", "error", action=action, sender=message.sender,
                     error_type=type(exc).__name__, error=str(exc)[:500])
            body = {"ok": False, "code": "internal",
                    "error": f"{self.name} failed on {action!r} (correlation {current_correlation_id()})"}
        latency = (time.monotonic() - started) * 1000
        failed = not body["ok"] and body["code"] in BREAKER_CODES
        self.obs.metrics.record_handled(self.name, latency, failed)
        self.log("handled", action=action, sender=message.sender, ok=body["ok"],
                 code=body.get("code"), latency_ms=round(latency, 3))
        if message.reply_to:
            try:
                self.bus.publish(message.reply(self.name, body))
            except BusError as exc:  # e.g. a result that is not JSON: still answer
                self.log("reply_failed", "error", action=action, error=str(exc)[:300])
                self.bus.publish(message.reply(self.name, {"ok": False, "code": "internal",
                                                           "error": f"{self.name} produced an unsendable reply"}))

    def perform(self, message: Message, action: str, args: Any) -> Any:
        """Run ``do_<action>``; bad action names and arguments are the caller's error."""
        handler = getattr(self, f"do_{action}", None) if action.isidentifier() else None
        if handler is None:
            raise MADError("bad_request", f"{self.name} has no action {action!r}")
        if not isinstance(args, dict):
            raise MADError("bad_request", "args must be an object")
        try:
            inspect.signature(handler).bind(message, **args)
        except TypeError as exc:
            raise MADError("bad_request", f"{self.name}.{action}: {exc}") from None
        return handler(message, **args)
