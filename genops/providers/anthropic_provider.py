"""Anthropic Messages through the official `anthropic` SDK, streamed.

What the 2.x SDK needs that is easy to miss:
- `messages.create` no longer takes `temperature`/`top_p`/`top_k` as arguments; they are still
  request-body fields of the API, so they go in `extra_body` (with `CompletionRequest.extra`).
- it sends the key as `Authorization: Bearer`, reads ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN /
  ANTHROPIC_BASE_URL itself, and retries twice unless `max_retries=0` (genops retries, once).
Prompt caching: the last content block of every message marked `cache_prefix` carries
`cache_control: {"type": "ephemeral"}`; the system prompt is sent as a block list so it can carry
one too. A message with `cache_split` is sent as two blocks, each a breakpoint: a group request's
first block is exactly the blueprint request's context, so it reads what that request wrote.
The API allows four breakpoints, so only the last four are kept (each covers all before it).
Anthropic has no seed. Usage is already split: `input_tokens` excludes cache reads and writes.
"""

from __future__ import annotations

import os
from typing import Any

import anthropic

from genops.calls import (
    CompletionRequest,
    CompletionResponse,
    Message,
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

SDK_ERRORS: tuple[type[BaseException], ...] = (anthropic.AnthropicError, *TRANSPORT_ERRORS)

MAX_CACHE_BREAKPOINTS = 4
STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "complete", "stop_sequence": "complete", "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens", "refusal": "refused"}
_EPHEMERAL = {"type": "ephemeral"}


class AnthropicProvider:
    """Claude models; the key is read from the environment at every call."""

    name = "anthropic"

    def __init__(self, settings: ProviderSettings | None = None) -> None:
        self.settings = settings or ProviderSettings()
        self._clients: ClientCache[anthropic.Anthropic] = ClientCache(self._build)

    def _build(self, key: str | None, base_url: str | None) -> anthropic.Anthropic:
        # api_key=None lets the SDK find ANTHROPIC_AUTH_TOKEN or a profile, as it usually does.
        return anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0,
                                   timeout=self.settings.timeout_s)

    def __repr__(self) -> str:
        return f"AnthropicProvider(base_url={self.settings.base_url!r})"

    def complete(self, request: CompletionRequest, on_text: TokenCallback | None = None
                 ) -> CompletionResponse:
        """Stream one answer, calling `on_text` with each text delta."""
        key, key_env = find_key(self.name, self.settings.api_key_env)
        if key is None and self.settings.api_key_env:
            raise missing_key(self.name, key_env)
        base_url = self.settings.base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        try:
            client = self._clients.get(key, base_url)
            if not (client.api_key or client.auth_token or client.credentials):
                raise missing_key(self.name, key_env)
            stream = client.messages.create(**anthropic_params(request), stream=True)
            with stream:
                return _read_stream(stream, on_text, self.name)
        except SDK_ERRORS as exc:
            raise classify(exc, provider=self.name, key_env=key_env, secrets=(key,)) from None


def anthropic_params(request: CompletionRequest) -> dict[str, Any]:
    """The `messages.create` arguments for a request (without `stream`)."""
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    marked: list[dict[str, Any]] = []
    for message in request.messages:
        blocks = _blocks(message)
        if message.cache_prefix:
            marked.extend(blocks)
        if message.role == "system":
            system.extend(blocks)
        else:
            messages.append({"role": message.role, "content": blocks})
    for block in marked[-MAX_CACHE_BREAKPOINTS:]:
        block["cache_control"] = dict(_EPHEMERAL)
    body: dict[str, Any] = {}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    body.update(dict(request.extra))
    params: dict[str, Any] = {"model": request.model, "max_tokens": request.max_output_tokens,
                              "messages": messages, "extra_body": body}
    if system:
        params["system"] = system
    return params


def _blocks(message: Message) -> list[dict[str, Any]]:
    """A message's text blocks: two when it carries an earlier breakpoint (`cache_split`), so the
    part before it (specs and ADRs, as the blueprint request cached them) is a cache entry too."""
    split = message.cache_split
    if 0 < split < len(message.content):
        return [{"type": "text", "text": message.content[:split]},
                {"type": "text", "text": message.content[split:]}]
    return [{"type": "text", "text": message.content}]


def _read_stream(stream: Any, on_text: TokenCallback | None, provider: str) -> CompletionResponse:
    """Fold the raw SSE events (message_start ... message_stop) into one response."""
    sink = TextSink(on_text)
    model, raw_stop, finished = "", None, False
    counts = {"input": 0, "output": 0, "read": 0, "write": 0}
    for event in stream:
        if event.type == "message_start":
            model = event.message.model
            _take_usage(counts, event.message.usage)
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            sink.add(event.delta.text)
        elif event.type == "message_delta":
            raw_stop = event.delta.stop_reason
            _take_usage(counts, event.usage)
        elif event.type == "message_stop":
            finished = True
    if not finished:
        raise truncated(provider, "message_stop")
    usage = Usage(input_tokens=counts["input"], output_tokens=counts["output"],
                  cache_read_tokens=counts["read"], cache_write_tokens=counts["write"])
    return CompletionResponse(text=sink.text, stop=stop_from(raw_stop, STOP_REASONS), usage=usage,
                              model=model, raw_stop_reason=raw_stop or "")


def _take_usage(counts: dict[str, int], usage: Any) -> None:
    """message_delta counts are cumulative and may omit fields: overwrite only what is present."""
    for name, attr in (("input", "input_tokens"), ("output", "output_tokens"),
                       ("read", "cache_read_input_tokens"), ("write", "cache_creation_input_tokens")):
        value = getattr(usage, attr, None)
        if value is not None:
            counts[name] = value
