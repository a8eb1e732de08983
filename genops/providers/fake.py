"""A deterministic fake provider, shipped with the package so tests and demos need no network.

Like `httpx.MockTransport`, it is a real `Provider` driven by a script rather than a mock: a
`responder` callable, or a table {substring of the last user message: reply}, given to the
constructor or read from `.genops/fake-responses.json` when the registry builds it. Without a
script it answers with text derived from the request hash. Usage comes from the same token
estimate the budget reserves with, and `max_output_tokens` truncates the answer like a real model.
"""

from __future__ import annotations

import json
from pathlib import Path
from collections.abc import Callable

from genops.errors import ConfigError
from genops.ledger.pricing import BYTES_PER_TOKEN, estimate_request_tokens, estimate_tokens
from genops.providers.base import (CompletionRequest, CompletionResponse, StopReason,
                                   TokenCallback, Usage)

RESPONSES_FILE = ".genops/fake-responses.json"
Responder = Callable[[CompletionRequest], "str | CompletionResponse"]


def _last_user_message(request: CompletionRequest) -> str:
    return next((m.content for m in reversed(request.messages) if m.role == "user"), "")


def load_replies(path: Path, rel: str = RESPONSES_FILE) -> dict[str, str]:
    """Read a {substring: reply} table; a malformed file is a ConfigError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(rel, f"invalid JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in data.items()):
        raise ConfigError(rel, "must be a JSON object mapping substrings of the last user "
                          "message to reply texts")
    return data


class FakeProvider:
    """Deterministic answers: scripted by substring or callable, else from the request hash."""

    name = "fake"

    def __init__(self, workspace_root: Path | None = None, *, responder: Responder | None = None,
                 replies: dict[str, str] | None = None, chunk_chars: int = 64) -> None:
        if responder is not None and replies is not None:
            raise ValueError("give a responder or a replies table, not both")
        if responder is None and replies is None and workspace_root is not None:
            path = Path(workspace_root) / RESPONSES_FILE
            if path.is_file():
                replies = load_replies(path)
        self._responder = responder
        self._replies = replies or {}
        self._chunk_chars = max(1, chunk_chars)
        self.requests: list[CompletionRequest] = []  # what it was asked, for tests to inspect

    def reply_text(self, request: CompletionRequest) -> str:
        """The scripted reply: first table entry whose key occurs in the last user message."""
        last = _last_user_message(request)
        for needle, reply in self._replies.items():
            if needle in last:
                return reply
        return f"fake response {request.key()[:16]}"

    def complete(self, request: CompletionRequest, on_text: TokenCallback | None = None
                 ) -> CompletionResponse:
        """Answer `request` deterministically, streaming the text to `on_text` in chunks."""
        self.requests.append(request)
        answer = self._responder(request) if self._responder else self.reply_text(request)
        if isinstance(answer, CompletionResponse):
            response = answer
        else:
            response = self._response(request, answer)
        if on_text is not None:
            for start in range(0, len(response.text), self._chunk_chars):
                on_text(response.text[start:start + self._chunk_chars])
        return response

    @staticmethod
    def _response(request: CompletionRequest, text: str) -> CompletionResponse:
        stop: StopReason = "complete"
        raw = "end"
        if estimate_tokens(text) > request.max_output_tokens:
            limit = request.max_output_tokens * BYTES_PER_TOKEN
            text = text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
            stop, raw = "max_tokens", "max_tokens"
        usage = Usage(input_tokens=estimate_request_tokens(request),
                      output_tokens=estimate_tokens(text))
        return CompletionResponse(text=text, stop=stop, usage=usage, model=request.model,
                                  raw_stop_reason=raw)
