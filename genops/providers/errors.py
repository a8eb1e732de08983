"""Every SDK failure becomes one `ProviderError` with a class, a retry decision and a hint.

The classes (`genops.errors.ERROR_CLASSES`) and what genops does with them:

    auth              a missing, wrong or unauthorised key               stop, fix the key
    rate_limit        429; quota exhaustion is rate_limit too, but final  back off (retry-after)
    overloaded        503 / Anthropic 529 / "overloaded"                  back off
    context_too_long  the request does not fit the model's window          stop, shrink or switch
    refused           the provider's safety system declined                stop
    bad_request       any other 4xx: a wrong model id or parameter         stop
    network           connection refused, dropped, timed out, cut stream   back off
    server            5xx                                                  back off

One table (`RULES`, first match wins) decides, like aider's `exceptions.py`; a rule matches on the
HTTP status, on the error type/code/status strings the API put in its body (these also arrive
mid-stream, with no HTTP status), or on the API's message. The SDKs are not imported here: their
exceptions are read by shape (`status_code`/`code`, `body`/`details`, `response.headers`).
Messages never include headers, and pass through `scrub` so an echoed key never survives.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from genops.errors import ProviderError
from genops.providers._common import KEY_ENV, TRANSPORT_ERRORS, scrub


@dataclass(frozen=True)
class ErrorRule:
    """One row of the table: what it matches, what it means, and what the user should do."""

    error_class: str
    retryable: bool
    hint: str
    statuses: frozenset[int] = frozenset()
    tags: frozenset[str] = frozenset()  # error.type / error.code / error.status / details reasons
    patterns: tuple[str, ...] = ()  # searched, case-insensitively, in the API's message

    def matches(self, status: int | None, tags: set[str], message: str) -> bool:
        if status is not None and status in self.statuses:
            return True
        if tags & self.tags:
            return True
        return any(re.search(p, message, re.IGNORECASE) for p in self.patterns)


def _rule(error_class: str, retryable: bool, hint: str, *, statuses: Iterable[int] = (),
          tags: Iterable[str] = (), patterns: Iterable[str] = ()) -> ErrorRule:
    return ErrorRule(error_class, retryable, hint, frozenset(statuses), frozenset(tags),
                     tuple(patterns))


RULES: tuple[ErrorRule, ...] = (
    _rule("rate_limit", False,
          "the {provider} account is out of credit or over its spending limit: check billing",
          statuses=[402], tags=["insufficient_quota", "billing_error", "enforced_spend_limit_reached",
                                "contract_spend_limit_reached"]),
    _rule("context_too_long", False,
          "the request is larger than the model's context window: use [synthesis] strategy = "
          "\"multi\", split the specs, or pin a model with a larger window",
          statuses=[413], tags=["context_length_exceeded", "request_too_large",
                                "exceed_context_size_error"],
          patterns=[r"prompt is too long", r"maximum context length", r"context window",
                    r"context length", r"input token count .* exceeds",
                    r"exceeds the maximum number of tokens", r"exceed\w* (the )?(available )?context",
                    r"input length and `?max_tokens`? exceed"]),
    _rule("auth", False,
          "check the key in {key_env}: it is missing, mistyped, revoked, or lacks access to this "
          "model (another variable can be named with api_key_env in genops.toml)",
          statuses=[401, 403], tags=["authentication_error", "permission_error", "invalid_api_key",
                                     "UNAUTHENTICATED", "PERMISSION_DENIED", "API_KEY_INVALID"],
          patterns=[r"api key not valid", r"incorrect api key", r"invalid x-api-key",
                    r"invalid api key"]),
    _rule("refused", False,
          "the provider's safety system declined the request: rephrase the specs or prompt "
          "templates that triggered it",
          tags=["content_policy_violation", "content_filter", "moderation_blocked"]),
    _rule("overloaded", True,
          "{provider} is overloaded; genops backed off and retried; try again later",
          statuses=[503, 529], tags=["overloaded_error", "UNAVAILABLE"], patterns=[r"overloaded"]),
    _rule("rate_limit", True,
          "rate limited; genops waits as long as {provider} asks; lower [synthesis] concurrency "
          "or raise the account's limits to avoid it",
          statuses=[429], tags=["rate_limit_error", "rate_limit_exceeded", "RESOURCE_EXHAUSTED"]),
    _rule("network", True, "a request timed out on the way; genops retries it", statuses=[408]),
    _rule("server", True, "{provider} failed on its side; genops retries with backoff",
          statuses=[409, 500, 502, 504], tags=["api_error", "server_error", "INTERNAL",
                                               "DEADLINE_EXCEEDED", "timeout_error"]),
    _rule("bad_request", False,
          "check the pinned model id in genops.toml against the models {provider} offers",
          statuses=[404], tags=["not_found_error", "model_not_found", "NOT_FOUND"]),
    _rule("bad_request", False,
          "this model rejects one of the pinned parameters: check temperature, top_p, seed and "
          "max_output_tokens for it in genops.toml",
          patterns=[r"unsupported (value|parameter)", r"\btemperature\b", r"\btop_p\b",
                    r"\bmax_(completion_|output_)?tokens\b", r"\bseed\b"]),
    _rule("bad_request", False,
          "{provider} rejected the request; the message says which field, see genops.toml",
          statuses=[400, 422], tags=["invalid_request_error", "INVALID_ARGUMENT",
                                     "FAILED_PRECONDITION"]),
)
_NETWORK = _rule("network", True, "could not reach {provider} (connection refused, dropped or "
                 "timed out); check base_url and the network; genops retries")
_FALLBACK_SERVER = _rule("server", True, "{provider} failed on its side; genops retries")
_FALLBACK_CLIENT = _rule("bad_request", False, "{provider} rejected the request")
_FALLBACK_OTHER = _rule("server", False, "{provider} answered something genops cannot read")
_CONNECTION_NAMES = {"APIConnectionError", "APITimeoutError"}
# SDK exceptions raised before any request: a credentials profile that cannot be loaded.
_CREDENTIAL_NAMES = {"CredentialsError", "IdentityTokenFileError", "SubjectTokenProviderError"}
_PROVIDER_BY_MODULE = {"anthropic": "anthropic", "openai": "openai", "google": "gemini"}


def classify(exc: BaseException, *, provider: str | None = None, key_env: str | None = None,
             secrets: Iterable[str | None] = ()) -> ProviderError:
    """The `ProviderError` for an exception raised by an SDK or its HTTP layer."""
    if isinstance(exc, ProviderError):
        return exc
    provider = provider or _PROVIDER_BY_MODULE.get(type(exc).__module__.split(".")[0], "provider")
    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, TRANSPORT_ERRORS) or names & _CONNECTION_NAMES:
        return _build(_NETWORK, provider, key_env, secrets, None,
                      f"{type(exc).__name__}: {exc}", None)
    if names & _CREDENTIAL_NAMES:
        auth = next(r for r in RULES if r.error_class == "auth")
        return _build(auth, provider, key_env, secrets, None, str(exc), None)
    status = _status_of(exc)
    body = getattr(exc, "body", None)
    if body is None:
        body = getattr(exc, "details", None)  # google-genai keeps the whole JSON body here
    headers = getattr(getattr(exc, "response", None), "headers", None)
    fallback = str(getattr(exc, "message", None) or exc)
    return classify_body(body, status=status, headers=headers, provider=provider,
                         key_env=key_env, secrets=secrets, fallback_message=fallback,
                         extra_tags=[getattr(exc, "type", None), getattr(exc, "code", None),
                                     getattr(exc, "status", None)])


def classify_body(body: Any, *, status: int | None = None, headers: Mapping[str, str] | None = None,
                  provider: str = "provider", key_env: str | None = None,
                  secrets: Iterable[str | None] = (), fallback_message: str = "",
                  extra_tags: Iterable[Any] = ()) -> ProviderError:
    """The `ProviderError` for an error the API described in a body (or an event mid-stream)."""
    error = body.get("error", body) if isinstance(body, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    tags = {t for t in (*extra_tags, error.get("type"), error.get("code"), error.get("status"))
            if isinstance(t, str) and t}
    details = error.get("details")
    for item in details if isinstance(details, list) else [details]:
        if isinstance(item, Mapping):
            tags.update(v for v in (item.get("reason"), item.get("error_code"))
                        if isinstance(v, str))
    message = str(error.get("message") or fallback_message or "no message")
    status = status if status and status >= 400 else None  # 200: an error event inside a stream
    rule = next((r for r in RULES if r.matches(status, tags, message)), None)
    if rule is None:
        rule = (_FALLBACK_OTHER if status is None else
                _FALLBACK_SERVER if status >= 500 else _FALLBACK_CLIENT)
    retry_after = parse_retry_after(headers) if headers is not None else None
    if retry_after is None:
        retry_after = _retry_info(details)
    err = _build(rule, provider, key_env, secrets, status, message, retry_after)
    should_retry = headers.get("x-should-retry") if headers is not None else None
    if should_retry in ("true", "false") and rule.error_class in ("rate_limit", "overloaded",
                                                                 "server", "network"):
        err.retryable = should_retry == "true"
    return err


def _build(rule: ErrorRule, provider: str, key_env: str | None, secrets: Iterable[str | None],
           status: int | None, message: str, retry_after: float | None) -> ProviderError:
    key_env = key_env or " / ".join(KEY_ENV.get(provider, ())) or "the key variable"
    where = f" (HTTP {status})" if status else ""
    secrets = tuple(secrets)
    # Scrubbed before it is cut: a key's piece split by the cut must still be whole when matched.
    message = scrub(message, secrets)[:400]
    text = scrub(f"{provider}: {rule.error_class.replace('_', ' ')}{where}: {message}", secrets)
    return ProviderError(text, error_class=rule.error_class, retryable=rule.retryable,
                         retry_after=retry_after, status=status,
                         hint=rule.hint.format(provider=provider, key_env=key_env))


def _status_of(exc: BaseException) -> int | None:
    for attr in ("status_code", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    value = headers.get("retry-after-ms")
    if value is not None:
        seconds = _number(value)
        if seconds is not None:
            return seconds / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _retry_info(details: Any) -> float | None:
    """Gemini's `google.rpc.RetryInfo` detail: {"retryDelay": "17s"} (also "1.5s")."""
    for item in details if isinstance(details, list) else []:
        if isinstance(item, Mapping) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = re.fullmatch(r"\s*([0-9.]+)s\s*", str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None
