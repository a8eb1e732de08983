"""One unit of synthesis (the blueprint, one group, or the single answer) as a conversation.

A unit sends its request on a rung of the ladder, continues an answer cut off at the output
limit, parses it, and asks once for a repair when the answer breaks its format:

    request ─► [max_tokens? continue ×max_continuations, stitch] ─► parse
               (cut by the context window instead? stop: a continuation cannot fit)
                                                                     │ ResponseFormatError
                                                   repair request ◄──┘ (×max_repairs, then raise)

Fallback: a rung whose call raises `ProviderError` (after the client's retries) hands the unit to
the next rung when `on_failure == "fallback"`; one whose next request would cross the budget
(`BudgetExceeded`) does so when `on_budget == "fallback"`. Every error class falls back except
`archive_miss` (replay must fail loudly, not quietly pay another model) and `manual_pending` (a
person has not answered yet; that is not a failure). The unit restarts from its first request on
the next rung, since requests name their model. The last rung's error is raised.

Every request of a unit follows from its inputs and the archived answers before it, so a re-run
with the same inputs sends the same sequence of keys: resume is an archive hit per finished call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, TypeVar

from genops.calls import CompletionRequest, CompletionResponse, Message, TokenCallback
from genops.errors import BudgetExceeded, GenopsError, ProviderError, UsageError
from genops.protocol.files import FENCE_LINE, ResponseFormatError, strip_fence
from genops.synthesis.journal import RunJournal
from genops.synthesis.progress import CallRecord, Progress, unit_total
from genops.workspace.catalog import capabilities, context_window, sent_sampling
from genops.workspace.config import ModelConfig

T = TypeVar("T")
NO_FALLBACK = frozenset({"archive_miss", "manual_pending"})
TAIL_CHARS = 600  # how much of a cut-off answer a continuation request quotes
OVERLAP_LINES = 10  # how far back a continuation's repeated lines are looked for
MIN_OVERLAP_CHARS = 16  # a repeated whole line shorter than this is kept (it may be real code)


class CallResultLike(Protocol):
    response: CompletionResponse
    key: str
    cost_usd: float
    latency_s: float
    from_archive: bool


class ClientLike(Protocol):
    def call(self, rung: str, request: CompletionRequest, *, on_text: TokenCallback | None = None,
             label: str | None = None) -> Any: ...


class TruncatedResponse(GenopsError):
    """An answer was still cut off after the allowed continuations."""


@dataclass
class RunSettings:
    """What every unit of one synthesis run shares."""

    client: ClientLike
    rungs: list[tuple[str, ModelConfig]]
    journal: RunJournal
    progress: Progress
    render: Callable[[str, dict[str, Any]], str]  # template name, overrides -> text
    max_continuations: int
    max_repairs: int
    on_failure: str
    on_budget: str


def stitch(text: str, continuation: str) -> str:
    """Join a cut-off answer and its continuation, dropping a repeat of the tail at the seam.

    A continuation often starts by repeating the unfinished last line, or a few whole lines. The
    longest tail of `text` that starts at a line start (within the last OVERLAP_LINES lines) and
    that `continuation` begins with is dropped from the continuation, if it includes the
    unfinished last line or is at least MIN_OVERLAP_CHARS long.
    """
    continuation = _unfence(continuation)
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    candidates = starts[-(OVERLAP_LINES + 1):]
    for start in candidates:  # earliest start = longest overlap first
        seam = text[start:]
        if not seam.strip() or not continuation.startswith(seam):
            continue
        has_partial_line = not seam.endswith("\n")
        if has_partial_line or len(seam.strip()) >= MIN_OVERLAP_CHARS:
            return text + continuation[len(seam):]
    return text + continuation


def _unfence(continuation: str) -> str:
    """A continuation answered inside one markdown fence (closed, or cut off again before its end):
    the fence is not content."""
    unwrapped = strip_fence(continuation)
    if unwrapped != continuation:
        return unwrapped
    first, newline, rest = continuation.partition("\n")
    return rest if newline and FENCE_LINE.match(first.strip()) else continuation


def window_cut(cfg: ModelConfig, response: CompletionResponse) -> bool:
    """Whether an answer stopped at the context window rather than at the output limit.

    A continuation re-sends the prompt and the answer so far, so after a window cut it is bound to
    be larger and fail. Signs: the server said so (Anthropic's model_context_window_exceeded), a
    local server reported fewer output tokens than the limit (llama.cpp ends with finish_reason
    "length" when n_ctx fills; hosted APIs refuse an oversized request up front instead), or
    prompt plus answer reach the pinned window.
    """
    if response.raw_stop_reason == "model_context_window_exceeded":
        return True
    usage = response.usage
    if cfg.provider == "openai-compatible" and not usage.estimated and \
            0 < usage.output_tokens < cfg.max_output_tokens:
        return True
    window = context_window(cfg.model, cfg.context_window)
    return window is not None and usage.prompt_tokens + usage.output_tokens >= window


def window_error(label: str, cfg: ModelConfig, response: CompletionResponse) -> ProviderError:
    """The error for an answer cut off by the context window (no continuation is sent)."""
    usage = response.usage
    counted = "≈" if usage.estimated else ""
    window = context_window(cfg.model, cfg.context_window)
    of = f" of its {window:,}-token window" if window else ""
    return ProviderError(
        f"{label}: {cfg.model} ran out of context window{of}: the answer stopped at "
        f"{counted}{usage.output_tokens:,} output tokens, below max_output_tokens "
        f"{cfg.max_output_tokens:,}, after a {counted}{usage.prompt_tokens:,}-token prompt; a "
        "continuation would be larger still, so none was sent",
        error_class="context_too_long",
        hint="use [synthesis] strategy = \"multi\" (smaller requests), or a model or server "
             "with a larger window (llama.cpp -c / n_ctx), pinned with context_window = <tokens> "
             "in its [models.<rung>] table")


def continuation_overflow(label: str, rung: str, cfg: ModelConfig,
                          response: CompletionResponse) -> UsageError | None:
    """The refusal (exit 2) of a continuation that cannot fit the rung's pinned context_window.

    A continuation re-sends the prompt and the answer so far, so it needs at least the server's
    own count of both plus max_output_tokens: a better figure than genops' estimate, which runs
    well under a real tokenizer on a small model's repetitive output (measured on llama-server:
    a continuation estimated to fit 4,096 tokens held 3,244 prompt tokens and stopped at the
    window, 851 tokens into its answer). Servers that report no usage are left to the estimate.
    """
    window = cfg.context_window
    usage = response.usage
    if window is None or usage.estimated:
        return None
    need = usage.prompt_tokens + usage.output_tokens + cfg.max_output_tokens
    if need <= window:
        return None
    return UsageError(
        f"{label}: the answer was cut off at the output limit, and its continuation does not fit "
        f"the pinned context window of rung {rung!r} ({cfg.model}): the server counted "
        f"{usage.prompt_tokens:,} prompt + {usage.output_tokens:,} answer tokens, + "
        f"max_output_tokens {cfg.max_output_tokens:,} = {need:,} > context_window {window:,}; "
        "it was not sent",
        hint="use [synthesis] strategy = \"multi\" (smaller answers), or start the server with a "
             "larger context (llama.cpp -c) and pin it with context_window in "
             f"[models.{rung}]")


def build_request(cfg: ModelConfig, messages: tuple[Message, ...], *, cache_key: str,
                  label: str) -> CompletionRequest:
    """The request for one rung; the label travels in `extra` only for the manual provider."""
    extra: tuple[tuple[str, Any], ...] = (("label", label),) if cfg.provider == "manual" else ()
    sampling = sent_sampling(cfg)  # what the model takes: nothing unsent reaches the archive key
    return CompletionRequest(provider=cfg.provider, model=cfg.model, messages=messages,
                             max_output_tokens=cfg.max_output_tokens,
                             temperature=sampling["temperature"], seed=sampling["seed"],
                             top_p=sampling["top_p"], cache_key=cache_key, extra=extra)


class Unit:
    """One blueprint, group or single answer, run down the ladder until a rung produces it."""

    def __init__(self, settings: RunSettings, name: str, messages: tuple[Message, ...], *,
                 cache_key: str, repair_instruction: str) -> None:
        self.s = settings
        self.name = name
        self.messages = messages
        self.cache_key = cache_key
        self.repair_instruction = repair_instruction
        self.records: list[CallRecord] = []  # every call of this unit, in order, on any rung

    def run(self, parse: Callable[[str], T]) -> tuple[T, str]:
        """The parsed answer and the name of the rung that produced it."""
        self.s.progress.group_started(self.name)
        for index, (rung, cfg) in enumerate(self.s.rungs):
            last = index == len(self.s.rungs) - 1
            try:
                value = self._on_rung(rung, cfg, parse)
            except BudgetExceeded as exc:
                if last or self.s.on_budget != "fallback":
                    raise
                why = f"would cross the budget ({exc.message})"
            except ProviderError as exc:
                if exc.error_class in NO_FALLBACK:
                    raise
                if last or self.s.on_failure != "fallback":
                    raise self._final_error(index, exc) from None
                why = f"failed ({exc.error_class}: {exc.message})"
            else:
                self.s.progress.group_done(self.name, unit_total(self.records))
                return value, rung
            self.s.progress.message(f"{self.name}: rung {rung!r} {why}; falling back to "
                                    f"{self.s.rungs[index + 1][0]!r}")
        raise AssertionError("unreachable: the last rung either returns or raises")

    def _final_error(self, index: int, exc: ProviderError) -> ProviderError:
        """The error a user sees (exit 3): which unit, rung and model, after how many attempts,
        and what the ladder did (no fallback is claimed when `on_failure = "stop"`)."""
        rung, cfg = self.s.rungs[index]
        tries = f"{exc.attempts} attempt{'s' if exc.attempts != 1 else ''}" if exc.attempts \
            else "its attempt"
        rest = [name for name, _ in self.s.rungs[index + 1:]]
        if rest:
            ladder = (f'[ladder] on_failure = "stop", so the other rungs ({", ".join(rest)}) '
                      "were not tried")
        elif index > 0:
            tried = ", ".join(name for name, _ in self.s.rungs[:index + 1])
            ladder = f"every rung of the ladder failed ({tried})"
        else:
            ladder = "the ladder has no other rung to fall back to"
        error = ProviderError(
            f"{self.name}: rung {rung!r} ({cfg.provider} {cfg.model}) failed after {tries}: "
            f"{exc.message}", error_class=exc.error_class, retryable=exc.retryable,
            retry_after=exc.retry_after, status=exc.status,
            hint="; ".join(part for part in (exc.hint, ladder) if part))
        error.attempts = exc.attempts
        return error

    def _on_rung(self, rung: str, cfg: ModelConfig, parse: Callable[[str], T]) -> T:
        messages = self.messages
        text = self._complete(rung, cfg, messages, self.name)
        for attempt in range(1, self.s.max_repairs + 2):
            try:
                return parse(text)
            except ResponseFormatError as exc:
                if attempt > self.s.max_repairs:
                    raise self._unusable(rung, cfg, exc, attempt - 1) from None
                self.s.progress.message(f"{self.name}: answer unusable ({exc.message}); "
                                        f"asking for a repair")
                repair = self.s.render("repair", {"error": str(exc),
                                                  "instruction": self.repair_instruction})
                messages = (*messages, Message("assistant", text), Message("user", repair))
                text = self._complete(rung, cfg, messages, f"{self.name}.repair{attempt}")
        raise AssertionError("unreachable")

    def _unusable(self, rung: str, cfg: ModelConfig, exc: ResponseFormatError,
                  repairs: int) -> ResponseFormatError:
        """The format error as the user sees it: which unit and model, and a hint for a person.
        The hint the model got with its repair request ("answer with ...") is not advice for
        the user, so it is replaced (the exception keeps its type: callers match on it)."""
        asked = (f"after {repairs} repair request{'s' if repairs != 1 else ''}" if repairs
                 else "with no repair request allowed")
        exc.message = (f"{self.name}: the answer of rung {rung!r} ({cfg.provider} {cfg.model}) "
                       f"is unusable {asked}: {exc.message}")
        exc.hint = ("the model did not answer in the format the request asks for; a more capable "
                    "model, or [synthesis] max_repairs, may help")
        if cfg.provider == "fake":
            exc.hint = ("the fake provider answers with the replies .genops/fake-responses.json "
                        "scripts, or without that file with a placeholder tree derived from "
                        "specs/ (synthesis requests only; `genops help providers`)")
        exc.args = (exc.message,)
        return exc

    def _complete(self, rung: str, cfg: ModelConfig, messages: tuple[Message, ...],
                  label: str) -> str:
        """The whole answer to `messages`, continuing it while it stops at the output limit."""
        response = self._call(rung, cfg, messages, label)
        text = response.text
        for n in range(1, self.s.max_continuations + 1):
            if response.stop != "max_tokens":
                return text
            if window_cut(cfg, response):
                raise window_error(label, cfg, response)
            crowded = continuation_overflow(label, rung, cfg, response)
            if crowded is not None:
                raise crowded
            self.s.progress.message(f"{label}: cut off at the output limit; continuing ({n})")
            if capabilities(cfg).prefill:  # the catalog's data, not the provider's name
                # Assistant prefill: the model resumes its own message. The API refuses a final
                # assistant turn ending in whitespace, so the seam is at the stripped end.
                text = text.rstrip()
                follow = (*messages, Message("assistant", text))
                response = self._call(rung, cfg, follow, f"{label}.cont{n}")
                text += response.text
            else:
                ask = self.s.render("continue", {"tail": text[-TAIL_CHARS:]})
                follow = (*messages, Message("assistant", text), Message("user", ask))
                response = self._call(rung, cfg, follow, f"{label}.cont{n}")
                text = stitch(text, response.text)
        if response.stop == "max_tokens":
            raise TruncatedResponse(
                f"{label}: the answer is still cut off after {self.s.max_continuations} "
                "continuations",
                hint="raise synthesis.max_continuations or the model's max_output_tokens, or use "
                     "strategy 'multi' with smaller groups")
        return text

    def _call(self, rung: str, cfg: ModelConfig, messages: tuple[Message, ...],
              label: str) -> CompletionResponse:
        request = build_request(cfg, messages, cache_key=self.cache_key, label=label)

        def on_text(delta: str) -> None:
            self.s.progress.tokens(self.name, len(delta), 0.0)

        result = self.s.client.call(rung, request, on_text=on_text, label=label)
        response: CompletionResponse = result.response
        record = CallRecord(label=label, rung=rung, provider=cfg.provider, model=cfg.model,
                            key=result.key, usage=response.usage, cost_usd=result.cost_usd,
                            latency_s=result.latency_s, from_archive=result.from_archive,
                            stop=response.stop)
        self.records.append(record)
        self.s.journal.append(record)
        self.s.progress.tokens(self.name, 0, result.cost_usd)
        if response.stop == "refused":  # recorded above: a refusal is paid for too
            raise ProviderError(f"{label}: the model refused to answer", error_class="refused")
        return response
