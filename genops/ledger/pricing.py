"""Tokens to US dollars, from the prices the workspace pinned in genops.toml.

Prices come from `[prices."<model>"]` only, never silently from the catalog: a release's cost must
be reproducible from its inputs, so the price table is an input and `prices_hash` goes into the
manifest. Token estimates are a documented byte heuristic so planning needs no network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

from genops.calls import CompletionRequest, Usage
from genops.errors import ConfigError
from genops.workspace.catalog import lookup
from genops.workspace.config import GenopsConfig, Price

PER_MILLION = 1_000_000
BYTES_PER_TOKEN = 4
# Chat formats wrap each message in role markers; a few tokens per message keeps estimates high.
MESSAGE_OVERHEAD_TOKENS = 4
NANO = 1_000_000_000  # budgets add integer nano-dollars so sums are exact
# No tokenizer makes more tokens of a text than it has UTF-8 bytes (a byte-level BPE token is at
# least one byte; SentencePiece maps an unknown character to one token), and the estimate is
# bytes / 4 plus MESSAGE_OVERHEAD_TOKENS a message: 4x the estimate bounds any server's count of
# the prompt, chat template included (up to 16 template tokens a message).
MAX_INPUT_RATIO = float(BYTES_PER_TOKEN)


def estimate_tokens(text: str) -> int:
    """ceil(UTF-8 bytes / 4): deterministic, offline, and on the high side for English and code."""
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def estimate_request_tokens(request: CompletionRequest) -> int:
    """Estimated input tokens of a request: every message's content plus per-message framing."""
    return sum(estimate_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in request.messages)


def counted_usage(request: CompletionRequest, text: str, usage: Usage) -> Usage:
    """The usage to book: the server's figures, with genops' own count wherever it gave none.

    Some OpenAI-compatible servers (llama-cpp-python) send no usage in a stream; a call that
    produced text must never be booked as 0 tokens and $0. The prompt is counted with the same
    estimate the reservation used, the output from the streamed text; both are on the high side,
    so a call is never settled below what it likely cost. The result is marked `estimated`.
    """
    missing_input = usage.prompt_tokens == 0
    missing_output = usage.output_tokens == 0 and bool(text)
    if not (missing_input or missing_output):
        return usage
    return dataclasses.replace(
        usage, estimated=True,
        input_tokens=estimate_request_tokens(request) if missing_input else usage.input_tokens,
        output_tokens=estimate_tokens(text) if missing_output else usage.output_tokens)


def cost_usd(usage: Usage, price: Price) -> float:
    """What a call cost: each token class at its own per-million price."""
    return (usage.input_tokens * price.input + usage.output_tokens * price.output
            + usage.cache_read_tokens * price.cache_read
            + usage.cache_write_tokens * price.cache_write) / PER_MILLION


def reserved_input_tokens(estimate: int, ratio: float) -> int:
    """The prompt tokens a reservation holds for a request genops estimated at `estimate`.

    `ratio` is the margin for estimate error (see `genops.ledger.budget.input_ratio`): measured
    against llama-server (SmolLM2-135M), the server counted 0.84x the estimate on an English spec,
    0.98x on code and 1.58x on a continuation carrying the model's repetitive answer
    (bench/budget_margin.py). It is clamped to
    [1, MAX_INPUT_RATIO]: at the top, the reservation is the provable bound.
    """
    return math.ceil(estimate * min(max(ratio, 1.0), MAX_INPUT_RATIO))


def worst_case_usd(input_tokens: int, max_output_tokens: int, price: Price) -> float:
    """The most a request can cost: no cache discount on input, and the whole output limit.

    An input token costs at most the dearer of the input and cache-write prices (Anthropic bills a
    cache write at 1.25x input), so the reservation holds even when the prefix is written to cache.
    """
    per_input = max(price.input, price.cache_write)
    return (input_tokens * per_input + max_output_tokens * price.output) / PER_MILLION


def usd_to_nano(usd: float, *, round_up: bool = False) -> int:
    """Dollars to integer nano-dollars; reservations round up so they never under-reserve."""
    scaled = usd * NANO
    return math.ceil(scaled - 1e-6) if round_up else round(scaled)


def nano_to_usd(nano: int) -> float:
    return nano / NANO


def price_for(config: GenopsConfig, model: str) -> Price:
    """The price genops.toml pins for `model`; a missing pin is a configuration error."""
    price = config.prices.get(model)
    if price is not None:
        return price
    entry = lookup(model)
    if entry is not None:
        hint = ("add the catalog's figures to genops.toml (check them against the provider's "
                "price page):\n" + entry.toml_pin())
    else:
        hint = (f'add a [prices."{model}"] table to genops.toml with input, output, cache_read '
                "and cache_write in USD per million tokens, from the provider's price page")
    raise ConfigError("genops.toml", f"no price pinned for model {model!r}", hint=hint)


UNPRICED_PROVIDERS = frozenset({"replay", "manual"})


def billed_price(config: GenopsConfig, provider: str, model: str) -> Price | None:
    """The price a call is billed at, or None when it costs nothing: replay and manual answers,
    and the fake provider standing in for a real model (`--provider fake`), whose list price it
    must not book into the ledger."""
    if provider in UNPRICED_PROVIDERS:
        return None
    if provider == "fake":
        entry = lookup(model)
        if entry is not None and entry.provider != "fake":
            return None
    return price_for(config, model)


def prices_hash(config: GenopsConfig) -> str:
    """sha256 of the canonical JSON of the pinned price table, recorded in each manifest."""
    table = {model: price.model_dump() for model, price in config.prices.items()}
    text = json.dumps(table, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
