"""The one backoff policy every provider call goes through (the SDKs' own retries are switched off).

A retryable `ProviderError` is retried up to `RetryConfig.max_attempts` attempts in all. The wait
is what the provider asked for (retry-after, capped at `max_retry_after_s`), or else exponential
backoff `base_delay_s * 2**n` with jitter, capped at `max_delay_s`. Anything else propagates at
once: a non-retryable `ProviderError`, and any other exception (a bug is not a transient error).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from genops.errors import ProviderError
from genops.workspace.config import RetryConfig

T = TypeVar("T")
RetryCallback = Callable[[ProviderError, int, float], None]


def backoff_delay(attempt: int, cfg: RetryConfig, *, rand: Callable[[], float] = random.random
                  ) -> float:
    """The jittered exponential wait after failed attempt number `attempt` (1-based)."""
    ceiling = min(cfg.max_delay_s, cfg.base_delay_s * 2.0 ** (attempt - 1))
    # "Equal jitter": half fixed, half random, so waits grow but concurrent callers spread out.
    return ceiling / 2 + rand() * ceiling / 2


def retry_delay(err: ProviderError, attempt: int, cfg: RetryConfig, *,
                rand: Callable[[], float] = random.random) -> float:
    """How long to wait before the next attempt: the provider's retry-after wins when it gave one."""
    if err.retry_after is not None:
        return min(max(0.0, err.retry_after), cfg.max_retry_after_s)
    return backoff_delay(attempt, cfg, rand=rand)


def call_with_retry(fn: Callable[[], T], cfg: RetryConfig, *,
                    sleep: Callable[[float], None] = time.sleep,
                    on_retry: RetryCallback | None = None,
                    rand: Callable[[], float] = random.random) -> T:
    """Call `fn` until it succeeds, fails for good, or runs out of attempts (then re-raise)."""
    attempt = 1
    while True:
        try:
            return fn()
        except ProviderError as err:
            if not err.retryable or attempt >= cfg.max_attempts:
                raise
            delay = retry_delay(err, attempt, cfg, rand=rand)
            if on_retry is not None:
                on_retry(err, attempt, delay)
            sleep(delay)
            attempt += 1
