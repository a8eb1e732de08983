"""Fiedler: the registry, choosing, teams, accounting, budgets, and the provider seam."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest

from mad.app import Ecosystem
from mad.core.bus import Message
from mad.core.mad import MADError, ask
from mad.fiedler import Fiedler
from mad.fiedler.providers import Completion, ModelSpec, ProviderError
from tests.helpers import free_port

REMOTE_KEY = "sk-remote-test-key-123"


def call(eco: Ecosystem, who: str, action: str, **args: Any) -> Any:
    assert eco.bus and eco.obs
    return ask(eco.bus, eco.obs, who, "fiedler", action, args)


@pytest.mark.req("REQ-FIEDLER-1")
def test_the_registry_lists_every_model_with_its_prices(eco: Ecosystem) -> None:
    models = {m["id"]: m for m in call(eco, "hopper", "models")}
    assert set(models) == {"local/rules", "local/calc", "local/echo", "local/summarize"}
    rules = models["local/rules"]
    assert rules["capabilities"] == ["chat", "math"] and rules["provider"] == "local"
    assert (rules["price_in"], rules["price_out"], rules["context_window"]) == (0.5, 1.0, 8192)
    assert rules["breaker"] == "closed"


@pytest.mark.req("REQ-FIEDLER-2")
def test_a_model_is_chosen_per_task_and_failures_fall_back(eco: Ecosystem) -> None:
    assert call(eco, "hopper", "choose", task="chat")["id"] == "local/rules"
    assert call(eco, "hopper", "choose", task="summarize")["id"] == "local/summarize"
    with pytest.raises(MADError, match="unknown task 'poetry'"):
        call(eco, "hopper", "choose", task="poetry")
    fiedler: Fiedler = eco.mads["fiedler"]  # type: ignore[assignment]

    class Flaky:
        name = "flaky"

        def complete(self, model: ModelSpec, messages: list[dict[str, str]]) -> Completion:
            raise ProviderError("overloaded")

    fiedler.providers["flaky"] = Flaky()
    fiedler.registry["flaky/genius"] = ModelSpec("flaky/genius", "flaky", frozenset({"chat"}), quality=9)
    assert call(eco, "hopper", "choose", task="chat")["id"] == "flaky/genius"
    for _ in range(eco.config.breaker_threshold):
        answer = call(eco, "hopper", "ask", prompt="hello")
        assert answer["model"] == "local/rules"  # the ladder: the next capable model answers
    assert eco.obs and eco.obs.breaker("model:flaky/genius").state == "open"
    assert call(eco, "hopper", "choose", task="chat")["id"] == "local/rules"


@pytest.mark.req("REQ-FIEDLER-3")
def test_a_consulting_team_answers_together(eco: Ecosystem) -> None:
    result = call(eco, "hopper", "consult", prompt="What is 6 x 7?", size=3, task="math")
    assert result["answer"] == "42" and result["agreement"] == 1.0
    assert [m["model"] for m in result["team"]] == ["local/rules", "local/calc"]
    split = call(eco, "hopper", "consult", prompt="hello", size=2)
    assert [m["model"] for m in split["team"]] == ["local/rules", "local/echo"]
    assert split["agreement"] == 0.5 and split["answer"].startswith("Hello!")  # tie: best model's answer


@pytest.mark.req("REQ-FIEDLER-4", "REQ-OBS-4")
def test_tokens_and_cost_are_accounted_per_mad(eco: Ecosystem) -> None:
    one = call(eco, "alpha", "ask", prompt="what is 2 + 2?")
    call(eco, "beta", "ask", prompt="hello", task="chat")
    call(eco, "beta", "ask", prompt="hello")
    usage = call(eco, "hopper", "usage")
    assert set(usage) == {"alpha", "beta"}
    assert usage["alpha"] == {"calls": 1, "tokens_in": one["tokens_in"], "tokens_out": one["tokens_out"],
                              "cost_usd": one["cost_usd"]}
    expected = round((one["tokens_in"] * 0.5 + one["tokens_out"] * 1.0) / 1e6, 8)
    assert one["cost_usd"] == expected and usage["beta"]["calls"] == 2
    assert eco.obs
    metrics = eco.obs.metrics.snapshot()
    assert metrics["beta"]["tokens_in"] == usage["beta"]["tokens_in"]
    assert metrics["beta"]["cost_usd"] == pytest.approx(usage["beta"]["cost_usd"])


@pytest.mark.req("REQ-FIEDLER-5")
def test_a_mad_over_budget_is_refused(make_eco: Callable[..., Ecosystem]) -> None:
    eco = make_eco(budgets={"alpha": 0.00001})
    call(eco, "alpha", "ask", prompt="hello there, how are you today?")
    with pytest.raises(MADError) as refused:
        call(eco, "alpha", "ask", prompt="hello again")
    assert refused.value.code == "budget" and "'alpha' has spent its budget" in refused.value.message
    assert call(eco, "beta", "ask", prompt="hello")["model"] == "local/rules"  # others unaffected


class FakeOpenAI(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.seen.append({"path": self.path, "auth": self.headers["Authorization"], "body": body})
        if self.headers["Authorization"] != f"Bearer {REMOTE_KEY}":
            self.send_response(401)
            self.end_headers()
            return
        answer = json.dumps({"choices": [{"message": {"content": "remote says hi"}}],
                             "usage": {"prompt_tokens": 11, "completion_tokens": 3}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def fake_openai() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    FakeOpenAI.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.req("REQ-FIEDLER-6", "REQ-TURING-2", "REQ-TURING-3")
def test_a_remote_provider_gets_its_key_from_turing(make_eco: Callable[..., Ecosystem], fake_openai: str) -> None:
    provider = {"name": "lab-vllm", "base_url": fake_openai, "key_secret": "fiedler/lab_vllm_key",
                "models": [{"id": "lab-vllm/qwen", "capabilities": ["chat"], "price_in": 2.0,
                            "price_out": 4.0, "quality": 5}]}
    eco = make_eco(fiedler_providers=[provider])
    eco.mads["turing"].put("operator", "fiedler/lab_vllm_key", REMOTE_KEY)  # type: ignore[attr-defined]
    answer = call(eco, "alpha", "ask", prompt="hi remote")
    assert (answer["text"], answer["model"], answer["tokens_in"], answer["tokens_out"]) == (
        "remote says hi", "lab-vllm/qwen", 11, 3)
    assert answer["cost_usd"] == round((11 * 2.0 + 3 * 4.0) / 1e6, 8)
    request = FakeOpenAI.seen[-1]
    assert request["path"] == "/v1/chat/completions" and request["body"]["model"] == "qwen"
    assert request["body"]["messages"] == [{"role": "user", "content": "hi remote"}]
    audit = eco.mads["turing"].audit_log(secret="fiedler/lab_vllm_key")  # type: ignore[attr-defined]
    assert audit[0]["actor"] == "fiedler" and audit[0]["outcome"] == "granted"
    assert "lab_vllm_key" not in json.dumps(provider["models"]) and REMOTE_KEY not in json.dumps(provider)


@pytest.mark.req("REQ-FIEDLER-6", "REQ-FIEDLER-2")
def test_an_unreachable_remote_provider_falls_back_offline(make_eco: Callable[..., Ecosystem]) -> None:
    provider = {"name": "gone", "base_url": f"http://127.0.0.1:{free_port()}/v1", "key_secret": "fiedler/gone",
                "timeout": 2, "models": [{"id": "gone/big", "quality": 9}]}
    eco = make_eco(fiedler_providers=[provider])
    eco.mads["turing"].put("operator", "fiedler/gone", "sk-gone")  # type: ignore[attr-defined]
    assert call(eco, "alpha", "ask", prompt="hello")["model"] == "local/rules"
    assert eco.obs and eco.obs.log.recent(event="model_failed")[0]["model"] == "gone/big"


@pytest.mark.req("REQ-FIEDLER-7")
def test_chat_uses_the_conversation_from_rogers(eco: Ecosystem) -> None:
    assert eco.bus and eco.obs
    for text in ("my name is Ada", "what did I say?"):
        reply = eco.bus.request(Message(topic="mad.fiedler", sender="grace", conversation_id="c-ctx",
                                        body={"action": "chat", "args": {"text": text}}), timeout=5)
    assert reply.body["result"]["text"] == "You said: my name is Ada"
    fresh = call(eco, "grace", "chat", text="what did I say?")
    assert fresh["text"] == "You have not said anything before."
