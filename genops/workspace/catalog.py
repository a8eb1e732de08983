"""The model catalog (`catalog.toml`): context windows, output limits, list prices and
capabilities as data.

Model facts live in a data file rather than in `if "gpt" in name` branches, so adding a model is
a one-table change. The catalog only suggests prices; a workspace pins the ones it uses in
genops.toml (see `genops.ledger.pricing.price_for`). Capabilities (assistant prefill, which
sampling parameters a model accepts, the shortest prefix its provider caches) decide how a cut-off
answer is continued, which pins are refused at load, and what a request sends.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from importlib import resources
from typing import Any

from genops.workspace.config import ModelConfig, Price

CATALOG_FILE = "catalog.toml"


@dataclass(frozen=True)
class Capabilities:
    """What a model accepts. A sampling capability is True (any value), False (the parameter is
    refused, so genops never sends it) or a number (the only value accepted)."""

    prefill: bool = False
    temperature: bool | float = True
    top_p: bool | float = True
    seed: bool = False
    min_cache_tokens: int = 0  # 0: unknown or no minimum

    def merged(self, overrides: dict[str, Any]) -> Capabilities:
        """These capabilities with every non-None value of `overrides` applied."""
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in overrides.items() if k in known and v is not None})


@dataclass(frozen=True)
class CatalogEntry:
    """What genops knows about one pinned model id."""

    model: str
    provider: str
    context_window: int
    max_output_tokens: int
    price: Price
    capabilities: dict[str, Any] = field(default_factory=dict)  # over the provider's defaults

    def toml_pin(self) -> str:
        """The genops.toml table that pins this entry's price, ready to paste."""
        p = self.price
        return (f'[prices."{self.model}"]\ninput = {p.input}\noutput = {p.output}\n'
                f"cache_read = {p.cache_read}\ncache_write = {p.cache_write}")


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("genops.workspace").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    return tomllib.loads(text)


@lru_cache(maxsize=1)
def _load() -> tuple[CatalogEntry, ...]:
    data = _data()
    entries = []
    for model, table in data.get("models", {}).items():
        entries.append(CatalogEntry(
            model=model, provider=table["provider"],
            context_window=int(table["context_window"]),
            max_output_tokens=int(table["max_output_tokens"]),
            price=Price.model_validate(table["price"]),
            capabilities=dict(table.get("capabilities", {}))))
    return tuple(entries)


def load_catalog() -> dict[str, CatalogEntry]:
    """Every catalog entry by model id (a fresh dict; the parsed file is cached)."""
    return {entry.model: entry for entry in _load()}


def lookup(model: str) -> CatalogEntry | None:
    """The entry for `model`, or None when the catalog does not know it."""
    return load_catalog().get(model)


def context_window(model: str, pinned: int | None = None) -> int | None:
    """The model's window: pinned in genops.toml `[models.<rung>] context_window`, else the
    catalog's, else None (unknown)."""
    if pinned is not None:
        return pinned
    entry = lookup(model)
    return entry.context_window if entry is not None else None


PIN_WINDOW_HINT = ("pin it with context_window = <tokens> in the model's [models.<rung>] table "
                   "in genops.toml (for a local server: the context size it was started with, "
                   "e.g. llama.cpp -c / n_ctx)")


def capabilities(cfg: ModelConfig) -> Capabilities:
    """What the rung's model accepts: the provider's defaults, the model's catalog entry, the
    API's limits (OpenAI's Responses API has no seed), then the rung's own pins in genops.toml."""
    tables = _data().get("provider_capabilities", {})
    caps = Capabilities().merged(tables.get(cfg.provider, {}))
    entry = lookup(cfg.model)
    if entry is not None:
        caps = caps.merged(entry.capabilities)
    if cfg.provider in ("openai", "openai-compatible") and cfg.api == "responses":
        caps = caps.merged(tables.get("openai-responses", {}))
    if cfg.capabilities is not None:
        caps = caps.merged(cfg.capabilities.model_dump())
    return caps


def _accepts(capability: bool | float, value: float) -> bool:
    if isinstance(capability, bool):
        return capability
    return float(capability) == float(value)


def refused_pins(cfg: ModelConfig) -> list[tuple[str, str]]:
    """(key, why) for each sampling pin of the rung the model cannot honour."""
    caps = capabilities(cfg)
    refused = []
    if cfg.seed is not None and not caps.seed:
        api = " through the Responses API" if cfg.api == "responses" else ""
        refused.append(("seed", f"{cfg.model}{api} takes no seed, so it would never be sent"))
    pinned = cfg.model_fields_set
    for name in ("temperature", "top_p"):
        value = getattr(cfg, name)
        capability = getattr(caps, name)
        if name in pinned and value is not None and not _accepts(capability, value):
            accepted = "none" if capability is False else f"only {capability}"
            refused.append((name, f"{cfg.model} rejects {name} = {value} (it accepts {accepted})"))
    return refused


def sent_sampling(cfg: ModelConfig) -> dict[str, Any]:
    """The sampling parameters a request on this rung actually sends (None: not sent)."""
    caps = capabilities(cfg)
    temperature: float | None = cfg.temperature
    if caps.temperature is False or not _accepts(caps.temperature, cfg.temperature):
        temperature = None  # not pinned (pins are checked at load): the model's default
    top_p = cfg.top_p if cfg.top_p is not None and caps.top_p is not False else None
    return {"temperature": temperature, "top_p": top_p, "seed": cfg.seed if caps.seed else None}
