"""What a model call is: the messages, one request type, one response type, usage, one method.

Every provider (real SDK, replay, manual, fake) implements `Provider.complete`. Everything else a
call needs (archive, ledger, budget, retries) wraps providers from the outside, in
`genops.providers.client`, so a provider module only translates to and from its wire format.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]
StopReason = Literal["complete", "max_tokens", "refused", "other"]


@dataclass(frozen=True)
class Message:
    """One chat message; `cache_prefix` marks the last message of the shared, cacheable prefix."""

    role: Role
    content: str
    cache_prefix: bool = False
    # An earlier cache breakpoint inside `content`: content[:cache_split] is cached on its own too
    # (0: none). It changes where a provider caches, never the answer, so it is not in `key()`.
    cache_split: int = 0


@dataclass(frozen=True)
class CompletionRequest:
    """Everything that determines a model's answer, and nothing secret.

    `key()` is the sha256 of the canonical JSON form; it addresses the archive, so two requests
    that would produce the same answer from a pinned model share one key.
    """

    provider: str
    model: str
    messages: tuple[Message, ...]
    max_output_tokens: int
    temperature: float | None = 0.0  # None: not sent (the model takes only its default)
    seed: int | None = None
    top_p: float | None = None
    cache_key: str | None = None  # OpenAI prompt_cache_key; also names the shared prefix elsewhere
    extra: tuple[tuple[str, Any], ...] = ()  # provider-specific, non-secret parameters

    def canonical(self) -> dict[str, Any]:
        """A JSON-ready dict with sorted keys; the only input to `key()`."""
        data = asdict(self)
        data["messages"] = [{k: v for k, v in asdict(m).items() if k != "cache_split"}
                            for m in self.messages]
        data["extra"] = {k: v for k, v in sorted(self.extra)}
        return data

    def canonical_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def key(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @classmethod
    def from_canonical(cls, data: dict[str, Any]) -> "CompletionRequest":
        return cls(
            provider=data["provider"], model=data["model"],
            messages=tuple(Message(**m) for m in data["messages"]),
            max_output_tokens=data["max_output_tokens"], temperature=data["temperature"],
            seed=data.get("seed"), top_p=data.get("top_p"), cache_key=data.get("cache_key"),
            extra=tuple(sorted((data.get("extra") or {}).items())),
        )


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider billed them. `input_tokens` excludes cache reads and writes.

    `estimated` is True when the server reported no usage (llama-cpp-python ignores
    `stream_options.include_usage`) and genops counted the tokens itself.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated: bool = False

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens,
                     self.cache_read_tokens + other.cache_read_tokens,
                     self.cache_write_tokens + other.cache_write_tokens,
                     self.estimated or other.estimated)

    @property
    def prompt_tokens(self) -> int:
        """Every token of the prompt, however it was billed (uncached, cache read, cache write)."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


@dataclass(frozen=True)
class CompletionResponse:
    """A finished answer: its text, why it stopped, and what it cost in tokens."""

    text: str
    stop: StopReason
    usage: Usage
    model: str = ""  # the model id the provider reports having used
    raw_stop_reason: str = ""
    from_archive: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("from_archive")
        if not self.usage.estimated:  # archives written before the flag existed stay byte-equal
            data["usage"].pop("estimated")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, from_archive: bool = False) -> "CompletionResponse":
        return cls(text=data["text"], stop=data["stop"], usage=Usage(**data["usage"]),
                   model=data.get("model", ""), raw_stop_reason=data.get("raw_stop_reason", ""),
                   from_archive=from_archive)


TokenCallback = Callable[[str], None]


@runtime_checkable
class Provider(Protocol):
    """A model endpoint. `complete` streams where it can, calling `on_text` with each text delta.

    It raises `genops.errors.ProviderError` with a classified `error_class` on failure; it does
    not retry (the client does, so every provider backs off the same way).
    """

    name: str

    def complete(self, request: CompletionRequest, on_text: TokenCallback | None = None
                 ) -> CompletionResponse: ...


@dataclass(frozen=True)
class ProviderSettings:
    """How to reach one provider: base URL, key variable, timeout. Never holds the key itself."""

    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 600.0
    options: dict[str, Any] = field(default_factory=dict)
    context_window: int | None = None  # when known: tells an empty stream's likely cause
