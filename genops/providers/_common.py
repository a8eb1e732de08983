"""What the SDK providers share: finding the key at call time, scrubbing secrets, collecting a stream.

Keys are read from the environment on every call and handed straight to the SDK; genops never
stores one, and every message that leaves a provider module passes through `scrub` first. `scrub`
removes not only a configured key but any piece of it of `FRAGMENT` characters or more, and the same
pieces of its base64 (standard or URL-safe, padded or not, at any byte alignment) and of its
percent-encoding: a server that echoes `key[3:]` or `base64(key)` must not get it shown either.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Generic, TypeVar
from urllib.parse import quote

import httpx
import httpx2

from genops.calls import CompletionRequest, Message, StopReason, TokenCallback
from genops.errors import ProviderError
from genops.ledger.pricing import estimate_request_tokens, estimate_tokens

# The SDKs' own variables, in the order each SDK reads them (google-genai prefers GOOGLE_API_KEY).
KEY_ENV: dict[str, tuple[str, ...]] = {
    "anthropic": ("ANTHROPIC_API_KEY",),
    "openai": ("OPENAI_API_KEY",),
    "gemini": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
    "openai-compatible": (),
}
# openai-compatible servers (vLLM, Ollama, llama.cpp, LM Studio) mostly ignore the key, but the
# openai SDK refuses to send a request without one.
PLACEHOLDER_KEY = "not-needed"

# Errors below the SDKs: a dropped or timed-out connection surfaces as one of these, sometimes
# unwrapped by the SDK (anthropic and google-genai re-raise httpx2's errors from a stream as is).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    httpx2.TransportError, httpx.TransportError, ConnectionError, TimeoutError)

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_KEY_SHAPES = re.compile(r"sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}|"
                         r"(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*")
REDACTED = "[redacted]"
# The shortest piece of a configured key (or of its encodings) redacted wherever it appears.
FRAGMENT = 8
# Variables named by `api_key_env` in the workspace's [models] tables (see `remember_key_env`);
# their values are configured keys as much as the SDKs' own variables are.
_NAMED_KEY_ENVS: set[str] = set()
C = TypeVar("C")


def remember_key_env(name: str | None) -> None:
    """Treat the value of variable `name` as a configured key from now on (for `scrub`)."""
    if name:
        _NAMED_KEY_ENVS.add(name)


def find_key(provider: str, api_key_env: str | None) -> tuple[str | None, str]:
    """The key value and the name of the variable it came from (or the names that were tried)."""
    remember_key_env(api_key_env)
    names = (api_key_env,) if api_key_env else KEY_ENV.get(provider, ())
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value, name
    return None, " or ".join(names)


def missing_key(provider: str, names: str) -> ProviderError:
    """The error for a call that cannot start because no key is set."""
    return ProviderError(
        f"{provider}: no API key: {names or 'no variable'} is not set", error_class="auth",
        hint=f"export {names or 'the key variable'} in the environment, or name another "
             f"variable with api_key_env in this model's [models] table in genops.toml")


def secret_values(extra: Iterable[str | None] = ()) -> list[str]:
    """Values that must never be shown: given keys plus every secret-looking environment variable."""
    found = {v for v in extra if v and len(v) >= 6}
    found.update(v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 8)
    found.discard(PLACEHOLDER_KEY)
    return sorted(found, key=len, reverse=True)  # longest first, so no key leaves a visible tail


def configured_keys(extra: Iterable[str | None] = ()) -> tuple[str, ...]:
    """The API keys genops may send: the values of every SDK variable genops reads, of every
    variable an `api_key_env` named, and `extra` (the key of the call at hand)."""
    names = {name for names in KEY_ENV.values() for name in names} | _NAMED_KEY_ENVS
    found = {os.environ.get(name, "").strip() for name in names}
    found.update(value.strip() for value in extra if value)
    found.discard(PLACEHOLDER_KEY)
    return tuple(sorted(v for v in found if len(v) >= FRAGMENT))


def _percent(text: str) -> set[str]:
    """`text` percent-encoded (as a URL query or path would carry it), hex upper and lower case."""
    upper = quote(text, safe="")
    return {upper, re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), upper)}


def key_forms(key: str) -> set[str]:
    """The ways `key` can be spelled in a message: as is, percent-encoded, and base64-encoded
    (standard and URL-safe; percent-encoded too) starting at each of the three byte alignments.
    At alignment 1 or 2 the first characters also encode the bytes before the key and are left
    out; the padding and the last character are kept (the key ends the encoded text)."""
    forms = {key, *_percent(key)}
    raw = key.encode("utf-8")
    for shift, skip in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii")[skip:]
        for variant in (encoded, encoded.translate(str.maketrans("+/", "-_"))):
            forms.add(variant)
            forms.update(_percent(variant))
    return forms


@lru_cache(maxsize=32)
def _fragments(keys: tuple[str, ...]) -> frozenset[str]:
    """Every `FRAGMENT`-character window of every form of every key."""
    grams: set[str] = set()
    for key in keys:
        for form in key_forms(key):
            grams.update(form[i:i + FRAGMENT] for i in range(len(form) - FRAGMENT + 1))
    return frozenset(grams)


def redact_fragments(text: str, keys: Iterable[str]) -> str:
    """`text` with every run of characters covered by windows of a key's forms replaced.

    Any piece of `FRAGMENT` or more characters of a form is covered by the windows it contains,
    so one pass over `text`, a set lookup per position, finds every such piece; overlapping and
    touching windows merge into one redaction (a match is extended as far as it goes)."""
    grams = _fragments(tuple(sorted(set(keys))))
    if not grams or len(text) < FRAGMENT:
        return text
    spans: list[list[int]] = []
    for start in range(len(text) - FRAGMENT + 1):
        if text[start:start + FRAGMENT] in grams:
            if spans and start <= spans[-1][1]:
                spans[-1][1] = start + FRAGMENT
            else:
                spans.append([start, start + FRAGMENT])
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], REDACTED]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every configured key, any piece of it or of its encodings (`FRAGMENT`
    characters or more), every other secret-looking value and anything shaped like a key
    replaced."""
    secrets = tuple(secrets)
    text = redact_fragments(text, configured_keys(secrets))
    for value in secret_values(secrets):
        text = text.replace(value, REDACTED)
    return _KEY_SHAPES.sub(REDACTED, text)


def truncated(provider: str, what: str) -> ProviderError:
    """A stream that ended before its final event: a network failure, worth retrying."""
    return ProviderError(f"{provider}: the stream ended before {what}", error_class="network",
                         retryable=True,
                         hint="the connection closed mid-answer; genops retries the whole request")


def empty_stream(provider: str, request: CompletionRequest, window: int | None) -> ProviderError:
    """A 200 stream that closed before any token and without a finish reason.

    llama-cpp-python answers a prompt larger than its context window this way (llama-server
    answers 400 exceed_context_size_error). Far below a known window it is a network cut, worth
    a retry; near the window, or with the window unknown, retrying would only repeat it.
    """
    tokens = estimate_request_tokens(request)
    if window is not None and tokens * 2 < window:
        return truncated(provider, "its first token")
    against = (f"a {window:,}-token context window" if window is not None
               else "a context window genops does not know")
    return ProviderError(
        f"{provider}: the server answered 200 and closed the stream before any token and without "
        f"a finish reason; for a ~{tokens:,}-token prompt against {against} this is most likely "
        "a context overflow (llama-cpp-python answers an oversized prompt this way)",
        error_class="context_too_long", retryable=False,
        hint="shrink the request ([synthesis] strategy = \"multi\" sends smaller ones) or start "
             "the server with a larger context (llama.cpp -c / n_ctx) and pin it with "
             "context_window = <tokens> in this model's [models.<rung>] table in genops.toml")


# A stream that dies after text, with prompt plus produced output (genops' estimates) at this share
# of a known window or more, ran into the window: the estimates can run 10-20% under a server's
# tokenizer, and a request is only sent when its estimate plus max_output_tokens fits the window.
WINDOW_FULL_SHARE = 0.8


def window_filled(request: CompletionRequest, produced: str, window: int | None) -> bool:
    """Whether a stream cut after `produced` text had filled (about) the context window."""
    if window is None or not produced:
        return False
    return estimate_request_tokens(request) + estimate_tokens(produced) >= WINDOW_FULL_SHARE * window


def window_cut_stream(provider: str, request: CompletionRequest, produced: str,
                      window: int) -> ProviderError:
    """A stream that ended mid-answer where the context window fills (llama-cpp-python's server
    closes the stream when n_ctx is full): not a network failure, and a retry would end the same."""
    prompt, output = estimate_request_tokens(request), estimate_tokens(produced)
    return ProviderError(
        f"{provider}: the stream ended mid-answer without a finish reason after ≈{output:,} output "
        f"tokens on a ≈{prompt:,}-token prompt, which fills its {window:,}-token context window "
        f"(≈{prompt + output:,} tokens): the server ran out of context, so the request was not "
        "retried (a retry would stop at the same place)",
        error_class="context_too_long", retryable=False,
        hint="lower max_output_tokens, shrink the request ([synthesis] strategy = \"multi\" "
             "sends smaller ones), or start the server with a larger context (llama.cpp -c / "
             "n_ctx) and pin it with context_window = <tokens> in this model's [models.<rung>] "
             "table in genops.toml")


class TextSink:
    """Collects streamed text and forwards each non-empty delta to `on_text`."""

    def __init__(self, on_text: TokenCallback | None) -> None:
        self._parts: list[str] = []
        self._on_text = on_text

    def add(self, delta: str | None) -> None:
        if not delta:
            return
        self._parts.append(delta)
        if self._on_text is not None:
            self._on_text(delta)

    @property
    def text(self) -> str:
        return "".join(self._parts)


class ClientCache(Generic[C]):
    """One SDK client per (key, base URL), shared by calls and threads: building one costs ~20 ms
    of TLS setup. Entries are addressed by a hash, so the cache itself holds no key in the clear;
    a key changed in the environment simply gets a new client on the next call."""

    def __init__(self, build: Callable[[str | None, str | None], C]) -> None:
        self._build = build
        self._clients: dict[str, C] = {}
        self._lock = threading.Lock()

    def get(self, key: str | None, base_url: str | None) -> C:
        slot = hashlib.sha256(f"{key}\0{base_url}".encode()).hexdigest()
        with self._lock:
            client = self._clients.get(slot)
            if client is None:
                client = self._clients[slot] = self._build(key, base_url)
            return client


def stop_from(raw: str | None, table: dict[str, StopReason]) -> StopReason:
    """Map a provider's stop reason through its table; anything unknown is 'other'."""
    return table.get(raw or "", "other")


def cacheable_prefix(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """The messages up to the first cache breakpoint, cut at it: what every request of a run
    that shares specs and ADRs has in common (the blueprint request and every group)."""
    prefix: list[Message] = []
    for message in messages:
        if message.cache_split:
            return (*prefix, Message(message.role, message.content[:message.cache_split]))
        prefix.append(message)
        if message.cache_prefix:
            return tuple(prefix)
    return ()


def wire_cache_key(messages: tuple[Message, ...]) -> str | None:
    """OpenAI's `prompt_cache_key`: one per cacheable prefix, so the blueprint request and the
    groups (whose context adds the blueprint after that prefix) are routed to the same cache."""
    prefix = cacheable_prefix(messages)
    if not prefix:
        return None
    digest = hashlib.sha256()
    for message in prefix:
        digest.update(message.role.encode() + b"\0" + message.content.encode("utf-8") + b"\0")
    return "genops-" + digest.hexdigest()[:32]
