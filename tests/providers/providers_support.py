"""Shared by the provider tests: the provider variants, a typical request, wire-name mapping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from genops.providers.anthropic_provider import AnthropicProvider
from genops.calls import CompletionRequest, Message, Provider, ProviderSettings
from genops.providers.gemini_provider import GeminiProvider
from genops.providers.openai_provider import OpenAIProvider
from genops.testing.emulator import Emulator, Recorded

KEYS = {"ANTHROPIC_API_KEY": "sk-ant-test-ANTHROPIC-0123456789",
        "OPENAI_API_KEY": "sk-test-OPENAI-0123456789abcdef",
        "GEMINI_API_KEY": "AIzaTest-GEMINI-0123456789abcdefghijklmn"}


@dataclass(frozen=True)
class Variant:
    """One way of calling a model: which provider class, which API, which emulator dialect."""

    name: str
    dialect: str
    build: Callable[[ProviderSettings], Provider]
    key_env: str | None

    def provider(self, emu: Emulator, **settings: Any) -> Provider:
        settings.setdefault("base_url", emu.base_url(self.dialect))
        return self.build(ProviderSettings(**settings))


VARIANTS = {v.name: v for v in (
    Variant("anthropic", "anthropic", AnthropicProvider, "ANTHROPIC_API_KEY"),
    Variant("openai-chat", "openai", lambda s: OpenAIProvider(s, api="chat"), "OPENAI_API_KEY"),
    Variant("openai-responses", "openai", lambda s: OpenAIProvider(s, api="responses"),
            "OPENAI_API_KEY"),
    Variant("gemini", "gemini", GeminiProvider, "GEMINI_API_KEY"),
    Variant("openai-compatible", "openai", lambda s: OpenAIProvider(s, compatible=True), None),
)}
SDK_VARIANTS = ["anthropic", "openai-chat", "openai-responses", "gemini"]


def make_request(*, model: str = "model-2025-01-01", max_output_tokens: int = 512,
                 temperature: float = 0.0, seed: int | None = 1234, top_p: float | None = None,
                 cache_key: str | None = "genops-prefix-abc", extra: tuple[tuple[str, Any], ...] = (),
                 user: str = "Write mad/bus.py") -> CompletionRequest:
    """A request shaped like genops sends: system prompt and shared prefix cached, then the ask."""
    return CompletionRequest(
        provider="test", model=model, max_output_tokens=max_output_tokens, temperature=temperature,
        seed=seed, top_p=top_p, cache_key=cache_key, extra=extra,
        messages=(Message("system", "You are the senior synthesizer.", cache_prefix=True),
                  Message("user", "SPECS: every MAD talks over the bus.", cache_prefix=True),
                  Message("user", user)))


def wire(variant: str, req: Recorded) -> dict[str, Any]:
    """The sampling parameters as they arrived on the wire, under one set of names."""
    body = req.body
    if variant == "gemini":
        config = body.get("generationConfig", {})
        return {"model": req.model, "temperature": config.get("temperature"),
                "max_tokens": config.get("maxOutputTokens"), "seed": config.get("seed"),
                "top_p": config.get("topP"), "cache_key": None}
    max_name = {"anthropic": "max_tokens", "openai-chat": "max_completion_tokens",
                "openai-responses": "max_output_tokens",
                "openai-compatible": "max_tokens"}[variant]
    return {"model": body["model"], "temperature": body.get("temperature"),
            "max_tokens": body.get(max_name), "seed": body.get("seed"), "top_p": body.get("top_p"),
            "cache_key": body.get("prompt_cache_key")}
