"""The offline providers: the deterministic fake and replay from the archive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ledger_helpers import make_request

from genops.errors import ConfigError, ProviderError
from genops.ledger.archive import Archive
from genops.ledger.pricing import estimate_request_tokens
from genops.calls import CompletionRequest, CompletionResponse, Provider, Usage
from genops.providers.fake import FakeProvider
from genops.providers.replay import ReplayProvider


def test_fake_default_answer_is_derived_from_the_request_hash(tmp_path: Path) -> None:
    fake = FakeProvider(tmp_path)
    request = make_request("write the bus")
    first, again = fake.complete(request), FakeProvider().complete(request)
    assert first == again and first.text == f"fake response {request.key()[:16]}"
    assert first.stop == "complete" and first.model == "fake-1"
    assert first.usage == Usage(input_tokens=estimate_request_tokens(request), output_tokens=8)
    assert fake.complete(make_request("write the gateway")).text != first.text
    assert isinstance(fake, Provider) and fake.name == "fake"


def test_fake_replies_by_substring_of_the_last_user_message() -> None:
    fake = FakeProvider(replies={"blueprint": "groups: a, b", "bus": "<file path=\"bus.py\"/>"})
    assert fake.complete(make_request("make the blueprint for the bus")).text == "groups: a, b"
    assert fake.complete(make_request("write the bus")).text == "<file path=\"bus.py\"/>"
    assert fake.complete(make_request("other")).text.startswith("fake response ")


def test_fake_reads_its_script_from_the_workspace(tmp_path: Path) -> None:
    (tmp_path / ".genops").mkdir()
    (tmp_path / ".genops" / "fake-responses.json").write_text(json.dumps({"hello": "hi there"}))
    assert FakeProvider(tmp_path).complete(make_request("hello")).text == "hi there"
    (tmp_path / ".genops" / "fake-responses.json").write_text("{not json")
    with pytest.raises(ConfigError, match="fake-responses.json"):
        FakeProvider(tmp_path)


def test_fake_responder_sees_the_request_and_may_raise() -> None:
    seen: list[CompletionRequest] = []

    def responder(request: CompletionRequest) -> str:
        seen.append(request)
        if "overload" in request.messages[-1].content:
            raise ProviderError("fake overload", error_class="overloaded", retryable=True)
        return "ok"

    fake = FakeProvider(responder=responder)
    assert fake.complete(make_request("x")).text == "ok"
    with pytest.raises(ProviderError, match="fake overload"):
        fake.complete(make_request("overload please"))
    assert len(seen) == 2 and fake.requests == seen


def test_fake_truncates_at_the_output_limit_and_says_so() -> None:
    fake = FakeProvider(responder=lambda request: "word " * 1000)
    response = fake.complete(make_request(max_output_tokens=100))
    assert response.stop == "max_tokens" and response.usage.output_tokens == 100
    assert response.text == ("word " * 1000)[:400]


def test_fake_streams_the_whole_text_in_chunks() -> None:
    chunks: list[str] = []
    fake = FakeProvider(responder=lambda request: "abc" * 50, chunk_chars=16)
    response = fake.complete(make_request(), on_text=chunks.append)
    assert "".join(chunks) == response.text and len(chunks) == 10


def test_replay_answers_from_the_archive(tmp_path: Path) -> None:
    request = make_request("write the bus")
    recorded = CompletionResponse(text="the bus", stop="complete", usage=Usage(10, 3))
    Archive.for_workspace(tmp_path).put(request, recorded)
    streamed: list[str] = []
    replay = ReplayProvider(tmp_path)
    response = replay.complete(request, on_text=streamed.append)
    assert response.text == "the bus" and response.from_archive and streamed == ["the bus"]
    assert response.usage == Usage(10, 3) and replay.name == "replay"


def test_replay_miss_names_the_nearest_request_and_the_change(tmp_path: Path) -> None:
    recorded = make_request("line one\nline two\nline three")
    key = Archive.for_workspace(tmp_path).put(
        recorded, CompletionResponse(text="x", stop="complete", usage=Usage()))
    changed = make_request("line one\nline 2\nline three", temperature=0.2)
    with pytest.raises(ProviderError) as caught:
        ReplayProvider(tmp_path).complete(changed)
    error = caught.value
    assert error.error_class == "archive_miss" and not error.retryable
    assert f"nearest archived request {key[:12]}" in error.message
    assert "temperature 0.0 → 0.2" in error.message
    assert "message 2 (user) differs at line 2: 'line two' vs 'line 2'" in error.message
    assert changed.key()[:12] in error.message
    assert error.hint and "genops regenerate" in error.hint


def test_replay_miss_on_an_empty_archive_says_it_is_empty(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="archive at .* is empty"):
        ReplayProvider(tmp_path).complete(make_request())
