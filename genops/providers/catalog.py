"""The model catalog (`catalog.toml`): context windows, output limits and list prices as data.

Model facts live in a data file rather than in `if "gpt" in name` branches, so adding a model is
a one-table change. The catalog only suggests prices; a workspace pins the ones it uses in
genops.toml (see `genops.ledger.pricing.price_for`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from genops.workspace.config import Price

CATALOG_FILE = "catalog.toml"


@dataclass(frozen=True)
class CatalogEntry:
    """What genops knows about one pinned model id."""

    model: str
    provider: str
    context_window: int
    max_output_tokens: int
    price: Price

    def toml_pin(self) -> str:
        """The genops.toml table that pins this entry's price, ready to paste."""
        p = self.price
        return (f'[prices."{self.model}"]\ninput = {p.input}\noutput = {p.output}\n'
                f"cache_read = {p.cache_read}\ncache_write = {p.cache_write}")


@lru_cache(maxsize=1)
def _load() -> tuple[CatalogEntry, ...]:
    text = resources.files("genops.providers").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    data = tomllib.loads(text)
    entries = []
    for model, table in data.get("models", {}).items():
        entries.append(CatalogEntry(
            model=model, provider=table["provider"],
            context_window=int(table["context_window"]),
            max_output_tokens=int(table["max_output_tokens"]),
            price=Price.model_validate(table["price"])))
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
