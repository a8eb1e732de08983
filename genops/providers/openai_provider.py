"""OpenAI (Chat Completions or Responses) and any OpenAI-compatible server, through the `openai` SDK.

- `api="chat"`: `chat.completions.create(stream=True, stream_options={"include_usage": True})`;
  the usage arrives in a last chunk with no choices. Sends `seed`; the output limit is
  `max_completion_tokens` for OpenAI and `max_tokens` for compatible servers (vLLM, Ollama,
  llama.cpp and LM Studio all read `max_tokens`; not all read the newer name).
- `api="responses"`: `responses.create(stream=True, store=False)`; the Responses API has no seed.
  A cut-off answer ends with `response.incomplete` and `incomplete_details.reason`. Servers that
  implement it partially (llama-server) report `completed` for an answer cut at the limit, so an
  answer whose output tokens reach `max_output_tokens` counts as cut off whatever the status, and
  so does one whose prompt plus output tokens reach the pinned `context_window` (less one: where
  llama-server stops), which the synthesis layer then reports as a window cut.
  Every input item is an easy input message with `"type": "message"`: OpenAI takes it for any
  role, and llama-server refuses an assistant item without it (400 "Cannot determine type of
  'item'"), which a continuation or repair request carries. A compatible server that still
  refuses such a request gets an error saying it cannot continue over the Responses API.
- Prompt caching is automatic at OpenAI; `prompt_cache_key` routes requests that share a prefix to
  the same cache. It names the prefix up to the first cache breakpoint (specs and ADRs), so the
  blueprint request and every group share one key. Not sent to compatible servers.
- Usage: OpenAI's prompt/input tokens INCLUDE cached tokens (and cache writes); genops' Usage
  excludes them, so they are subtracted here.
- Keys: OPENAI_API_KEY (or `api_key_env`) for OpenAI. A compatible server gets `api_key_env`'s
  value if one is named, else the placeholder "not-needed": OPENAI_API_KEY is deliberately not sent
  to a third-party server. Base URL: `base_url`, else OPENAI_BASE_URL (the SDK reads it).
- The SDK retries twice by default (and ignores retry-after over 120 s): `max_retries=0` here.
- Local servers differ: llama-cpp-python ignores `include_usage` (the response then has an empty
  Usage and the client counts the tokens itself), answers an oversized prompt with an empty 200
  stream (`empty_stream`), closes a stream mid-answer when its context window fills
  (`window_cut_stream`, not retried), and llama-cpp-python/Ollama/LM Studio answer 404 on
  `/responses` (llama-server serves it partially, see above).
"""

from __future__ import annotations

import os
from typing import Any, Literal

import openai

from genops.calls import (
    CompletionRequest,
    CompletionResponse,
    ProviderSettings,
    StopReason,
    TokenCallback,
    Usage,
)
from genops.errors import ConfigError, ProviderError
from genops.providers._common import (
    PLACEHOLDER_KEY,
    TRANSPORT_ERRORS,
    ClientCache,
    TextSink,
    empty_stream,
    find_key,
    missing_key,
    stop_from,
    truncated,
    window_cut_stream,
    window_filled,
    wire_cache_key,
)
from genops.providers.errors import classify, classify_body

SDK_ERRORS: tuple[type[BaseException], ...] = (openai.OpenAIError, *TRANSPORT_ERRORS)
# A connection closed mid-stream: raised as is, or wrapped by the SDK as APIConnectionError.
STREAM_CUTS: tuple[type[BaseException], ...] = (openai.APIConnectionError, *TRANSPORT_ERRORS)

Api = Literal["chat", "responses"]
CHAT_STOPS: dict[str, StopReason] = {"stop": "complete", "length": "max_tokens",
                                     "content_filter": "refused"}
INCOMPLETE_STOPS: dict[str, StopReason] = {"max_output_tokens": "max_tokens",
                                           "content_filter": "refused"}


class OpenAIProvider:
    """OpenAI models, or any server speaking its API at `base_url` (`compatible=True`)."""

    def __init__(self, settings: ProviderSettings | None = None, *, api: Api = "chat",
                 compatible: bool = False) -> None:
        self.settings = settings or ProviderSettings()
        self.api: Api = api
        self.compatible = compatible
        self.name = "openai-compatible" if compatible else "openai"
        self._clients: ClientCache[openai.OpenAI] = ClientCache(self._build)

    def _build(self, key: str | None, base_url: str | None) -> openai.OpenAI:
        return openai.OpenAI(api_key=key, base_url=base_url, max_retries=0,
                             timeout=self.settings.timeout_s)

    def __repr__(self) -> str:
        return (f"OpenAIProvider(name={self.name!r}, api={self.api!r}, "
                f"base_url={self.settings.base_url!r})")

    def complete(self, request: CompletionRequest, on_text: TokenCallback | None = None
                 ) -> CompletionResponse:
        """Stream one answer, calling `on_text` with each text delta."""
        key, key_env = self._key()
        base_url = self._base_url()
        try:
            client = self._clients.get(key, base_url)
            if self.api == "responses":
                stream = client.responses.create(**self.responses_params(request))
                with stream:
                    return self._read_responses(stream, on_text, key_env, key, request)
            stream = client.chat.completions.create(**self.chat_params(request))
            with stream:
                return self._read_chat(stream, on_text, request)
        except SDK_ERRORS as exc:
            if self.api == "responses" and _no_responses_api(exc):
                raise self._responses_missing() from None
            error = classify(exc, provider=self.name, key_env=key_env, secrets=(key,))
            if self.api == "responses" and self.compatible and error.status == 400 and \
                    any(m.role == "assistant" for m in request.messages):
                raise self._cannot_continue(error) from None
            raise error from None

    def _cannot_continue(self, error: ProviderError) -> ProviderError:
        """A compatible server's Responses API refused a request carrying an earlier answer."""
        where = self.settings.base_url or os.environ.get("OPENAI_BASE_URL") or "the server"
        return ProviderError(
            f"{self.name}: {where} cannot continue or repair an answer over the Responses API: it "
            "refused (HTTP 400) a request that carries the model's earlier answer as an assistant "
            f"input item ({error.message})",
            error_class="bad_request", status=400,
            hint='set api = "chat" in this model\'s [models.<rung>] table in genops.toml (Chat '
                 "Completions carries an earlier answer on every OpenAI-compatible server)")

    def _at_window(self, usage: Usage) -> bool:
        """A compatible server's answer that stopped where its (pinned) context window fills:
        llama-server stops generating when prompt + answer + 1 reaches n_ctx."""
        window = self.settings.context_window
        return (self.compatible and window is not None and usage.output_tokens > 0
                and usage.prompt_tokens + usage.output_tokens + 1 >= window)

    def _window(self, request: CompletionRequest, produced: str) -> ProviderError | None:
        """The error for a stream cut where the known context window fills, else None."""
        window = self.settings.context_window
        if window is not None and window_filled(request, produced, window):
            return window_cut_stream(self.name, request, produced, window)
        return None

    def _responses_missing(self) -> ProviderError:
        where = self.settings.base_url or os.environ.get("OPENAI_BASE_URL") or "the server"
        return ProviderError(
            f"{self.name}: {where} answered 404 on /responses: it does not offer the Responses "
            "API (llama.cpp, Ollama and LM Studio serve only Chat Completions)",
            error_class="bad_request", status=404,
            hint='set api = "chat" in this model\'s [models.<rung>] table in genops.toml')

    def _key(self) -> tuple[str, str]:
        if self.compatible and not self.settings.api_key_env:
            return PLACEHOLDER_KEY, (f"the variable named by api_key_env (none is named, so "
                                     f"{PLACEHOLDER_KEY!r} was sent)")
        key, key_env = find_key("openai", self.settings.api_key_env)
        if key is None:
            raise missing_key(self.name, key_env)
        return key, key_env

    def _base_url(self) -> str | None:
        base_url = self.settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
        if base_url or not self.compatible:
            return base_url  # None: the SDK's default, https://api.openai.com/v1
        raise ConfigError("genops.toml", "a model with provider = \"openai-compatible\" needs a "
                          "base_url", hint="e.g. base_url = \"http://localhost:11434/v1\" (Ollama) "
                          "or \"http://localhost:8000/v1\" (vLLM); OPENAI_BASE_URL also works")

    def chat_params(self, request: CompletionRequest) -> dict[str, Any]:
        """The `chat.completions.create` arguments for a request."""
        params: dict[str, Any] = {
            "model": request.model, "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": m.role, "content": m.content} for m in request.messages]}
        params["max_tokens" if self.compatible else "max_completion_tokens"] = \
            request.max_output_tokens
        if request.seed is not None:
            params["seed"] = request.seed
        return self._common(params, request)

    def responses_params(self, request: CompletionRequest) -> dict[str, Any]:
        """The `responses.create` arguments for a request (messages stay in order as input)."""
        params: dict[str, Any] = {
            "model": request.model, "stream": True, "store": False,
            "input": [{"type": "message", "role": m.role, "content": m.content}
                      for m in request.messages],
            "max_output_tokens": request.max_output_tokens}
        return self._common(params, request)

    def _common(self, params: dict[str, Any], request: CompletionRequest) -> dict[str, Any]:
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        cache_key = wire_cache_key(request.messages) or request.cache_key
        if cache_key and not self.compatible:
            params["prompt_cache_key"] = cache_key
        if request.extra:
            params["extra_body"] = dict(request.extra)
        return params

    def _read_chat(self, stream: Any, on_text: TokenCallback | None,
                   request: CompletionRequest) -> CompletionResponse:
        sink, refusal = TextSink(on_text), TextSink(None)
        model, finish, usage = "", None, Usage()
        try:
            for chunk in stream:
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = _usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens,
                                   chunk.usage.prompt_tokens_details)
                for choice in chunk.choices or ():
                    if choice.index != 0:
                        continue
                    sink.add(choice.delta.content)
                    refusal.add(choice.delta.refusal)
                    finish = choice.finish_reason or finish
        except STREAM_CUTS:  # the connection closed mid-stream: at the window, or the network
            cut = self._window(request, sink.text)
            if cut is None:
                raise
            raise cut from None
        if finish is None and not (sink.text or refusal.text):
            raise empty_stream(self.name, request, self.settings.context_window)
        if finish is None:
            raise self._window(request, sink.text) or truncated(self.name, "a finish_reason")
        stop = "refused" if refusal.text else stop_from(finish, CHAT_STOPS)
        return CompletionResponse(text=sink.text or refusal.text, stop=stop, usage=usage,
                                  model=model, raw_stop_reason="refusal" if refusal.text else finish)

    def _read_responses(self, stream: Any, on_text: TokenCallback | None, key_env: str,
                        key: str, request: CompletionRequest) -> CompletionResponse:
        sink, refusal = TextSink(on_text), TextSink(None)
        final: Any = None
        try:
            for event in stream:
                if event.type == "response.output_text.delta":
                    sink.add(event.delta)
                elif event.type == "response.refusal.delta":
                    refusal.add(event.delta)
                elif event.type in ("response.completed", "response.incomplete"):
                    final = event.response
                elif event.type in ("response.failed", "error"):
                    body = _error_of(event)
                    raise classify_body({"error": body}, provider=self.name, key_env=key_env,
                                        secrets=(key,), fallback_message=event.type)
        except STREAM_CUTS:
            cut = self._window(request, sink.text)
            if cut is None:
                raise
            raise cut from None
        if final is None:
            raise self._window(request, sink.text) or truncated(self.name, "response.completed")
        usage = Usage()
        if final.usage is not None:
            usage = _usage(final.usage.input_tokens, final.usage.output_tokens,
                           final.usage.input_tokens_details)
        if refusal.text:
            stop: StopReason = "refused"
            raw = "refusal"
        elif final.status == "incomplete":
            raw = getattr(final.incomplete_details, "reason", None) or "incomplete"
            stop = stop_from(raw, INCOMPLETE_STOPS)
        else:
            raw = final.status or ""
            stop = "complete" if raw == "completed" else "other"
            if stop == "complete" and usage.output_tokens >= request.max_output_tokens:
                # llama-server says "completed" for an answer cut at max_output_tokens
                stop, raw = "max_tokens", "completed at max_output_tokens"
            elif stop == "complete" and self._at_window(usage):
                # ... and for one cut where its context fills (prompt + answer + 1 >= n_ctx)
                stop, raw = "max_tokens", "completed at the context window"
        return CompletionResponse(text=sink.text or refusal.text, stop=stop, usage=usage,
                                  model=final.model or "", raw_stop_reason=raw)


def _no_responses_api(exc: BaseException) -> bool:
    """A 404 that is not about the model: the server has no /responses route at all."""
    if getattr(exc, "status_code", None) != 404:
        return False
    body = getattr(exc, "body", None)
    return "model" not in f"{body} {getattr(exc, 'message', '')}".lower()


def _error_of(event: Any) -> dict[str, Any]:
    """The {code, message} of an `error` event or of a failed response."""
    source = event.response.error if event.type == "response.failed" else event
    return {"code": getattr(source, "code", None), "message": getattr(source, "message", None)}


def _usage(prompt: int | None, output: int | None, details: Any) -> Usage:
    """OpenAI counts cached prompt tokens (and cache writes) inside the prompt total."""
    cached = getattr(details, "cached_tokens", None) or 0
    written = getattr(details, "cache_write_tokens", None) or 0
    return Usage(input_tokens=max(0, (prompt or 0) - cached - written), output_tokens=output or 0,
                 cache_read_tokens=cached, cache_write_tokens=written)
