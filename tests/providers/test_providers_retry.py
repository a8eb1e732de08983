"""One backoff policy: waits as the provider asks, backs off exponentially otherwise, stops on time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from providers_support import SDK_VARIANTS, VARIANTS, make_request

from genops.errors import ProviderError
from genops.calls import CompletionResponse
from genops.providers.retry import backoff_delay, call_with_retry
from genops.testing.emulator import Emulator, Fault, Reply
from genops.workspace.config import RetryConfig

CFG = RetryConfig(max_attempts=5, base_delay_s=1.0, max_delay_s=8.0, max_retry_after_s=30.0)


class Flaky:
    """A callable that fails with the given errors, in order, then returns 'done'."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def transient(retry_after: float | None = None, error_class: str = "overloaded") -> ProviderError:
    return ProviderError("busy", error_class=error_class, retryable=True, retry_after=retry_after)


def run(fn: Flaky, cfg: RetryConfig = CFG, rand: float = 0.5) -> tuple[str, list[float], list[int]]:
    slept: list[float] = []
    attempts: list[int] = []
    result = call_with_retry(fn, cfg, sleep=slept.append,
                             on_retry=lambda err, attempt, delay: attempts.append(attempt),
                             rand=lambda: rand)
    return result, slept, attempts


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    _, slept, attempts = run(Flaky(*[transient() for _ in range(4)]), rand=1.0)
    assert slept == [1.0, 2.0, 4.0, 8.0]
    assert attempts == [1, 2, 3, 4]
    assert [backoff_delay(n, CFG, rand=lambda: 0.0) for n in (1, 2, 3, 4, 5, 9)] == \
        [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_spreads_waits_between_half_and_all_of_the_step() -> None:
    delays = {round(backoff_delay(3, CFG), 3) for _ in range(200)}
    assert min(delays) >= 2.0 and max(delays) <= 4.0 and len(delays) > 20


def test_retry_after_is_honoured_exactly() -> None:
    result, slept, _ = run(Flaky(transient(retry_after=1.5), transient(retry_after=0.25)))
    assert result == "done" and slept == [1.5, 0.25]


def test_retry_after_is_capped() -> None:
    _, slept, _ = run(Flaky(transient(retry_after=3600)))
    assert slept == [30.0]


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    fn = Flaky(*[transient() for _ in range(10)])
    with pytest.raises(ProviderError):
        run(fn, RetryConfig(max_attempts=3, base_delay_s=0))
    assert fn.calls == 3


def test_non_retryable_errors_are_raised_at_once() -> None:
    fn = Flaky(ProviderError("bad key", error_class="auth", retryable=False))
    with pytest.raises(ProviderError, match="bad key"):
        run(fn)
    assert fn.calls == 1


def test_programming_errors_are_not_retried() -> None:
    fn = Flaky(KeyError("bug"))
    with pytest.raises(KeyError):
        run(fn)
    assert fn.calls == 1


def test_one_attempt_means_no_retry() -> None:
    fn = Flaky(transient())
    with pytest.raises(ProviderError):
        run(fn, RetryConfig(max_attempts=1))
    assert fn.calls == 1


# --- through the real SDKs --------------------------------------------------------------------------

@pytest.mark.parametrize("variant", SDK_VARIANTS)
def test_429_then_success_waits_as_asked(emu: Emulator, variant: str) -> None:
    emu.script(VARIANTS[variant].dialect, Fault(status=429, retry_after=1.5), Reply(text="made it"))
    provider = VARIANTS[variant].provider(emu)
    slept: list[float] = []
    seen: list[tuple[str, int, float]] = []

    response = call_with_retry(lambda: provider.complete(make_request()), CFG, sleep=slept.append,
                               on_retry=lambda e, n, d: seen.append((e.error_class, n, d)))

    assert response.text == "made it"
    assert slept == [1.5]
    assert seen == [("rate_limit", 1, 1.5)]
    assert len(emu.requests) == 2


@pytest.mark.parametrize("variant", SDK_VARIANTS)
def test_overload_and_a_dropped_stream_then_success(emu: Emulator, variant: str) -> None:
    emu.script(VARIANTS[variant].dialect, Fault(kind="overloaded"), Fault(kind="drop"),
               Reply(text="third time lucky"))
    provider = VARIANTS[variant].provider(emu)
    slept: list[float] = []

    response = call_with_retry(lambda: provider.complete(make_request()), CFG, sleep=slept.append,
                               rand=lambda: 0.0)

    assert response.text == "third time lucky"
    assert slept == [0.5, 1.0]  # exponential backoff: no retry-after was given


@pytest.mark.parametrize("variant", SDK_VARIANTS)
def test_auth_errors_are_not_retried(emu: Emulator, variant: str) -> None:
    emu.script(VARIANTS[variant].dialect, Fault(kind="auth"), Reply(text="never reached"))
    provider = VARIANTS[variant].provider(emu)
    slept: list[float] = []

    with pytest.raises(ProviderError) as caught:
        call_with_retry(lambda: provider.complete(make_request()), CFG, sleep=slept.append)

    assert caught.value.error_class == "auth" and caught.value.hint
    assert slept == [] and len(emu.requests) == 1


def test_a_concurrency_limit_is_ridden_out_with_retry_after() -> None:
    """Beyond N requests in flight the emulator answers 429; every caller still gets through."""
    from genops.testing.emulator import Pacing
    with Emulator(max_in_flight=2, busy_retry_after=0.05,
                  pacing=Pacing(ttft_s=0.05, chunk_chars=4)) as emu:
        emu.responder(lambda req: Reply(text="slow answer"))
        provider = VARIANTS["anthropic"].provider(emu)
        waits: list[float] = []

        def one(_: int) -> CompletionResponse:
            return call_with_retry(lambda: provider.complete(make_request()),
                                   RetryConfig(max_attempts=50),
                                   on_retry=lambda e, n, d: waits.append(d))
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(one, range(6)))

    assert [r.text for r in results] == ["slow answer"] * 6
    assert emu.busy_rejections > 0 and emu.peak_in_flight <= 2
    assert waits and set(waits) == {0.05}
