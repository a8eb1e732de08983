"""Failures are classified the same way whichever SDK raised them, with a hint, and never leak a key."""

from __future__ import annotations

import time
import traceback
from email.utils import formatdate

import pytest
from providers_support import KEYS, SDK_VARIANTS, VARIANTS, make_request

from genops.errors import ERROR_CLASSES, ProviderError
from genops.calls import ProviderSettings
from genops.providers.errors import classify_body, parse_retry_after
from genops.testing.emulator import Emulator, Fault, Reply

# (fault, expected class, retryable) for every SDK; exceptions per provider below.
FAULTS: list[tuple[Fault, str, bool]] = [
    (Fault(status=429, retry_after=2), "rate_limit", True),
    (Fault(kind="overloaded"), "overloaded", True),
    (Fault(status=503), "overloaded", True),
    (Fault(status=500), "server", True),
    (Fault(status=502), "server", True),
    (Fault(kind="auth"), "auth", False),
    (Fault(status=403, kind="auth"), "auth", False),
    (Fault(kind="context_too_long"), "context_too_long", False),
    (Fault(kind="bad_request"), "bad_request", False),
    (Fault(kind="not_found"), "bad_request", False),
    (Fault(kind="quota"), "rate_limit", False),
    (Fault(kind="drop", after_chunks=2), "network", True),
    (Fault(kind="stream_error", after_chunks=1), "overloaded", True),
]
EXCEPTIONS = {
    # Gemini answers daily-quota and per-minute limits alike (429 RESOURCE_EXHAUSTED): retried.
    ("gemini", "quota"): ("rate_limit", True),
    # OpenAI's mid-stream error is a server_error event, not an overload.
    ("openai-chat", "stream_error"): ("server", True),
    ("openai-responses", "stream_error"): ("server", True),
}
CASES = [pytest.param(variant, fault, *EXCEPTIONS.get((variant, fault.resolved_kind()),
                                                     (expected, retryable)),
                      id=f"{variant}-{fault.resolved_kind()}-{fault.status or ''}")
         for variant in SDK_VARIANTS for fault, expected, retryable in FAULTS]


@pytest.mark.parametrize(("variant", "fault", "expected", "retryable"), CASES)
def test_fault_table(emu: Emulator, variant: str, fault: Fault, expected: str,
                     retryable: bool) -> None:
    emu.fault(VARIANTS[variant].dialect, fault)

    with pytest.raises(ProviderError) as caught:
        VARIANTS[variant].provider(emu).complete(make_request())

    err = caught.value
    assert (err.error_class, err.retryable) == (expected, retryable), str(err)
    assert err.error_class in ERROR_CLASSES
    assert err.hint, "every classified error tells the user what to do"
    assert str(err).startswith(VARIANTS[variant].provider(emu).name)
    assert len(emu.requests) == 1, "the SDK's own retries must be off"


@pytest.mark.parametrize("variant", SDK_VARIANTS)
def test_rate_limit_carries_the_requested_wait(emu: Emulator, variant: str) -> None:
    emu.fault(VARIANTS[variant].dialect, Fault(status=429, retry_after=7.5))
    with pytest.raises(ProviderError) as caught:
        VARIANTS[variant].provider(emu).complete(make_request())
    assert caught.value.retry_after == 7.5  # a header, or Gemini's RetryInfo detail
    assert caught.value.status == 429


@pytest.mark.parametrize("variant", ["anthropic", "openai-chat", "openai-responses"])
def test_retry_after_in_milliseconds_and_as_a_date(emu: Emulator, variant: str) -> None:
    provider = VARIANTS[variant].provider(emu)
    emu.fault("anthropic" if variant == "anthropic" else "openai",
              Fault(status=429, retry_after_ms=1250),
              Fault(status=429, retry_after=30, retry_after_http_date=True))
    errors = []
    for _ in range(2):
        with pytest.raises(ProviderError) as caught:
            provider.complete(make_request())
        errors.append(caught.value.retry_after)
    assert errors[0] == 1.25
    assert errors[1] is not None and 25 <= errors[1] <= 31


def test_context_too_long_keeps_the_providers_words(emu: Emulator) -> None:
    emu.fault("anthropic", Fault(kind="context_too_long"))
    with pytest.raises(ProviderError) as caught:
        VARIANTS["anthropic"].provider(emu).complete(make_request())
    assert "prompt is too long: 215336 tokens > 200000 maximum" in str(caught.value)
    assert "strategy" in (caught.value.hint or "")


def test_auth_hint_names_the_variable_to_fix(emu: Emulator) -> None:
    emu.fault("openai", Fault(kind="auth"))
    provider = VARIANTS["openai-chat"].provider(emu, api_key_env="TEAM_OPENAI_KEY")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TEAM_OPENAI_KEY", "sk-team-key-0123456789")
        with pytest.raises(ProviderError) as caught:
            provider.complete(make_request())
    assert "TEAM_OPENAI_KEY" in (caught.value.hint or "")


@pytest.mark.parametrize("variant", SDK_VARIANTS)
def test_unreachable_server_is_a_retryable_network_error(variant: str) -> None:
    with Emulator() as gone:
        base_url = gone.base_url(VARIANTS[variant].dialect)
    provider = VARIANTS[variant].build(ProviderSettings(base_url=base_url, timeout_s=5))
    with pytest.raises(ProviderError) as caught:
        provider.complete(make_request())
    assert (caught.value.error_class, caught.value.retryable) == ("network", True)


@pytest.mark.parametrize("variant", SDK_VARIANTS)
@pytest.mark.parametrize("fault", [Fault(kind="auth", echo_key=True),
                                   Fault(kind="bad_request", echo_key=True),
                                   Fault(kind="stream_error", echo_key=True)],
                         ids=["auth", "bad_request", "stream_error"])
def test_a_key_never_appears_in_an_error(emu: Emulator, variant: str, fault: Fault) -> None:
    """The emulator echoes the key it received in its error message; genops must scrub it."""
    key = KEYS[VARIANTS[variant].key_env or ""]
    emu.fault(VARIANTS[variant].dialect, fault)
    provider = VARIANTS[variant].provider(emu)

    with pytest.raises(ProviderError) as caught:
        provider.complete(make_request())

    assert emu.requests[-1].credential() == key, "the emulator saw the real key"
    err = caught.value
    shown = "\n".join([str(err), repr(err), err.hint or "", repr(provider),
                       "".join(traceback.format_exception(err))])
    assert key not in shown
    assert key[:12] not in shown
    assert "[redacted]" in str(err)
    # The SDK's exception (whose message and request hold the key) is not chained for display.
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


def test_a_key_in_a_custom_variable_is_scrubbed_too(emu: Emulator,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_LLM_CREDS", "custom-credential-value-42")  # no secret-looking name
    emu.fault("openai", Fault(kind="auth", echo_key=True))
    provider = VARIANTS["openai-chat"].provider(emu, api_key_env="MY_LLM_CREDS")
    with pytest.raises(ProviderError) as caught:
        provider.complete(make_request())
    assert "custom-credential-value-42" not in str(caught.value)


def test_success_after_a_fault_uses_the_same_provider(emu: Emulator) -> None:
    emu.script("anthropic", Fault(kind="overloaded"), Reply(text="fine now"))
    provider = VARIANTS["anthropic"].provider(emu)
    with pytest.raises(ProviderError):
        provider.complete(make_request())
    assert provider.complete(make_request()).text == "fine now"


# --- classify_body and retry-after parsing, on the bodies the APIs send ---------------------------

@pytest.mark.parametrize(("body", "status", "expected"), [
    ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, None,
     "overloaded"),
    ({"error": {"code": "insufficient_quota", "message": "You exceeded your current quota"}}, 429,
     "rate_limit"),
    ({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "API key not valid.",
                "details": [{"reason": "API_KEY_INVALID"}]}}, 400, "auth"),
    ({"error": {"message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error"}}, 400, "context_too_long"),  # llama.cpp
    ({"error": {"message": "This model's maximum context length is 4096 tokens. However, you "
                "requested 5000 tokens", "type": "BadRequestError"}}, 400, "context_too_long"),  # vLLM
    ({"error": {"message": "Your request was rejected by the safety system.",
                "code": "content_policy_violation"}}, 400, "refused"),
    ({"error": {"message": "Unsupported parameter: 'seed'"}}, 400, "bad_request"),
    ({"error": {"message": "teapot"}}, 418, "bad_request"),
    ({"error": {"message": "bad gateway"}}, 599, "server"),
    ("<html>502 Bad Gateway</html>", 502, "server"),
])
def test_classify_body_table(body: object, status: int | None, expected: str) -> None:
    assert classify_body(body, status=status, provider="p").error_class == expected


def test_the_server_can_forbid_a_retry() -> None:
    err = classify_body({"error": {"message": "busy"}}, status=503, provider="p",
                        headers={"x-should-retry": "false"})
    assert (err.error_class, err.retryable) == ("overloaded", False)


@pytest.mark.parametrize(("headers", "expected"), [
    ({"retry-after": "3"}, 3.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after-ms": "250"}, 0.25),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ({"retry-after": formatdate(1_000_060, usegmt=True)}, 60.0),
    ({"retry-after": formatdate(999_000, usegmt=True)}, 0.0),  # a date in the past: go now
    ({"retry-after": "soon"}, None),
    ({"retry-after": "-4"}, None),
    ({}, None),
])
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=1_000_000) == expected


def test_parse_retry_after_date_uses_the_clock() -> None:
    value = parse_retry_after({"retry-after": formatdate(time.time() + 100, usegmt=True)})
    assert value is not None and 98 <= value <= 100
