"""``python -m mad.migrate``: the migration contract of the cell's stores (REQ-STATE-2).

    python -m mad.migrate up STORE DB            migrate DB to this release's latest version
    python -m mad.migrate down STORE DB TARGET   migrate DB back to version TARGET
    python -m mad.migrate version STORE DB       print DB's version
    python -m mad.migrate schema STORE DB        print DB's schema, normalized
    python -m mad.migrate seed STORE DB          fill DB with representative data through the MAD

STORE is ``rogers`` (conversations) or ``turing`` (secrets). genops's migrations gate runs these
(genops.toml ``[gates.migrations]``); the MADs themselves migrate their store up when they open it.
Seeding goes through each MAD's own API, so data written by one release can be migrated by the next.
"""
from __future__ import annotations

import base64
import hashlib
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

from mad.core import migrations
from mad.core.bus import InMemoryBus, Message

# store -> the table that marks a database created before migrations existed (read as version 1)
STORES = {"rogers": "conversations", "turing": "secrets"}
# The master key seeded secrets are encrypted under (test data only, never a real key).
SEED_MASTER_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"mad.migrate seed key").digest())
SEED_CONVERSATIONS = (
    ("alice", "Trip to Lisbon", ["Find flights for 3 people", "TAP has a direct flight at 07:40",
                                 "Book it; budget is 100% fixed", "Booked: ref ÅBC_123"], ["travel"]),
    ("bob", "Quarterly numbers", ['Summarize {"q3": 41.5}', "Revenue grew 4% (q3)"],
     ["finance", "q3"]),
    ("alice", "", ["hello?"], []),
)
SEED_SECRETS = (("llm/openai", "sk-seed-first"), ("llm/openai", "sk-seed-rotated"),
                ("db/password", "pässwörd with spaces"), ("grace/admin_token", "t" * 40))


def _request(sender: str) -> Message:
    return Message(topic="mad.rogers", sender=sender, body={}, kind="request")


def seed_rogers(db: Path) -> None:
    """Conversations with participants, messages (unicode, %, _, JSON) and tags where supported."""
    from mad.core.observability import Observability
    from mad.rogers import Rogers

    rogers = Rogers(InMemoryBus(), Observability(), db)
    try:
        for owner, title, texts, tags in SEED_CONVERSATIONS:
            cid = rogers.do_open(_request("grace"), owner=owner, title=title)["id"]
            for index, text in enumerate(texts):
                sender, to = ("grace", "fiedler") if index % 2 == 0 else ("fiedler", "grace")
                rogers.persist(Message(topic=f"mad.{to}", sender=sender, kind="request",
                                       body={"action": "ask", "args": {"text": text}},
                                       conversation_id=cid, correlation_id=f"seed-{index}"))
            if tags and hasattr(rogers, "do_tag"):  # releases before tags seed none
                rogers.do_tag(_request("grace"), conversation_id=cid, tags=tags)
    finally:
        rogers.stop()


def seed_turing(db: Path) -> None:
    """Secrets with rotated versions and granted, denied and missing accesses in the audit."""
    from mad.core.mad import MADError
    from mad.core.observability import Observability
    from mad.turing import Turing

    turing = Turing(InMemoryBus(), Observability(), db, SEED_MASTER_KEY,
                    readers={"fiedler": ["llm/*"]}, writers={"grace": ["*"]}, auditors=["grace"])
    try:
        for name, value in SEED_SECRETS:
            turing.put("grace", name, value)
        turing.get("fiedler", "llm/openai")
        for actor, name in (("marco", "db/password"), ("fiedler", "llm/missing")):
            try:
                turing.get(actor, name)
            except MADError:
                pass  # denied and missing reads are audited too
    finally:
        turing.stop()


SEEDS = {"rogers": seed_rogers, "turing": seed_turing}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[0] not in ("up", "down", "version", "schema", "seed") \
            or args[1] not in STORES or (args[0] == "down") != (len(args) == 4):
        print(__doc__, file=sys.stderr)
        return 2
    verb, store, db = args[0], args[1], Path(args[2])
    if verb == "seed":
        SEEDS[store](db)
        return 0
    try:
        with closing(sqlite3.connect(str(db))) as conn:
            if verb == "up":
                migrations.upgrade(conn, store, adopt=STORES[store])
            elif verb == "down":
                migrations.downgrade(conn, store, int(args[3]), adopt=STORES[store])
            elif verb == "version":
                print(migrations.current_version(conn, adopt=STORES[store]))
            else:
                print(migrations.schema(conn))
    except (migrations.MigrationError, sqlite3.Error, ValueError) as exc:
        print(f"mad.migrate {verb} {store}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
