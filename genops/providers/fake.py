"""A deterministic fake provider, shipped with the package so tests and demos need no network.

Like `httpx.MockTransport`, it is a real `Provider` driven by a script rather than a mock: a
`responder` callable, or a table {substring of the last user message: reply}, given to the
constructor or read from `.genops/fake-responses.json` when the registry builds it. Built for a
workspace without that file, it answers synthesis requests with a placeholder tree derived from
the workspace's specs (`genops.providers.fake_derived`), so `--provider fake` works on any
workspace. Otherwise it answers with text derived from the request hash. Usage comes from the same
token estimate the budget reserves with, and `max_output_tokens` truncates the answer like a real
model.

Variation mode (`variation=SEED`, or `GENOPS_FAKE_VARIATION=SEED` in the environment) makes it
behave like a model that is not deterministic, reproducibly: each `.py` file of a file-protocol
answer is varied by a class chosen from a hash of (seed, path) (`variation_class`): identical,
cosmetic (a comment), behaviour (a module-level statement), or API (a public function). So
`genops stability` can be tested offline with known expected classes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from genops.calls import CompletionRequest, CompletionResponse, StopReason, TokenCallback, Usage
from genops.errors import ConfigError
from genops.ledger.pricing import BYTES_PER_TOKEN, estimate_request_tokens, estimate_tokens
from genops.protocol.files import ProtocolError, format_protocol, parse_protocol
from genops.providers.fake_derived import SpecTree

RESPONSES_FILE = ".genops/fake-responses.json"
VARIATION_ENV = "GENOPS_FAKE_VARIATION"
VARIATION_CLASSES = ("identical", "cosmetic", "behaviour", "api")
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
                 replies: dict[str, str] | None = None, chunk_chars: int = 64,
                 variation: int | None = None) -> None:
        if responder is not None and replies is not None:
            raise ValueError("give a responder or a replies table, not both")
        self._derive_from: Path | None = None  # a workspace whose specs answer synthesis
        self._derived: SpecTree | None = None
        if responder is None and replies is None and workspace_root is not None:
            path = Path(workspace_root) / RESPONSES_FILE
            if path.is_file():
                replies = load_replies(path)
            elif (Path(workspace_root) / "genops.toml").is_file():
                self._derive_from = Path(workspace_root)
        self._responder = responder
        self._replies = replies or {}
        self._chunk_chars = max(1, chunk_chars)
        self.requests: list[CompletionRequest] = []  # what it was asked, for tests to inspect
        env = os.environ.get(VARIATION_ENV, "").strip()
        if variation is None and env:
            try:
                variation = int(env)
            except ValueError:
                raise ConfigError(VARIATION_ENV, f"must be an integer seed, not {env!r}") from None
        self.variation = variation

    def reply_text(self, request: CompletionRequest) -> str:
        """The scripted reply: first table entry whose key occurs in the last user message."""
        last = _last_user_message(request)
        for needle, reply in self._replies.items():
            if needle in last:
                return reply
        if self._derive_from is not None:
            if self._derived is None:
                self._derived = SpecTree(self._derive_from)
            derived = self._derived.answer(last, "\n".join(m.content for m in request.messages))
            if derived is not None:
                return derived
        return f"fake response {request.key()[:16]}"

    def complete(self, request: CompletionRequest, on_text: TokenCallback | None = None
                 ) -> CompletionResponse:
        """Answer `request` deterministically, streaming the text to `on_text` in chunks."""
        self.requests.append(request)
        answer = self._responder(request) if self._responder else self.reply_text(request)
        if self.variation is not None and isinstance(answer, str):
            answer = vary_answer(answer, self.variation)
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


def variation_class(seed: int, path: str) -> str:
    """The class of variation the fake applies to `path` under `seed` (non-Python: identical)."""
    if not path.endswith(".py"):
        return "identical"
    digest = hashlib.sha256(f"{seed}:{path}".encode()).digest()
    return VARIATION_CLASSES[digest[0] % len(VARIATION_CLASSES)]


def vary_file(seed: int, path: str, text: str) -> str:
    """`text` varied as `variation_class(seed, path)` says."""
    kind = variation_class(seed, path)
    body = text if text.endswith("\n") else text + "\n"
    if kind == "cosmetic":
        return body + f"# variant {seed}\n"
    if kind == "behaviour":
        return body + f"\nassert {seed} >= 0  # variant\n"
    if kind == "api":
        return body + f"\n\ndef variant_{seed}() -> int:\n    return {seed}\n"
    return text


def vary_answer(answer: str, seed: int) -> str:
    """A file-protocol answer with each file varied; any other answer unchanged."""
    try:
        parsed = parse_protocol(answer)
    except ProtocolError:
        return answer
    if not parsed.files:
        return answer
    return format_protocol({p: vary_file(seed, p, t) for p, t in parsed.files.items()})
