"""The archive: round trip, same bytes everywhere, no half entries, small on disk, nearest()."""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ledger_helpers import make_request

from genops.errors import ConfigError, UsageError
from genops.ledger.archive import Archive
from genops.calls import CompletionRequest, CompletionResponse, Message, Usage

RESPONSE = CompletionResponse(text='<file path="a.py">\nprint(1)\n</file>\n', stop="complete",
                              usage=Usage(120, 30, 1000, 0), model="fake-1",
                              raw_stop_reason="end")
SPEC = "\n".join(f"- REQ-BUS-{n}: the bus delivers message {n} exactly once, in order."
                 for n in range(1, 40))


def test_round_trip_keeps_request_response_and_usage(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    request = make_request(SPEC)
    key = archive.put(request, RESPONSE)
    assert key == request.key()
    assert archive.path_for(key) == tmp_path / "archive" / key[:2] / f"{key}.json.gz"
    got = archive.get(key)
    assert got is not None and got.from_archive
    assert got.text == RESPONSE.text and got.usage == RESPONSE.usage and got.stop == "complete"
    entry = archive.get_entry(key)
    assert entry is not None
    assert CompletionRequest.from_canonical(entry["request"]) == request
    assert archive.keys() == [key] and key in archive
    assert archive.get("0" * 64) is None and archive.get_entry("0" * 64) is None


def test_same_request_gives_the_same_bytes_in_any_archive(tmp_path: Path) -> None:
    one, two = Archive(tmp_path / "one"), Archive(tmp_path / "two")
    key = one.put(make_request(SPEC), RESPONSE)
    time.sleep(1.1)  # a gzip header with a timestamp would now differ
    two.put(make_request(SPEC), RESPONSE)
    first = one.path_for(key).read_bytes()
    assert first == two.path_for(key).read_bytes()
    assert first[4:8] == b"\0\0\0\0"  # gzip mtime field
    one.put(make_request(SPEC), RESPONSE)
    assert one.path_for(key).read_bytes() == first


def test_keys_are_checked_before_touching_the_filesystem(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    with pytest.raises(UsageError, match="not an archive key"):
        archive.get("../../etc/passwd")


def test_entries_stay_small_when_compressed(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    # Real prose and code: this package's own sources as the prompt.
    sources = "\n".join(p.read_text() for p in sorted(Path("genops").rglob("*.py"))[:20])
    request = CompletionRequest(provider="fake", model="fake-1", max_output_tokens=1000,
                                messages=(Message("system", SPEC * 5, cache_prefix=True),
                                          Message("user", sources)))
    response = CompletionResponse(text=sources[:20000], stop="complete", usage=Usage(1, 1))
    key = archive.put(request, response)
    raw = len(request.canonical_json().encode()) + len(response.text.encode())
    stored = archive.path_for(key).stat().st_size
    assert stored < raw * 0.35, (stored, raw)


def test_a_corrupt_entry_is_named_with_how_to_restore_it(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    key = archive.put(make_request(), RESPONSE)
    path = archive.path_for(key)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ConfigError, match="corrupt archive entry") as caught:
        archive.get(key)
    assert str(path) in str(caught.value) and "git checkout" in str(caught.value)


def test_a_credential_never_enters_the_archive(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    archive = Archive(tmp_path / "archive")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-CANARY-1234567890")
    with pytest.raises(UsageError, match=r"\$OPENAI_API_KEY") as caught:
        archive.put(make_request("my key is sk-test-CANARY-1234567890"), RESPONSE)
    assert "CANARY" not in str(caught.value)
    with_header = CompletionRequest(provider="openai", model="m", max_output_tokens=1,
                                    messages=(Message("user", "hi"),),
                                    extra=(("api_key", "whatever"),))
    with pytest.raises(UsageError, match="looks like a credential"):
        archive.put(with_header, RESPONSE)
    assert archive.keys() == []


WRITER = """
import random, sys
from pathlib import Path
from genops.ledger.archive import Archive
from genops.calls import CompletionRequest, CompletionResponse, Message, Usage
archive = Archive(Path(sys.argv[1]))
blob = random.Random(7).randbytes(1_500_000).hex()  # 3 MB that barely compresses
request = CompletionRequest(provider="fake", model="fake-1", max_output_tokens=10,
                            messages=(Message("user", "the same request every time"),))
n = 0
while True:  # rewrite the same entry with a different answer, forever
    archive.put(request, CompletionResponse(text=f"{n} {blob}", stop="complete", usage=Usage(1, 1)))
    print(request.key(), flush=True)
    n += 1
"""


def test_readers_and_a_killed_writer_never_see_half_an_entry(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    key = proc.stdout.readline().strip()  # the first entry is complete
    archive = Archive(root)
    reads = 0
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:  # read while the writer keeps replacing the entry
        entry = archive.get_entry(key)
        assert entry is not None and len(entry["response"]["text"].split(" ", 1)[1]) == 3_000_000
        reads += 1
    proc.send_signal(signal.SIGKILL)  # most likely in the middle of a write
    proc.wait()
    assert reads > 0 and archive.keys() == [key]
    assert archive.get_entry(key) is not None
    leftovers = [p for p in root.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    assert all(p.name.startswith(".") for p in leftovers)
    assert ".*.tmp" in (root / ".gitignore").read_text()


def _base() -> CompletionRequest:
    spec = "\n".join(f"line {n}: requirement text number {n}" for n in range(1, 30))
    return CompletionRequest(provider="openai", model="gpt-5-2025-08-07", max_output_tokens=16000,
                             messages=(Message("system", "You are the senior engineer."),
                                       Message("user", spec),
                                       Message("assistant", "Blueprint: three groups.")))


def _edited_line_14(request: CompletionRequest) -> CompletionRequest:
    text = request.messages[1].content.replace("requirement text number 14",
                                               "requirement text number fourteen")
    return CompletionRequest(**{**request.__dict__, "messages": (
        request.messages[0], Message("user", text), request.messages[2])})


def _replace(request: CompletionRequest, **changes: object) -> CompletionRequest:
    return CompletionRequest(**{**request.__dict__, **changes})  # type: ignore[arg-type]


NEAREST = [
    ("model", lambda r: _replace(r, model="gpt-5-mini-2025-08-07"),
     ["model: gpt-5-2025-08-07 → gpt-5-mini-2025-08-07"]),
    ("temperature", lambda r: _replace(r, temperature=0.2), ["temperature 0.0 → 0.2"]),
    ("output limit", lambda r: _replace(r, max_output_tokens=32000),
     ["max_output_tokens 16000 → 32000"]),
    ("one line of a message", _edited_line_14,
     ["message 2 (user) differs at line 14: 'line 14: requirement text number 14' vs "
      "'line 14: requirement text number fourteen'"]),
    ("one more message", lambda r: _replace(r, messages=(*r.messages, Message("user", "go on"))),
     ["messages: 3 vs 4"]),
    ("provider and seed", lambda r: _replace(r, provider="openai-compatible", seed=7),
     ["provider: openai → openai-compatible", "seed none → 7"]),
]


@pytest.mark.parametrize(("what", "change", "expected"), NEAREST, ids=[n[0] for n in NEAREST])
def test_nearest_names_what_differs(tmp_path: Path, what: str, change: object,
                                    expected: list[str]) -> None:
    archive = Archive(tmp_path / "archive")
    base = _base()
    base_key = archive.put(base, RESPONSE)
    archive.put(make_request("something else entirely", model="fake-1"), RESPONSE)
    missed = change(base)  # type: ignore[operator]
    found = archive.nearest(missed)
    assert found is not None
    key, differences = found
    assert key == base_key
    assert differences == expected


def test_nearest_clips_long_lines_around_the_difference(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    long_line = "x" * 200 + "OLD" + "y" * 200
    archive.put(make_request(long_line), RESPONSE)
    found = archive.nearest(make_request(long_line.replace("OLD", "NEW")))
    assert found is not None
    [difference] = found[1]
    assert "OLD" in difference and "NEW" in difference and len(difference) < 220


def test_nearest_of_an_empty_archive_is_none(tmp_path: Path) -> None:
    assert Archive(tmp_path / "nothing").nearest(make_request()) is None


def test_nearest_sees_entries_that_arrived_without_the_index(tmp_path: Path) -> None:
    # Entries pulled from git arrive without the local, git-ignored index.
    source = Archive(tmp_path / "source")
    key = source.put(_base(), RESPONSE)
    clone = tmp_path / "clone"
    shutil.copytree(source.root, clone, ignore=shutil.ignore_patterns(".index.jsonl"))
    assert not (clone / ".index.jsonl").exists()
    found = Archive(clone).nearest(_replace(_base(), temperature=0.5))
    assert found == (key, ["temperature 0.0 → 0.5"])
    assert (clone / ".index.jsonl").exists()


def test_a_torn_index_line_is_skipped_and_rebuilt(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    key = archive.put(_base(), RESPONSE)
    index = archive.root / ".index.jsonl"
    index.write_text(index.read_text()[:25])  # a kill in the middle of the append
    found = archive.nearest(_replace(_base(), temperature=0.5))
    assert found is not None and found[0] == key


def test_the_stored_entry_is_plain_sorted_json(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    key = archive.put(make_request(), RESPONSE)
    entry = json.loads(gzip.decompress(archive.path_for(key).read_bytes()))
    assert list(entry) == sorted(entry)
    assert entry["format"] == 1 and entry["response"]["usage"]["cache_read_tokens"] == 1000
    assert "from_archive" not in entry["response"]
