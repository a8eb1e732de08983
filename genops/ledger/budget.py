"""Budgets: reserve a request's worst case before sending it, settle the real cost after.

The reservations live in the ledger's SQLite file, and `reserve` checks and inserts inside one
BEGIN IMMEDIATE transaction, so the check "settled + reserved + this <= limit" holds for every
thread and every process sharing the workspace: concurrency can never spend past a budget.
`settle` deletes the reservation and writes the call row in one transaction, so there is no moment
in which the spend is counted neither as reserved nor as settled. A process that died with
reservations open (same host, pid gone) has them cleared on the next reservation.

The one thing no reservation can prevent is a provider billing more than the estimate; the
estimate (see `genops.ledger.pricing.estimate_request_tokens`) is deliberately on the high side.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sqlite3
from dataclasses import dataclass

from genops.errors import BudgetExceeded
from genops.ledger.db import CallRecord, Ledger, month_of, utc_now
from genops.ledger.pricing import nano_to_usd, usd_to_nano


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


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (a zombie counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Budget:
    """The per-run and per-month budgets of one run, enforced through the ledger database."""

    def __init__(self, ledger: Ledger, per_run_usd: float, per_month_usd: float,
                 run_id: str) -> None:
        self.ledger = ledger
        self.per_run_usd = per_run_usd
        self.per_month_usd = per_month_usd
        self.run_id = run_id
        self._host = socket.gethostname()

    def reserve(self, worst_usd: float, label: str = "") -> Reservation:
        """Hold `worst_usd` for one request, or raise BudgetExceeded if it could cross a budget."""
        amount = usd_to_nano(worst_usd, round_up=True)
        month = month_of(utc_now())
        refusal: BudgetExceeded | None = None
        with self.ledger.transaction() as conn:  # a refusal still commits the stale cleanup
            self._clear_stale(conn)
            run_spent = self.ledger.spent_nano(conn, run_id=self.run_id)
            run_held = self._held(conn, "run_id", self.run_id)
            month_spent = self.ledger.spent_nano(conn, month=month)
            month_held = self._held(conn, "month", month)
            if run_spent + run_held + amount > usd_to_nano(self.per_run_usd):
                refusal = self._refusal("per-run", label, worst_usd, run_spent, run_held,
                                        self.per_run_usd, f"the run {self.run_id}")
            elif month_spent + month_held + amount > usd_to_nano(self.per_month_usd):
                refusal = self._refusal("per-month", label, worst_usd, month_spent, month_held,
                                        self.per_month_usd, f"this month ({month}) genops")
            else:
                cursor = conn.execute(
                    "INSERT INTO reservations (run_id, month, amount_nusd, pid, host, label, "
                    "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (self.run_id, month, amount, os.getpid(), self._host, label,
                     utc_now().isoformat()))
        if refusal is not None:
            raise refusal
        return Reservation(id=int(cursor.lastrowid or 0), run_id=self.run_id, month=month,
                           usd=nano_to_usd(amount), label=label)

    def settle(self, reservation: Reservation, actual_usd: float,
               record: CallRecord | None = None) -> None:
        """Swap the reservation for the real cost, writing the call row in the same transaction."""
        row = record or CallRecord(run_id=reservation.run_id, provider="", model="", status="ok",
                                   label=reservation.label)
        row = dataclasses.replace(row, cost_usd=actual_usd)
        with self.ledger.transaction() as conn:
            conn.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))
            self.ledger.insert(conn, row)

    def release(self, reservation: Reservation) -> None:
        """Give back a reservation whose request was not paid for (it failed or was not sent)."""
        with self.ledger.transaction() as conn:
            conn.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))

    def status(self) -> BudgetStatus:
        """Settled and held amounts for this run and this month (for planning and reports)."""
        month = month_of(utc_now())
        conn = self.ledger.connection()
        return BudgetStatus(
            run_spent_usd=nano_to_usd(self.ledger.spent_nano(conn, run_id=self.run_id)),
            run_reserved_usd=nano_to_usd(self._held(conn, "run_id", self.run_id)),
            month_spent_usd=nano_to_usd(self.ledger.spent_nano(conn, month=month)),
            month_reserved_usd=nano_to_usd(self._held(conn, "month", month)),
            per_run_usd=self.per_run_usd, per_month_usd=self.per_month_usd)

    def clear_stale(self) -> int:
        """Drop reservations of processes on this host that no longer exist; returns how many."""
        with self.ledger.transaction() as conn:
            return self._clear_stale(conn)

    def _clear_stale(self, conn: sqlite3.Connection) -> int:
        rows = conn.execute("SELECT id, pid FROM reservations WHERE host = ?",
                            (self._host,)).fetchall()
        dead = [(row["id"],) for row in rows if not pid_alive(int(row["pid"]))]
        conn.executemany("DELETE FROM reservations WHERE id = ?", dead)
        return len(dead)

    @staticmethod
    def _held(conn: sqlite3.Connection, column: str, value: str) -> int:
        row = conn.execute(f"SELECT COALESCE(SUM(amount_nusd), 0) FROM reservations "
                           f"WHERE {column} = ?", (value,)).fetchone()
        return int(row[0])

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
