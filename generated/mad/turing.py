"""Turing, the secrets manager: the only MAD that holds keys or decrypts secrets.

Secrets are stored in SQLite encrypted with Fernet (AES-128-CBC + HMAC-SHA256)
under a master key read from ``MAD_MASTER_KEY`` or a key file created with mode
0600. Which MAD may read or write which secret is policy-as-code: a map from MAD
name to ``fnmatch`` patterns over secret names; anything not granted is denied.
Every access, granted or denied, is written to the audit table with the caller,
the secret's name (never its value), the outcome and the correlation id.
The store is versioned and migrated up when Turing opens it (REQ-STATE-1):
``mad/migrations/turing/``.
"""
from __future__ import annotations

import fnmatch
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mad.core import migrations
from mad.core.bus import Bus, Message
from mad.core.mad import MAD, MADError
from mad.core.observability import Observability, current_correlation_id

KEY_ENV = "MAD_MASTER_KEY"
STORE, ADOPT = "turing", "secrets"  # migrations folder; the table a pre-migration db has
# The version-1 schema (migration 0001), kept for r0001's callers; the store's schema is its
# migrations, applied by mad.core.migrations.
SCHEMA = """
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT NOT NULL, version INTEGER NOT NULL, ciphertext BLOB NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, actor TEXT NOT NULL,
    secret TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL, correlation_id TEXT);
"""


def load_master_key(key_file: Path) -> bytes:
    """The master key from the environment, else from ``key_file`` (created 0600)."""
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode()
    if key_file.exists():
        return key_file.read_bytes().strip()
    key = Fernet.generate_key()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


class Turing(MAD):
    name = "turing"

    def __init__(self, bus: Bus, obs: Observability, db_path: Path, master_key: bytes,
                 readers: dict[str, list[str]] | None = None,
                 writers: dict[str, list[str]] | None = None,
                 auditors: list[str] | None = None, key_file: Path | None = None) -> None:
        super().__init__(bus, obs)
        self.key_file = key_file  # where a rotated master key is written, if anywhere
        try:
            self._key = Fernet(master_key)
        except (ValueError, TypeError):
            raise MADError("bad_request", "master key is not a valid Fernet key") from None
        self.readers = readers or {}
        self.writers = writers or {}
        self.auditors = auditors or []
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(db_path), check_same_thread=False)
        migrations.upgrade(self._db, STORE, adopt=ADOPT)

    def stop(self) -> None:
        super().stop()
        with self._lock:
            self._db.close()

    def receive(self, message: Message) -> None:
        # secrets never enter conversation memory: replies carry no conversation id
        message.conversation_id = None
        super().receive(message)

    # -- policy and audit -------------------------------------------------
    @staticmethod
    def _granted(policy: dict[str, list[str]], actor: str, secret: str) -> bool:
        return any(fnmatch.fnmatchcase(secret, p) for p in policy.get(actor, []))

    def _audit(self, actor: str, secret: str, action: str, outcome: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO audit (ts, actor, secret, action, outcome, correlation_id)"
                             " VALUES (?, ?, ?, ?, ?, ?)",
                             (time.time(), actor, secret, action, outcome, current_correlation_id()))
            self._db.commit()
        self.log("secret_access", actor=actor, secret_name=secret, action=action, outcome=outcome)

    def _check(self, policy: dict[str, list[str]], actor: str, secret: str, action: str) -> None:
        if not self._granted(policy, actor, secret):
            self._audit(actor, secret, action, "denied")
            raise MADError("forbidden", f"{actor!r} may not {action} secret {secret!r}")

    # -- storage ----------------------------------------------------------
    def _latest(self, name: str) -> tuple[int, bytes] | None:
        with self._lock:
            row = self._db.execute("SELECT version, ciphertext FROM secrets WHERE name = ? "
                                   "ORDER BY version DESC LIMIT 1", (name,)).fetchone()
        return (row[0], row[1]) if row else None

    def _store(self, name: str, value: str) -> int:
        token = self._key.encrypt(value.encode("utf-8"))
        with self._lock:
            row = self._db.execute("SELECT MAX(version) FROM secrets WHERE name = ?", (name,)).fetchone()
            version = (row[0] or 0) + 1
            self._db.execute("INSERT INTO secrets VALUES (?, ?, ?, ?)", (name, version, token, time.time()))
            self._db.commit()
        return version

    # -- the API (in-process for the composition root, over the bus for MADs)
    def put(self, actor: str, name: str, value: str, action: str = "put") -> int:
        if not isinstance(value, str) or not value:
            raise MADError("bad_request", "a secret value must be a non-empty string")
        version = self._store(name, value)
        self._audit(actor, name, action, "granted")
        return version

    def put_if_changed(self, actor: str, name: str, value: str) -> int:
        """``put`` only when ``value`` differs from the version served; else that version's number.

        For the composition root's bootstrap: a restart with the same users stores no new
        version and appends no audit row (r0002 added both on every start, without limit)."""
        latest = self._latest(name)
        if latest is not None:
            try:
                if self._key.decrypt(latest[1]).decode("utf-8") == value:
                    return latest[0]
            except InvalidToken:
                pass  # not readable with the current key: store the value again
        return self.put(actor, name, value)

    def get(self, actor: str, name: str) -> tuple[int, str]:
        self._check(self.readers, actor, name, "read")
        latest = self._latest(name)
        if latest is None:
            self._audit(actor, name, "read", "missing")
            raise MADError("not_found", f"no secret {name!r}")
        try:
            value = self._key.decrypt(latest[1]).decode("utf-8")
        except InvalidToken:
            self._audit(actor, name, "read", "undecryptable")
            raise MADError("internal", f"secret {name!r} cannot be decrypted with the current key") from None
        self._audit(actor, name, "read", "granted")
        return latest[0], value

    def rotate_master_key(self, actor: str, new_key: bytes) -> int:
        """Re-encrypt every stored version under ``new_key``; the old key stops working."""
        new = Fernet(new_key)
        rotating = MultiFernet([new, self._key])
        with self._lock:
            rows = self._db.execute("SELECT name, version, ciphertext FROM secrets").fetchall()
            for name, version, token in rows:
                self._db.execute("UPDATE secrets SET ciphertext = ? WHERE name = ? AND version = ?",
                                 (rotating.rotate(token), name, version))
            self._db.commit()
            self._key = new
        if self.key_file is not None:
            tmp = self.key_file.with_suffix(".new")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(new_key)
            os.replace(tmp, self.key_file)
        self._audit(actor, "*", "rotate_master_key", "granted")
        return len(rows)

    def audit_log(self, limit: int = 100, secret: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT ts, actor, secret, action, outcome, correlation_id FROM audit"
        params: tuple[Any, ...] = ()
        if secret:
            query, params = query + " WHERE secret = ?", (secret,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
        keys = ("ts", "actor", "secret", "action", "outcome", "correlation_id")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # -- actions over the bus ---------------------------------------------
    def do_get_secret(self, request: Message, name: str) -> dict[str, Any]:
        version, value = self.get(request.sender, name)
        return {"name": name, "version": version, "value": value}

    def do_put_secret(self, request: Message, name: str, value: str) -> dict[str, Any]:
        self._check(self.writers, request.sender, name, "write")
        return {"name": name, "version": self.put(request.sender, name, value)}

    def do_rotate_secret(self, request: Message, name: str, value: str) -> dict[str, Any]:
        self._check(self.writers, request.sender, name, "rotate")
        if self._latest(name) is None:
            raise MADError("not_found", f"no secret {name!r} to rotate")
        return {"name": name, "version": self.put(request.sender, name, value, action="rotate")}

    def do_list_secrets(self, request: Message) -> list[str]:
        with self._lock:
            names = [r[0] for r in self._db.execute("SELECT DISTINCT name FROM secrets ORDER BY name")]
        return [n for n in names if self._granted(self.readers, request.sender, n)]

    def do_audit_log(self, request: Message, limit: int = 100, secret: str | None = None) -> list[dict[str, Any]]:
        if request.sender not in self.auditors:
            self._audit(request.sender, secret or "*", "read_audit", "denied")
            raise MADError("forbidden", f"{request.sender!r} may not read the audit log")
        return self.audit_log(max(1, min(int(limit), 1000)), secret)
