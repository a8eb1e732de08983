"""The SQLite ledger: append-only migrations, one row per call, spend queries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from genops.errors import ConfigError
from genops.ledger.db import (MIGRATIONS, CallRecord, Ledger, Status, _sha, cost_report, month_of,
                              utc_now)
from genops.calls import Usage
from genops.workspace.config import BudgetConfig

# Migrations already released, with the sha256 of their SQL. Append to MIGRATIONS; never edit these.
RELEASED = [
    ("m001_calls", "86078d04a5fe404c945cf1856ee7f021bf8b7a5f56414df85e53a744849c7139"),
    ("m002_reservations", "2832b17d5aa391eb15317f756a1374fe63078f33c0dbc79559f81acb068f0cb4"),
    ("m003_in_flight_calls", "e474b93953661f7637caac9b5eb948db89d4ec424f0fa48d80f83d2f2079c967"),
]


def test_m003_keeps_every_call_and_turns_open_reservations_into_in_flight_rows(
        tmp_path: Path) -> None:
    """A ledger written by the previous genops (m001, m002) upgrades with nothing lost."""
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, "
                     "applied_at TEXT NOT NULL)")
        for name, sql in MIGRATIONS[:2]:
            conn.executescript(sql)
            conn.execute("INSERT INTO _migrations VALUES (?, ?, 'then')", (name, _sha(sql)))
        conn.execute("INSERT INTO calls (run_id, ts, month, provider, model, cost_nusd, status) "
                     "VALUES ('r1', '2026-01-02T00:00:00+00:00', '2026-01', 'fake', 'fake-1', "
                     "500000000, 'ok')")
        conn.execute("INSERT INTO reservations (run_id, month, amount_nusd, pid, host, label, "
                     "created) VALUES ('r1', '2026-01', 250000000, 1, 'h', 'core', 'now')")
    ledger = Ledger(path)
    assert ledger.run_total("r1") == 0.5
    assert [(c.status, c.label, c.reserved_usd) for c in ledger.calls("r1")] == \
        [("ok", "", 0.0), ("in_flight", "core", 0.25)]
    assert ledger.reserved_usd("2026-01") == 0.25
    ledger.close()


def test_released_migrations_are_never_edited_or_reordered() -> None:
    assert [(name, _sha(sql)) for name, sql in MIGRATIONS[:len(RELEASED)]] == RELEASED
    names = [name for name, _ in MIGRATIONS]
    assert len(set(names)) == len(names)


def test_opening_twice_applies_each_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    first = Ledger(path)
    first.record(CallRecord(run_id="r1", provider="fake", model="fake-1", status="ok",
                            cost_usd=0.5))
    first.close()
    second = Ledger(path)
    assert second.applied_migrations() == [name for name, _ in MIGRATIONS]
    count = second.connection().execute("SELECT COUNT(*) FROM _migrations").fetchone()[0]
    assert count == len(MIGRATIONS)
    assert second.run_total("r1") == 0.5
    assert second.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    second.close()


def test_an_edited_migration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    Ledger(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE _migrations SET sha256 = 'x' WHERE name = 'm001_calls'")
    with pytest.raises(ConfigError, match="m001_calls' changed after it was applied"):
        Ledger(path)


def test_a_ledger_from_a_newer_genops_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    Ledger(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO _migrations VALUES ('m999_future', 'x', 'now')")
    with pytest.raises(ConfigError, match="m999_future"):
        Ledger(path)


def _row(run: str, model: str, cost: float, status: Status = "ok", ts: str = "") -> CallRecord:
    return CallRecord(run_id=run, provider="anthropic", model=model, status=status,
                      rung="senior", archive_key="a" * 64, usage=Usage(1000, 200, 50, 10),
                      cost_usd=cost, latency_s=1.5, label="group", ts=ts)


def test_rows_round_trip_and_spend_groups_by_run_model_and_month(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    ledger.record(_row("r1", "claude-sonnet-4-5-20250929", 0.25, ts="2025-09-30T23:59:00+00:00"))
    ledger.record(_row("r1", "claude-sonnet-4-5-20250929", 0.5, ts="2025-10-01T00:01:00+00:00"))
    ledger.record(_row("r2", "gpt-5-2025-08-07", 0.125, ts="2025-10-02T10:00:00+00:00"))
    ledger.record(_row("r2", "gpt-5-2025-08-07", 0.0, status="archive_hit",
                       ts="2025-10-02T10:00:01+00:00"))
    ledger.record(_row("r2", "gpt-5-2025-08-07", 0.0, status="error",
                       ts="2025-10-02T10:00:02+00:00"))
    calls = ledger.calls("r1")
    assert [c.cost_usd for c in calls] == [0.25, 0.5]
    assert calls[0].usage == Usage(1000, 200, 50, 10) and calls[0].label == "group"

    by_month = {row.group: row for row in ledger.spend("month")}
    assert by_month["2025-09"].cost_usd == 0.25 and by_month["2025-10"].cost_usd == 0.625
    by_model = {row.group: row for row in ledger.spend("model")}
    gpt = by_model["gpt-5-2025-08-07"]
    assert (gpt.calls, gpt.archive_hits, gpt.errors) == (2, 1, 1)
    # tokens count what was paid for: the error row's too (a cut stream's output is booked on
    # it), the archive hit's not
    assert gpt.input_tokens == 2000 and gpt.output_tokens == 400
    assert [row.group for row in ledger.spend("run")] == ["r2", "r1"]
    assert ledger.month_total("2025-10") == 0.625 and ledger.month_total("2025-08") == 0.0
    ledger.close()


def test_money_sums_exactly(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    for _ in range(10):
        ledger.record(_row("r1", "m", 0.1))
    assert ledger.run_total("r1") == 1.0  # ten float 0.1s do not sum to 1.0; nano-dollars do
    ledger.close()


def test_cost_report_of_a_missing_ledger_is_zero_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".genops" / "ledger.db"
    report = cost_report(path, BudgetConfig(per_run_usd=2, per_month_usd=30))
    assert report.month_total_usd == 0.0 and report.by_run == [] and report.per_month_usd == 30
    assert report.month == month_of(utc_now())
    assert not (tmp_path / ".genops").exists()
