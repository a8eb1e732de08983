"""The one way genops calls a model: archive → budget → provider with retries → archive → ledger.

Providers only translate wire formats; everything a call must guarantee is done here, in the same
order for every provider:
  1. an archived answer is returned at no cost (genops pays for no request twice);
  2. the call is written to the ledger as in flight, holding the request's worst case against
     the per-run and per-month budgets, before a byte is sent (so a kill leaves a row saying the
     call may have been billed);
  3. the provider is called through `call_with_retry` (backoff honouring retry-after);
  4. the response is archived before anything else happens to it;
  5. the in-flight row is settled at the real cost, in one transaction.
A failure settles the row as an error (cost 0) and re-raises; an interrupt (Ctrl-C) leaves it in
flight, since the provider may have billed a request that was cut off. A stream that died after
producing text is settled at what it produced (its tokens counted by genops, marked estimated);
when such an attempt is retried, it is booked on its own error row before the retry, so its tokens
and cost stay in the ledger whether the retry succeeds or not. A server that reports no usage has
its tokens counted by genops (`counted_usage`), never $0.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genops.calls import CompletionRequest, CompletionResponse, Provider, TokenCallback, Usage
from genops.errors import ProviderError, UsageError
from genops.faults import crashpoint
from genops.ledger.archive import Archive
from genops.ledger.budget import Budget, Reservation, input_ratio
from genops.ledger.db import CallRecord, Ledger
from genops.ledger.pricing import (billed_price, cost_usd, counted_usage, estimate_request_tokens,
                                   reserved_input_tokens, worst_case_usd)
from genops.providers._common import remember_key_env
from genops.providers.registry import make_provider
from genops.providers.replay import archive_miss_error
from genops.providers.retry import call_with_retry
from genops.workspace.config import GenopsConfig, Price

log = logging.getLogger("genops.client")

# Providers that need no network, allowed when offline.
OFFLINE_PROVIDERS = frozenset({"replay", "fake", "manual"})
# Providers nobody bills: no reservation, no price needed.


@dataclass(frozen=True)
class CallResult:
    """A finished call: the response, its archive key, what it cost and how it was obtained."""

    response: CompletionResponse
    key: str
    cost_usd: float
    latency_s: float
    from_archive: bool
    rung: str
    attempts: int

    def record(self, label: str) -> dict[str, Any]:
        """The call as a manifest records one made beside the synthesis (a reviewer's, the
        narrative's): what `genops.release.manifest.spend` adds up."""
        usage = self.response.usage
        return {"label": label, "key": self.key, "cost_usd": round(self.cost_usd, 6),
                "from_archive": self.from_archive,
                "tokens": {"input": usage.input_tokens, "output": usage.output_tokens}}


class ModelClient:
    """Calls models for one run; safe to use from many threads at once."""

    def __init__(self, workspace_root: Path, config: GenopsConfig, *, run_id: str,
                 providers: dict[str, Provider] | None = None, offline: bool = False,
                 sleep: Callable[[float], None] = time.sleep, ledger: Ledger | None = None,
                 budget: Budget | None = None) -> None:
        self.workspace_root = Path(workspace_root)
        self.config = config
        self.run_id = run_id
        self.offline = offline
        self.archive = Archive.for_workspace(self.workspace_root)
        self.ledger = ledger if ledger is not None else Ledger.for_workspace(self.workspace_root)
        self.budget = budget if budget is not None else Budget(
            self.ledger, config.budget.per_run_usd, config.budget.per_month_usd, run_id)
        self._sleep = sleep
        self._providers: dict[str, Provider] = dict(providers or {})
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        for model in config.models.values():  # every configured key is scrubbed from errors
            remember_key_env(model.api_key_env)

    def provider(self, rung: str) -> Provider:
        """The provider serving `rung`, built from genops.toml on first use."""
        with self._lock:
            if rung not in self._providers:
                if rung not in self.config.models:
                    raise UsageError(f"no model named {rung!r} under [models] in genops.toml",
                                     hint="have: " + ", ".join(sorted(self.config.models)))
                self._providers[rung] = make_provider(self.config.models[rung],
                                                      workspace_root=self.workspace_root)
            return self._providers[rung]

    def call(self, rung: str, request: CompletionRequest, *, on_text: TokenCallback | None = None,
             label: str | None = None) -> CallResult:
        """Answer `request` on `rung`: from the archive if recorded, else paid for within budget."""
        key = request.key()
        label = label or ""
        # Identical requests in flight wait for the first: the second becomes an archive hit.
        with self._key_lock(key):
            archived = self.archive.get(key)
            if archived is not None:
                return self._archive_hit(rung, request, key, archived, on_text, label)
            return self._send(rung, request, key, on_text, label)

    # -- steps ------------------------------------------------------------------------------

    def _archive_hit(self, rung: str, request: CompletionRequest, key: str,
                     response: CompletionResponse, on_text: TokenCallback | None,
                     label: str) -> CallResult:
        self.ledger.record(CallRecord(
            run_id=self.run_id, provider=request.provider, model=request.model,
            status="archive_hit", rung=rung, archive_key=key, usage=response.usage, label=label))
        if on_text is not None and response.text:
            on_text(response.text)
        return CallResult(response=response, key=key, cost_usd=0.0, latency_s=0.0,
                          from_archive=True, rung=rung, attempts=0)

    def _send(self, rung: str, request: CompletionRequest, key: str,
              on_text: TokenCallback | None, label: str) -> CallResult:
        provider = self.provider(rung)
        if self.offline and provider.name not in OFFLINE_PROVIDERS:
            raise archive_miss_error(self.archive, request,
                                     why=f"offline, and rung {rung!r} uses provider "
                                         f"{provider.name!r}, which needs the network")
        self._check_window(rung, request, label)
        price = billed_price(self.config, provider.name, request.model)
        record = CallRecord(run_id=self.run_id, provider=request.provider, model=request.model,
                            status="in_flight", rung=rung, archive_key=key, label=label)
        reservation = self._reserve(request, price, record)
        crashpoint("call-in-flight")
        attempts = 0
        streamed: list[str] = []  # the deltas of the current attempt: a cut stream is counted
        attempt_started = time.monotonic()

        def tee(delta: str) -> None:
            streamed.append(delta)
            if on_text is not None:
                on_text(delta)

        def attempt() -> CompletionResponse:
            nonlocal attempts, attempt_started
            attempts += 1
            streamed.clear()
            attempt_started = time.monotonic()
            return provider.complete(request, tee)

        def retrying(error: ProviderError, number: int, delay: float) -> None:
            # A cut attempt that produced text was billed for it: book it on its own error row
            # now, whatever the retry brings (its text is not counted again).
            self._book_cut_attempt(record, error, time.monotonic() - attempt_started,
                                   self._partial(request, price, "".join(streamed)))
            streamed.clear()
            self._on_retry(error, number, delay)

        started = time.monotonic()
        try:
            response = call_with_retry(attempt, self.config.retry, sleep=self._sleep,
                                       on_retry=retrying)
        except BaseException as exc:
            if isinstance(exc, ProviderError):
                exc.attempts = attempts  # the unit's error names how often it was tried
            latency = time.monotonic() - started
            self._failed(record, reservation, exc, latency,
                         self._partial(request, price, "".join(streamed)))
            raise
        latency = time.monotonic() - started
        usage = counted_usage(request, response.text, response.usage)
        response = dataclasses.replace(response, usage=usage)
        cost = 0.0 if price is None else cost_usd(usage, price)
        record = dataclasses.replace(record, status="ok", usage=usage, cost_usd=cost,
                                     latency_s=latency)
        try:
            self.archive.put(request, response)
        except BaseException:  # paid for but not archived: still book what it cost
            self._book(reservation, dataclasses.replace(record, status="error",
                                                        error_class="archive_write"))
            raise
        self._book(reservation, record)
        return CallResult(response=response, key=key, cost_usd=cost, latency_s=latency,
                          from_archive=False, rung=rung, attempts=attempts)

    def _check_window(self, rung: str, request: CompletionRequest, label: str) -> None:
        """Refuse (exit 2) a request whose prompt estimate plus output limit exceeds the rung's
        pinned context_window: a local server would cut it at the window, or refuse it, after
        the whole prompt was paid for."""
        cfg = self.config.models.get(rung)
        window = cfg.context_window if cfg is not None else None
        if window is None:
            return
        prompt = estimate_request_tokens(request)
        need = prompt + request.max_output_tokens
        if need <= window:
            return
        raise UsageError(
            f"{label or rung}: the request does not fit the pinned context window of rung {rung!r} "
            f"({request.model}): ≈{prompt:,} prompt tokens (genops' estimate) + max_output_tokens "
            f"{request.max_output_tokens:,} = {need:,} > context_window {window:,}; it was not sent",
            hint=f"lower max_output_tokens in [models.{rung}] (to at most {max(0, window - prompt):,} "
                 "for this prompt), shrink the request ([synthesis] strategy = \"multi\"), or "
                 "start the server with a larger context (llama.cpp -c) and pin that")

    def _reserve(self, request: CompletionRequest, price: Price | None,
                 record: CallRecord) -> Reservation | None:
        """Hold the most the request can cost against the server's own count: the prompt at
        genops' estimate times the margin for estimate error (`input_ratio`), the whole output
        limit; the estimate goes on the row so later reservations calibrate against it."""
        if price is None:
            return None
        estimate = estimate_request_tokens(request)
        ratio = input_ratio(self.ledger, self.config.budget.estimate_margin, request.provider,
                            request.model)
        worst = worst_case_usd(reserved_input_tokens(estimate, ratio), request.max_output_tokens,
                               price)
        return self.budget.reserve(worst, record.label or record.rung, call=dataclasses.replace(
            record, estimated_input_tokens=estimate))

    def _book(self, reservation: Reservation | None, record: CallRecord) -> None:
        if reservation is None:
            self.ledger.record(record)
        else:
            self.budget.settle(reservation, record.cost_usd, record=record)

    @staticmethod
    def _partial(request: CompletionRequest, price: Price | None, text: str
                 ) -> tuple[Usage, float]:
        """What a failed call produced before it died: no tokens, or genops' count of its text."""
        if not text:
            return Usage(), 0.0
        usage = counted_usage(request, text, Usage())
        return usage, 0.0 if price is None else cost_usd(usage, price)

    def _book_cut_attempt(self, record: CallRecord, error: ProviderError, latency: float,
                          produced: tuple[Usage, float]) -> None:
        """An attempt cut off after producing text, about to be retried: its own error row at
        what it produced (the call's in-flight row is settled by the attempt that ends it)."""
        usage, cost = produced
        if usage == Usage():
            return
        self.ledger.record(dataclasses.replace(record, status="error", usage=usage,
                                               cost_usd=cost, latency_s=latency,
                                               error_class=error.error_class))

    def _failed(self, record: CallRecord, reservation: Reservation | None, exc: BaseException,
                latency: float, produced: tuple[Usage, float]) -> None:
        """Settle the call as an error at what it produced (usually nothing; the caller
        re-raises)."""
        if not isinstance(exc, Exception):  # Ctrl-C mid-request: it may have been billed
            return
        error_class = exc.error_class if isinstance(exc, ProviderError) else type(exc).__name__
        if error_class == "manual_pending":  # waiting for a person is not a failed call
            return
        failed = dataclasses.replace(record, status="error", latency_s=latency,
                                     error_class=error_class, usage=produced[0],
                                     cost_usd=produced[1])
        self._book(reservation, failed)

    def _on_retry(self, error: ProviderError, attempt: int, delay: float) -> None:
        # The ledger keeps only each call's final outcome; backoffs go to the log.
        log.info("attempt %d failed (%s); retrying in %.1fs", attempt, error.error_class, delay)

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

