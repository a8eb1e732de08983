"""The response archive: every request and its response, addressed by the request's sha256.

It is committed to git, so `genops replay` on a fresh clone answers every request without a key.
That shapes the format: one gzip file per entry under a two-character fan-out
(`ab/abcdef....json.gz`) so entries merge without conflicts; gzip with mtime 0 and sorted JSON so
the same entry is the same bytes on every machine; written to a temp file and renamed so a killed
run never leaves half an entry. A local index (`.index.jsonl`, git-ignored, rebuilt from the
entries when stale) lets `nearest` find the closest archived request without unzipping them all.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import threading
import zlib
from pathlib import Path
from typing import Any

from genops.calls import CompletionRequest, CompletionResponse
from genops.errors import ConfigError, UsageError
from genops.fsutil import write_atomic

ENTRY_FORMAT = 1
INDEX_NAME = ".index.jsonl"
GITIGNORE = "# local files of the genops archive; the entries themselves are committed\n" \
            f"/{INDEX_NAME}\n.*.tmp\n"
_KEY = re.compile(r"[0-9a-f]{64}")
_SUFFIX = ".json.gz"
_PARAMS = ("temperature", "max_output_tokens", "seed", "top_p", "cache_key", "extra")
# Parameter names that would only hold a credential; credentials come from the environment.
_CREDENTIAL_PARAM = re.compile(r"api[_-]?key|authorization|secret|password|headers?$", re.I)
_CREDENTIAL_ENV = re.compile(r"API_KEY|_TOKEN$|SECRET|PASSWORD")
_CLIP = 60


def _content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _refuse_credentials(request: CompletionRequest, text: str) -> None:
    """Refuse to archive anything that holds a credential: the archive is committed to git."""
    for name, _ in request.extra:
        if _CREDENTIAL_PARAM.search(name):
            raise UsageError(f"request parameter {name!r} looks like a credential; it would be "
                             "archived and committed",
                             hint="providers read keys from the environment at call time; "
                             "never pass them as request parameters")
    for name, value in os.environ.items():
        if len(value) >= 8 and _CREDENTIAL_ENV.search(name.upper()) and value in text:
            raise UsageError(f"a request or response contains the value of ${name}; refusing "
                             "to archive it",
                             hint="remove the secret from the specs, ADRs or prompts it came from")


def _index_record(key: str, canonical: dict[str, Any]) -> dict[str, Any]:
    return {"k": key, "provider": canonical["provider"], "model": canonical["model"],
            "params": {name: canonical.get(name) for name in _PARAMS},
            "msgs": [[m["role"], _content_hash(m["content"]), bool(m.get("cache_prefix"))]
                     for m in canonical["messages"]]}


def _similarity(old: dict[str, Any], new: dict[str, Any]) -> int:
    """How alike two index records are: identical messages weigh most, then model and params."""
    same_messages = sum(a == b for a, b in zip(old["msgs"], new["msgs"], strict=False))
    same_params = sum(old["params"].get(n) == new["params"].get(n) for n in _PARAMS)
    return int(10 * same_messages + 2 * (len(old["msgs"]) == len(new["msgs"]))
            + 5 * (old["model"] == new["model"]) + 3 * (old["provider"] == new["provider"])
            + same_params)


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _excerpt(line: str, start: int) -> str:
    """At most _CLIP characters of `line`, showing the region around column `start`."""
    if len(line) <= _CLIP:
        return line
    begin = max(0, min(start - 20, len(line) - _CLIP))
    text = line[begin:begin + _CLIP]
    return ("…" if begin else "") + text + ("…" if begin + _CLIP < len(line) else "")


def _line_difference(old: str, new: str) -> str:
    """Where two texts first differ: 'line 14: 'old…' vs 'new…''."""
    old_lines, new_lines = old.split("\n"), new.split("\n")
    for number, (a, b) in enumerate(zip(old_lines, new_lines, strict=False), start=1):
        if a != b:
            column = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                          min(len(a), len(b)))
            return f"line {number}: {_excerpt(a, column)!r} vs {_excerpt(b, column)!r}"
    number = min(len(old_lines), len(new_lines)) + 1
    if len(old_lines) > len(new_lines):
        return f"line {number}: {_excerpt(old_lines[number - 1], 0)!r} vs end of message"
    return f"line {number}: end of message vs {_excerpt(new_lines[number - 1], 0)!r}"


def describe_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two canonical requests, archived (`old`) → requested (`new`)."""
    found = [f"{name}: {_show(old.get(name))} → {_show(new.get(name))}"
             for name in ("provider", "model") if old.get(name) != new.get(name)]
    found += [f"{name} {_show(old.get(name))} → {_show(new.get(name))}"
              for name in _PARAMS if old.get(name) != new.get(name)]
    old_msgs, new_msgs = old["messages"], new["messages"]
    if len(old_msgs) != len(new_msgs):
        found.append(f"messages: {len(old_msgs)} vs {len(new_msgs)}")
    for number, (a, b) in enumerate(zip(old_msgs, new_msgs, strict=False), start=1):
        if a["role"] != b["role"]:
            found.append(f"message {number} role: {a['role']} → {b['role']}")
        if a["content"] != b["content"]:
            found.append(f"message {number} ({b['role']}) differs at "
                         + _line_difference(a["content"], b["content"]))
        if bool(a.get("cache_prefix")) != bool(b.get("cache_prefix")):
            found.append(f"message {number} cache_prefix {bool(a.get('cache_prefix'))} → "
                         f"{bool(b.get('cache_prefix'))}")
    return found


class Archive:
    """The content-addressed archive under `<workspace>/.genops/archive/`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._index_lock = threading.Lock()

    @classmethod
    def for_workspace(cls, workspace_root: Path) -> Archive:
        return cls(Path(workspace_root) / ".genops" / "archive")

    def path_for(self, key: str) -> Path:
        """Where the entry for `key` lives; refuses anything but a sha256 hex digest."""
        if not _KEY.fullmatch(key):
            raise UsageError(f"not an archive key: {key!r}", hint="keys are 64 hex digits")
        return self.root / key[:2] / f"{key}{_SUFFIX}"

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and _KEY.fullmatch(key) is not None \
            and self.path_for(key).is_file()

    def get_entry(self, key: str) -> dict[str, Any] | None:
        """The stored entry (format, key, request, response), or None if not archived."""
        path = self.path_for(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            entry: dict[str, Any] = json.loads(gzip.decompress(blob))
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise ConfigError(path, f"corrupt archive entry ({exc})",
                              hint=f"restore it from git: git checkout -- {path}") from None
        return entry

    def get(self, key: str) -> CompletionResponse | None:
        """The archived response for `key`, marked `from_archive`, or None."""
        entry = self.get_entry(key)
        if entry is None:
            return None
        return CompletionResponse.from_dict(entry["response"], from_archive=True)

    def put(self, request: CompletionRequest, response: CompletionResponse) -> str:
        """Archive a request with its response; returns the key. Same input, same bytes."""
        key = request.key()
        canonical = request.canonical()
        entry = {"format": ENTRY_FORMAT, "key": key, "request": canonical,
                 "response": response.to_dict()}
        text = json.dumps(entry, sort_keys=True, ensure_ascii=False, indent=1) + "\n"
        _refuse_credentials(request, text)
        blob = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._ensure_gitignore()
        write_atomic(path, blob)
        self._append_index([_index_record(key, canonical)])
        return key

    def set_aside(self, key: str, folder: Path) -> Path | None:
        """Move the entry for `key` out of the archive into `folder` (the same bytes, named
        `<key>.json.gz`), so no later request is answered with it; None if it is not archived.
        `take_back(folder)` puts it back."""
        source = self.path_for(key)
        if not source.is_file():
            return None
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / source.name
        os.replace(source, target)
        return target

    def take_back(self, folder: Path) -> list[str]:
        """Return the entries `set_aside` moved into `folder` to the archive; an entry whose key
        has been archived again since (a later run asked the same request) stays where it is.
        Returns the keys put back."""
        back = []
        for item in sorted(folder.glob(f"*{_SUFFIX}")) if folder.is_dir() else []:
            key = item.name[:-len(_SUFFIX)]
            if not _KEY.fullmatch(key) or key in self:
                continue
            target = self.path_for(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._ensure_gitignore()
            os.replace(item, target)
            back.append(key)
        return back

    def keys(self) -> list[str]:
        """Every archived key, sorted; temp files of interrupted writes are not entries."""
        if not self.root.is_dir():
            return []
        found = []
        for fan in self.root.iterdir():
            if len(fan.name) != 2 or not fan.is_dir():
                continue
            for item in fan.iterdir():
                name = item.name
                if name.endswith(_SUFFIX) and _KEY.fullmatch(name[:-len(_SUFFIX)]):
                    found.append(name[:-len(_SUFFIX)])
        return sorted(found)

    def nearest(self, request: CompletionRequest) -> tuple[str, list[str]] | None:
        """The archived request most like `request`, and what differs (archived → requested)."""
        index = self._index()
        if not index:
            return None
        wanted = _index_record(request.key(), request.canonical())
        best = max(sorted(index), key=lambda k: _similarity(index[k], wanted))
        entry = self.get_entry(best)
        if entry is None:  # removed since the index was read
            return None
        return best, describe_differences(entry["request"], request.canonical())

    # -- index ------------------------------------------------------------------------------

    def _ensure_gitignore(self) -> None:
        path = self.root / ".gitignore"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            write_atomic(path, GITIGNORE.encode("utf-8"))

    def _append_index(self, records: list[dict[str, Any]]) -> None:
        # One O_APPEND write per batch: concurrent writers never interleave within a line, and a
        # torn last line from a kill is skipped on read and re-derived from the entry.
        data = "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n"
                       for r in records).encode("utf-8")
        with self._index_lock:
            fd = os.open(self.root / INDEX_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def _index(self) -> dict[str, dict[str, Any]]:
        """Index records of every archived key, adding any entry the index does not know yet."""
        records: dict[str, dict[str, Any]] = {}
        try:
            lines = (self.root / INDEX_NAME).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                record = json.loads(line)
                records[record["k"]] = record
            except (ValueError, KeyError, TypeError):
                continue
        on_disk = set(self.keys())
        missing = []
        for key in sorted(on_disk - records.keys()):
            entry = self.get_entry(key)
            if entry is not None:
                missing.append(_index_record(key, entry["request"]))
        if missing:
            self._ensure_gitignore()
            self._append_index(missing)
            records.update((r["k"], r) for r in missing)
        return {k: v for k, v in records.items() if k in on_disk}
