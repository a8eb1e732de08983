"""The model cache: a file's extracted model stored under the sha256 of its bytes.

One SQLite file per cache directory (file creation is the slow part of many filesystems, so not
a file per entry) with three tables, all values `marshal`ed plain tuples (fast, and unlike pickle
reading them cannot run code): `models` (sha -> one file's model, so an unchanged file is never
parsed twice), `trees` (hash of a tree's Python shas -> every model of that tree state, so a warm
run reads one row per side) and `stats` (a pair of tree states -> their text statistics). A
damaged or unwritable cache only costs speed: it is set aside and rebuilt, never an error. Default
location: `<workspace>/.genops/cache/semdiff/` inside a workspace (a directory with genops.toml
above the compared tree or the cwd), else `$XDG_CACHE_HOME/genops/semdiff`.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sqlite3
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genops.semdiff.model import MODEL_VERSION, FileModel, Obj, Param


def _code_fingerprint(*names: str) -> str:
    """A hash of the code that decides what is cached, so editing it can never serve stale entries."""
    digest = hashlib.sha256()
    for name in names or sorted(p.name for p in Path(__file__).parent.glob("*.py")):
        try:
            digest.update((Path(__file__).parent / name).read_bytes())
        except OSError:
            digest.update(name.encode())
    return digest.hexdigest()[:12]


LAYOUT = f"v{MODEL_VERSION}-py{sys.version_info[0]}{sys.version_info[1]}-" + \
    _code_fingerprint("extract.py", "model.py", "cache.py")
RESULTS_VERSION = _code_fingerprint()  # every module of semdiff decides a result
STAT_TTL_S = 30 * 24 * 3600  # remembered file hashes are forgotten after this
MAX_STAT_ROWS = 200_000
KEEP_TREES = 16  # tree-state files kept; older ones are pruned on write

Encoded = tuple[Any, ...]  # the marshal-friendly tuple form of a FileModel


def encode(model: FileModel) -> Encoded:
    """A FileModel as nested tuples of builtins."""
    objects = tuple((o.qualname, o.kind, o.line, tuple((p.name, p.kind, p.default, p.annotation) for p in o.params),
                     o.returns, o.bases, o.value, o.annotation, o.body, o.content, o.doc, o.labels, o.trivial,
                     o.fields)
                    for o in model.objects.values())
    return (model.version, objects, model.aliases, model.wildcards, model.exports, model.imports, model.body,
            model.content, model.doc, model.errors)


def to_blob(model: FileModel) -> bytes:
    """A FileModel as stored bytes."""
    return marshal.dumps(encode(model))


def from_blob(blob: bytes) -> FileModel | None:
    """A FileModel from stored bytes; None for damaged or foreign data."""
    data = _unmarshal(blob)
    return decode(data) if isinstance(data, tuple) else None


def decode(data: Encoded) -> FileModel | None:
    """The FileModel of an encoded tuple, or None if it comes from another model version."""
    if not data or data[0] != MODEL_VERSION or len(data) != 10:
        return None
    _, objects, aliases, wildcards, exports, imports, body, content, doc, errors = data
    decoded = {}
    for q, kind, line, params, returns, bases, value, annotation, obody, ocontent, odoc, labels, trivial, fields \
            in objects:
        decoded[q] = Obj(q, kind, line, tuple(Param(*p) for p in params) if params else (), returns, bases, value,
                         annotation, obody, ocontent, odoc, labels, trivial, fields)
    return FileModel(decoded, aliases, wildcards, exports, imports, body, content, doc, errors)


def pair_key(old: Iterable[tuple[str, str]], new: Iterable[tuple[str, str]]) -> str:
    """The identity of a pair of whole trees: every (path, sha) on each side."""
    digest = hashlib.sha256()
    for side in (old, new):
        digest.update("\n".join(f"{rel}\0{sha}" for rel, sha in side).encode())
        digest.update(b"\1")
    return digest.hexdigest()


def tree_key(shas: Iterable[str]) -> str:
    """The identity of a tree state: its Python files' content hashes, order-free."""
    return hashlib.sha256("\n".join(sorted(set(shas))).encode()).hexdigest()


class ModelCache:
    """Content-addressed store of FileModels in one SQLite file under a directory."""

    SCHEMA = ("CREATE TABLE IF NOT EXISTS models (sha TEXT PRIMARY KEY, data BLOB NOT NULL)",
              "CREATE TABLE IF NOT EXISTS trees (key TEXT PRIMARY KEY, data BLOB NOT NULL, used REAL NOT NULL)",
              "CREATE TABLE IF NOT EXISTS stats (key TEXT PRIMARY KEY, files INTEGER, lines INTEGER)",
              "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, data BLOB NOT NULL, used REAL NOT NULL)",
              ("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime INTEGER, sha TEXT, "
               "stored REAL)"))

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / f"semdiff-{LAYOUT}.sqlite"
        self._db: sqlite3.Connection | None = None
        self._broken = False

    def get_many(self, shas: Iterable[str]) -> dict[str, bytes]:
        """The stored (marshalled) models for some of these shas."""
        wanted = list(dict.fromkeys(shas))
        out: dict[str, bytes] = {}
        for start in range(0, len(wanted), 500):
            batch = wanted[start:start + 500]
            rows = self._query(f"SELECT sha, data FROM models WHERE sha IN ({','.join('?' * len(batch))})", batch)
            out.update((str(sha), data) for sha, data in rows if isinstance(data, bytes))
        return out

    def put_many(self, blobs: dict[str, bytes]) -> None:
        """Store freshly extracted (marshalled) models."""
        self._execute("INSERT OR REPLACE INTO models VALUES (?, ?)", list(blobs.items()))

    def get_tree(self, key: str) -> dict[str, bytes] | None:
        """Every marshalled model of a tree state, or None."""
        rows = self._query("SELECT data FROM trees WHERE key = ?", [key])
        data = _unmarshal(rows[0][0]) if rows else None
        if isinstance(data, dict):
            self._execute("UPDATE trees SET used = ? WHERE key = ?", [(time.time(), key)])
            return data
        return None

    def put_tree(self, key: str, blobs: dict[str, bytes]) -> None:
        """Store a tree state and forget the least recently used ones beyond KEEP_TREES."""
        self._execute("INSERT OR REPLACE INTO trees VALUES (?, ?, ?)", [(key, marshal.dumps(blobs), time.time())])
        self._execute("DELETE FROM trees WHERE key NOT IN (SELECT key FROM trees ORDER BY used DESC LIMIT ?)",
                      [(KEEP_TREES,)])

    def get_stats(self, key: str) -> tuple[int, int] | None:
        """Text statistics of a pair of tree states, or None."""
        rows = self._query("SELECT files, lines FROM stats WHERE key = ?", [key])
        if not rows or not all(isinstance(value, int) for value in rows[0]):
            return None
        return (int(str(rows[0][0])), int(str(rows[0][1])))

    def put_stats(self, key: str, stats: tuple[int, int]) -> None:
        """Store the text statistics of a pair of tree states."""
        self._execute("INSERT OR REPLACE INTO stats VALUES (?, ?, ?)", [(key, *stats)])

    def get_result(self, key: str) -> object:
        """A stored diff result (see engine) for a pair of whole trees, or None."""
        rows = self._query("SELECT data FROM results WHERE key = ?", [f"{RESULTS_VERSION}:{key}"])
        if not rows:
            return None
        self._execute("UPDATE results SET used = ? WHERE key = ?", [(time.time(), f"{RESULTS_VERSION}:{key}")])
        return _unmarshal(rows[0][0])

    def put_result(self, key: str, data: Any) -> None:
        """Store a diff result and forget the least recently used ones beyond KEEP_TREES."""
        self._execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?)",
                      [(f"{RESULTS_VERSION}:{key}", marshal.dumps(data), time.time())])
        self._execute("DELETE FROM results WHERE key NOT IN (SELECT key FROM results ORDER BY used DESC LIMIT ?)",
                      [(KEEP_TREES,)])

    def file_hashes(self, root: str) -> dict[str, tuple[int, int, str]]:
        """Remembered (size, mtime_ns, sha) of files under a directory, by path."""
        prefix = root.rstrip("/") + "/"
        rows = self._query("SELECT path, size, mtime, sha FROM files WHERE path >= ? AND path < ?",
                           [prefix, prefix + "\U0010ffff"])
        out: dict[str, tuple[int, int, str]] = {}
        for path, size, mtime, sha in rows:
            if isinstance(size, int) and isinstance(mtime, int):
                out[str(path)] = (size, mtime, str(sha))
        return out

    def remember_hashes(self, rows: dict[str, tuple[int, int, str]]) -> None:
        """Remember file hashes by (path, size, mtime) and forget stale ones."""
        if not rows:
            return
        now = time.time()
        self._execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                      [(path, size, mtime, sha, now) for path, (size, mtime, sha) in rows.items()])
        self._execute("DELETE FROM files WHERE stored < ?", [(now - STAT_TTL_S,)])
        self._execute("DELETE FROM files WHERE path IN (SELECT path FROM files ORDER BY stored DESC LIMIT -1 "
                      "OFFSET ?)", [(MAX_STAT_ROWS,)])

    def _connect(self) -> sqlite3.Connection | None:
        """Open (and create) the database once; a damaged file is set aside and replaced."""
        if self._db is not None or self._broken:
            return self._db
        for attempt in range(2):
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
                db.execute("PRAGMA synchronous=NORMAL")  # no fsync per commit: a lost entry is only a miss
                for statement in self.SCHEMA:
                    db.execute(statement)
                self._db = db
                return db
            except sqlite3.DatabaseError:
                if attempt == 0:
                    self._set_aside()
            except OSError:
                break
        self._broken = True
        return None

    def _set_aside(self) -> None:
        """Move a damaged database out of the way (kept for inspection)."""
        try:
            os.replace(self.path, self.path.with_suffix(".damaged"))
        except OSError:
            pass

    def _query(self, sql: str, args: list[str]) -> list[tuple[object, ...]]:
        """Rows of a read; a failing cache reads as empty."""
        db = self._connect()
        if db is None:
            return []
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError:
            self._broken, self._db = True, None
            return []

    def _execute(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        """A write in one transaction; a failing cache only loses the write."""
        db = self._connect()
        if db is None or not rows:
            return
        try:
            with db:
                db.execute("BEGIN")
                db.executemany(sql, rows)
        except sqlite3.DatabaseError:
            self._broken, self._db = True, None


def _unmarshal(data: object) -> object:
    """Unmarshal a stored value; a damaged one reads as None."""
    try:
        return marshal.loads(data) if isinstance(data, bytes) else None
    except (EOFError, ValueError, TypeError):
        return None


def default_cache_dir(*anchors: Path) -> Path:
    """`<workspace>/.genops/cache/semdiff` for the first anchor inside a workspace, else the XDG cache."""
    for anchor in (*anchors, Path.cwd()):
        workspace = find_workspace(anchor)
        if workspace is not None:
            return workspace / ".genops" / "cache" / "semdiff"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genops" / "semdiff"


def find_workspace(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding genops.toml."""
    try:
        current = start.resolve()
    except OSError:
        return None
    for candidate in (current, *current.parents):
        if (candidate / "genops.toml").is_file():
            return candidate
    return None
