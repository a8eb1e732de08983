"""The emulator answers as the real services do, in the order scripted, at the pace asked."""

from __future__ import annotations

import threading
import time

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types
from providers_support import KEYS, VARIANTS, make_request

from genops.errors import ProviderError
from genops.testing.emulator import Emulator, Fault, Pacing, Reply


def post(emu: Emulator, path: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{emu.port}{path}", json=body, timeout=10)


def test_script_and_faults_share_one_queue_per_dialect(emu: Emulator) -> None:
    emu.script("anthropic", Reply(text="one"))
    emu.fault("anthropic", Fault(status=500))
    emu.script("anthropic", Reply(text="three"))
    emu.script("openai", Reply(text="other dialect"))
    provider = VARIANTS["anthropic"].provider(emu)

    assert provider.complete(make_request()).text == "one"
    with pytest.raises(ProviderError):
        provider.complete(make_request())
    assert provider.complete(make_request()).text == "three"
    assert emu.pending("anthropic") == 0 and emu.pending("openai-compatible") == 1


def test_nothing_scripted_is_a_loud_non_retryable_error(emu: Emulator) -> None:
    answer = post(emu, "/v1/messages", {"model": "m", "max_tokens": 1, "messages": []})
    assert answer.status_code == 400
    assert "nothing scripted for anthropic" in answer.json()["error"]["message"]


def test_unknown_routes_are_404(emu: Emulator) -> None:
    assert post(emu, "/v1/embeddings", {}).status_code == 404


def test_responder_answers_once_the_script_is_empty(emu: Emulator) -> None:
    emu.script("openai", Reply(text="scripted"))
    emu.responder(lambda req: Reply(text=f"echo {req.body['messages'][-1]['content']}"), "openai")
    emu.responder(lambda req: Fault(kind="server"))  # every other dialect
    provider = VARIANTS["openai-chat"].provider(emu)

    assert provider.complete(make_request(user="a")).text == "scripted"
    assert provider.complete(make_request(user="b")).text == "echo b"
    with pytest.raises(ProviderError):
        VARIANTS["gemini"].provider(emu).complete(make_request())


def test_requests_are_recorded_with_headers_and_body(emu: Emulator) -> None:
    emu.script("gemini", Reply(text="ok"))
    VARIANTS["gemini"].provider(emu).complete(make_request())
    (req,) = emu.requests_for("gemini")
    assert req.method == "POST" and req.model == "model-2025-01-01"
    assert req.header("X-Goog-Api-Key") == KEYS["GEMINI_API_KEY"]
    assert req.body["generationConfig"]["seed"] == 1234
    emu.clear()
    assert emu.requests == []


def test_pacing_sets_time_to_first_token_and_throughput(emu: Emulator) -> None:
    emu.script("anthropic", Reply(text="x" * 400, pacing=Pacing(ttft_s=0.3, tokens_per_s=500,
                                                                 chunk_chars=40)))
    stamps: list[float] = []
    start = time.monotonic()
    VARIANTS["anthropic"].provider(emu).complete(make_request(),
                                                 lambda d: stamps.append(time.monotonic()))
    assert len(stamps) == 10
    assert stamps[0] - start >= 0.3  # time to first token
    assert stamps[-1] - start >= 0.3 + 0.18  # 100 tokens at 500/s, less the last chunk's wait


def test_explicit_chunks_are_sent_as_given(emu: Emulator) -> None:
    emu.script("openai", Reply(text="hello world", chunks=("hel", "lo ", "world")))
    deltas: list[str] = []
    VARIANTS["openai-chat"].provider(emu).complete(make_request(), deltas.append)
    assert deltas == ["hel", "lo ", "world"]


def test_concurrency_limit_answers_429_with_retry_after() -> None:
    with Emulator(max_in_flight=1, busy_retry_after=2.5, pacing=Pacing(ttft_s=0.5)) as emu:
        emu.responder(lambda req: Reply(text="ok"))
        body = {"model": "m", "max_tokens": 5, "stream": True, "messages": []}
        first = threading.Thread(target=post, args=(emu, "/v1/messages", body))
        first.start()
        time.sleep(0.15)
        busy = post(emu, "/v1/messages", body)
        first.join()
    assert busy.status_code == 429
    assert busy.headers["retry-after"] == "2.5"
    assert busy.json()["error"]["type"] == "rate_limit_error"
    assert emu.busy_rejections == 1 and emu.peak_in_flight == 1


def test_a_drop_cuts_the_stream_mid_body(emu: Emulator) -> None:
    emu.fault("openai", Fault(kind="drop", after_chunks=1))
    with pytest.raises(httpx.RemoteProtocolError):
        post(emu, "/v1/chat/completions", {"model": "m", "stream": True, "messages": []})


def test_errors_use_each_apis_body_shape(emu: Emulator) -> None:
    emu.fault("anthropic", Fault(kind="overloaded"))
    emu.fault("openai", Fault(kind="context_too_long"))
    emu.fault("gemini", Fault(status=429, retry_after=17))
    a = post(emu, "/v1/messages", {})
    o = post(emu, "/v1/chat/completions", {"model": "gpt"})
    g = post(emu, "/v1beta/models/gemini-x:generateContent", {})
    assert (a.status_code, a.json()["type"], a.json()["error"]["type"]) == \
        (529, "error", "overloaded_error")
    assert (o.status_code, o.json()["error"]["code"]) == (400, "context_length_exceeded")
    assert g.status_code == 429 and g.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert g.json()["error"]["details"][-1] == {
        "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}


# --- the non-streaming paths, read by the SDKs themselves ---------------------------------------

def test_anthropic_json_body(emu: Emulator) -> None:
    emu.script("anthropic", Reply(text="plain", input_tokens=3, cache_read=10, stop="max_tokens"))
    client = anthropic.Anthropic(api_key="k", base_url=emu.base_url("anthropic"), max_retries=0)
    message = client.messages.create(model="claude-x", max_tokens=5,
                                     messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "plain" and message.stop_reason == "max_tokens"  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (3, 10)


def test_openai_json_bodies_count_cached_tokens_inside_the_prompt(emu: Emulator) -> None:
    emu.script("openai", Reply(text="plain", input_tokens=3, cache_read=10),
               Reply(text="plain", input_tokens=3, cache_read=10, stop="max_tokens"))
    client = openai.OpenAI(api_key="k", base_url=emu.base_url("openai"), max_retries=0)
    chat = client.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content == "plain"
    assert chat.usage is not None and chat.usage.prompt_tokens == 13
    assert chat.usage.prompt_tokens_details.cached_tokens == 10  # type: ignore[union-attr]
    resp = client.responses.create(model="gpt-x", input="hi")
    assert resp.output_text == "plain" and resp.status == "incomplete"
    assert resp.incomplete_details.reason == "max_output_tokens"  # type: ignore[union-attr]
    assert resp.usage is not None and resp.usage.input_tokens == 13


def test_gemini_json_body(emu: Emulator) -> None:
    emu.script("gemini", Reply(text="plain", input_tokens=3, cache_read=10, stop="refused"))
    client = genai.Client(api_key="k", http_options=types.HttpOptions(
        base_url=emu.base_url("gemini"), api_version="v1beta"))
    result = client.models.generate_content(model="gemini-x", contents="hi")
    assert result.candidates[0].finish_reason == types.FinishReason.SAFETY  # type: ignore[index]
    assert result.usage_metadata.prompt_token_count == 13  # type: ignore[union-attr]
    assert result.usage_metadata.cached_content_token_count == 10  # type: ignore[union-attr]


def test_base_urls_match_what_each_sdk_appends(emu: Emulator) -> None:
    assert emu.base_url("openai").endswith("/v1")
    assert emu.base_url("openai-compatible") == emu.base_url("openai")
    assert not emu.base_url("anthropic").endswith("/v1")
    with pytest.raises(ValueError):
        emu.base_url("bard")


def test_a_failing_responder_fails_the_request_loudly(emu: Emulator,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    def broken(req: object) -> Reply:
        raise RuntimeError("responder bug")
    emu.responder(broken)
    with pytest.raises(ProviderError, match="responder bug") as caught:
        VARIANTS["anthropic"].provider(emu).complete(make_request())
    assert not caught.value.retryable
    assert "RuntimeError" in capsys.readouterr().err


def test_a_drop_on_a_plain_request_is_an_incomplete_body(emu: Emulator) -> None:
    emu.fault("openai", Fault(kind="drop"))
    with pytest.raises(httpx.RemoteProtocolError):
        post(emu, "/v1/chat/completions", {"model": "m", "messages": []})


def test_a_compatible_server_demanding_a_key_says_how_to_give_one(emu: Emulator) -> None:
    emu.fault("openai", Fault(status=401))
    with pytest.raises(ProviderError) as caught:
        VARIANTS["openai-compatible"].provider(emu).complete(make_request())
    assert "api_key_env" in (caught.value.hint or "")
