"""Generated trees with a SQLite store (`notes`) that implement genops's migration contract.

`notes_tree(migrations)` is a whole tree: the store's code, its migration tool (`python -m
notes.migrate up|down|version|schema|seed`), the numbered migrations given, a unit test and the
data-contract tests (`-m data_contract`, reading `$GENOPS_MIGRATED_DB`). Variants of the second
release are built by changing the migrations, the tool or the contract tests.
"""

from __future__ import annotations

PYPROJECT = """\
[project]
name = "notes"
version = "0.1.0"
dependencies = []

[project.optional-dependencies]
test = ["pytest"]

[tool.pytest.ini_options]
testpaths = ["tests"]
markers = ["data_contract: runs against a migrated database ($GENOPS_MIGRATED_DB)"]
"""

STORE = '''\
"""REQ-NOTES-1: notes persist in SQLite, migrated to the latest version on open."""
import sqlite3

from notes import migrate


class Notes:
    def __init__(self, path):
        self.db = sqlite3.connect(str(path))
        migrate.up(self.db)

    def add(self, title, body):
        self.db.execute("INSERT INTO notes (title, body) VALUES (?, ?)", (title, body))
        self.db.commit()

    def titles(self):
        return [r[0] for r in self.db.execute("SELECT title FROM notes ORDER BY id")]
'''

MIGRATE = '''\
"""The notes store's migration tool: up, down TARGET, version, schema, seed."""
import sqlite3
import sys
from pathlib import Path

FOLDER = Path(__file__).parent / "migrations"


def migrations():
    found = {}
    for path in sorted(FOLDER.glob("*.sql")):
        number, kind = int(path.name.split("_", 1)[0]), path.name.rsplit(".", 2)[1]
        found.setdefault(number, {})[kind] = path.read_text()
    return found


def version(db):
    current = db.execute("PRAGMA user_version").fetchone()[0]
    legacy = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'notes'").fetchone()
    return current or (1 if legacy else 0)  # a database made before migrations is version 1


def up(db):
    for number, step in sorted(migrations().items()):
        if number > version(db):
            db.executescript(f"BEGIN; {step['up']}; PRAGMA user_version = {number}; COMMIT;")


def down(db, target):
    for number, step in sorted(migrations().items(), reverse=True):
        if target < number <= version(db):
            db.executescript(f"BEGIN; {step['down']}; PRAGMA user_version = {number - 1}; COMMIT;")


def schema(db):
    lines = []
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        cols = [f"{r[1]} {r[2]} {r[3]} {r[4]} {r[5]}" for r in db.execute(f"PRAGMA table_info({table})")]
        lines.append(f"{table}: " + ", ".join(cols))
    return "\\n".join(lines)


def seed(path):
    from notes.store import Notes

    notes = Notes(path)
    for title, body in (("first", "alpha"), ("second", "beta"), ("third", "gamma")):
        notes.add(title, body)


def main(argv):
    verb, path = argv[0], argv[1]
    if verb == "seed":
        return seed(path)
    db = sqlite3.connect(path)
    if verb == "up":
        up(db)
    elif verb == "down":
        down(db, int(argv[2]))
    elif verb == "version":
        print(version(db))
    elif verb == "schema":
        print(schema(db))


if __name__ == "__main__":
    main(sys.argv[1:])
'''

UNIT_TESTS = '''\
"""REQ-NOTES-1."""
from notes.store import Notes


def test_notes_persist(tmp_path):
    Notes(tmp_path / "n.db").add("a", "b")
    assert Notes(tmp_path / "n.db").titles() == ["a"]
'''

CONTRACT = '''\
"""REQ-NOTES-1: the data contract of the notes store, run on a migrated database."""
import os
import sqlite3

import pytest

pytestmark = pytest.mark.data_contract


@pytest.fixture
def db():
    path = os.environ.get("GENOPS_MIGRATED_DB")
    if not path:
        pytest.skip("runs in the migrations gate only")
    return sqlite3.connect(path)


def test_every_note_keeps_a_title_and_body(db):
    rows = db.execute("SELECT title, body FROM notes").fetchall()
    assert rows and all(title and body for title, body in rows)
{extra}'''

INIT_UP = "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL)"
INIT = {"0001_notes.up.sql": INIT_UP, "0001_notes.down.sql": "DROP TABLE notes"}
TAGS = {"0002_tags.up.sql": "ALTER TABLE notes ADD COLUMN tags TEXT NOT NULL DEFAULT ''",
        "0002_tags.down.sql": "ALTER TABLE notes DROP COLUMN tags"}
TAGS_CONTRACT = '''
def test_tags_are_text(db):
    assert all(isinstance(t, str) for (t,) in db.execute("SELECT tags FROM notes"))
'''

COMMANDS = {"up": "python -m notes.migrate up {db}",
            "down": "python -m notes.migrate down {db} {target}",
            "version": "python -m notes.migrate version {db}",
            "schema": "python -m notes.migrate schema {db}",
            "seed": "python -m notes.migrate seed {db}"}
GATE_CONFIG = {"stores": [{"name": "notes", "path": "notes.db",
                           "migrations": "notes/migrations"}], **COMMANDS}
TOML = """
[gates.migrations]
stores = [{ name = "notes", path = "notes.db", migrations = "notes/migrations" }]
up = "python -m notes.migrate up {db}"
down = "python -m notes.migrate down {db} {target}"
version = "python -m notes.migrate version {db}"
schema = "python -m notes.migrate schema {db}"
seed = "python -m notes.migrate seed {db}"
timeout_s = 60
"""


def notes_tree(migrations: dict[str, str] | None = None, *, contract_extra: str = "",
               migrate: str = MIGRATE) -> dict[str, str]:
    """A complete generated tree with the `notes` store and the migrations given."""
    files = {"pyproject.toml": PYPROJECT, "notes/__init__.py": '"""Notes."""\n',
             "notes/store.py": STORE, "notes/migrate.py": migrate,
             "tests/test_notes.py": UNIT_TESTS,
             "tests/test_contract.py": CONTRACT.replace("{extra}", contract_extra)}
    for name, sql in (INIT if migrations is None else migrations).items():
        files[f"notes/migrations/{name}"] = sql + "\n"
    return files
