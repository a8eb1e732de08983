"""Budgets hold under concurrency: threads and processes racing never spend past a limit."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from genops.errors import BudgetExceeded, ExitCode
from genops.ledger.budget import Budget, pid_alive
from genops.ledger.db import Ledger


def _spend(path: Path, run_id: str) -> float:
    ledger = Ledger(path)
    try:
        return ledger.run_total(run_id)
    finally:
        ledger.close()


def test_reserve_settle_release(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    budget = Budget(ledger, per_run_usd=1.0, per_month_usd=10.0, run_id="r1")
    held = budget.reserve(0.75, "blueprint")
    assert budget.status().run_reserved_usd == 0.75
    with pytest.raises(BudgetExceeded):
        budget.reserve(0.3, "group 1")
    budget.settle(held, 0.2)
    status = budget.status()
    assert (status.run_spent_usd, status.run_reserved_usd) == (0.2, 0.0)
    assert status.run_remaining_usd == pytest.approx(0.8)
    budget.release(budget.reserve(0.8, "group 1"))
    assert budget.status().run_reserved_usd == 0.0 and ledger.run_total("r1") == 0.2
    ledger.close()


def test_refusal_says_what_would_be_spent_against_which_budget(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    budget = Budget(ledger, per_run_usd=1.0, per_month_usd=10.0, run_id="r1")
    budget.settle(budget.reserve(0.5), 0.5)
    budget.reserve(0.25)
    with pytest.raises(BudgetExceeded) as caught:
        budget.reserve(0.3, "group 'gateway'")
    error = caught.value
    assert error.exit_code == ExitCode.BUDGET == 4
    assert error.message == (
        "budget: group 'gateway' may cost up to $0.3000; the run r1 has spent $0.5000 with "
        "$0.2500 reserved by requests in flight, so it could reach $1.05, over the per-run "
        "budget of $1.00; the request was not sent")
    assert error.hint and "per_run_usd" in error.hint and "genops.toml" in error.hint
    month = Budget(ledger, per_run_usd=100.0, per_month_usd=1.0, run_id="r2")
    with pytest.raises(BudgetExceeded, match="this month .* over the per-month budget of "
                       r"\$1.00;") as caught:
        month.reserve(0.3)
    assert caught.value.hint and "per_month_usd" in caught.value.hint
    ledger.close()


def test_a_request_exactly_filling_the_budget_is_allowed(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    budget = Budget(ledger, per_run_usd=0.3, per_month_usd=10.0, run_id="r1")
    for _ in range(3):
        budget.settle(budget.reserve(0.1), 0.1)
    with pytest.raises(BudgetExceeded):
        budget.reserve(0.000000001)
    ledger.close()


def _race(budget: Budget, amount: float, hold_s: float, outcomes: list[str]) -> None:
    try:
        held = budget.reserve(amount, "race")
    except BudgetExceeded:
        outcomes.append("refused")
        return
    time.sleep(hold_s)
    budget.settle(held, amount)
    outcomes.append("ok")


def test_sixteen_threads_racing_never_cross_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = Ledger(path)
    budget = Budget(ledger, per_run_usd=1.0, per_month_usd=100.0, run_id="r1")
    outcomes: list[str] = []
    start = threading.Barrier(16)

    def worker() -> None:
        start.wait()
        _race(budget, 0.1, 0.05, outcomes)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] * 10 + ["refused"] * 6
    assert _spend(path, "r1") == 1.0
    ledger.close()


def _process_worker(path: str, run_id: str, per_run: float, per_month: float,
                    queue: multiprocessing.Queue[str]) -> None:
    ledger = Ledger(Path(path))
    budget = Budget(ledger, per_run_usd=per_run, per_month_usd=per_month, run_id=run_id)
    outcomes: list[str] = []
    threads = [threading.Thread(target=_race, args=(budget, 0.1, 0.05, outcomes))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for outcome in outcomes:
        queue.put(outcome)


@pytest.mark.parametrize("shared_run", [True, False], ids=["one run", "one run per process"])
def test_processes_racing_never_cross_the_budget(tmp_path: Path, shared_run: bool) -> None:
    path = tmp_path / "ledger.db"
    Ledger(path).close()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    # One run shared by four processes hits the per-run limit; four runs hit the month limit.
    per_run, per_month = (0.7, 100.0) if shared_run else (100.0, 0.7)
    procs = [context.Process(target=_process_worker,
                             args=(str(path), "r1" if shared_run else f"r{n}", per_run,
                                   per_month, queue)) for n in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    outcomes = sorted(queue.get(timeout=5) for _ in range(16))
    assert outcomes == ["ok"] * 7 + ["refused"] * 9
    ledger = Ledger(path)
    assert ledger.month_total() == 0.7
    assert ledger.reserved_usd() == 0.0
    ledger.close()


HOLDER = """
import sys
from pathlib import Path
from genops.ledger.budget import Budget
from genops.ledger.db import Ledger
budget = Budget(Ledger(Path(sys.argv[1])), per_run_usd=1.0, per_month_usd=10.0, run_id="r1")
budget.reserve(0.6, "held by a process that will die")
print("held", flush=True)
sys.stdin.readline()  # hold until the test lets go (or kills us)
"""


def test_calls_cut_off_by_a_kill_stay_held_as_may_have_been_billed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = Ledger(path)
    budget = Budget(ledger, per_run_usd=1.0, per_month_usd=10.0, run_id="r1")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    assert pid_alive(holder.pid)
    [live] = ledger.unsettled("r1")
    assert live.alive and not live.may_have_been_billed and live.reserved_usd == 0.6
    with pytest.raises(BudgetExceeded, match=r"\$0.6000 reserved"):
        budget.reserve(0.6)  # a live process's call counts
    holder.kill()
    holder.wait()
    assert not pid_alive(holder.pid)
    # the request may have reached the provider: it keeps counting until someone settles it
    with pytest.raises(BudgetExceeded, match=r"\$0.6000 reserved"):
        budget.reserve(0.6)
    [cut] = ledger.unsettled("r1")
    assert cut.may_have_been_billed and cut.pid == holder.pid
    assert ledger.reserved_usd() == 0.6 and budget.status().run_reserved_usd == 0.6
    ledger.close()


def test_own_pid_is_alive() -> None:
    assert pid_alive(os.getpid())
