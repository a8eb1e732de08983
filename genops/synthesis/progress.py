"""What synthesis reports while it runs, and the record of each call it made.

The engine calls a `Progress` from worker threads; an implementation that renders (rich, in
genops/render/) must be thread-safe. The core never prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from genops.providers.base import Usage


@dataclass(frozen=True)
class CallRecord:
    """One completed provider call (or archive hit) of a synthesis run."""

    label: str
    rung: str
    provider: str
    model: str
    key: str
    usage: Usage
    cost_usd: float
    latency_s: float
    from_archive: bool
    stop: str


class Progress(Protocol):
    """Events of a synthesis run; `name` is a unit: `blueprint`, `single` or a group name."""

    def group_started(self, name: str) -> None:
        """A unit's first request is about to be sent."""

    def tokens(self, name: str, n: int, cost: float) -> None:
        """Increments: `n` characters streamed, `cost` USD settled (0.0 while streaming)."""

    def group_done(self, name: str, record: CallRecord) -> None:
        """A unit is finished; `record` is its last call."""

    def message(self, text: str) -> None:
        """Something a person should read: a fallback, a repair, a continuation."""


class NullProgress:
    """A Progress that ignores everything."""

    def group_started(self, name: str) -> None:
        pass

    def tokens(self, name: str, n: int, cost: float) -> None:
        pass

    def group_done(self, name: str, record: CallRecord) -> None:
        pass

    def message(self, text: str) -> None:
        pass
