"""What synthesis reports while it runs, and the record of each call it made.

The engine calls a `Progress` from worker threads; an implementation that renders (rich, in
genops/render/) must be thread-safe. The core never prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from genops.calls import Usage


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


def unit_total(records: Sequence[CallRecord]) -> CallRecord:
    """One record for a whole unit: tokens, cost and latency summed over every call it needed
    (continuations, repairs, fallbacks), labelled as its last call; an archive hit only if all were."""
    last = records[-1]
    usage = last.usage
    for record in records[:-1]:
        usage = usage + record.usage
    return replace(last, usage=usage, cost_usd=sum(r.cost_usd for r in records),
                   latency_s=sum(r.latency_s for r in records),
                   from_archive=all(r.from_archive for r in records))


class Progress(Protocol):
    """Events of a synthesis run; `name` is a unit: `blueprint`, `single` or a group name."""

    def group_started(self, name: str) -> None:
        """A unit's first request is about to be sent."""

    def tokens(self, name: str, n: int, cost: float) -> None:
        """Increments: `n` characters streamed, `cost` USD settled (0.0 while streaming)."""

    def group_done(self, name: str, record: CallRecord) -> None:
        """A unit is finished; `record` sums all its calls (see `unit_total`)."""

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
