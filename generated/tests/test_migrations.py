"""The stores' versioned, reversible migrations and the ``python -m mad.migrate`` contract."""
from __future__ import annotations

import hashlib
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from mad import migrate
from mad.core import migrations
from mad.rogers import SCHEMA as ROGERS_V1
from mad.turing import SCHEMA as TURING_V1

V1 = {"rogers": ROGERS_V1, "turing": TURING_V1}


def tables(db: Path) -> list[str]:
    with closing(sqlite3.connect(str(db))) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                           "AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def digest(db: Path, only: list[str] | None = None) -> str:
    """Every row of the tables (all, or `only`), sorted: equal when nothing was lost."""
    h = hashlib.sha256()
    with closing(sqlite3.connect(str(db))) as conn:
        for table in only if only is not None else tables(db):
            h.update(table.encode())
            for row in sorted(map(repr, conn.execute(f'SELECT * FROM "{table}"'))):
                h.update(row.encode())
    return h.hexdigest()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert migrate.main(list(args)) == 0
    return capsys.readouterr().out.strip()


@pytest.mark.req("REQ-STATE-1", "REQ-STATE-2")
@pytest.mark.parametrize("store", sorted(migrate.STORES))
def test_up_down_up_on_seeded_data_loses_nothing(tmp_path: Path, store: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / f"{store}.db")
    run(capsys, "seed", store, db)
    latest = migrations.latest(store)
    assert run(capsys, "version", store, db) == str(latest)
    fresh = str(tmp_path / "fresh.db")
    run(capsys, "up", store, fresh)
    assert run(capsys, "schema", store, fresh) == run(capsys, "schema", store, db)
    for target in range(latest - 1, 0, -1):  # down to each earlier version and back up
        kept = {table: digest(Path(db), [table]) for table in tables(Path(db))}
        run(capsys, "down", store, db, str(target))
        assert run(capsys, "version", store, db) == str(target)
        older = tables(Path(db))
        assert {table: digest(Path(db), [table]) for table in older} == \
            {table: kept[table] for table in older}  # the down kept every older row
        back = digest(Path(db))
        run(capsys, "up", store, db)
        assert digest(Path(db), older) == back  # the older version's rows survive the round trip
    run(capsys, "down", store, fresh, "0")
    assert run(capsys, "schema", store, fresh) == ""


@pytest.mark.req("REQ-STATE-1", "REQ-ROGERS-6")
def test_a_database_made_before_migrations_is_adopted_as_version_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "rogers.db"
    with closing(sqlite3.connect(str(db))) as conn:
        conn.executescript(V1["rogers"])
        conn.execute("INSERT INTO conversations VALUES ('c-1', 'alice', 'old', 1.0, 2.0)")
        conn.commit()
    before = digest(db)
    assert run(capsys, "version", "rogers", str(db)) == "1"
    run(capsys, "up", "rogers", str(db))
    assert run(capsys, "version", "rogers", str(db)) == "2"
    assert "table conversation_tags" in run(capsys, "schema", "rogers", str(db))
    run(capsys, "down", "rogers", str(db), "1")
    assert digest(db) == before


@pytest.mark.req("REQ-STATE-1")
@pytest.mark.parametrize("store", sorted(migrate.STORES))
def test_migration_0001_is_release_r0001s_schema(tmp_path: Path, store: str) -> None:
    """Adoption is safe only because 0001 creates exactly what r0001 created."""
    with closing(sqlite3.connect(str(tmp_path / "a.db"))) as old, \
            closing(sqlite3.connect(str(tmp_path / "b.db"))) as new:
        old.executescript(V1[store])
        migrations.upgrade(new, store, target=1)
        assert migrations.schema(old) == migrations.schema(new)


@pytest.mark.req("REQ-STATE-2")
@pytest.mark.parametrize(("files", "error"), [
    ({"0001_a.up.sql": "", "0001_a.down.sql": "", "0002_b.up.sql": ""},
     "migration 0002_b has no down (0002_b.down.sql)"),
    ({"0001_a.up.sql": "", "0001_a.down.sql": "", "0003_c.up.sql": "", "0003_c.down.sql": ""},
     "migration 0002 is missing"),
])
def test_malformed_migrations_are_refused(tmp_path: Path, files: dict[str, str], error: str) -> None:
    for name, text in files.items():
        (tmp_path / "s").mkdir(exist_ok=True)
        (tmp_path / "s" / name).write_text(text)
    with pytest.raises(migrations.MigrationError, match=re.escape(error)):
        migrations.load("s", tmp_path)


@pytest.mark.req("REQ-STATE-1")
def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "0001_a.up.sql").write_text("CREATE TABLE t (x TEXT);")
    (folder / "0001_a.down.sql").write_text("DROP TABLE t;")
    (folder / "0002_b.up.sql").write_text("ALTER TABLE t ADD COLUMN y TEXT; INSERT INTO nowhere VALUES (1);")
    (folder / "0002_b.down.sql").write_text("ALTER TABLE t DROP COLUMN y;")
    with closing(sqlite3.connect(str(tmp_path / "db"))) as conn:
        with pytest.raises(sqlite3.OperationalError):
            migrations.upgrade(conn, "s", folder=tmp_path)
        assert migrations.current_version(conn) == 1
        assert [r[1] for r in conn.execute("PRAGMA table_info(t)")] == ["x"]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate.main(["down", "rogers", "x.db"]) == 2
    assert migrate.main(["up", "nobody", "x.db"]) == 2


@pytest.mark.req("REQ-STATE-1")
def test_req_state_1_an_adopted_database_records_its_version(tmp_path: Path) -> None:
    """REQ-STATE-1: a database made before migrations is adopted as version 1 and says so in
    ``user_version`` even when no migration runs (r0002 left an adopted turing.db at 0)."""
    db = tmp_path / "turing.db"
    with closing(sqlite3.connect(str(db))) as conn:
        conn.executescript(V1["turing"])
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    with closing(sqlite3.connect(str(db))) as conn:
        assert migrations.upgrade(conn, "turing", adopt="secrets") == 1
    with closing(sqlite3.connect(str(db))) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert migrations.current_version(conn) == 1


@pytest.mark.req("REQ-STATE-1", "REQ-CELL-1")
@pytest.mark.parametrize("damage,message", [
    ("CREATE TABLE conversation_tags (x); PRAGMA user_version = 1;", "already exists"),
    ("PRAGMA user_version = 99;", "newer than this code's latest")])
def test_req_state_1_python_m_mad_refuses_a_store_it_cannot_migrate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str, message: str) -> None:
    """REQ-STATE-1: when Rogers' store cannot be migrated (a migration fails, or the database is
    newer than the code), ``python -m mad`` exits 2 with one line naming the problem, no
    traceback (r0002 died with one), and the store keeps its version."""
    from mad.__main__ import main

    data = tmp_path / "data"
    data.mkdir()
    with closing(sqlite3.connect(str(data / "rogers.db"))) as conn:
        conn.executescript(V1["rogers"] + damage)
    assert main(["--port", "0", "--data-dir", str(data), "--mads", "rogers"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mad: cannot start:") and message in err and "Traceback" not in err
    with closing(sqlite3.connect(str(data / "rogers.db"))) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] in (1, 99)
