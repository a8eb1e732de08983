"""Each provider streams the answer, reports why it stopped and what it cost, and sends the pins."""

from __future__ import annotations

import pytest
from providers_support import SDK_VARIANTS, VARIANTS, make_request, wire

from genops.calls import Usage
from genops.testing.emulator import Emulator, Reply

ALL_VARIANTS = [*SDK_VARIANTS, "openai-compatible"]
TEXT = "<file path=\"mad/bus.py\">\nclass Bus:\n    def publish(self, topic, message): ...\n</file>\n"


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_streams_deltas_that_join_to_the_text(emu: Emulator, variant: str) -> None:
    emu.script(VARIANTS[variant].dialect, Reply(text=TEXT, input_tokens=40, output_tokens=25))
    deltas: list[str] = []

    response = VARIANTS[variant].provider(emu).complete(make_request(), deltas.append)

    assert response.text == TEXT
    assert len(deltas) > 1 and "".join(deltas) == TEXT
    assert response.stop == "complete"
    assert response.model == "model-2025-01-01"
    assert emu.requests[-1].stream, "the provider must ask for a stream"


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_works_without_a_callback(emu: Emulator, variant: str) -> None:
    emu.script(VARIANTS[variant].dialect, Reply(text="short answer"))
    assert VARIANTS[variant].provider(emu).complete(make_request()).text == "short answer"


# Usage is normalised: input excludes cache reads and writes, whatever the API counted.
# Gemini's implicit cache reports reads only; it never bills a write per token.
@pytest.mark.parametrize(("variant", "expected"), [
    ("anthropic", Usage(input_tokens=120, output_tokens=33, cache_read_tokens=9000,
                        cache_write_tokens=700)),
    ("openai-chat", Usage(120, 33, 9000, 700)),
    ("openai-responses", Usage(120, 33, 9000, 700)),
    ("gemini", Usage(120, 33, 9000, 0)),
])
def test_usage_maps_cache_reads_and_writes(emu: Emulator, variant: str, expected: Usage) -> None:
    cache_write = expected.cache_write_tokens
    emu.script(VARIANTS[variant].dialect, Reply(text=TEXT, input_tokens=120, output_tokens=33,
                                                cache_read=9000, cache_write=cache_write))

    response = VARIANTS[variant].provider(emu).complete(make_request())

    assert response.usage == expected


@pytest.mark.parametrize("variant", ALL_VARIANTS)
@pytest.mark.parametrize("stop", ["complete", "max_tokens", "refused"])
def test_reports_why_the_answer_stopped(emu: Emulator, variant: str, stop: str) -> None:
    text = "I can't help with that." if stop == "refused" else "def f():\n    return"
    emu.script(VARIANTS[variant].dialect, Reply(text=text, stop=stop))  # type: ignore[arg-type]

    response = VARIANTS[variant].provider(emu).complete(make_request())

    assert response.stop == stop
    assert response.raw_stop_reason  # the provider's own word is kept for the manifest
    if stop == "max_tokens":
        assert response.text == text  # a cut-off answer is kept, to be continued


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_pinned_parameters_arrive_on_the_wire(emu: Emulator, variant: str) -> None:
    emu.script(VARIANTS[variant].dialect, Reply(text="ok"))
    request = make_request(model="pinned-2025-06-01", max_output_tokens=777, temperature=0.25,
                           seed=42, top_p=0.9)

    VARIANTS[variant].provider(emu).complete(request)

    sent = wire(variant, emu.requests[-1])
    assert sent["model"] == "pinned-2025-06-01"
    assert sent["max_tokens"] == 777
    assert sent["temperature"] == 0.25
    assert sent["top_p"] == 0.9
    # Only Chat Completions and Gemini have a seed; Anthropic and the Responses API do not.
    has_seed = variant in ("openai-chat", "openai-compatible", "gemini")
    assert sent["seed"] == (42 if has_seed else None)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_unset_top_p_and_seed_are_not_sent(emu: Emulator, variant: str) -> None:
    emu.script(VARIANTS[variant].dialect, Reply(text="ok"))
    VARIANTS[variant].provider(emu).complete(make_request(seed=None, top_p=None))
    sent = wire(variant, emu.requests[-1])
    assert sent["seed"] is None and sent["top_p"] is None


def test_anthropic_marks_the_cacheable_prefix(emu: Emulator) -> None:
    emu.script("anthropic", Reply(text="ok"))
    VARIANTS["anthropic"].provider(emu).complete(make_request())
    body = emu.requests[-1].body

    assert body["system"] == [{"type": "text", "text": "You are the senior synthesizer.",
                               "cache_control": {"type": "ephemeral"}}]
    first, last = body["messages"]
    assert first["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in last["content"][-1]
    assert "seed" not in body


def test_anthropic_keeps_only_the_last_four_cache_breakpoints(emu: Emulator) -> None:
    from genops.providers.anthropic_provider import anthropic_params
    from genops.calls import CompletionRequest, Message
    messages = tuple(Message("user", f"part {i}", cache_prefix=True) for i in range(6))
    params = anthropic_params(CompletionRequest("anthropic", "m", messages, 10))
    marked = [m["content"][0]["text"] for m in params["messages"]
              if "cache_control" in m["content"][0]]
    assert marked == ["part 2", "part 3", "part 4", "part 5"]


@pytest.mark.parametrize("variant", ["openai-chat", "openai-responses"])
def test_openai_prompt_cache_key_names_the_cacheable_prefix(emu: Emulator, variant: str) -> None:
    """Requests sharing the prefix up to the first breakpoint (the blueprint request and every
    group) share one prompt_cache_key, whatever follows it; another prefix gets another key."""
    from dataclasses import replace

    from genops.calls import Message

    provider = VARIANTS[variant].provider(emu)
    blueprint = make_request(user="Plan the tree", cache_key="prefix-1")
    system, context, _ = blueprint.messages
    grown = Message("user", context.content + "\n## Blueprint\n...", cache_prefix=True,
                    cache_split=len(context.content))
    group = replace(blueprint, cache_key="prefix-2",
                    messages=(system, grown, Message("user", "Write group core")))
    other = make_request(user="Plan the tree")
    other = replace(other, messages=(Message("system", "Another system prompt.", cache_prefix=True),
                                     *other.messages[1:]))
    for request in (blueprint, group, other):
        emu.script("openai", Reply(text="ok"))
        provider.complete(request)
    keys = [wire(variant, r)["cache_key"] for r in emu.requests]
    assert keys[0] == keys[1] and keys[0] != keys[2]
    assert all(k and k.startswith("genops-") for k in keys)


@pytest.mark.parametrize("variant", ["openai-chat", "openai-responses"])
def test_openai_sends_the_request_cache_key_without_breakpoints(emu: Emulator,
                                                                 variant: str) -> None:
    from dataclasses import replace

    from genops.calls import Message

    emu.script("openai", Reply(text="ok"))
    request = replace(make_request(cache_key="prefix-7f3a"),
                      messages=(Message("user", "no cacheable prefix"),))
    VARIANTS[variant].provider(emu).complete(request)
    assert wire(variant, emu.requests[-1])["cache_key"] == "prefix-7f3a"


def test_openai_compatible_servers_get_max_tokens_and_no_cache_key(emu: Emulator) -> None:
    emu.script("openai", Reply(text="ok"))
    VARIANTS["openai-compatible"].provider(emu).complete(make_request(cache_key="prefix-7f3a"))
    body = emu.requests[-1].body
    assert body["max_tokens"] == 512 and "max_completion_tokens" not in body
    assert "prompt_cache_key" not in body


def test_chat_asks_for_the_usage_chunk(emu: Emulator) -> None:
    emu.script("openai", Reply(text="ok"))
    VARIANTS["openai-chat"].provider(emu).complete(make_request())
    assert emu.requests[-1].body["stream_options"] == {"include_usage": True}


def test_responses_does_not_store_the_conversation(emu: Emulator) -> None:
    emu.script("openai", Reply(text="ok"))
    VARIANTS["openai-responses"].provider(emu).complete(make_request())
    body = emu.requests[-1].body
    assert body["store"] is False
    assert [item["role"] for item in body["input"]] == ["system", "user", "user"]


def test_gemini_puts_the_shared_prefix_first(emu: Emulator) -> None:
    """Gemini caches implicitly: the system instruction and the specs must lead the request."""
    emu.script("gemini", Reply(text="ok"))
    VARIANTS["gemini"].provider(emu).complete(make_request())
    req = emu.requests[-1]

    assert req.path == "/v1beta/models/model-2025-01-01:streamGenerateContent"
    assert req.query == {"alt": "sse"}
    assert req.body["systemInstruction"]["parts"] == [{"text": "You are the senior synthesizer."}]
    assert [c["parts"][0]["text"] for c in req.body["contents"]] == [
        "SPECS: every MAD talks over the bus.", "Write mad/bus.py"]
    assert "automaticContinuation" not in str(req.body)


def test_gemini_sends_assistant_turns_as_model(emu: Emulator) -> None:
    from genops.calls import CompletionRequest, Message
    emu.script("gemini", Reply(text="ok"))
    request = CompletionRequest("gemini", "g-1", (Message("user", "go"),
                                                  Message("assistant", "partial")), 10)
    VARIANTS["gemini"].provider(emu).complete(request)
    assert [c["role"] for c in emu.requests[-1].body["contents"]] == ["user", "model"]


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_extra_parameters_reach_the_body(emu: Emulator, variant: str) -> None:
    emu.script(VARIANTS[variant].dialect, Reply(text="ok"))
    extra = ((("generationConfig", {"topK": 7}),) if variant == "gemini" else (("top_k", 7),))
    VARIANTS[variant].provider(emu).complete(make_request(extra=extra))
    body = emu.requests[-1].body
    assert (body["generationConfig"]["topK"] if variant == "gemini" else body["top_k"]) == 7
    if variant == "gemini":
        assert body["generationConfig"]["maxOutputTokens"] == 512  # merged, not replaced


@pytest.mark.parametrize("variant", SDK_VARIANTS)
def test_calls_from_many_threads_share_one_provider(emu: Emulator, variant: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from genops.testing.emulator import texts_of

    def answer(req):  # type: ignore[no-untyped-def]
        asked = [t for t in texts_of(req.body) if t.startswith("Write ")]
        return Reply(text=f"answer to {asked[-1]}")
    emu.responder(answer)
    provider = VARIANTS[variant].provider(emu)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: provider.complete(make_request(user=f"Write file {i}")),
                                range(24)))

    assert [r.text for r in results] == [f"answer to Write file {i}" for i in range(24)]
