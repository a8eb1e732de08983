"""Budgets: reserve a request's worst case before sending it, settle the real cost after.

A reservation is the call's own ledger row, written `in_flight` before the request is sent:
`reserve` checks and inserts it inside one BEGIN IMMEDIATE transaction, so the check
"settled + held + this <= limit" holds for every thread and every process sharing the workspace:
concurrency can never spend past a budget. `settle` turns the row into its outcome in one
UPDATE, so there is no moment in which the spend is counted neither as held nor as settled.
A row left in flight by a process that died (same host, pid gone) is never cleared: the request
may have reached the provider and been billed, so it keeps counting at its reservation and is
reported as "may have been billed" (`Ledger.unsettled`).

A reservation holds the prompt at genops' estimate times a margin (`input_ratio`): the byte
heuristic runs under real tokenizers (measured on llama-server with SmolLM2-135M: 0.84x the
server's count on an English spec, 0.98x on code, 1.58x on a continuation carrying the model's
own repetitive answer), so the margin is `[budget] estimate_margin` (2.0), or
the largest ratio the ledger measured for the model with 10% slack when that is higher, up to the
provable bound (4x: no tokenizer makes more tokens than bytes). The output is held at its limit.
So a run settles within its budget against the server's own count.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from genops.errors import BudgetExceeded
from genops.ledger.db import LEDGER_NAME, CallRecord, Ledger, month_of, utc_now
from genops.ledger.db import pid_alive as pid_alive  # its home moved; imported here too
from genops.ledger.pricing import MAX_INPUT_RATIO, nano_to_usd, usd_to_nano

CALIBRATION_SLACK = 1.1  # over the largest ratio measured: the next prompt may tokenize worse


def input_ratio(ledger: Ledger | None, margin: float, provider: str, model: str) -> float:
    """The margin a reservation holds over genops' prompt estimate for `model` (see above)."""
    measured = None if ledger is None else ledger.prompt_ratio(provider, model)
    calibrated = 0.0 if measured is None else measured * CALIBRATION_SLACK
    return min(MAX_INPUT_RATIO, max(margin, calibrated))


def workspace_input_ratio(root: Path, margin: float, provider: str, model: str) -> float:
    """`input_ratio` for planning: reads the workspace's ledger if there is one, creates none."""
    path = root / ".genops" / LEDGER_NAME
    if not path.is_file():
        return input_ratio(None, margin, provider, model)
    ledger = Ledger(path)
    try:
        return input_ratio(ledger, margin, provider, model)
    finally:
        ledger.close()


@dataclass(frozen=True)
class Reservation:
    """Money held for one request in flight."""

    id: int
    run_id: str
    month: str
    usd: float
    label: str = ""


@dataclass(frozen=True)
class BudgetStatus:
    """Where a run and the month stand: settled spend, money held in flight, the limits."""

    run_spent_usd: float
    run_reserved_usd: float
    month_spent_usd: float
    month_reserved_usd: float
    per_run_usd: float
    per_month_usd: float

    @property
    def run_remaining_usd(self) -> float:
        return max(0.0, self.per_run_usd - self.run_spent_usd - self.run_reserved_usd)

    @property
    def month_remaining_usd(self) -> float:
        return max(0.0, self.per_month_usd - self.month_spent_usd - self.month_reserved_usd)


def _usd(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 1 or amount == 0 else f"${amount:.4f}"


class Budget:
    """The per-run and per-month budgets of one run, enforced through the ledger database."""

    def __init__(self, ledger: Ledger, per_run_usd: float, per_month_usd: float,
                 run_id: str) -> None:
        self.ledger = ledger
        self.per_run_usd = per_run_usd
        self.per_month_usd = per_month_usd
        self.run_id = run_id
        self._host = socket.gethostname()

    def reserve(self, worst_usd: float, label: str = "",
                call: CallRecord | None = None) -> Reservation:
        """Write the call as in flight holding `worst_usd`, or raise BudgetExceeded (not sent)."""
        amount = usd_to_nano(worst_usd, round_up=True)
        month = month_of(utc_now())
        refusal: BudgetExceeded | None = None
        row = call or CallRecord(run_id=self.run_id, provider="", model="", status="in_flight",
                                 label=label)
        with self.ledger.transaction() as conn:
            run_spent = self.ledger.spent_nano(conn, run_id=self.run_id)
            run_held = self.ledger.held_nano(conn, "run_id", self.run_id)
            month_spent = self.ledger.spent_nano(conn, month=month)
            month_held = self.ledger.held_nano(conn, "month", month)
            if run_spent + run_held + amount > usd_to_nano(self.per_run_usd):
                refusal = self._refusal("per-run", label, worst_usd, run_spent, run_held,
                                        self.per_run_usd, f"the run {self.run_id}")
            elif month_spent + month_held + amount > usd_to_nano(self.per_month_usd):
                refusal = self._refusal("per-month", label, worst_usd, month_spent, month_held,
                                        self.per_month_usd, f"this month ({month}) genops")
            else:
                row_id = self.ledger.begin_call(conn, dataclasses.replace(row, run_id=self.run_id),
                                                reserved_nusd=amount, pid=os.getpid(),
                                                host=self._host)
        if refusal is not None:
            raise refusal
        return Reservation(id=row_id, run_id=self.run_id, month=month, usd=nano_to_usd(amount),
                           label=label)

    def settle(self, reservation: Reservation, actual_usd: float,
               record: CallRecord | None = None) -> None:
        """Settle the in-flight row at the real cost, as `record` says (ok, or error)."""
        row = record or CallRecord(run_id=reservation.run_id, provider="", model="", status="ok",
                                   label=reservation.label)
        row = dataclasses.replace(row, cost_usd=actual_usd)
        with self.ledger.transaction() as conn:
            self.ledger.settle_call(conn, reservation.id, row)

    def release(self, reservation: Reservation) -> None:
        """Drop the row of a request that was never sent (nothing can have been billed)."""
        with self.ledger.transaction() as conn:
            conn.execute("DELETE FROM calls WHERE id = ? AND status = 'in_flight'",
                         (reservation.id,))

    def status(self) -> BudgetStatus:
        """Settled and held amounts for this run and this month (for planning and reports)."""
        month = month_of(utc_now())
        conn = self.ledger.connection()
        return BudgetStatus(
            run_spent_usd=nano_to_usd(self.ledger.spent_nano(conn, run_id=self.run_id)),
            run_reserved_usd=nano_to_usd(self.ledger.held_nano(conn, "run_id", self.run_id)),
            month_spent_usd=nano_to_usd(self.ledger.spent_nano(conn, month=month)),
            month_reserved_usd=nano_to_usd(self.ledger.held_nano(conn, "month", month)),
            per_run_usd=self.per_run_usd, per_month_usd=self.per_month_usd)

    @staticmethod
    def _refusal(which: str, label: str, worst_usd: float, spent: int, held: int, limit: float,
                 whose: str) -> BudgetExceeded:
        total = nano_to_usd(spent + held) + worst_usd
        key = "per_run_usd" if which == "per-run" else "per_month_usd"
        return BudgetExceeded(
            f"budget: {label or 'the request'} may cost up to {_usd(worst_usd)}; {whose} has "
            f"spent {_usd(nano_to_usd(spent))} with {_usd(nano_to_usd(held))} reserved by "
            f"requests in flight, so it could reach {_usd(total)}, over the {which} budget of "
            f"{_usd(limit)}; the request was not sent",
            hint=f"raise [budget] {key} in genops.toml, lower the rung's max_output_tokens, or "
                 "use a cheaper model")
