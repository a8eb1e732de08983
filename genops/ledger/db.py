"""The run ledger: one SQLite row per model call, in `<workspace>/.genops/ledger.db` (local).

The schema changes only by appending to `MIGRATIONS`; `_migrations` records each applied one with
the sha256 of its SQL, so an edited old migration is caught instead of silently diverging (the
approach of simonw/llm's migrations.py). WAL mode and a busy timeout let many threads and processes
share the file; `transaction()` takes the write lock up front (BEGIN IMMEDIATE) so read-then-write
sequences such as a budget reservation are atomic across processes.

Money is stored as integer nano-dollars so sums compared against a budget are exact.

A paid call is a row from before its request is sent: `in_flight` with its reservation (the
worst-case cost, `reserved_nusd`) and the pid and host of the process sending it, then settled to
`ok` (real cost) or `error`. An `in_flight` row counts against the budgets at its reservation until
settled. One whose process is gone was cut off by a crash after the request may have reached the
provider: it stays `in_flight`, is reported as "may have been billed", and keeps counting.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from genops.calls import Usage
from genops.errors import ConfigError
from genops.ledger.pricing import nano_to_usd, usd_to_nano
from genops.workspace.config import BudgetConfig

LEDGER_NAME = "ledger.db"
BUSY_TIMEOUT_S = 60.0
Status = Literal["ok", "error", "archive_hit", "in_flight"]
Grouping = Literal["run", "model", "month", "release"]
NO_RELEASE = "(no release)"  # the release group of runs that led to none (yet)

# Append only. Never edit or reorder an entry once released: add a new one.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("m001_calls", """
CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    month TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    rung TEXT NOT NULL DEFAULT '',
    archive_key TEXT NOT NULL DEFAULT '',
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nusd INTEGER NOT NULL DEFAULT 0,
    latency_s REAL NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'archive_hit')),
    error_class TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL DEFAULT ''
);
CREATE INDEX calls_run ON calls (run_id);
CREATE INDEX calls_month ON calls (month);
"""),
    ("m002_reservations", """
CREATE TABLE reservations (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    month TEXT NOT NULL,
    amount_nusd INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL
);
CREATE INDEX reservations_run ON reservations (run_id);
CREATE INDEX reservations_month ON reservations (month);
"""),
    # A call is written before it is sent (in_flight, holding its reservation), so a kill between
    # sending and settling leaves a row saying it may have been billed. Open reservations of the
    # old table become in_flight rows; the reservations table goes.
    ("m003_in_flight_calls", """
CREATE TABLE calls_v3 (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    month TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    rung TEXT NOT NULL DEFAULT '',
    archive_key TEXT NOT NULL DEFAULT '',
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nusd INTEGER NOT NULL DEFAULT 0,
    latency_s REAL NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error', 'archive_hit', 'in_flight')),
    error_class TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL DEFAULT '',
    reserved_nusd INTEGER NOT NULL DEFAULT 0,
    pid INTEGER NOT NULL DEFAULT 0,
    host TEXT NOT NULL DEFAULT ''
);
INSERT INTO calls_v3 (id, run_id, ts, month, provider, model, rung, archive_key, input_tokens,
    output_tokens, cache_read_tokens, cache_write_tokens, cost_nusd, latency_s, status,
    error_class, label)
    SELECT id, run_id, ts, month, provider, model, rung, archive_key, input_tokens,
    output_tokens, cache_read_tokens, cache_write_tokens, cost_nusd, latency_s, status,
    error_class, label FROM calls;
INSERT INTO calls_v3 (run_id, ts, month, provider, model, status, label, reserved_nusd, pid, host)
    SELECT run_id, created, month, '', '', 'in_flight', label, amount_nusd, pid, host
    FROM reservations;
DROP TABLE reservations;
DROP TABLE calls;
ALTER TABLE calls_v3 RENAME TO calls;
CREATE INDEX calls_run ON calls (run_id);
CREATE INDEX calls_month ON calls (month);
CREATE INDEX calls_in_flight ON calls (status) WHERE status = 'in_flight';
"""),
    # 1 when the server reported no usage and genops counted the tokens itself.
    ("m004_usage_estimated", """
ALTER TABLE calls ADD COLUMN usage_estimated INTEGER NOT NULL DEFAULT 0;
"""),
    # genops' estimate of the prompt when the call was sent: set against the server's count,
    # it calibrates the margin later reservations hold (genops.ledger.budget.input_ratio).
    ("m005_estimated_input", """
ALTER TABLE calls ADD COLUMN estimated_input_tokens INTEGER NOT NULL DEFAULT 0;
"""),
)


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


def utc_now() -> datetime:
    return datetime.now(UTC)


def month_of(ts: datetime) -> str:
    """The budget month of a moment: YYYY-MM in UTC."""
    return ts.astimezone(UTC).strftime("%Y-%m")


def _sha(sql: str) -> str:
    return hashlib.sha256(sql.strip().encode("utf-8")).hexdigest()


def _statements(sql: str) -> list[str]:
    # The migrations hold plain DDL (no triggers), so ';' ends every statement.
    return [part.strip() for part in sql.split(";") if part.strip()]


@dataclass(frozen=True)
class CallRecord:
    """One model call as the ledger stores it."""

    run_id: str
    provider: str
    model: str
    status: Status
    rung: str = ""
    archive_key: str = ""
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    error_class: str = ""
    label: str = ""
    ts: str = ""  # ISO 8601 UTC; filled in when recorded
    reserved_usd: float = 0.0  # what an in_flight row holds against the budgets
    estimated_input_tokens: int = 0  # genops' estimate of the prompt when it was sent

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SpendRow:
    """Spend of one group (a run, a model, a month or a release). Tokens and cost count every
    paid call: answered ones and error rows (a stream cut off after producing text is booked on
    its row, with the tokens genops counted); archive hits count neither."""

    group: str
    calls: int
    archive_hits: int
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    first: str
    last: str
    estimated_calls: int = 0  # paid calls whose tokens genops counted (the server reported none)
    unsettled: int = 0  # calls written as in flight and never settled (live or cut off)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class UnsettledCall:
    """A call written as in flight and not settled: live, or cut off and maybe billed."""

    id: int
    run_id: str
    label: str
    provider: str
    model: str
    archive_key: str
    reserved_usd: float
    since: str
    pid: int
    host: str
    alive: bool  # its process still runs (a call on another host counts as alive)

    @property
    def may_have_been_billed(self) -> bool:
        return not self.alive

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "may_have_been_billed": self.may_have_been_billed}


_GROUP_COLUMN = {"run": "run_id", "model": "model", "month": "month"}
_GROUP_ORDER = {"run": "MAX(ts) DESC", "model": "SUM(cost_nusd) DESC, model", "month": "month DESC"}


class Ledger:
    """The SQLite ledger; safe to share between threads (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._migrate()

    @classmethod
    def for_workspace(cls, workspace_root: Path) -> Ledger:
        return cls(Path(workspace_root) / ".genops" / LEDGER_NAME)

    # -- connections and transactions -------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, in autocommit mode (transactions are explicit)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database lock from its first statement."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def _migrate(self) -> None:
        with self.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
                         "sha256 TEXT NOT NULL, applied_at TEXT NOT NULL)")
            applied = {row["name"]: row["sha256"]
                       for row in conn.execute("SELECT name, sha256 FROM _migrations")}
            known = dict(MIGRATIONS)
            for name, digest in applied.items():
                if name not in known:
                    raise ConfigError(self.path, f"ledger has migration {name!r}, unknown to "
                                      "this genops", hint="upgrade genops")
                if _sha(known[name]) != digest:
                    raise ConfigError(self.path, f"migration {name!r} changed after it was "
                                      "applied", hint="migrations are append-only: restore it "
                                      "and add a new migration instead")
            for name, sql in MIGRATIONS:
                if name in applied:
                    continue
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO _migrations (name, sha256, applied_at) VALUES (?, ?, ?)",
                             (name, _sha(sql), utc_now().isoformat()))

    def applied_migrations(self) -> list[str]:
        rows = self.connection().execute("SELECT name FROM _migrations ORDER BY name")
        return [row["name"] for row in rows]

    # -- writing ----------------------------------------------------------------------------

    def insert(self, conn: sqlite3.Connection, record: CallRecord) -> int:
        """Insert `record` inside a transaction the caller holds (budget settlement uses this)."""
        now = utc_now()
        ts = record.ts or now.isoformat()
        usage = record.usage
        cursor = conn.execute(
            "INSERT INTO calls (run_id, ts, month, provider, model, rung, archive_key, "
            "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_nusd, "
            "latency_s, status, error_class, label, usage_estimated, estimated_input_tokens) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.run_id, ts, month_of(datetime.fromisoformat(ts)), record.provider,
             record.model, record.rung, record.archive_key, usage.input_tokens,
             usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens,
             usd_to_nano(record.cost_usd), record.latency_s, record.status, record.error_class,
             record.label, int(usage.estimated), record.estimated_input_tokens))
        return int(cursor.lastrowid or 0)

    def record(self, record: CallRecord) -> int:
        """Append one call row; returns its id."""
        with self.transaction() as conn:
            return self.insert(conn, record)

    def begin_call(self, conn: sqlite3.Connection, record: CallRecord, *, reserved_nusd: int,
                   pid: int, host: str) -> int:
        """Write `record` as in flight holding `reserved_nusd`, before its request is sent."""
        row_id = self.insert(conn, dataclasses.replace(record, status="in_flight", cost_usd=0.0))
        conn.execute("UPDATE calls SET reserved_nusd = ?, pid = ?, host = ? WHERE id = ?",
                     (reserved_nusd, pid, host, row_id))
        return row_id

    def settle_call(self, conn: sqlite3.Connection, row_id: int, record: CallRecord) -> None:
        """Turn the in-flight row `row_id` into its outcome (ok or error) at the real cost."""
        usage = record.usage
        conn.execute(
            "UPDATE calls SET ts = ?, status = ?, provider = ?, model = ?, rung = ?, "
            "archive_key = ?, input_tokens = ?, output_tokens = ?, cache_read_tokens = ?, "
            "cache_write_tokens = ?, cost_nusd = ?, latency_s = ?, error_class = ?, label = ?, "
            "usage_estimated = ? WHERE id = ? AND status = 'in_flight'",
            (utc_now().isoformat(), record.status, record.provider, record.model, record.rung,
             record.archive_key, usage.input_tokens, usage.output_tokens,
             usage.cache_read_tokens, usage.cache_write_tokens, usd_to_nano(record.cost_usd),
             record.latency_s, record.error_class, record.label, int(usage.estimated), row_id))

    # -- reading ----------------------------------------------------------------------------

    def calls(self, run_id: str | None = None) -> list[CallRecord]:
        """Every call row (of one run when `run_id` is given), oldest first."""
        sql = "SELECT * FROM calls" + (" WHERE run_id = ?" if run_id is not None else "")
        rows = self.connection().execute(sql + " ORDER BY id", () if run_id is None else (run_id,))
        return [CallRecord(
            run_id=r["run_id"], provider=r["provider"], model=r["model"], status=r["status"],
            rung=r["rung"], archive_key=r["archive_key"],
            usage=Usage(r["input_tokens"], r["output_tokens"], r["cache_read_tokens"],
                        r["cache_write_tokens"], bool(r["usage_estimated"])),
            cost_usd=nano_to_usd(r["cost_nusd"]), latency_s=r["latency_s"],
            error_class=r["error_class"], label=r["label"], ts=r["ts"],
            reserved_usd=nano_to_usd(r["reserved_nusd"]) if r["status"] == "in_flight" else 0.0,
            estimated_input_tokens=r["estimated_input_tokens"])
            for r in rows]

    def prompt_ratio(self, provider: str, model: str) -> float | None:
        """The largest ratio of a server's count of a prompt to genops' estimate of it, over
        this workspace's answered calls to `model` whose usage the server reported."""
        row = self.connection().execute(
            "SELECT MAX(CAST(input_tokens + cache_read_tokens + cache_write_tokens AS REAL) "
            "/ estimated_input_tokens) FROM calls WHERE status = 'ok' AND usage_estimated = 0 "
            "AND estimated_input_tokens > 0 AND provider = ? AND model = ?",
            (provider, model)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def unsettled(self, run_id: str | None = None) -> list[UnsettledCall]:
        """Calls written as in flight and never settled, oldest first (of one run if given)."""
        here = socket.gethostname()
        sql = "SELECT * FROM calls WHERE status = 'in_flight'"
        args: tuple[str, ...] = ()
        if run_id is not None:
            sql, args = sql + " AND run_id = ?", (run_id,)
        return [UnsettledCall(
            id=r["id"], run_id=r["run_id"], label=r["label"], provider=r["provider"],
            model=r["model"], archive_key=r["archive_key"],
            reserved_usd=nano_to_usd(r["reserved_nusd"]), since=r["ts"], pid=r["pid"],
            host=r["host"], alive=r["host"] != here or pid_alive(int(r["pid"])))
            for r in self.connection().execute(sql + " ORDER BY id", args)]

    def held_nano(self, conn: sqlite3.Connection, column: Literal["run_id", "month"],
                  value: str) -> int:
        """What unsettled (in flight) calls of a run or a month hold against the budgets."""
        row = conn.execute("SELECT COALESCE(SUM(reserved_nusd), 0) FROM calls WHERE "
                           f"status = 'in_flight' AND {column} = ?", (value,)).fetchone()
        return int(row[0])

    def spend(self, by: Grouping) -> list[SpendRow]:
        """Spend grouped by run, model or month."""
        column = _GROUP_COLUMN[by]
        paid = "CASE WHEN status IN ('ok', 'error') THEN {} ELSE 0 END"
        sql = (f"SELECT {column} AS grp, SUM(status != 'archive_hit') AS calls, "
               "SUM(status = 'archive_hit') AS hits, SUM(status = 'error') AS errors, "
               + ", ".join(f"SUM({paid.format(c)}) AS {c}" for c in
                           ("input_tokens", "output_tokens", "cache_read_tokens",
                            "cache_write_tokens"))
               + ", SUM(status != 'archive_hit' AND usage_estimated) AS estimated"
               + ", SUM(cost_nusd) AS cost, MIN(ts) AS first, MAX(ts) AS last, "
               "SUM(status = 'in_flight') AS unsettled "
               f"FROM calls GROUP BY {column} ORDER BY {_GROUP_ORDER[by]}")
        return [SpendRow(group=r["grp"], calls=r["calls"], archive_hits=r["hits"],
                         errors=r["errors"], input_tokens=r["input_tokens"],
                         output_tokens=r["output_tokens"],
                         cache_read_tokens=r["cache_read_tokens"],
                         cache_write_tokens=r["cache_write_tokens"],
                         cost_usd=nano_to_usd(r["cost"]), first=r["first"], last=r["last"],
                         estimated_calls=r["estimated"] or 0, unsettled=r["unsettled"])
                for r in self.connection().execute(sql)]

    def spent_nano(self, conn: sqlite3.Connection, *, run_id: str | None = None,
                   month: str | None = None) -> int:
        """Settled spend of a run or a month in nano-dollars (exact)."""
        column, value = ("run_id", run_id) if run_id is not None else ("month", month)
        row = conn.execute(f"SELECT COALESCE(SUM(cost_nusd), 0) FROM calls WHERE {column} = ?",
                           (value,)).fetchone()
        return int(row[0])

    def month_total(self, month: str | None = None) -> float:
        """Settled spend of a month (default: this UTC month) in USD."""
        return nano_to_usd(self.spent_nano(self.connection(), month=month or month_of(utc_now())))

    def run_total(self, run_id: str) -> float:
        return nano_to_usd(self.spent_nano(self.connection(), run_id=run_id))

    def reserved_usd(self, month: str | None = None) -> float:
        """What unsettled calls (in flight, or cut off) hold against this month's budget."""
        return nano_to_usd(self.held_nano(self.connection(), "month",
                                          month or month_of(utc_now())))


@dataclass(frozen=True)
class CostReport:
    """What `genops cost` shows: spend by run, model and month against the budgets."""

    month: str
    month_total_usd: float
    in_flight_usd: float
    per_month_usd: float
    per_run_usd: float
    may_have_been_billed: list[UnsettledCall] = field(default_factory=list)
    month_held_usd: float = 0.0  # what unsettled calls of this month hold against its budget
    by_run: list[SpendRow] = field(default_factory=list)
    by_model: list[SpendRow] = field(default_factory=list)
    by_month: list[SpendRow] = field(default_factory=list)
    by_release: list[SpendRow] = field(default_factory=list)  # the runs that led to each

    @property
    def may_have_been_billed_usd(self) -> float:
        return sum(call.reserved_usd for call in self.may_have_been_billed)

    def to_dict(self, groups: tuple[Grouping, ...] = ("run", "model", "month")) -> dict[str, Any]:
        data: dict[str, Any] = {
            "month": self.month, "month_total_usd": self.month_total_usd,
            "in_flight_usd": self.in_flight_usd, "per_month_usd": self.per_month_usd,
            "per_run_usd": self.per_run_usd,
            "may_have_been_billed": [c.to_dict() for c in self.may_have_been_billed],
            "may_have_been_billed_usd": self.may_have_been_billed_usd,
            "month_held_usd": self.month_held_usd,
            "month_remaining_usd": max(0.0, self.per_month_usd - self.month_total_usd
                                       - self.month_held_usd)}
        for group in groups:
            data[f"by_{group}"] = [row.to_dict() for row in getattr(self, f"by_{group}")]
        return data


def by_release(runs: list[SpendRow], releases: dict[str, str]) -> list[SpendRow]:
    """Run rows added up per release: each run under the release it led to (`releases`: run id
    -> release, the run that made it and the runs before it on the same parent), newest
    release first; runs that led to none under NO_RELEASE, last."""
    merged: dict[str, SpendRow] = {}
    for row in runs:
        group = releases.get(row.group, NO_RELEASE)
        old = merged.get(group)
        if old is None:
            merged[group] = dataclasses.replace(row, group=group)
            continue
        merged[group] = SpendRow(
            group=group, calls=old.calls + row.calls, archive_hits=old.archive_hits + row.archive_hits,
            errors=old.errors + row.errors, input_tokens=old.input_tokens + row.input_tokens,
            output_tokens=old.output_tokens + row.output_tokens,
            cache_read_tokens=old.cache_read_tokens + row.cache_read_tokens,
            cache_write_tokens=old.cache_write_tokens + row.cache_write_tokens,
            cost_usd=nano_to_usd(usd_to_nano(old.cost_usd) + usd_to_nano(row.cost_usd)),
            first=min(old.first, row.first), last=max(old.last, row.last),
            estimated_calls=old.estimated_calls + row.estimated_calls,
            unsettled=old.unsettled + row.unsettled)
    newest_first = sorted((r for r in merged.values() if r.group != NO_RELEASE),
                          key=lambda r: r.group, reverse=True)
    return newest_first + [r for r in merged.values() if r.group == NO_RELEASE]


def cost_report(path: Path, budget: BudgetConfig,
                releases: dict[str, str] | None = None) -> CostReport:
    """The spend report of the ledger at `path`; a missing ledger is zero spend, not created.
    `releases` (run id -> release) adds the spend by release."""
    month = month_of(utc_now())
    empty = CostReport(month=month, month_total_usd=0.0, in_flight_usd=0.0,
                       per_month_usd=budget.per_month_usd, per_run_usd=budget.per_run_usd)
    if not path.is_file():
        return empty
    ledger = Ledger(path)
    try:
        unsettled = ledger.unsettled()
        live = sum(c.reserved_usd for c in unsettled if c.alive)
        return CostReport(month=month, month_total_usd=ledger.month_total(month),
                          in_flight_usd=live,
                          may_have_been_billed=[c for c in unsettled if not c.alive],
                          month_held_usd=ledger.reserved_usd(month),
                          per_month_usd=budget.per_month_usd, per_run_usd=budget.per_run_usd,
                          by_run=(runs := ledger.spend("run")), by_model=ledger.spend("model"),
                          by_month=ledger.spend("month"),
                          by_release=by_release(runs, releases or {}))
    finally:
        ledger.close()
