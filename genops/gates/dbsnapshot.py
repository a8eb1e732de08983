"""Snapshots of SQLite databases, for the migrations gate: what a store holds, and where two differ.

A snapshot is the structural schema (each table's columns from `PRAGMA table_xinfo`, each index's
columns, each view and trigger's normalized SQL: text that does not depend on how a table was
created or altered) and, per table, the row count and a sha256 over its rows sorted by every
column (so a table rebuilt by a migration, whose rowids moved, compares equal when its rows did
not change). Copies use SQLite's online backup API, so a database in WAL mode is copied whole.

Databases the gate reads were written by generated code: they are opened read-only with
`trusted_schema` off, so a view or trigger in them cannot run a function on genops's side.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROW_SHOWN = 300  # characters of a row a finding quotes


@dataclass(frozen=True)
class TableSnapshot:
    rows: int
    sha256: str


@dataclass(frozen=True)
class Snapshot:
    """The schema of a database and a checksum per table."""

    schema: tuple[str, ...]
    tables: dict[str, TableSnapshot] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": list(self.schema),
                "tables": {name: {"rows": t.rows, "sha256": t.sha256}
                           for name, t in sorted(self.tables.items())}}

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())


@dataclass(frozen=True)
class Difference:
    """The first place two databases differ: a table (or the schema) and the row or line."""

    table: str | None  # None: the schema
    message: str


def _open(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    conn.execute("PRAGMA trusted_schema = OFF")
    return conn


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]


def _schema(conn: sqlite3.Connection) -> tuple[str, ...]:
    """Structural schema lines, independent of CREATE text, ALTERs and table rebuilds."""
    lines = []
    for table in _tables(conn):
        cols = [f"{r[1]} {r[2].upper()}{' NOT NULL' if r[3] else ''}"
                f"{f' DEFAULT {r[4]}' if r[4] is not None else ''}{f' PK{r[5]}' if r[5] else ''}"
                for r in conn.execute(f"PRAGMA table_xinfo({_quote(table)})") if r[6] == 0]
        lines.append(f"table {table} ({', '.join(cols)})")
        for idx in sorted(conn.execute(f"PRAGMA index_list({_quote(table)})"), key=lambda r: r[1]):
            if str(idx[1]).startswith("sqlite_autoindex_"):
                continue  # implied by a PRIMARY KEY or UNIQUE column, already in the table line
            cols = [str(r[2]) for r in conn.execute(f"PRAGMA index_info({_quote(idx[1])})")]
            lines.append(f"index {idx[1]} on {table} ({', '.join(cols)}){' UNIQUE' if idx[2] else ''}")
    for kind, name, sql in conn.execute(
            "SELECT type, name, sql FROM sqlite_schema WHERE type IN ('view', 'trigger') "
            "ORDER BY type, name"):
        lines.append(f"{kind} {name}: {' '.join(str(sql).split())}")
    return tuple(lines)


def _value(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"blob": value.hex()}
    if isinstance(value, float):
        return {"real": repr(value)}
    return value


def _rows(conn: sqlite3.Connection, table: str) -> Iterator[str]:
    """The rows of `table` as canonical JSON lines, sorted by every column."""
    columns = [r[1] for r in conn.execute(f"PRAGMA table_xinfo({_quote(table)})") if r[6] == 0]
    cols = ", ".join(_quote(c) for c in columns)
    order = ", ".join(str(i + 1) for i in range(len(columns)))
    for row in conn.execute(f"SELECT {cols} FROM {_quote(table)} ORDER BY {order}"):
        yield json.dumps(dict(zip(columns, (_value(v) for v in row), strict=True)),
                         sort_keys=True, ensure_ascii=False)


def snapshot(db: Path) -> Snapshot:
    """The schema and per-table row checksums of the SQLite database at `db`."""
    with closing(_open(db)) as conn:
        tables = {}
        for table in _tables(conn):
            digest, count = hashlib.sha256(), 0
            for line in _rows(conn, table):
                digest.update(line.encode("utf-8") + b"\n")
                count += 1
            tables[table] = TableSnapshot(count, digest.hexdigest())
        return Snapshot(_schema(conn), tables)


def copy_db(source: Path, target: Path) -> None:
    """Copy a database with SQLite's backup API (consistent, WAL included) to a new file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    with closing(_open(source)) as src, closing(sqlite3.connect(str(target))) as dst:
        src.backup(dst)


def _shown(line: str | None) -> str:
    if line is None:
        return "nothing"
    return line if len(line) <= ROW_SHOWN else line[:ROW_SHOWN] + "..."


def first_difference(expected: Path, actual: Path) -> Difference | None:
    """Where `actual` first differs from `expected`: a schema line, a table, or a row."""
    with closing(_open(expected)) as old, closing(_open(actual)) as new:
        old_schema, new_schema = _schema(old), _schema(new)
        if old_schema != new_schema:
            gone = [line for line in old_schema if line not in new_schema]
            added = [line for line in new_schema if line not in old_schema]
            named = re.match(r"(?:table|index \S+ on) (\S+)", (gone or added)[0])
            what = f"expected {gone[0]!r}" if gone else "nothing"
            return Difference(named.group(1) if named else None,
                              f"schema differs: {what}, found {added[0]!r}" if added
                              else f"schema differs: {what} is missing")
        for table in _tables(old):
            for index, (want, got) in enumerate(
                    itertools.zip_longest(_rows(old, table), _rows(new, table)), start=1):
                if want != got:
                    return Difference(table, f"row {index} (sorted by every column) differs: "
                                             f"expected {_shown(want)}, found {_shown(got)}")
    return None


def compare(expected: Snapshot, actual: Snapshot) -> list[str]:
    """Tables whose checksum or schema changed (names only; `first_difference` says where)."""
    changed = sorted(name for name in set(expected.tables) | set(actual.tables)
                     if expected.tables.get(name) != actual.tables.get(name))
    return (["(schema)"] if expected.schema != actual.schema else []) + changed
