"""A unit's progress line sums every call it needed (continuations, repairs), not just the last."""

from __future__ import annotations

from genops.calls import Usage
from genops.synthesis.progress import CallRecord, unit_total


def _record(label: str, out: int, cost: float, *, archive: bool = False) -> CallRecord:
    return CallRecord(label=label, rung="senior", provider="anthropic", model="m", key=label,
                      usage=Usage(input_tokens=10, output_tokens=out), cost_usd=cost, latency_s=1.0,
                      from_archive=archive, stop="end")


def test_unit_total_sums_a_continued_unit() -> None:
    records = [_record("g", 100, 0.001), _record("g.cont1", 50, 0.0081)]
    total = unit_total(records)
    assert total.usage == Usage(input_tokens=20, output_tokens=150)
    assert round(total.cost_usd, 6) == 0.0091
    assert total.latency_s == 2.0
    assert total.label == "g.cont1"
    assert not total.from_archive


def test_unit_total_is_an_archive_hit_only_when_every_call_was() -> None:
    assert unit_total([_record("a", 1, 0.0, archive=True)]).from_archive
    assert not unit_total([_record("a", 1, 0.0, archive=True), _record("b", 1, 0.1)]).from_archive
