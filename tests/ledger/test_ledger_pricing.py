"""Tokens to dollars against hand-computed figures, the pinned-price rule and the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_helpers import make_request, write_workspace

from genops.errors import ConfigError
from genops.ledger.pricing import (cost_usd, estimate_request_tokens, estimate_tokens,
                                   price_for, prices_hash, worst_case_usd)
from genops.calls import Usage
from genops.workspace.catalog import load_catalog
from genops.workspace.config import Price

SONNET = Price(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75)
GPT5 = Price(input=1.25, output=10.0, cache_read=0.125)
LOCAL = Price(input=0.0, output=0.0)

# (usage, price, dollars worked out by hand)
COSTS = [
    (Usage(1_000_000, 0, 0, 0), SONNET, 3.00),
    (Usage(0, 1_000_000, 0, 0), SONNET, 15.00),
    # 12,000 in x $3/M = 0.036; 4,000 out x $15/M = 0.06
    (Usage(12_000, 4_000, 0, 0), SONNET, 0.096),
    # 2,000 x 3 = 0.006; 8,000 x 15 = 0.12; 50,000 x 0.30 = 0.015; 10,000 x 3.75 = 0.0375
    (Usage(2_000, 8_000, 50_000, 10_000), SONNET, 0.1785),
    # 100,000 x 1.25 = 0.125; 20,000 x 10 = 0.2; 300,000 x 0.125 = 0.0375
    (Usage(100_000, 20_000, 300_000, 0), GPT5, 0.3625),
    # GPT5 omits cache_write: a cache write is billed at the input price (as OpenAI bills it)
    (Usage(1, 1, 1, 1), GPT5, (1.25 + 10 + 0.125 + 1.25) / 1e6),
    # no cache prices at all (a local server's table): cached tokens cost what input costs
    (Usage(1_000, 0, 9_000, 0), Price(input=2.0, output=4.0), 0.02),
    (Usage(500_000, 100_000, 0, 0), LOCAL, 0.0),
    (Usage(), SONNET, 0.0),
]


def test_an_omitted_cache_price_is_the_input_price_and_an_explicit_one_stands() -> None:
    assert Price(input=0.6, output=2.4) == Price(input=0.6, output=2.4, cache_read=0.6,
                                                 cache_write=0.6)
    assert Price(input=0.6, output=2.4, cache_read=0.0).cache_read == 0.0


@pytest.mark.parametrize(("usage", "price", "expected"), COSTS)
def test_cost_matches_hand_computation(usage: Usage, price: Price, expected: float) -> None:
    assert cost_usd(usage, price) == pytest.approx(expected, abs=1e-12)


# (input tokens, output limit, price, dollars): no cache discount on input, and an input token
# at the dearer of input and cache-write prices (Sonnet writes the cache at $3.75/M)
WORST = [
    (10_000, 16_000, SONNET, 0.0375 + 0.24),
    (150_000, 64_000, SONNET, 0.5625 + 0.96),
    (100_000, 128_000, GPT5, 0.125 + 1.28),
    (0, 0, SONNET, 0.0),
    (1_000_000, 32_000, LOCAL, 0.0),
]


@pytest.mark.parametrize(("tokens", "limit", "price", "expected"), WORST)
def test_worst_case_matches_hand_computation(tokens: int, limit: int, price: Price,
                                             expected: float) -> None:
    assert worst_case_usd(tokens, limit, price) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("price", [SONNET, GPT5, LOCAL])
def test_worst_case_bounds_any_cache_mix_of_the_same_tokens(price: Price) -> None:
    worst = worst_case_usd(10_000, 2_000, price)
    for read, written in [(0, 0), (5_000, 0), (10_000, 0), (0, 10_000), (4_000, 6_000)]:
        plain = 10_000 - read - written
        for output in (0, 2_000):
            assert cost_usd(Usage(plain, output, read, written), price) <= worst


@pytest.mark.parametrize(("text", "tokens"), [
    ("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 4000, 1000),
    ("é", 1), ("éé", 1), ("ééé", 2),  # é is two UTF-8 bytes
    ("日本語", 3),  # three bytes each: 9 bytes -> 3 tokens
])
def test_estimate_tokens_is_ceil_of_utf8_bytes_over_four(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_request_estimate_counts_every_message_with_framing() -> None:
    request = make_request("x" * 400, system="y" * 40)
    assert estimate_request_tokens(request) == 100 + 10 + 2 * 4


def test_price_for_uses_the_workspace_pin(tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    assert price_for(config, "fake-1") == Price(input=1.0, output=2.0, cache_read=0.1,
                                                cache_write=1.25)


def test_missing_pin_names_genops_toml_the_model_and_the_catalog_figures(tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    with pytest.raises(ConfigError) as caught:
        price_for(config, "claude-sonnet-4-5-20250929")
    text = str(caught.value)
    assert "genops.toml" in text and "claude-sonnet-4-5-20250929" in text
    assert '[prices."claude-sonnet-4-5-20250929"]' in text and "input = 3.0" in text
    assert "output = 15.0" in text


def test_missing_pin_of_an_unknown_model_says_where_to_look(tmp_path: Path) -> None:
    config = write_workspace(tmp_path)
    with pytest.raises(ConfigError, match="no price pinned for model 'mystery-9'") as caught:
        price_for(config, "mystery-9")
    assert "price page" in str(caught.value)


def test_prices_hash_is_stable_and_changes_with_any_price(tmp_path: Path) -> None:
    config = write_workspace(tmp_path / "a")
    same = write_workspace(tmp_path / "b")
    assert prices_hash(config) == prices_hash(same)
    assert len(prices_hash(config)) == 64
    changed = config.model_copy(update={"prices": {"fake-1": Price(input=1.0, output=2.5)}})
    assert prices_hash(changed) != prices_hash(config)


def test_catalog_holds_the_pinned_models_with_limits_and_prices() -> None:
    catalog = load_catalog()
    expected = {"claude-sonnet-4-5-20250929": "anthropic", "claude-opus-4-1-20250805": "anthropic",
                "claude-haiku-4-5-20251001": "anthropic", "gpt-5-2025-08-07": "openai",
                "gpt-5-mini-2025-08-07": "openai", "gpt-4.1-2025-04-14": "openai",
                "gemini-2.5-pro": "gemini", "gemini-2.5-flash": "gemini",
                "qwen2.5-coder:32b": "openai-compatible", "fake-1": "fake"}
    assert {model: catalog[model].provider for model in expected} == expected
    for entry in catalog.values():
        assert 0 < entry.max_output_tokens <= entry.context_window
        assert entry.price.output >= entry.price.input >= entry.price.cache_read
    assert catalog["qwen2.5-coder:32b"].price == Price(input=0, output=0)
    assert catalog["claude-sonnet-4-5-20250929"].price == SONNET
