"""The model cache: a file's extracted model stored under the sha256 of its bytes.

Two layers, both `marshal` of plain tuples (fast, and unlike pickle it cannot run code when
read): `files/<sha[:2]>/<sha>` holds one file's model, so an unchanged file is never parsed
twice; `trees/<key>` holds every model of one tree state (key: hash of its Python files' shas),
so a warm run reads one file per side. Writes are atomic (temp file + rename); an unreadable
entry is a miss, never an error. Default location: `<workspace>/.genops/cache/semdiff/` inside a
workspace (a directory with genops.toml above the compared tree or the cwd), else
`$XDG_CACHE_HOME/genops/semdiff`.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from genops.semdiff.model import MODEL_VERSION, FileModel, Obj, Param

LAYOUT = f"v{MODEL_VERSION}-py{sys.version_info[0]}{sys.version_info[1]}"
KEEP_TREES = 16  # tree-state files kept; older ones are pruned on write

Encoded = tuple  # the marshal-friendly tuple form of a FileModel


def encode(model: FileModel) -> Encoded:
    """A FileModel as nested tuples of builtins."""
    objects = tuple((o.qualname, o.kind, o.line, tuple((p.name, p.kind, p.default, p.annotation) for p in o.params),
                     o.returns, o.bases, o.value, o.annotation, o.body, o.content, o.doc, o.labels, o.trivial)
                    for o in model.objects.values())
    return (model.version, objects, model.aliases, model.wildcards, model.exports, model.imports, model.body,
            model.content, model.doc, model.errors)


def decode(data: Encoded) -> FileModel | None:
    """The FileModel of an encoded tuple, or None if it comes from another model version."""
    if not data or data[0] != MODEL_VERSION:
        return None
    _, objects, aliases, wildcards, exports, imports, body, content, doc, errors = data
    decoded = {}
    for q, kind, line, params, returns, bases, value, annotation, obody, ocontent, odoc, labels, trivial in objects:
        decoded[q] = Obj(q, kind, line, tuple(Param(*p) for p in params) if params else (), returns, bases, value,
                         annotation, obody, ocontent, odoc, labels, trivial)
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
    """Content-addressed store of FileModels under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory / LAYOUT

    def get(self, sha: str) -> FileModel | None:
        """One file's model, or None."""
        data = self._read(self.directory / "files" / sha[:2] / sha)
        return decode(data) if isinstance(data, tuple) else None

    def put_many(self, encoded: dict[str, Encoded]) -> None:
        """Store freshly extracted models."""
        for sha, data in encoded.items():
            self._write(self.directory / "files" / sha[:2] / sha, data)

    def get_tree(self, key: str) -> dict[str, Encoded] | None:
        """Every encoded model of a tree state, or None."""
        data = self._read(self.directory / "trees" / key)
        return data if isinstance(data, dict) else None

    def put_tree(self, key: str, encoded: dict[str, Encoded]) -> None:
        """Store a tree state and prune the oldest ones."""
        trees = self.directory / "trees"
        self._write(trees / key, encoded)
        try:
            entries = sorted(trees.iterdir(), key=lambda p: p.stat().st_mtime)
        except OSError:
            return
        for old in entries[:-KEEP_TREES]:
            old.unlink(missing_ok=True)

    def get_stats(self, key: str) -> tuple[int, int] | None:
        """Text statistics of a pair of tree states, or None."""
        data = self._read(self.directory / "stats" / key[:2] / key)
        return (data[0], data[1]) if isinstance(data, tuple) and len(data) == 2 else None

    def put_stats(self, key: str, stats: tuple[int, int]) -> None:
        """Store the text statistics of a pair of tree states."""
        self._write(self.directory / "stats" / key[:2] / key, stats)

    @staticmethod
    def _read(path: Path) -> object:
        """Unmarshal a file; a missing or damaged one reads as None."""
        try:
            with open(path, "rb") as handle:
                return marshal.loads(handle.read())
        except (OSError, EOFError, ValueError, TypeError):
            return None

    @staticmethod
    def _write(path: Path, data: object) -> None:
        """Write atomically; a read-only or full disk only costs speed."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(marshal.dumps(data))
            os.replace(tmp, path)
        except OSError:
            return


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
