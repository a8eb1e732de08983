"""Fiedler's provider seam: where model calls leave the cell, or don't.

A :class:`Provider` turns a model spec and a list of chat messages into a
:class:`Completion`. :class:`LocalProvider` is deterministic and needs no key
and no network; it is the default, so the ecosystem and its tests run offline.
:class:`OpenAICompatibleProvider` talks to any OpenAI-compatible server (vLLM,
Ollama, llama.cpp, a hosted API); it gets its API key from a callable, which
Fiedler backs with a request to Turing, so the key is never in configuration.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

ARITHMETIC = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/x×÷])\s*(-?\d+(?:\.\d+)?)")


class ProviderError(Exception):
    """The provider could not produce a completion."""


@dataclass(frozen=True)
class ModelSpec:
    """One entry of Fiedler's model registry. Prices are USD per million tokens."""

    id: str
    provider: str
    capabilities: frozenset[str] = field(default_factory=lambda: frozenset({"chat"}))
    price_in: float = 0.0
    price_out: float = 0.0
    context_window: int = 8192
    quality: int = 1

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return round((tokens_in * self.price_in + tokens_out * self.price_out) / 1_000_000, 8)

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "provider": self.provider, "capabilities": sorted(self.capabilities),
                "price_in": self.price_in, "price_out": self.price_out,
                "context_window": self.context_window, "quality": self.quality}


@dataclass
class Completion:
    text: str
    tokens_in: int
    tokens_out: int


class Provider(Protocol):
    name: str

    def complete(self, model: ModelSpec, messages: list[dict[str, str]]) -> Completion: ...


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate: one token per four characters."""
    return max(1, (len(text) + 3) // 4)


def _arithmetic(text: str) -> str | None:
    match = ARITHMETIC.search(text)
    if not match:
        return None
    a, op, b = float(match.group(1)), match.group(2), float(match.group(3))
    if op in "/÷" and b == 0:
        return "undefined (division by zero)"
    value = {"+": a + b, "-": a - b, "*": a * b, "x": a * b, "×": a * b}.get(op)
    value = a / b if value is None else value
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


class LocalProvider:
    """Deterministic local models: ``local/echo``, ``local/rules``, ``local/calc``, ``local/summarize``."""

    name = "local"

    def complete(self, model: ModelSpec, messages: list[dict[str, str]]) -> Completion:
        if not messages:
            raise ProviderError("no messages")
        text = messages[-1]["content"]
        kind = model.id.split("/", 1)[-1]
        if kind == "echo":
            answer = f"echo: {text}"
        elif kind == "calc":
            answer = _arithmetic(text) or "I only do arithmetic."
        elif kind == "summarize":
            first = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
            answer = " ".join(first.split()[:30])
        elif kind == "rules":
            answer = self._rules(text, messages[:-1])
        else:
            raise ProviderError(f"unknown local model {model.id!r}")
        prompt = " ".join(m["content"] for m in messages)
        return Completion(answer, estimate_tokens(prompt), estimate_tokens(answer))

    @staticmethod
    def _rules(text: str, earlier: list[dict[str, str]]) -> str:
        lowered = text.lower()
        result = _arithmetic(text)
        if result is not None:
            return result
        if re.search(r"\b(hello|hi|hey|greetings)\b", lowered):
            return "Hello! I am Fiedler's local rules model. Ask me some arithmetic, or anything else."
        if "what did i say" in lowered:
            said = [m["content"] for m in earlier if m["role"] == "user"]
            return f"You said: {said[-1]}" if said else "You have not said anything before."
        if "how many" in lowered and "message" in lowered:
            return f"This conversation has {len(earlier)} earlier messages."
        return f"I have no rule for that yet. You said: {text}"


class OpenAICompatibleProvider:
    """Chat completions from an OpenAI-compatible HTTP server."""

    def __init__(self, name: str, base_url: str, api_key: Callable[[], str], timeout: float = 30.0) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    def complete(self, model: ModelSpec, messages: list[dict[str, str]]) -> Completion:
        remote_id = model.id.split("/", 1)[-1]
        payload = json.dumps({"model": remote_id, "messages": messages, "temperature": 0}).encode()
        request = urllib.request.Request(
            self.base_url + "/chat/completions", data=payload, method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._api_key()}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                data = json.loads(response.read(4_000_000))
        except urllib.error.HTTPError as exc:
            raise ProviderError(f"{self.name} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ProviderError(f"{self.name} unreachable: {type(exc).__name__}") from None
        try:
            text = data["choices"][0]["message"]["content"]
            usage = data.get("usage") or {}
        except (KeyError, IndexError, TypeError):
            raise ProviderError(f"{self.name} returned an unexpected response") from None
        prompt = " ".join(m["content"] for m in messages)
        return Completion(str(text), int(usage.get("prompt_tokens") or estimate_tokens(prompt)),
                          int(usage.get("completion_tokens") or estimate_tokens(str(text))))


DEFAULT_MODELS = (
    ModelSpec("local/rules", "local", frozenset({"chat", "math"}), 0.5, 1.0, 8192, 3),
    ModelSpec("local/calc", "local", frozenset({"math"}), 0.1, 0.2, 4096, 2),
    ModelSpec("local/echo", "local", frozenset({"chat"}), 0.0, 0.0, 4096, 1),
    ModelSpec("local/summarize", "local", frozenset({"summarize"}), 0.2, 0.4, 16384, 2),
)
