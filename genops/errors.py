"""The genops exception hierarchy; every error a user can cause maps to an exit code of the brief.

    GenopsError                 exit 2 unless a subclass says otherwise
    ├── ConfigError             a bad workspace file (names file, line, what to do)      -> 2
    ├── UsageError              a bad command-line argument or state                    -> 2
    ├── ProviderError           a provider failed after retries and fallbacks            -> 3
    ├── BudgetExceeded          a reservation would cross a budget                       -> 4
    └── GateFailed              a gate failed or `check` found a violation               -> 1
A run waiting for manual answers is not an error: its command exits ExitCode.AWAITING (5).

The CLI is the only place that turns these into exit codes; library code raises them.
Programming errors (TypeError, KeyError...) are never caught into these.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    OK = 0
    GATE_FAILED = 1
    USAGE = 2
    PROVIDER = 3
    BUDGET = 4
    AWAITING = 5  # a run is waiting for manual answers (`genops resume` continues it)


class GenopsError(Exception):
    """Base of every error genops reports to a user."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(GenopsError):
    """A bad argument, or a workspace state that makes the command impossible."""


class ConfigError(GenopsError):
    """A bad workspace file: always names the file, and the line where it is known."""

    def __init__(self, file: str | Path, message: str, *, line: int | None = None,
                 hint: str | None = None) -> None:
        self.file = str(file)
        self.line = line
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {message}", hint=hint)


class ProviderError(GenopsError):
    """A provider call failed; `error_class` is one of ERROR_CLASSES, `retryable` drives backoff."""

    exit_code = ExitCode.PROVIDER

    def __init__(self, message: str, *, error_class: str, retryable: bool = False,
                 retry_after: float | None = None, status: int | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.error_class = error_class
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.attempts = 0  # set by the client: how many times the request was sent


ERROR_CLASSES = ("auth", "rate_limit", "overloaded", "context_too_long", "refused",
                 "bad_request", "network", "server", "archive_miss", "manual_pending")


class BudgetExceeded(GenopsError):
    """A request's worst-case reservation would cross the per-run or per-month budget."""

    exit_code = ExitCode.BUDGET


class GateFailed(GenopsError):
    """One or more gates failed; `results` carries their verdicts."""

    exit_code = ExitCode.GATE_FAILED

    def __init__(self, message: str, *, results: list[object] | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.results = results or []


@dataclass(frozen=True)
class Location:
    """A place in a file a finding points at (1-based line)."""

    file: str
    line: int | None = None
