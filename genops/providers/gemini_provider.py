"""Google Gemini through the official `google-genai` SDK, streamed (`streamGenerateContent?alt=sse`).

What google-genai needs that is easy to miss:
- it refuses to build a client without an API key, even with a custom base URL, so a missing key
  is reported here before the SDK is touched (GOOGLE_API_KEY wins over GEMINI_API_KEY, as in the
  SDK; sent as `x-goog-api-key`);
- it calls API version v1 unless told otherwise: genops pins `v1beta`, where system instructions,
  seeds and the SSE stream are all served; the base URL is `base_url`, else GOOGLE_GEMINI_BASE_URL;
- a client that is garbage-collected closes its HTTP client, failing a call still in flight
  ("client has been closed"): each client is held by its provider for the provider's lifetime;
- it does not retry unless `retry_options` is set (left unset: genops retries), but it does
  re-open a dropped stream by itself ("automatic continuation"): switched off, for one policy;
- timeouts are given in milliseconds.
Prompt caching is implicit on Gemini 2.5+ models: the service reuses a prefix it has seen recently
and reports it as `cachedContentTokenCount`, with no request field to set. genops only needs the
shared prefix first, which it is: the system instruction, then the messages in order.
Usage: `promptTokenCount` includes cached tokens (subtracted here); thinking tokens are billed as
output, so `thoughtsTokenCount` is added to the output count.
"""

from __future__ import annotations

import os
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from genops.calls import (
    CompletionRequest,
    CompletionResponse,
    ProviderSettings,
    StopReason,
    TokenCallback,
    Usage,
)
from genops.providers._common import (
    TRANSPORT_ERRORS,
    ClientCache,
    TextSink,
    find_key,
    missing_key,
    stop_from,
    truncated,
)
from genops.providers.errors import classify

SDK_ERRORS: tuple[type[BaseException], ...] = (genai_errors.APIError, *TRANSPORT_ERRORS)

API_VERSION = "v1beta"
FINISH_REASONS: dict[str, StopReason] = {
    "STOP": "complete", "MAX_TOKENS": "max_tokens", "SAFETY": "refused", "RECITATION": "refused",
    "BLOCKLIST": "refused", "PROHIBITED_CONTENT": "refused", "SPII": "refused",
    "IMAGE_SAFETY": "refused", "IMAGE_PROHIBITED_CONTENT": "refused"}


class GeminiProvider:
    """Gemini models; the key is read from the environment at every call."""

    name = "gemini"

    def __init__(self, settings: ProviderSettings | None = None) -> None:
        self.settings = settings or ProviderSettings()
        # The cache holds each client for the provider's lifetime, so none is collected mid-call.
        self._clients: ClientCache[genai.Client] = ClientCache(self._build)

    def _build(self, key: str | None, base_url: str | None) -> genai.Client:
        options = types.HttpOptions(base_url=base_url, api_version=API_VERSION,
                                    timeout=int(self.settings.timeout_s * 1000))
        return genai.Client(api_key=key, http_options=options)

    def __repr__(self) -> str:
        return f"GeminiProvider(base_url={self.settings.base_url!r})"

    def complete(self, request: CompletionRequest, on_text: TokenCallback | None = None
                 ) -> CompletionResponse:
        """Stream one answer, calling `on_text` with each text delta."""
        key, key_env = find_key(self.name, self.settings.api_key_env)
        if key is None:
            raise missing_key(self.name, key_env)
        base_url = self.settings.base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL") or None
        try:
            client = self._clients.get(key, base_url)
            chunks = client.models.generate_content_stream(
                model=request.model, contents=gemini_contents(request),
                config=gemini_config(request))
            return _read_stream(chunks, on_text, self.name)
        except SDK_ERRORS as exc:
            raise classify(exc, provider=self.name, key_env=key_env, secrets=(key,)) from None


def gemini_contents(request: CompletionRequest) -> list[types.Content]:
    """The conversation without its system messages; the assistant is the 'model' role."""
    return [types.Content(role="model" if m.role == "assistant" else "user",
                          parts=[types.Part(text=m.content)])
            for m in request.messages if m.role != "system"]


def gemini_config(request: CompletionRequest) -> types.GenerateContentConfig:
    """Sampling, output limit and system instruction, with the SDK's stream re-opening off."""
    system = [types.Part(text=m.content) for m in request.messages if m.role == "system"]
    return types.GenerateContentConfig(
        system_instruction=types.Content(role="user", parts=system) if system else None,
        temperature=request.temperature, top_p=request.top_p, seed=request.seed,
        max_output_tokens=request.max_output_tokens, automatic_continuation=False,
        http_options=types.HttpOptions(extra_body=dict(request.extra)) if request.extra else None)


def _read_stream(chunks: Any, on_text: TokenCallback | None, provider: str) -> CompletionResponse:
    """Fold the streamed GenerateContentResponse chunks; usage is a running total, keep the last."""
    sink = TextSink(on_text)
    model, finish, blocked, meta = "", None, None, None
    for chunk in chunks:
        model = chunk.model_version or model
        meta = chunk.usage_metadata or meta
        if chunk.prompt_feedback is not None and chunk.prompt_feedback.block_reason:
            blocked = _name(chunk.prompt_feedback.block_reason)
        for candidate in chunk.candidates or ():
            if candidate.index not in (None, 0):
                continue
            for part in (candidate.content.parts if candidate.content else None) or ():
                if part.text and not part.thought:
                    sink.add(part.text)
            if candidate.finish_reason:
                finish = _name(candidate.finish_reason)
    if finish is None and blocked is None:
        raise truncated(provider, "a finishReason")
    stop = "refused" if blocked else stop_from(finish, FINISH_REASONS)
    return CompletionResponse(text=sink.text, stop=stop, usage=_usage(meta), model=model,
                              raw_stop_reason=blocked or finish or "")


def _name(value: Any) -> str:
    return str(getattr(value, "value", value))


def _usage(meta: Any) -> Usage:
    if meta is None:
        return Usage()
    prompt = meta.prompt_token_count or 0
    cached = meta.cached_content_token_count or 0
    return Usage(input_tokens=max(0, prompt - cached),
                 output_tokens=(meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
                 cache_read_tokens=cached, cache_write_tokens=0)
