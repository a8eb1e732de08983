"""Rogers, the conversation manager: every conversation, persisted, forever.

Rogers listens to the whole bus. Every message whose envelope carries a
``conversation_id`` is stored in SQLite together with who sent it and who it was
addressed to; both become participants of the conversation. A MAD may read the
history of, and search in, only the conversations it took part in.

Queries *about* a conversation (``history``, ``search``) carry the conversation
id in their arguments, not in the envelope, so they are not themselves stored.
Rogers handles its inbox from the same ordered stream it persists from, so a
history request always sees every message published before it.

The conversation list is paged by keyset (REQ-ROGERS-5), so a long list costs one
small query a page. Participants can tag conversations (REQ-ROGERS-6). The store is versioned and
migrated up when Rogers opens it (REQ-STATE-1): ``mad/migrations/rogers/``.
"""
from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from mad.core import migrations
from mad.core.bus import Bus, Message, inbox
from mad.core.mad import MAD, MADError, ToolSpec
from mad.core.observability import Observability

# Check ids and tags with fullmatch: "$" also matches before a final newline ("q3\n").
CONVERSATION_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
MAX_TAGS = 16  # per conversation
MAX_LIST = 500  # conversations in one page of `conversations`
STORE, ADOPT = "rogers", "conversations"  # migrations folder; the table a pre-migration db has
# The version-1 schema (migration 0001), kept for r0001's callers; the store's schema is its
# migrations, applied by mad.core.migrations.
SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, owner TEXT, title TEXT, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS participants (
    conversation_id TEXT NOT NULL, mad TEXT NOT NULL, PRIMARY KEY (conversation_id, mad));
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, conversation_id TEXT NOT NULL,
    topic TEXT NOT NULL, sender TEXT NOT NULL, recipient TEXT, kind TEXT NOT NULL, text TEXT NOT NULL,
    body TEXT NOT NULL, ts REAL NOT NULL, correlation_id TEXT);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, seq);
"""
PRIVATE_MADS = ("turing",)  # traffic to and from the secrets manager is never stored


def new_conversation_id() -> str:
    return "c-" + uuid.uuid4().hex


def valid_tag(tag: Any) -> str:
    """``tag`` if it is a well-formed tag (REQ-ROGERS-6), else ``bad_request`` (never ``internal``,
    which would count against Rogers' circuit breaker)."""
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
        raise MADError("bad_request", "a tag is 1-32 lowercase letters, digits or '-', "
                       "starting with a letter or digit")
    return tag


def page_cursor(before: Any) -> tuple[float, str]:
    """``before`` of a ``conversations`` page: the last listed conversation's ``updated`` and ``id``."""
    if (not isinstance(before, dict) or set(before) != {"updated", "id"}
            or isinstance(before["updated"], bool) or not isinstance(before["updated"], (int, float))
            or not isinstance(before["id"], str) or not CONVERSATION_RE.fullmatch(before["id"])):
        raise MADError("bad_request", "before must be {\"updated\": ..., \"id\": ...} of a listed conversation")
    return before["updated"], before["id"]


def valid_owner(owner: Any) -> str | None:
    if owner is not None and not isinstance(owner, str):
        raise MADError("bad_request", "owner must be a string")
    return owner


def message_text(body: dict[str, Any]) -> str:
    """The human-readable part of a message body, for transcripts and search."""
    for holder in (body, body.get("args"), body.get("result")):
        if isinstance(holder, dict):
            for key in ("text", "prompt", "message"):
                if isinstance(holder.get(key), str):
                    return holder[key]
    if body.get("ok") is False:
        return f"[error] {body.get('error', '')}"
    return json.dumps(body, ensure_ascii=False, sort_keys=True)[:2000]


class Rogers(MAD):
    name = "rogers"
    tools = (
        ToolSpec("search", "Search the conversations the caller took part in.", "search",
                 {"query": {"type": "string"}, "limit": {"type": "integer"}}, ("query",)),
        ToolSpec("history", "Read a conversation the caller took part in.", "history",
                 {"conversation_id": {"type": "string"}, "limit": {"type": "integer"}},
                 ("conversation_id",)),
        ToolSpec("conversations", "List the conversations the caller took part in, a page at a time.",
                 "conversations", {"tag": {"type": "string"}, "limit": {"type": "integer"},
                                   "before": {"type": "object"}}),
    )

    def __init__(self, bus: Bus, obs: Observability, db_path: Path) -> None:
        super().__init__(bus, obs)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(db_path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        migrations.upgrade(self._db, STORE, adopt=ADOPT)

    def topics(self) -> list[str]:
        return ["*"]  # one ordered stream: persistence and inbox together

    def stop(self) -> None:
        super().stop()
        with self._lock:
            self._db.close()

    def receive(self, message: Message) -> None:
        if (message.conversation_id and CONVERSATION_RE.fullmatch(message.conversation_id)
                and message.sender not in PRIVATE_MADS
                and message.topic not in [inbox(m) for m in PRIVATE_MADS]):
            self.persist(message)
        super().receive(message)

    # -- storage ----------------------------------------------------------
    def persist(self, message: Message) -> None:
        recipient = message.topic[4:] if message.topic.startswith("mad.") else None
        cid = message.conversation_id or ""
        now = time.time()
        with self._lock:
            if recipient is None and message.in_reply_to:
                row = self._db.execute("SELECT sender FROM messages WHERE id = ?",
                                       (message.in_reply_to,)).fetchone()
                recipient = row[0] if row else None
            self._db.execute("INSERT OR IGNORE INTO conversations (id, created, updated) VALUES (?, ?, ?)",
                             (cid, now, now))
            self._db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, cid))
            for mad in {message.sender, recipient} - {None}:
                self._db.execute("INSERT OR IGNORE INTO participants VALUES (?, ?)", (cid, mad))
            self._db.execute(
                "INSERT OR IGNORE INTO messages (id, conversation_id, topic, sender, recipient, kind,"
                " text, body, ts, correlation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (message.id, cid, message.topic, message.sender, recipient, message.kind,
                 message_text(message.body), json.dumps(message.body, ensure_ascii=False),
                 message.ts, message.correlation_id))
            self._db.commit()

    def _participant(self, cid: str, mad: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM participants WHERE conversation_id = ? AND mad = ?",
                                    (cid, mad)).fetchone() is not None

    def _conversation(self, cid: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT id, owner, title, created, updated FROM conversations "
                                   "WHERE id = ?", (cid,)).fetchone()
            if row is None:
                return None
            mads = [r[0] for r in self._db.execute(
                "SELECT mad FROM participants WHERE conversation_id = ? ORDER BY mad", (cid,))]
            tags = self._tags(cid)
        return {"id": row[0], "owner": row[1], "title": row[2], "created": row[3], "updated": row[4],
                "participants": mads, "tags": tags}

    def _tags(self, cid: str) -> list[str]:
        """The conversation's tags, sorted (the caller holds the lock)."""
        return [r[0] for r in self._db.execute(
            "SELECT tag FROM conversation_tags WHERE conversation_id = ? ORDER BY tag", (cid,))]

    def _require_participant(self, cid: str, mad: str) -> dict[str, Any]:
        if not isinstance(cid, str) or not CONVERSATION_RE.fullmatch(cid):
            raise MADError("bad_request", "invalid conversation id")
        conversation = self._conversation(cid)
        if conversation is None:
            raise MADError("not_found", f"no conversation {cid!r}")
        if mad not in conversation["participants"]:
            raise MADError("forbidden", f"{mad!r} did not take part in conversation {cid!r}")
        return conversation

    # -- actions ------------------------------------------------------------
    def do_open(self, request: Message, conversation_id: str | None = None, owner: str | None = None,
                title: str | None = None) -> dict[str, Any]:
        """Start a conversation (or re-open one the caller is in) with the caller as participant."""
        if conversation_id is None:
            conversation_id = new_conversation_id()
        elif not isinstance(conversation_id, str) or not CONVERSATION_RE.fullmatch(conversation_id):
            raise MADError("bad_request", "invalid conversation id")
        existing = self._conversation(conversation_id)
        if existing is not None:
            return self._require_participant(conversation_id, request.sender)
        now = time.time()
        with self._lock:
            self._db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?)",
                             (conversation_id, owner, (title or "")[:120], now, now))
            self._db.execute("INSERT OR IGNORE INTO participants VALUES (?, ?)",
                             (conversation_id, request.sender))
            self._db.commit()
        return self._conversation(conversation_id) or {}

    def do_invite(self, request: Message, conversation_id: str, mad: str) -> dict[str, Any]:
        """A participant brings another MAD into the conversation."""
        self._require_participant(conversation_id, request.sender)
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO participants VALUES (?, ?)", (conversation_id, mad))
            self._db.commit()
        return self._conversation(conversation_id) or {}

    def do_tag(self, request: Message, conversation_id: str, tags: list[str]) -> dict[str, Any]:
        """A participant adds tags to a conversation (REQ-ROGERS-6)."""
        self._require_participant(conversation_id, request.sender)
        if not isinstance(tags, list) or not all(isinstance(t, str) and TAG_RE.fullmatch(t)
                                                 for t in tags):
            raise MADError("bad_request", "tags must be a list of 1-32 lowercase letters, digits or '-'")
        with self._lock:
            known = set(self._tags(conversation_id))
            if len(known | set(tags)) > MAX_TAGS:
                raise MADError("bad_request", f"a conversation has at most {MAX_TAGS} tags")
            self._db.executemany("INSERT OR IGNORE INTO conversation_tags VALUES (?, ?)",
                                 [(conversation_id, t) for t in sorted(set(tags))])
            self._db.commit()
        return self._conversation(conversation_id) or {}

    def do_untag(self, request: Message, conversation_id: str, tag: str) -> dict[str, Any]:
        """A participant removes a tag from a conversation (REQ-ROGERS-6)."""
        self._require_participant(conversation_id, request.sender)
        valid_tag(tag)
        with self._lock:
            self._db.execute("DELETE FROM conversation_tags WHERE conversation_id = ? AND tag = ?",
                             (conversation_id, tag))
            self._db.commit()
        return self._conversation(conversation_id) or {}

    def do_history(self, request: Message, conversation_id: str, limit: int = 200) -> dict[str, Any]:
        conversation = self._require_participant(conversation_id, request.sender)
        limit = max(1, min(int(limit), 1000))
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM (SELECT seq, id, sender, recipient, kind, text, body, ts, correlation_id"
                " FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                (conversation_id, limit)).fetchall()
        keys = ("seq", "id", "sender", "recipient", "kind", "text", "body", "ts", "correlation_id")
        messages = [dict(zip(keys, row, strict=True)) for row in rows]
        for m in messages:
            m["body"] = json.loads(m["body"])
        return {"conversation": conversation, "messages": messages}

    def do_search(self, request: Message, query: str, limit: int = 20,
                  owner: str | None = None) -> list[dict[str, Any]]:
        """Newest matching messages of the caller's conversations; with ``owner``, only of the
        conversations that owner owns (filtered before the limit, so one owner's hits are never
        crowded out by everyone else's)."""
        if not isinstance(query, str) or not query.strip():
            raise MADError("bad_request", "query must be a non-empty string")
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise MADError("bad_request", "limit must be an integer")
        pattern = "%" + query.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        sql = ("SELECT m.conversation_id, m.id, m.sender, m.text, m.ts FROM messages m"
               " JOIN participants p ON p.conversation_id = m.conversation_id AND p.mad = ?")
        params: list[Any] = [request.sender]
        if valid_owner(owner) is not None:
            sql += " JOIN conversations c ON c.id = m.conversation_id AND c.owner = ?"
            params.append(owner)
        sql += " WHERE m.text LIKE ? ESCAPE '\\' ORDER BY m.seq DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*params, pattern, max(1, min(limit, 200)))).fetchall()
        keys = ("conversation_id", "id", "sender", "text", "ts")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def do_conversations(self, request: Message, owner: str | None = None, tag: str | None = None,
                         limit: int = MAX_LIST, before: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The caller's conversations, most recently updated first (REQ-ROGERS-5): at most
        ``limit``; ``before`` (the ``updated`` and ``id`` of the last one of the previous page)
        continues after it, so paging reaches every conversation exactly once (keyset paging:
        the order is by ``updated`` and then ``id``, both descending)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise MADError("bad_request", f"limit must be an integer from 1 to {MAX_LIST}")
        query = ("SELECT c.id, c.owner, c.title, c.created, c.updated FROM conversations c"
                 " JOIN participants p ON p.conversation_id = c.id AND p.mad = ?")
        params: list[Any] = [request.sender]
        if tag is not None:
            query += " JOIN conversation_tags t ON t.conversation_id = c.id AND t.tag = ?"
            params.append(valid_tag(tag))
        where: list[str] = []
        if valid_owner(owner) is not None:
            where.append("c.owner = ?")
            params.append(owner)
        if before is not None:
            updated, cid = page_cursor(before)
            where.append("(c.updated < ? OR (c.updated = ? AND c.id < ?))")
            params += [updated, updated, cid]
        if where:
            query += " WHERE " + " AND ".join(where)
        keys = ("id", "owner", "title", "created", "updated")
        with self._lock:
            rows = self._db.execute(query + " ORDER BY c.updated DESC, c.id DESC LIMIT ?",
                                    [*params, limit]).fetchall()
            tags: dict[str, list[str]] = {row[0]: [] for row in rows}
            if rows:  # every listed conversation's tags in one query, not one query per row
                marks = ", ".join("?" * len(rows))
                for cid, name in self._db.execute(
                        "SELECT conversation_id, tag FROM conversation_tags"
                        f" WHERE conversation_id IN ({marks}) ORDER BY tag", list(tags)):
                    tags[cid].append(name)
        return [{**dict(zip(keys, row, strict=True)), "tags": tags[row[0]]} for row in rows]
