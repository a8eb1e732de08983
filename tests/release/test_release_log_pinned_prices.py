"""`genops log` shows what a release answered by hand or replayed would have cost at the pinned
prices (issue 26: this repository's releases, all answered with --provider manual, read $0.0000)."""

from __future__ import annotations

from typing import Any

import pytest

from genops.release.history import log_entry
from genops.render.release import _log_cost


def manifest(provider: str, cost: float) -> dict[str, Any]:
    price = {"input": 3.0, "output": 15.0, "cache_read": 0.3, "cache_write": 3.75}
    tokens = {"input": 100_000, "output": 10_000, "cache_read": 0, "cache_write": 0}
    return {"release": "r0002", "kind": "regenerate", "output": {"tree_sha256": "0" * 64},
            "models": [{"provider": provider, "model": "m-1", "price": price}],
            "calls": [{"label": "core", "provider": provider, "model": "m-1", "tokens": tokens,
                       "cost_usd": cost}],
            "totals": {"calls": 1, "cost_usd": cost, "tokens": tokens}}


@pytest.mark.parametrize(("provider", "cost", "shown"), [
    ("manual", 0.0, "$0.0000; $0.4500 at pinned prices"),   # 0.3 + 0.15 at $3/$15 per M
    ("replay", 0.0, "$0.0000; $0.4500 at pinned prices"),
    ("anthropic", 0.45, "$0.4500"),                        # paid: the cost is the pinned price
])
def test_the_log_prices_answers_given_by_hand_at_the_pinned_prices(
        provider: str, cost: float, shown: str) -> None:
    entry = log_entry(manifest(provider, cost))
    assert entry["list_usd"] == pytest.approx(0.45)
    assert _log_cost(entry) == shown
