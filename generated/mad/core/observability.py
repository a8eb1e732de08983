"""Observability inside the monolith: structured logs, per-MAD metrics, circuit breakers.

* Logs are JSON objects, one per line, each naming the MAD, the event and the
  correlation id of the work it belongs to. Fields named like secrets (token,
  password, value, ...) are masked before anything is written.
* The correlation id lives in a context variable: Grace sets it per HTTP
  request, the bus envelope carries it, and every MAD that handles a message
  adopts it, so one id follows a request through every MAD it touches.
* Metrics are counted per MAD: messages handled, errors, latency, tool calls,
  tokens and cost.
* Circuit breakers are kept per MAD: a MAD that keeps failing is cut off
  (callers fail fast) until a cool-down passes and a trial call succeeds.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Iterator, TextIO

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
SECRET_FIELDS = frozenset({"secret", "token", "password", "passwd", "api_key", "apikey", "value",
                           "authorization", "credential", "credentials", "key"})
SECRET_SUFFIXES = ("_token", "_password", "_secret", "_api_key", "_value")
CORRELATION_RE = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def current_correlation_id() -> str | None:
    return _correlation.get()


@contextlib.contextmanager
def correlation(cid: str | None) -> Iterator[str]:
    """Run a block under correlation id ``cid`` (a new one when None)."""
    cid = cid or new_correlation_id()
    token = _correlation.set(cid)
    try:
        yield cid
    finally:
        _correlation.reset(token)


def _mask(fields: dict[str, Any]) -> dict[str, Any]:
    def sensitive(key: str) -> bool:
        key = key.lower()
        return key in SECRET_FIELDS or key.endswith(SECRET_SUFFIXES)

    return {k: ("***" if sensitive(k) else v) for k, v in fields.items()}


class StructuredLog:
    """JSON-lines log shared by every MAD of the cell."""

    def __init__(self, path: Path | None = None, stream: TextIO | None = None, keep: int = 5000,
                 max_bytes: int = 10 * 1024 * 1024, backups: int = 5) -> None:
        self._lock = threading.Lock()
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._path = path
        self.max_bytes = max_bytes  # the file rotates before it would grow past this (0: never)
        self.backups = backups  # rotated files kept: mad.jsonl.1 (newest) .. mad.jsonl.<backups>
        self._file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self._stream = stream

    def write(self, mad: str, event: str, level: str = "info", **fields: Any) -> dict[str, Any]:
        record = {"ts": round(time.time(), 6), "level": level, "mad": mad, "event": event,
                  "correlation_id": current_correlation_id(), **_mask(fields)}
        line = json.dumps(record, default=str, ensure_ascii=False)
        with self._lock:
            self._recent.append(record)
            if (self._file is not None and self.max_bytes > 0 and self._file.tell() > 0
                    and self._file.tell() + len(line.encode("utf-8", "replace")) + 1 > self.max_bytes):
                self._rotate()
            for out in (self._file, self._stream):
                if out is not None:
                    out.write(line + "\n")
                    out.flush()
        return record

    def _rotate(self) -> None:
        """mad.jsonl -> mad.jsonl.1 -> ... -> mad.jsonl.<backups>; the oldest goes (lock held)."""
        assert self._file is not None and self._path is not None
        self._file.close()
        for index in range(self.backups - 1, 0, -1):
            older = self._path.with_name(f"{self._path.name}.{index}")
            if older.exists():
                older.replace(self._path.with_name(f"{self._path.name}.{index + 1}"))
        if self.backups > 0:
            self._path.replace(self._path.with_name(f"{self._path.name}.1"))
        else:
            self._path.unlink(missing_ok=True)
        self._file = open(self._path, "a", encoding="utf-8")  # noqa: SIM115

    def recent(self, **match: Any) -> list[dict[str, Any]]:
        """Records kept in memory whose fields equal ``match``."""
        with self._lock:
            items = list(self._recent)
        return [r for r in items if all(r.get(k) == v for k, v in match.items())]

    def close(self) -> None:
        with self._lock:
            if self._file:
                self._file.close()
                self._file = None


class LogBridge(logging.Handler):
    """Warnings and errors of the standard ``logging`` module (the bus's failing handlers) as
    JSON log records (``mad`` "bus", event "log", the message and the traceback), not stderr."""

    def __init__(self, log: StructuredLog) -> None:
        super().__init__(logging.WARNING)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()[:2000]}
            if record.exc_info:
                fields["traceback"] = logging.Formatter().formatException(record.exc_info)[-8000:]
            self._log.write("bus" if record.name.startswith("mad.bus") else record.name, "log",
                            record.levelname.lower(), **fields)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


class Metrics:
    """Per-MAD counters. All amounts are cumulative since start."""

    FIELDS = ("handled", "errors", "latency_ms_total", "latency_ms_max", "tool_calls",
              "tokens_in", "tokens_out", "cost_usd")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_mad: dict[str, dict[str, float]] = {}

    def _row(self, mad: str) -> dict[str, float]:
        return self._by_mad.setdefault(mad, {f: 0 for f in self.FIELDS})

    def record_handled(self, mad: str, latency_ms: float, error: bool) -> None:
        with self._lock:
            row = self._row(mad)
            row["handled"] += 1
            row["errors"] += 1 if error else 0
            row["latency_ms_total"] += latency_ms
            row["latency_ms_max"] = max(row["latency_ms_max"], latency_ms)

    def record_tool_call(self, caller: str) -> None:
        with self._lock:
            self._row(caller)["tool_calls"] += 1

    def record_usage(self, mad: str, tokens_in: int, tokens_out: int, cost_usd: float) -> None:
        with self._lock:
            row = self._row(mad)
            row["tokens_in"] += tokens_in
            row["tokens_out"] += tokens_out
            row["cost_usd"] = round(row["cost_usd"] + cost_usd, 8)

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {mad: dict(row) for mad, row in sorted(self._by_mad.items())}


class CircuitOpen(Exception):
    """The target MAD's breaker is open: the call was not attempted."""


class CircuitBreaker:
    """closed -> (``threshold`` consecutive failures) -> open -> (``reset_after`` s) -> half-open."""

    def __init__(self, name: str, threshold: int = 5, reset_after: float = 30.0) -> None:
        self.name = name
        self.threshold = threshold
        self.reset_after = reset_after
        self.failures = 0
        self.opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if time.monotonic() - self.opened_at >= self.reset_after:
            return "half-open"
        return "open"

    def before_call(self) -> None:
        """Raise :class:`CircuitOpen` unless a call may go through now."""
        with self._lock:
            state = self._state()
            if state == "open" or (state == "half-open" and self._trial):
                retry = max(0.0, self.reset_after - (time.monotonic() - (self.opened_at or 0)))
                raise CircuitOpen(f"circuit open for {self.name!r}: {self.failures} consecutive "
                                  f"failures; retry in {retry:.1f}s")
            if state == "half-open":
                self._trial = True

    def success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            self._trial = False
            if self.failures >= self.threshold or self.opened_at is not None:
                self.opened_at = time.monotonic()


class Observability:
    """The cell's log, metrics and breakers, handed to every MAD."""

    def __init__(self, log_path: Path | None = None, stream: TextIO | None = None,
                 breaker_threshold: int = 5, breaker_reset: float = 30.0) -> None:
        self.log = StructuredLog(log_path, stream)
        self.metrics = Metrics()
        self.breaker_threshold = breaker_threshold
        self.breaker_reset = breaker_reset
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def breaker(self, name: str) -> CircuitBreaker:
        with self._lock:
            if name not in self._breakers:
                self._breakers[name] = CircuitBreaker(name, self.breaker_threshold, self.breaker_reset)
            return self._breakers[name]

    def breaker_states(self) -> dict[str, str]:
        with self._lock:
            breakers = dict(self._breakers)
        return {name: b.state for name, b in sorted(breakers.items())}

    def report(self) -> dict[str, Any]:
        return {"mads": self.metrics.snapshot(), "breakers": self.breaker_states()}

    def close(self) -> None:
        self.log.close()
