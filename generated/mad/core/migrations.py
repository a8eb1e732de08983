"""Versioned, reversible schema migrations for the cell's SQLite stores.

Implements REQ-STATE-1 and REQ-STATE-2. A store's migrations live in ``mad/migrations/<store>/`` as
``NNNN_name.up.sql`` with ``NNNN_name.down.sql``: ``NNNN`` is the version the up leads to, and the
down leads back to ``NNNN - 1``. The version is kept in ``PRAGMA user_version``, and each step runs
in one transaction together with its version bump, so an interrupted migration leaves the database
at the version before it. A database created before migrations existed (version 0, but the store's
``adopt`` table is there) already has migration 0001's schema and is read as version 1.
Released migrations are never edited: a schema change is a new, higher-numbered migration.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parent.parent / "migrations"
FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$")


class MigrationError(Exception):
    """A store's migrations are malformed, or a requested version does not exist."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: str
    down: str


def load(store: str, folder: Path | None = None) -> list[Migration]:
    """The store's migrations in version order; every up has its down, versions have no gaps."""
    root = (folder or FOLDER) / store
    if not root.is_dir():
        raise MigrationError(f"no migrations for store {store!r} (expected {root})")
    found: dict[int, dict[str, str]] = {}
    names: dict[int, str] = {}
    for path in sorted(root.iterdir()):
        match = FILE_RE.match(path.name)
        if not match:
            continue
        version = int(match.group(1))
        if names.setdefault(version, match.group(2)) != match.group(2):
            raise MigrationError(f"{store}: two migrations numbered {version:04d}")
        found.setdefault(version, {})[match.group(3)] = path.read_text(encoding="utf-8")
    migrations = []
    for index, version in enumerate(sorted(found), start=1):
        if version != index:
            raise MigrationError(f"{store}: migration {index:04d} is missing (found {version:04d})")
        steps = found[version]
        for kind in ("up", "down"):
            if kind not in steps:
                raise MigrationError(f"{store}: migration {version:04d}_{names[version]} has no "
                                     f"{kind} ({version:04d}_{names[version]}.{kind}.sql)")
        migrations.append(Migration(version, names[version], steps["up"], steps["down"]))
    return migrations


def latest(store: str, folder: Path | None = None) -> int:
    return len(load(store, folder))


def current_version(db: sqlite3.Connection, adopt: str | None = None) -> int:
    """The database's version; a pre-migration database holding ``adopt`` is version 1."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version == 0 and adopt and db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (adopt,)).fetchone():
        return 1
    return version


def _apply(db: sqlite3.Connection, sql: str, version: int) -> None:
    """One migration step and its version bump, in one transaction."""
    db.commit()
    try:
        db.executescript(f"BEGIN IMMEDIATE;\n{sql}\n;\nPRAGMA user_version = {version};\nCOMMIT;")
    except sqlite3.Error:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def upgrade(db: sqlite3.Connection, store: str, adopt: str | None = None,
            target: int | None = None, folder: Path | None = None) -> int:
    """Migrate up to ``target`` (default: the latest version); returns the version reached."""
    migrations = load(store, folder)
    goal = len(migrations) if target is None else target
    current = current_version(db, adopt)
    if not 0 <= goal <= len(migrations):
        raise MigrationError(f"{store}: no version {goal} (latest is {len(migrations)})")
    if current > len(migrations):
        raise MigrationError(f"{store}: the database is at version {current}, newer than this "
                             f"code's latest ({len(migrations)}); upgrade the code, not the data")
    for migration in migrations[current:goal]:
        _apply(db, migration.up, migration.version)
    reached = max(current, goal)
    if reached and int(db.execute("PRAGMA user_version").fetchone()[0]) != reached:
        db.execute(f"PRAGMA user_version = {int(reached)}")  # an adopted database records it
        db.commit()
    return reached


def downgrade(db: sqlite3.Connection, store: str, target: int, adopt: str | None = None,
              folder: Path | None = None) -> int:
    """Migrate down to ``target``, undoing every migration above it; returns ``target``."""
    migrations = load(store, folder)
    current = current_version(db, adopt)
    if not 0 <= target <= current:
        raise MigrationError(f"{store}: cannot go down from version {current} to {target}")
    if current > len(migrations):
        raise MigrationError(f"{store}: version {current} is unknown to this code")
    for migration in reversed(migrations[target:current]):
        _apply(db, migration.down, migration.version - 1)
    return target


def schema(db: sqlite3.Connection) -> str:
    """The schema as normalized text: tables with their columns, then explicit indexes."""
    lines = []
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                       "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    for table in tables:
        lines.append(f"table {table}")
        for _, name, kind, notnull, default, pk in db.execute(f'PRAGMA table_info("{table}")'):
            lines.append(f"  {name} {kind.upper()}{' NOT NULL' if notnull else ''}"
                         f"{f' DEFAULT {default}' if default is not None else ''}"
                         f"{f' PRIMARY KEY {pk}' if pk else ''}")
        for _, index, unique, origin, _partial in db.execute(f'PRAGMA index_list("{table}")'):
            if origin == "c":  # created by CREATE INDEX (not implied by a key)
                cols = [r[2] for r in db.execute(f'PRAGMA index_info("{index}")')]
                lines.append(f"  index {index} ({', '.join(cols)}){' UNIQUE' if unique else ''}")
    return "\n".join(lines)
