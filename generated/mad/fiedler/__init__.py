"""Fiedler, the LLM orchestra conductor.

Fiedler knows every model the ecosystem may use (the registry), picks one per
task, assembles consulting teams that answer together, and accounts every
token and cent to the MAD that asked. Models are called through the provider
seam (``mad.fiedler.providers``): offline, deterministic local models by
default; OpenAI-compatible servers when configured, their keys fetched from
Turing at call time. Each model has its own circuit breaker; a failing model is
skipped and the next capable one answers (the fallback ladder).
"""
from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Iterable

from mad.core.bus import Bus, Message
from mad.core.mad import MAD, MADError, ToolSpec
from mad.core.observability import CircuitOpen, Observability
from mad.fiedler.providers import (
    DEFAULT_MODELS,
    Completion,
    LocalProvider,
    ModelSpec,
    OpenAICompatibleProvider,
    Provider,
    ProviderError,
)

TASKS = {"chat": "chat", "math": "math", "summarize": "summarize"}


def models_from_config(entries: Iterable[dict[str, Any]], provider: str) -> list[ModelSpec]:
    return [ModelSpec(id=e["id"], provider=provider,
                      capabilities=frozenset(e.get("capabilities", ["chat"])),
                      price_in=float(e.get("price_in", 0)), price_out=float(e.get("price_out", 0)),
                      context_window=int(e.get("context_window", 8192)),
                      quality=int(e.get("quality", 1))) for e in entries]


class Fiedler(MAD):
    name = "fiedler"
    tools = (
        ToolSpec("ask", "Ask the best model for a task.", "ask",
                 {"prompt": {"type": "string"}, "task": {"type": "string"}}, ("prompt",)),
        ToolSpec("consult", "Ask a consulting team of models; returns every answer and the consensus.",
                 "consult", {"prompt": {"type": "string"}, "size": {"type": "integer"},
                             "task": {"type": "string"}}, ("prompt",)),
        ToolSpec("models", "List the model registry.", "models"),
        ToolSpec("usage", "Tokens and cost per MAD.", "usage"),
    )

    def __init__(self, bus: Bus, obs: Observability, models: Iterable[ModelSpec] = DEFAULT_MODELS,
                 remote_providers: Iterable[dict[str, Any]] = (), budgets: dict[str, float] | None = None,
                 history_window: int = 20) -> None:
        super().__init__(bus, obs)
        self.registry: dict[str, ModelSpec] = {m.id: m for m in models}
        self.providers: dict[str, Provider] = {"local": LocalProvider()}
        for entry in remote_providers:
            secret = entry["key_secret"]
            self.providers[entry["name"]] = OpenAICompatibleProvider(
                entry["name"], entry["base_url"], lambda s=secret: self._secret(s),
                float(entry.get("timeout", 30)))
            for spec in models_from_config(entry.get("models", []), entry["name"]):
                self.registry[spec.id] = spec
        self.budgets = dict(budgets or {})
        self.history_window = history_window
        self._usage: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def _secret(self, name: str) -> str:
        return str(self.ask("turing", "get_secret", name=name)["value"])

    # -- choosing -----------------------------------------------------------
    def ranked(self, task: str) -> list[ModelSpec]:
        """Models able to do ``task`` whose breaker is not open, best first, then cheapest."""
        if task not in TASKS:
            raise MADError("bad_request", f"unknown task {task!r}; known: {sorted(TASKS)}")
        need = TASKS[task]
        capable = [m for m in self.registry.values() if need in m.capabilities
                   and self.obs.breaker(f"model:{m.id}").state != "open"]
        return sorted(capable, key=lambda m: (-m.quality, m.price_in + m.price_out, m.id))

    def choose(self, task: str) -> ModelSpec:
        ranked = self.ranked(task)
        if not ranked:
            raise MADError("unavailable", f"no available model can do {task!r}")
        return ranked[0]

    # -- calling and accounting ----------------------------------------------
    def _check_budget(self, mad: str) -> None:
        budget = self.budgets.get(mad)
        if budget is not None and self.usage_of(mad)["cost_usd"] >= budget:
            raise MADError("budget", f"{mad!r} has spent its budget of ${budget:.4f}")

    def _call(self, model: ModelSpec, messages: list[dict[str, str]], mad: str) -> Completion:
        breaker = self.obs.breaker(f"model:{model.id}")
        try:
            breaker.before_call()
            completion = self.providers[model.provider].complete(model, messages)
        except (ProviderError, CircuitOpen, KeyError) as exc:
            if not isinstance(exc, CircuitOpen):
                breaker.failure()
            self.log("model_failed", "warning", model=model.id, error=str(exc))
            raise ProviderError(str(exc)) from None
        breaker.success()
        cost = model.cost(completion.tokens_in, completion.tokens_out)
        with self._lock:
            row = self._usage.setdefault(mad, {"calls": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0})
            row["calls"] += 1
            row["tokens_in"] += completion.tokens_in
            row["tokens_out"] += completion.tokens_out
            row["cost_usd"] = round(row["cost_usd"] + cost, 8)
        self.obs.metrics.record_usage(mad, completion.tokens_in, completion.tokens_out, cost)
        self.log("model_call", model=model.id, requester=mad, tokens_in=completion.tokens_in,
                 tokens_out=completion.tokens_out, cost_usd=cost)
        return completion

    def complete(self, task: str, messages: list[dict[str, str]], mad: str) -> dict[str, Any]:
        """Answer with the best available model, falling back down the ladder on failure."""
        self._check_budget(mad)
        for model in self.ranked(task):
            try:
                completion = self._call(model, messages, mad)
            except ProviderError:
                continue
            return {"text": completion.text, "model": model.id, "tokens_in": completion.tokens_in,
                    "tokens_out": completion.tokens_out,
                    "cost_usd": model.cost(completion.tokens_in, completion.tokens_out)}
        raise MADError("unavailable", f"every model for {task!r} failed or is cut off")

    def consult(self, task: str, prompt: str, size: int, mad: str) -> dict[str, Any]:
        self._check_budget(mad)
        team = self.ranked(task)[:max(1, min(int(size), 7))]
        answers = []
        for model in team:
            try:
                completion = self._call(model, [{"role": "user", "content": prompt}], mad)
            except ProviderError as exc:
                answers.append({"model": model.id, "error": str(exc)})
                continue
            answers.append({"model": model.id, "text": completion.text,
                            "tokens_in": completion.tokens_in, "tokens_out": completion.tokens_out,
                            "cost_usd": model.cost(completion.tokens_in, completion.tokens_out)})
        texts = [a["text"] for a in answers if "text" in a]
        if not texts:
            raise MADError("unavailable", "no member of the consulting team answered")
        votes = Counter(t.strip().lower() for t in texts)
        count = votes.most_common(1)[0][1]
        # ties go to the best-ranked model's answer
        best = next(t for t in texts if votes[t.strip().lower()] == count)
        answered = [a for a in answers if "text" in a]
        return {"answer": best, "agreement": round(count / len(texts), 3), "team": answers,
                "tokens_in": sum(a["tokens_in"] for a in answered),
                "tokens_out": sum(a["tokens_out"] for a in answered),
                "cost_usd": round(sum(a["cost_usd"] for a in answered), 8)}

    def usage_of(self, mad: str) -> dict[str, float]:
        with self._lock:
            return dict(self._usage.get(mad, {"calls": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0}))

    def _context(self, conversation_id: str | None, text: str) -> list[dict[str, str]]:
        """The conversation so far, from Rogers, as chat messages ending with ``text``."""
        if not conversation_id:
            return [{"role": "user", "content": text}]
        try:
            history = self.ask("rogers", "history", conversation_id=conversation_id,
                               limit=self.history_window * 2)
        except MADError as exc:
            self.log("context_unavailable", "warning", error=str(exc))
            return [{"role": "user", "content": text}]
        messages = []
        for m in history["messages"]:
            if m["kind"] == "request" and m["recipient"] == self.name and m["body"].get("action") == "chat":
                messages.append({"role": "user", "content": m["text"]})
            elif m["kind"] == "reply" and m["sender"] == self.name and m["body"].get("ok"):
                messages.append({"role": "assistant", "content": m["text"]})
        if not messages or messages[-1] != {"role": "user", "content": text}:
            messages.append({"role": "user", "content": text})
        return messages[-self.history_window:]

    # -- actions -------------------------------------------------------------
    def do_chat(self, request: Message, text: str, task: str = "chat", team: int = 0) -> dict[str, Any]:
        """One turn of a conversation; the envelope's conversation id gives the context."""
        if not isinstance(text, str) or not text.strip():
            raise MADError("bad_request", "text must be a non-empty string")
        if team and int(team) > 1:
            result = self.consult(task, text, int(team), request.sender)
            return {"text": result["answer"], "model": "team", "team": result["team"],
                    "agreement": result["agreement"], "tokens_in": result["tokens_in"],
                    "tokens_out": result["tokens_out"], "cost_usd": result["cost_usd"]}
        return self.complete(task, self._context(request.conversation_id, text), request.sender)

    def do_ask(self, request: Message, prompt: str, task: str = "chat") -> dict[str, Any]:
        return self.complete(task, [{"role": "user", "content": prompt}], request.sender)

    def do_consult(self, request: Message, prompt: str, size: int = 3, task: str = "chat") -> dict[str, Any]:
        return self.consult(task, prompt, size, request.sender)

    def do_choose(self, request: Message, task: str = "chat") -> dict[str, Any]:
        return self.choose(task).describe()

    def do_models(self, request: Message) -> list[dict[str, Any]]:
        return [m.describe() | {"breaker": self.obs.breaker(f"model:{m.id}").state}
                for m in sorted(self.registry.values(), key=lambda m: m.id)]

    def do_usage(self, request: Message) -> dict[str, dict[str, float]]:
        with self._lock:
            return {mad: dict(row) for mad, row in sorted(self._usage.items())}
