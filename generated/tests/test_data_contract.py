"""Data contracts of the cell's stores (REQ-STATE-3).

genops's migrations gate runs these (``-m data_contract``) on a copy of a database seeded by the
previous release and migrated up by this one: ``$GENOPS_MIGRATED_DB``, store ``$GENOPS_STORE``.
In the ordinary suite they run on a database seeded here and migrated to the latest version.
Every conversation, participant, message, tag, secret version and audit entry must still be
readable through the MAD's own API.
"""
from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Callable

import pytest

from mad.core import migrations
from mad.core.bus import InMemoryBus, Message
from mad.core.observability import Observability
from mad.migrate import SEED_MASTER_KEY, SEED_SECRETS, SEEDS, STORES
from mad.rogers import Rogers
from mad.turing import Turing

pytestmark = pytest.mark.data_contract


@pytest.fixture
def store_db(tmp_path: Path) -> Callable[[str], Path]:
    """The database to check for a store: the gate's migrated copy, or one seeded here."""
    def get(store: str) -> Path:
        given = os.environ.get("GENOPS_MIGRATED_DB")
        if given:
            if os.environ.get("GENOPS_STORE") != store:
                pytest.skip(f"the migrations gate is checking store {os.environ.get('GENOPS_STORE')!r}")
            return Path(given)
        db = tmp_path / f"{store}.db"
        SEEDS[store](db)
        return db
    return get


def rows(db: Path, query: str) -> list[tuple]:
    with closing(sqlite3.connect(str(db))) as conn:
        return conn.execute(query).fetchall()


@pytest.mark.req("REQ-STATE-3", "REQ-STATE-1", "REQ-ROGERS-1", "REQ-ROGERS-3", "REQ-ROGERS-6")
def test_rogers_data_survives_and_reads_through_its_api(store_db: Callable[[str], Path]) -> None:
    db = store_db("rogers")
    with closing(sqlite3.connect(str(db))) as conn:
        assert migrations.current_version(conn, STORES["rogers"]) == migrations.latest("rogers")
    stored = rows(db, "SELECT conversation_id, text FROM messages ORDER BY seq")
    members = rows(db, "SELECT conversation_id, MIN(mad) FROM participants GROUP BY conversation_id")
    assert stored and members, "a seeded store holds conversations and messages"
    rogers = Rogers(InMemoryBus(), Observability(), db)
    try:
        for cid, mad in members:
            request = Message(topic="mad.rogers", sender=mad, body={}, kind="request")
            history = rogers.do_history(request, conversation_id=cid, limit=1000)
            assert [m["text"] for m in history["messages"]] == [t for c, t in stored if c == cid]
            assert all(isinstance(m["body"], dict) for m in history["messages"])
            assert history["conversation"]["tags"] == sorted(history["conversation"]["tags"])
            tagged = rogers.do_tag(request, conversation_id=cid, tags=["contract-check"])
            assert "contract-check" in tagged["tags"]
            listed = rogers.do_conversations(request, tag="contract-check")
            assert cid in [c["id"] for c in listed]
    finally:
        rogers.stop()


@pytest.mark.req("REQ-STATE-3", "REQ-STATE-1", "REQ-TURING-1", "REQ-TURING-3", "REQ-TURING-4")
def test_turing_secrets_survive_and_decrypt(store_db: Callable[[str], Path]) -> None:
    db = store_db("turing")
    with closing(sqlite3.connect(str(db))) as conn:
        assert migrations.current_version(conn, STORES["turing"]) == migrations.latest("turing")
    latest = dict(rows(db, "SELECT name, MAX(version) FROM secrets GROUP BY name"))
    audited = rows(db, "SELECT COUNT(*) FROM audit")[0][0]
    assert latest and audited, "a seeded store holds secrets and an audit trail"
    raw = b"".join(r[0] for r in rows(db, "SELECT ciphertext FROM secrets"))
    assert not any(value.encode() in raw for _, value in SEED_SECRETS)
    turing = Turing(InMemoryBus(), Observability(), db, SEED_MASTER_KEY, readers={"auditor": ["*"]},
                    auditors=["auditor"])
    try:
        expected = {}
        for name, value in SEED_SECRETS:
            expected[name] = value  # the last value put is the one served
        for name, version in latest.items():
            served_version, value = turing.get("auditor", name)
            assert served_version == version
            if name in expected:
                assert value == expected[name]
        assert len(turing.audit_log(limit=1000)) == audited + len(latest)
    finally:
        turing.stop()
