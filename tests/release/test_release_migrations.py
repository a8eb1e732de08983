"""The migrations gate on small generated trees with a real SQLite store, run in the real sandbox.

Each case seeds the `notes` store with the previous tree's own code, migrates a copy up with the
new tree, runs its data-contract tests, migrates it back down and restores the backup; a broken
second release must fail naming the store, the table, the version and the first differing row.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from genops.gates.base import GateContext, GateResult
from genops.gates.dbsnapshot import snapshot
from genops.gates.migrations import MigrationsGate, missing_downs
from genops.gates.tests import TestsGate
from genops.workspace.config import MigrationGateConfig
from migration_fixtures import (GATE_CONFIG, INIT, INIT_UP, MIGRATE, TAGS, TAGS_CONTRACT, TOML,
                                notes_tree)
from release_helpers import commit_all, manifest, output_hash, workspace, make_workspace

from genops.errors import GateFailed
from genops.release.pipeline import regenerate
from genops.synthesis.context import base_context, render_template
from genops.protocol.files import format_protocol


def script_tree(root: Path, files: dict[str, str], requirement: str) -> None:
    """The fake model answers the single-request synthesis with `files`; the spec changes."""
    (root / ".genops" / "fake-responses.json").write_text(json.dumps(
        {"Write the complete source tree": format_protocol(files)}), encoding="utf-8")
    (root / "specs" / "requirements.md").write_text(
        "# Requirements\n\n## Notes (NOTES)\n- **REQ-NOTES-1** Notes persist in SQLite; "
        f"{requirement}\n", encoding="utf-8")
    commit_all(root, requirement)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def run_gate(tmp_path: Path, new: dict[str, str], previous: dict[str, str] | None = None, *,
             first: bool = False, **overrides: object) -> GateResult:
    cfg = MigrationGateConfig.model_validate({**GATE_CONFIG, "timeout_s": 60, **overrides})
    tests = TestsGate("python -m pytest -q", 60, use_venv=False, required=True)
    ctx = GateContext(workspace=SimpleNamespace(root=tmp_path),
                      staged=write_tree(tmp_path / "staged", new),
                      previous=None if first else write_tree(tmp_path / "previous",
                                                             previous or notes_tree()),
                      evidence_dir=tmp_path / "evidence")
    return MigrationsGate(cfg, tests).check(ctx)


def test_a_correct_migration_passes_with_its_evidence(tmp_path: Path) -> None:
    result = run_gate(tmp_path, notes_tree({**INIT, **TAGS}, contract_extra=TAGS_CONTRACT))
    assert result.verdict == "pass", result.summary
    assert result.summary == ("notes 1 -> 2 -> 1: 3 rows in 1 tables intact, contract 2 passed")
    store = result.facts["stores"]["notes"]
    assert store["from"] == "1" and store["to"] == "2" and result.facts["sandbox"] == "bwrap"
    assert "tags TEXT 1 '' 0" in store["schema"]
    evidence = tmp_path / "evidence" / "migrations" / "notes"
    snap = json.loads((evidence / "snapshot.json").read_text())
    assert snap["version"] == "1" and snap["tables"]["notes"]["rows"] == 3
    assert json.loads((evidence / "migrated.json").read_text())["version"] == "2"
    assert "contract-junit.xml" in "".join(result.evidence)


BROKEN = {
    "schema change without a migration": (
        notes_tree({"0001_notes.up.sql": INIT_UP.replace(")", ", tags TEXT)"),
                    "0001_notes.down.sql": "DROP TABLE notes"}),
        ["store notes:", "'table notes (id INTEGER PK1, title TEXT NOT NULL, body TEXT NOT NULL, "
         "tags TEXT)' is only in the new schema", "version stayed 1",
         "a schema change needs a new migration"]),
    "a migration without a down": (
        notes_tree({**INIT, "0002_tags.up.sql": TAGS["0002_tags.up.sql"]}),
        ["store notes: migration 0002 (notes/migrations/0002_tags.up.sql) has no down "
         "(0002_tags.down.sql is missing)"]),
    "a down that drops a column's data": (
        notes_tree({**INIT, "0002_tags.up.sql": TAGS["0002_tags.up.sql"],
                    "0002_tags.down.sql": INIT_UP.replace("notes", "old") + "; INSERT INTO old "
                    "SELECT id, title, 'lost' FROM notes; DROP TABLE notes; "
                    "ALTER TABLE old RENAME TO notes"}),
        ["store notes: up to 2 and down to 1 lost data: table notes: row 1",
         'expected {"body": "alpha", "id": 1, "title": "first"}',
         'found {"body": "lost", "id": 1, "title": "first"}']),
    "an up that corrupts a row": (
        notes_tree({**INIT, "0002_tags.up.sql": TAGS["0002_tags.up.sql"]
                    + "; UPDATE notes SET title = upper(title) WHERE id = 2",
                    "0002_tags.down.sql": TAGS["0002_tags.down.sql"]}),
        ["up to 2 and down to 1 lost data: table notes: row 2",
         'expected {"body": "beta", "id": 2, "title": "second"}',
         'found {"body": "beta", "id": 2, "title": "SECOND"}']),
    "a migrated database failing its contract tests": (
        notes_tree({**INIT, "0002_tags.up.sql": "ALTER TABLE notes ADD COLUMN tags TEXT",
                    "0002_tags.down.sql": TAGS["0002_tags.down.sql"]},
                   contract_extra=TAGS_CONTRACT),
        ["store notes: the data-contract tests fail on the database migrated to version 2",
         "test_tags_are_text"]),
    "a released migration changed in place": (
        notes_tree({**INIT, **TAGS, "0002_tags.down.sql": "SELECT 1"}),
        ["store notes: released migration notes/migrations/0002_tags.down.sql was changed; "
         "write a new migration instead"]),
    "a down that does not go back": (
        notes_tree({**INIT, **TAGS, "0002_tags.down.sql": "SELECT 1"}),
        ["store notes: up to 2 and down to 1 lost data: table notes: schema differs",
         "expected 'table notes (id INTEGER PK1, title TEXT NOT NULL, body TEXT NOT NULL)', "
         "found \"table notes (id INTEGER PK1, title TEXT NOT NULL, body TEXT NOT NULL, "
         "tags TEXT NOT NULL DEFAULT '')\""]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_migration_fails_naming_table_version_and_row(tmp_path: Path, case: str) -> None:
    files, expected = BROKEN[case]
    previous = notes_tree({**INIT, **TAGS}) if "released" in case else None
    # an undeclared migrations folder: only the rehearsal can see an edited migration
    stores = [{"name": "notes", "path": "notes.db"}] if "without a migration" in case else None
    result = run_gate(tmp_path, files, previous, **({"stores": stores} if stores else {}))
    assert result.verdict == "fail"
    for text in expected:
        assert text in result.summary, result.summary
    assert result.findings and result.findings[0].message == result.summary
    failed = result.facts.get("stores", {}).get("notes", {})
    if "lost data" in result.summary:
        assert (failed["table"], failed["version"]) == ("notes", "2")


def test_a_killed_migration_leaves_the_snapshot_intact(tmp_path: Path) -> None:
    hanging = MIGRATE.replace("def up(db):\n", "def up(db):\n    import time\n"
                              "    if version(db) == 1:\n"
                              "        db.execute('BEGIN'); db.execute(\"UPDATE notes SET body = ''\")\n"
                              "        time.sleep(120)\n", 1)
    result = run_gate(tmp_path, notes_tree({**INIT, **TAGS}, migrate=hanging), timeout_s=3)
    assert result.verdict == "fail"
    assert result.summary == "store notes: `up` from version 1 failed: killed at the timeout"
    seeded = tmp_path / "reference.db"
    subprocess.run([sys.executable, "-m", "notes.migrate", "seed", str(seeded)],
                   cwd=tmp_path / "previous", check=True)
    snap = json.loads((tmp_path / "evidence/migrations/notes/snapshot.json").read_text())
    assert snap["tables"] == snapshot(seeded).to_dict()["tables"]
    assert snap["tables"]["notes"]["rows"] == 3


@pytest.mark.parametrize(("first", "stores", "reason"), [
    (True, GATE_CONFIG["stores"], "first release: there is no previous release's data to migrate"),
    (False, [], "no stores declared in [gates.migrations]"),
])
def test_skips_with_a_reason(tmp_path: Path, first: bool, stores: object, reason: str) -> None:
    result = run_gate(tmp_path, notes_tree(), first=first, stores=stores)
    assert (result.verdict, result.summary) == ("skip", reason)


def test_a_previous_release_without_the_contract_is_seeded_by_its_own_code(tmp_path: Path) -> None:
    legacy = notes_tree()
    del legacy["notes/migrate.py"]
    for name in INIT:
        del legacy[f"notes/migrations/{name}"]
    legacy["notes/store.py"] = (legacy["notes/store.py"].replace("from notes import migrate\n", "")
                                .replace("migrate.up(self.db)",
                                         f'self.db.execute("CREATE TABLE IF NOT EXISTS {INIT_UP[13:]}")'))
    result = run_gate(tmp_path, notes_tree({**INIT, **TAGS}), previous=legacy,
                      bootstrap=["notes/migrate.py", "notes/migrations/0001_notes.up.sql"])
    assert result.verdict == "pass", result.summary
    assert result.facts["bootstrap"] == ["notes/migrate.py", "notes/migrations/0001_notes.up.sql"]
    assert result.facts["stores"]["notes"]["from"] == "1"
    without = run_gate(tmp_path / "again", notes_tree({**INIT, **TAGS}), previous=legacy)
    assert without.verdict == "fail" and "needs [gates.migrations] bootstrap" in without.summary


def test_missing_downs_reads_sql_pairs_and_python_migrations(tmp_path: Path) -> None:
    write_tree(tmp_path, {"m/0001_a.up.sql": "", "m/0001_a.down.sql": "", "m/0002_b.up.sql": "",
                          "m/0003_c.py": "def up(db): pass\n", "m/0004_d.py":
                          "def up(db): pass\ndef down(db): pass\n", "m/README.md": ""})
    assert missing_downs(tmp_path, "m") == [
        "migration 0002 (m/0002_b.up.sql) has no down (0002_b.down.sql is missing)",
        "migration 0003 (m/0003_c.py) does not define both up() and down()"]


def test_snapshot_ignores_how_a_table_was_built(tmp_path: Path) -> None:
    """A table rebuilt by a migration (new rowids, new CREATE text) equals the original."""
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    with sqlite3.connect(a) as db:
        db.executescript("CREATE TABLE t (x TEXT, y INTEGER); INSERT INTO t VALUES ('p', 1), ('q', 2);")
    with sqlite3.connect(b) as db:
        db.executescript("create table t(x text,\n y integer); INSERT INTO t VALUES ('q', 2);"
                         "INSERT INTO t VALUES ('p', 1);")
    assert snapshot(a) == snapshot(b)


@pytest.mark.parametrize(("config", "error"), [
    ({"stores": [{"name": "n", "path": "n.db"}]}, "'up' is required when stores are declared"),
    ({**GATE_CONFIG, "down": "x {db}"}, "'down' must name the version to go back to with {target}"),
    ({**GATE_CONFIG, "up": "x {db} {target}"}, "'up' uses unknown placeholder {target}"),
    ({**GATE_CONFIG, "seed": "x"}, "'seed' must name the database with {db}"),
    ({**GATE_CONFIG, "stores": [{"name": "n", "path": "../n.db"}]}, "must be a relative POSIX path"),
    ({**GATE_CONFIG, "bootstrap": ["/etc"]}, "bootstrap path '/etc' must be a relative POSIX path"),
])
def test_the_contract_is_validated(config: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        MigrationGateConfig.model_validate(config)
    assert error in str(info.value)


def test_through_the_pipeline_a_release_keeps_its_data_or_is_refused(tmp_path: Path) -> None:
    """r0001 skips (first release); r0002 adds tags with a migration and records its evidence;
    a third release whose down loses data is refused and `generated/` stays r0002's."""
    root = make_workspace(tmp_path, strategy="single")
    with open(root / "genops.toml", "a", encoding="utf-8") as toml:
        toml.write(TOML)
    script_tree(root, notes_tree(), "notes have a title and a body.")
    first = regenerate(workspace(root), reason="notes")
    gates = {g["gate"]: g for g in manifest(root, "r0001")["gates"]}
    assert first.status == "promoted" and gates["migrations"]["verdict"] == "skip"

    script_tree(root, notes_tree({**INIT, **TAGS}, contract_extra=TAGS_CONTRACT), "and tags.")
    regenerate(workspace(root), reason="tags")
    entry = {g["gate"]: g for g in manifest(root, "r0002")["gates"]}["migrations"]
    assert entry["verdict"] == "pass"
    assert entry["facts"]["stores"]["notes"]["from"] == "1"
    assert entry["facts"]["stores"]["notes"]["to"] == "2"
    assert ".genops/releases/r0002/evidence/migrations/notes/snapshot.json" in entry["evidence"]
    assert (root / ".genops/releases/r0002/evidence/migrations/notes/snapshot.json").is_file()

    prompt = render_template(workspace(root), "context",
                             base_context(workspace(root), root / "generated", release="r0002"))
    for text in ("## State and migrations", "- down: `python -m notes.migrate down {db} {target}`",
                 "Released migrations: 0001_notes.down.sql, 0001_notes.up.sql, "
                 "0002_tags.down.sql, 0002_tags.up.sql", "Current version: 2",
                 "notes: id INTEGER 0 None 1, title TEXT 1 None 0, body TEXT 1 None 0, "
                 "tags TEXT 1 '' 0"):
        assert text in prompt

    kept = output_hash(root)
    lossy = {**INIT, **TAGS, "0003_pin.up.sql": "ALTER TABLE notes ADD COLUMN pinned INTEGER",
             "0003_pin.down.sql": "ALTER TABLE notes DROP COLUMN pinned; "
             "UPDATE notes SET body = '' WHERE id = 3"}
    script_tree(root, notes_tree(lossy, contract_extra=TAGS_CONTRACT), "and tags, again.")
    with pytest.raises(GateFailed) as failed:
        regenerate(workspace(root), reason="lossy down")
    assert "migrations" in str(failed.value) and "up to 3 and down to 2 lost data: table notes: " \
        "row 3" in str(failed.value)
    assert output_hash(root) == kept
