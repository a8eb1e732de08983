"""The three wire dialects the emulator speaks, kept apart from its server so each reads like its API.

A `Dialect` turns a scripted `Reply` into what the real service sends: an SSE stream split into a
prelude, one event per text delta and a finale (so the server can pace the deltas), or one JSON
body; and turns a `Fault` into the service's real error status, body and headers. Field names and
event sequences follow what the installed SDKs parse (`anthropic.types.RawMessageStreamEvent`,
`openai.types.chat.ChatCompletionChunk`, `openai.types.responses.ResponseStreamEvent`,
`google.genai.types.GenerateContentResponse`).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, ClassVar, Literal

StopKind = Literal["complete", "max_tokens", "refused"]
FaultKind = Literal["rate_limit", "quota", "overloaded", "server", "unavailable", "auth",
                    "context_too_long", "bad_request", "not_found", "drop", "stream_error"]

_KIND_BY_STATUS: dict[int, FaultKind] = {
    400: "bad_request", 401: "auth", 403: "auth", 404: "not_found", 413: "context_too_long",
    429: "rate_limit", 500: "server", 502: "server", 503: "unavailable", 504: "server",
    529: "overloaded"}


@dataclass(frozen=True)
class Pacing:
    """How fast a stream flows: time to first token, tokens per second, characters per delta."""

    ttft_s: float = 0.0
    tokens_per_s: float | None = None  # None: as fast as the socket allows
    chunk_chars: int = 16


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Token counts are genops-normalised: `input_tokens` excludes cache reads
    and writes; each dialect re-encodes them the way its API reports them. None means estimated."""

    text: str = "ok"
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read: int = 0
    cache_write: int = 0
    stop: StopKind = "complete"
    chunks: tuple[str, ...] | None = None  # exact deltas; default: `text` cut by pacing.chunk_chars
    pacing: Pacing | None = None
    model: str | None = None  # reported model id; default: the one requested


@dataclass(frozen=True)
class Fault:
    """One injected failure: an HTTP error, a connection dropped mid-stream, or an error event.

    Give a `kind`, a `status`, or both; the other is filled from the dialect's usual pairing
    (Anthropic overload is 529, a bad Gemini key is 400 INVALID_ARGUMENT, and so on).
    """

    status: int | None = None
    kind: FaultKind | None = None
    retry_after: float | str | None = None  # seconds, or a preformatted HTTP date
    retry_after_ms: float | None = None
    retry_after_http_date: bool = False  # send `retry_after` seconds as an HTTP date
    message: str | None = None
    echo_key: bool = False  # put the caller's credential in the message (to prove it is scrubbed)
    after_chunks: int = 1  # drop / stream_error: text deltas sent before failing
    text: str = "partial output that will never finish "

    def resolved_kind(self) -> FaultKind:
        if self.kind is not None:
            return self.kind
        return _KIND_BY_STATUS.get(self.status or 500, "server" if (self.status or 500) >= 500
                                   else "bad_request")


@dataclass(frozen=True)
class Recorded:
    """One request the emulator received: what tests assert on."""

    dialect: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any
    model: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def stream(self) -> bool:
        return bool(isinstance(self.body, dict) and self.body.get("stream")) or \
            self.query.get("alt") == "sse"

    def credential(self) -> str:
        """The key the SDK sent, whichever header it used."""
        auth = self.header("authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:]
        return self.header("x-api-key") or self.header("x-goog-api-key") or ""


@dataclass
class Rendered:
    """A stream cut where the server paces it: prelude, one event per delta, finale."""

    prelude: list[bytes]
    deltas: list[tuple[str, bytes]]  # (delta text, encoded event)
    finale: list[bytes]
    done: bytes | None = None  # a closing sentinel sent even after a stream_error


@dataclass
class ErrorAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def sse(data: Any, event: str | None = None, *, crlf: bool = False) -> bytes:
    """One server-sent event, with an `event:` line when the dialect names its events."""
    nl = "\r\n" if crlf else "\n"
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}{nl}" if event else ""
    return f"{head}data: {payload}{nl}{nl}".encode()


def cut(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i:i + size] for i in range(0, len(text), size)] or []


def estimate_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


def body_text(body: Any) -> str:
    """All strings in a request body, to estimate its input tokens."""
    if isinstance(body, str):
        return body
    if isinstance(body, dict):
        return " ".join(body_text(v) for k, v in body.items() if k not in ("model",))
    if isinstance(body, list):
        return " ".join(body_text(v) for v in body)
    return ""


def retry_headers(fault: Fault) -> dict[str, str]:
    headers: dict[str, str] = {}
    if fault.retry_after_ms is not None:
        headers["retry-after-ms"] = f"{fault.retry_after_ms:g}"
    if isinstance(fault.retry_after, str):
        headers["retry-after"] = fault.retry_after
    elif fault.retry_after is not None:
        headers["retry-after"] = (formatdate(time.time() + fault.retry_after, usegmt=True)
                                  if fault.retry_after_http_date else f"{fault.retry_after:g}")
    return headers


def _with_key(message: str, fault: Fault, req: Recorded) -> str:
    return f"{message} (received credential: {req.credential()})" if fault.echo_key else message


class Dialect:
    """What one API sends; subclasses fill in the event shapes and error bodies."""

    name: ClassVar[str] = ""
    statuses: ClassVar[dict[FaultKind, int]] = {}

    def status_for(self, fault: Fault) -> int:
        return fault.status or self.statuses.get(fault.resolved_kind(), 500)

    def render_stream(self, reply: Reply, req: Recorded, deltas: list[str]) -> Rendered:
        raise NotImplementedError

    def render_body(self, reply: Reply, req: Recorded) -> dict[str, Any]:
        raise NotImplementedError

    def error(self, fault: Fault, req: Recorded) -> ErrorAnswer:
        raise NotImplementedError

    def stream_error(self, fault: Fault, req: Recorded) -> bytes:
        raise NotImplementedError


# --- Anthropic Messages -------------------------------------------------------------------------

_ANTHROPIC_ERRORS: dict[str, tuple[str, str]] = {
    "rate_limit": ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate "
                   "limit (https://docs.claude.com/en/api/rate-limits); see the response headers "
                   "for current usage. Please reduce the prompt length or the maximum tokens "
                   "requested, or try again later."),
    "quota": ("billing_error", "Your credit balance is too low to access the Anthropic API. "
              "Please go to Plans & Billing to upgrade or purchase credits."),
    "overloaded": ("overloaded_error", "Overloaded"),
    "server": ("api_error", "Internal server error"),
    "unavailable": ("api_error", "Service Unavailable"),
    "auth": ("authentication_error", "invalid x-api-key"),
    "context_too_long": ("invalid_request_error", "prompt is too long: 215336 tokens > 200000 maximum"),
    "bad_request": ("invalid_request_error", "temperature: range: 0..1"),
    "not_found": ("not_found_error", "model: claude-unknown"),
    "stream_error": ("overloaded_error", "Overloaded"),
    "drop": ("api_error", "Internal server error"),
}


class Anthropic(Dialect):
    name = "anthropic"
    statuses: ClassVar[dict[FaultKind, int]] = {
        "rate_limit": 429, "quota": 400, "overloaded": 529, "server": 500, "unavailable": 503,
        "auth": 401, "context_too_long": 400, "bad_request": 400, "not_found": 404,
        "stream_error": 200, "drop": 200}
    _STOPS: ClassVar[dict[str, str]] = {"complete": "end_turn", "max_tokens": "max_tokens",
                                        "refused": "refusal"}

    def _message(self, reply: Reply, req: Recorded, content: list[Any], stop: str | None,
                 output_tokens: int) -> dict[str, Any]:
        return {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
                "model": reply.model or req.model, "content": content, "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": _input(reply, req),
                          "cache_creation_input_tokens": reply.cache_write,
                          "cache_read_input_tokens": reply.cache_read,
                          "output_tokens": output_tokens}}

    def render_stream(self, reply: Reply, req: Recorded, deltas: list[str]) -> Rendered:
        start = self._message(reply, req, [], None, 1)
        prelude = [sse({"type": "message_start", "message": start}, "message_start"),
                   sse({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}}, "content_block_start"),
                   sse({"type": "ping"}, "ping")]
        events = [(d, sse({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": d}}, "content_block_delta"))
                  for d in deltas]
        finale = [sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                  sse({"type": "message_delta",
                       "delta": {"stop_reason": self._STOPS[reply.stop], "stop_sequence": None},
                       "usage": {"output_tokens": _output(reply)}}, "message_delta"),
                  sse({"type": "message_stop"}, "message_stop")]
        return Rendered(prelude, events, finale)

    def render_body(self, reply: Reply, req: Recorded) -> dict[str, Any]:
        return self._message(reply, req, [{"type": "text", "text": reply.text}],
                             self._STOPS[reply.stop], _output(reply))

    def error(self, fault: Fault, req: Recorded) -> ErrorAnswer:
        kind = fault.resolved_kind()
        etype, message = _ANTHROPIC_ERRORS[kind]
        body = {"type": "error", "error": {"type": etype,
                                           "message": _with_key(fault.message or message, fault, req)},
                "request_id": f"req_{uuid.uuid4().hex[:24]}"}
        return ErrorAnswer(self.status_for(fault), body, retry_headers(fault))

    def stream_error(self, fault: Fault, req: Recorded) -> bytes:
        return sse(self.error(fault, req).body, "error")


# --- OpenAI Chat Completions and Responses ------------------------------------------------------

_OPENAI_ERRORS: dict[str, tuple[str, str | None, str]] = {
    "rate_limit": ("tokens", "rate_limit_exceeded", "Rate limit reached for {model} in organization "
                   "org-emulator on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. "
                   "Please try again in 2s. Visit https://platform.openai.com/account/rate-limits "
                   "to learn more."),
    "quota": ("insufficient_quota", "insufficient_quota", "You exceeded your current quota, please "
              "check your plan and billing details."),
    "overloaded": ("server_error", None, "That model is currently overloaded with other requests. "
                   "You can retry your request, or contact us through our help center at "
                   "help.openai.com if the error persists."),
    "server": ("server_error", None, "The server had an error while processing your request. "
               "Sorry about that!"),
    "unavailable": ("server_error", None, "The server is overloaded or not ready yet."),
    "auth": ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-emu***"
             "**key. You can find your API key at https://platform.openai.com/account/api-keys."),
    "context_too_long": ("invalid_request_error", "context_length_exceeded", "This model's maximum "
                         "context length is 128000 tokens. However, your messages resulted in "
                         "130532 tokens. Please reduce the length of the messages."),
    "bad_request": ("invalid_request_error", "unsupported_value", "Unsupported value: 'temperature' "
                    "does not support 0.0 with this model. Only the default (1) value is supported."),
    "not_found": ("invalid_request_error", "model_not_found", "The model `{model}` does not exist "
                  "or you do not have access to it."),
    "stream_error": ("server_error", None, "The server had an error while processing your request."),
    "drop": ("server_error", None, "The server had an error while processing your request."),
}
_RESPONSES_CONTEXT = ("Your input exceeds the context window of this model. Please adjust your "
                      "input and try again.")


class OpenAIChat(Dialect):
    name = "openai"
    statuses: ClassVar[dict[FaultKind, int]] = {
        "rate_limit": 429, "quota": 429, "overloaded": 503, "server": 500, "unavailable": 503,
        "auth": 401, "context_too_long": 400, "bad_request": 400, "not_found": 404,
        "stream_error": 200, "drop": 200}
    _FINISH: ClassVar[dict[str, str]] = {"complete": "stop", "max_tokens": "length", "refused": "stop"}

    def _usage(self, reply: Reply, req: Recorded) -> dict[str, Any]:
        prompt = _input(reply, req) + reply.cache_read + reply.cache_write
        return {"prompt_tokens": prompt, "completion_tokens": _output(reply),
                "total_tokens": prompt + _output(reply),
                "prompt_tokens_details": {"cached_tokens": reply.cache_read,
                                          "cache_write_tokens": reply.cache_write, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0,
                                              "rejected_prediction_tokens": 0}}

    def render_stream(self, reply: Reply, req: Recorded, deltas: list[str]) -> Rendered:
        head = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": reply.model or req.model,
                "system_fingerprint": "fp_emulator", "service_tier": "default"}

        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            return sse({**head, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                             "finish_reason": finish}]})
        field_name = "refusal" if reply.stop == "refused" else "content"
        prelude = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
        events = [(d, chunk({field_name: d}, None)) for d in deltas]
        finale = [chunk({}, self._FINISH[reply.stop])]
        options = req.body.get("stream_options") or {} if isinstance(req.body, dict) else {}
        if options.get("include_usage"):
            finale.append(sse({**head, "choices": [], "usage": self._usage(reply, req)}))
        return Rendered(prelude, events, finale, done=sse("[DONE]"))

    def render_body(self, reply: Reply, req: Recorded) -> dict[str, Any]:
        refused = reply.stop == "refused"
        message: dict[str, Any] = {"role": "assistant", "content": None if refused else reply.text,
                   "refusal": reply.text if refused else None, "annotations": []}
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
                "created": int(time.time()), "model": reply.model or req.model,
                "system_fingerprint": "fp_emulator",
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": self._FINISH[reply.stop]}],
                "usage": self._usage(reply, req)}

    def error(self, fault: Fault, req: Recorded) -> ErrorAnswer:
        kind = fault.resolved_kind()
        etype, code, message = _OPENAI_ERRORS[kind]
        if kind == "context_too_long" and req.path.endswith("/responses"):
            message = _RESPONSES_CONTEXT
        text = _with_key((fault.message or message).replace("{model}", req.model), fault, req)
        body = {"error": {"message": text, "type": etype, "param": None, "code": code}}
        headers = {"x-request-id": f"req_{uuid.uuid4().hex[:24]}", **retry_headers(fault)}
        return ErrorAnswer(self.status_for(fault), body, headers)

    def stream_error(self, fault: Fault, req: Recorded) -> bytes:
        return sse(self.error(fault, req).body)


class OpenAIResponses(OpenAIChat):
    def _response(self, reply: Reply, req: Recorded, status: str, text: str | None) -> dict[str, Any]:
        body = req.body if isinstance(req.body, dict) else {}
        output: list[Any] = []
        if text is not None:
            part = ({"type": "refusal", "refusal": text} if reply.stop == "refused" else
                    {"type": "output_text", "text": text, "annotations": [], "logprobs": []})
            output = [{"id": "msg_emulator", "type": "message", "role": "assistant",
                       "status": "completed" if status == "completed" else "incomplete",
                       "content": [part]}]
        incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
        prompt = _input(reply, req) + reply.cache_read + reply.cache_write
        usage = None if text is None else {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": reply.cache_read,
                                     "cache_write_tokens": reply.cache_write},
            "output_tokens": _output(reply), "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + _output(reply)}
        return {"id": "resp_emulator", "object": "response", "created_at": int(time.time()),
                "status": status, "error": None, "incomplete_details": incomplete,
                "instructions": body.get("instructions"), "model": reply.model or req.model,
                "output": output, "parallel_tool_calls": True,
                "temperature": body.get("temperature"), "top_p": body.get("top_p"),
                "max_output_tokens": body.get("max_output_tokens"), "tool_choice": "auto",
                "tools": [], "prompt_cache_key": body.get("prompt_cache_key"),
                "store": body.get("store", True), "usage": usage}

    def render_stream(self, reply: Reply, req: Recorded, deltas: list[str]) -> Rendered:
        seq = iter(range(1_000_000))
        refused = reply.stop == "refused"
        final = "incomplete" if reply.stop == "max_tokens" else "completed"
        delta_type = "response.refusal.delta" if refused else "response.output_text.delta"

        def ev(kind: str, **data: Any) -> bytes:
            return sse({"type": kind, "sequence_number": next(seq), **data}, kind)
        item = {"id": "msg_emulator", "type": "message", "role": "assistant",
                "status": "in_progress", "content": []}
        empty_part = ({"type": "refusal", "refusal": ""} if refused else
                      {"type": "output_text", "text": "", "annotations": [], "logprobs": []})
        where = {"item_id": "msg_emulator", "output_index": 0, "content_index": 0}
        prelude = [ev("response.created", response=self._response(reply, req, "in_progress", None)),
                   ev("response.in_progress", response=self._response(reply, req, "in_progress", None)),
                   ev("response.output_item.added", output_index=0, item=item),
                   ev("response.content_part.added", part=empty_part, **where)]
        extra: dict[str, Any] = {} if refused else {"logprobs": []}
        events = [(d, ev(delta_type, delta=d, **where, **extra)) for d in deltas]
        done = self._response(reply, req, final, reply.text)
        finale = [ev("response.refusal.done" if refused else "response.output_text.done",
                     **({"refusal": reply.text} if refused else {"text": reply.text, "logprobs": []}),
                     **where),
                  ev("response.content_part.done", part=done["output"][0]["content"][0], **where),
                  ev("response.output_item.done", output_index=0, item=done["output"][0]),
                  ev(f"response.{final}", response=done)]
        return Rendered(prelude, events, finale)

    def render_body(self, reply: Reply, req: Recorded) -> dict[str, Any]:
        final = "incomplete" if reply.stop == "max_tokens" else "completed"
        return self._response(reply, req, final, reply.text)

    def stream_error(self, fault: Fault, req: Recorded) -> bytes:
        error = self.error(fault, req).body["error"]
        return sse({"type": "error", "code": error["code"] or error["type"],
                    "message": error["message"], "param": None, "sequence_number": 99}, "error")


_GEMINI_ERRORS: dict[str, tuple[str, str]] = {
    "rate_limit": ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    "quota": ("RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and "
              "billing details."),
    "overloaded": ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    "server": ("INTERNAL", "An internal error has occurred. Please retry or report in "
               "https://developers.generativeai.google/guide/troubleshooting"),
    "unavailable": ("UNAVAILABLE", "The service is currently unavailable."),
    "auth": ("INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
    "context_too_long": ("INVALID_ARGUMENT", "The input token count (1250000) exceeds the maximum "
                         "number of tokens allowed (1048576)."),
    "bad_request": ("INVALID_ARGUMENT", "Invalid value at 'generation_config.temperature' (TYPE_FLOAT)"),
    "not_found": ("NOT_FOUND", "models/{model} is not found for API version v1beta, or is not "
                  "supported for generateContent."),
    "stream_error": ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    "drop": ("INTERNAL", "An internal error has occurred."),
}

_GRPC_STATUS_BY_HTTP = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED",
                        500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


class Gemini(Dialect):
    name = "gemini"
    statuses: ClassVar[dict[FaultKind, int]] = {
        "rate_limit": 429, "quota": 429, "overloaded": 503, "server": 500, "unavailable": 503,
        "auth": 400, "context_too_long": 400, "bad_request": 400, "not_found": 404,
        "stream_error": 200, "drop": 200}
    _FINISH: ClassVar[dict[str, str]] = {"complete": "STOP", "max_tokens": "MAX_TOKENS", "refused": "SAFETY"}

    def _usage(self, reply: Reply, req: Recorded, final: bool) -> dict[str, Any]:
        prompt = _input(reply, req) + reply.cache_read
        usage: dict[str, Any] = {"promptTokenCount": prompt, "totalTokenCount": prompt,
                                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]}
        if reply.cache_read:
            usage["cachedContentTokenCount"] = reply.cache_read
        if final:
            usage["candidatesTokenCount"] = _output(reply)
            usage["totalTokenCount"] = prompt + _output(reply)
        return usage

    def _chunk(self, reply: Reply, req: Recorded, text: str | None, finish: str | None,
               response_id: str) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}] if text else [],
                                                 "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
            if finish == "SAFETY":
                candidate["safetyRatings"] = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                                               "probability": "HIGH", "blocked": True}]
        return {"candidates": [candidate], "usageMetadata": self._usage(reply, req, bool(finish)),
                "modelVersion": reply.model or req.model, "responseId": response_id}

    def render_stream(self, reply: Reply, req: Recorded, deltas: list[str]) -> Rendered:
        rid = uuid.uuid4().hex[:20]
        events = [(d, sse(self._chunk(reply, req, d, None, rid), crlf=True)) for d in deltas]
        finale = [sse(self._chunk(reply, req, None, self._FINISH[reply.stop], rid), crlf=True)]
        return Rendered([], events, finale)

    def render_body(self, reply: Reply, req: Recorded) -> dict[str, Any]:
        return self._chunk(reply, req, reply.text, self._FINISH[reply.stop], uuid.uuid4().hex[:20])

    def error(self, fault: Fault, req: Recorded) -> ErrorAnswer:
        kind = fault.resolved_kind()
        grpc, message = _GEMINI_ERRORS[kind]
        status = self.status_for(fault)
        if fault.status is not None and kind == "auth":
            grpc, message = _GRPC_STATUS_BY_HTTP.get(status, grpc), "Request had invalid " \
                "authentication credentials."
        details: list[dict[str, Any]] = []
        if kind == "auth" and status == 400:
            details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                            "metadata": {"service": "generativelanguage.googleapis.com"}})
        if isinstance(fault.retry_after, (int, float)) and not fault.retry_after_http_date:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": f"{fault.retry_after:g}s"})
        text = _with_key((fault.message or message).replace("{model}", req.model), fault, req)
        body = {"error": {"code": status, "message": text, "status": grpc, "details": details}}
        headers = {k: v for k, v in retry_headers(fault).items()
                   if k != "retry-after" or fault.retry_after_http_date
                   or isinstance(fault.retry_after, str)}
        return ErrorAnswer(status, body, headers)

    def stream_error(self, fault: Fault, req: Recorded) -> bytes:
        body = self.error(fault, req).body
        body["error"]["code"] = 503 if body["error"]["status"] == "UNAVAILABLE" else 500
        return sse(body, crlf=True)


DIALECTS: dict[str, Dialect] = {"anthropic": Anthropic(), "openai": OpenAIChat(),
                                "gemini": Gemini()}
RESPONSES = OpenAIResponses()


def _input(reply: Reply, req: Recorded) -> int:
    if reply.input_tokens is not None:
        return reply.input_tokens
    return max(1, estimate_tokens(body_text(req.body)) - reply.cache_read - reply.cache_write)


def _output(reply: Reply) -> int:
    return reply.output_tokens if reply.output_tokens is not None else estimate_tokens(reply.text)


class PromptCache:
    """Anthropic's prompt cache, as its docs describe it: every block marked `cache_control` ends a
    cacheable prefix (system, then messages, up to and including that block); a request reads the
    longest marked prefix already cached and writes the longer ones it marks. Token counts are the
    emulator's estimate (characters / 4)."""

    def __init__(self) -> None:
        self._stored: set[str] = set()

    def usage(self, body: Any) -> tuple[int, int]:
        """(cache_read, cache_write) tokens for one Messages request, updating the cache."""
        prefixes = _marked_prefixes(body)
        read = max((chars for key, chars in prefixes if key in self._stored), default=0)
        write = 0
        for key, chars in prefixes:
            if key not in self._stored:
                self._stored.add(key)
                write = max(write, chars - read)
        return read // 4, write // 4


def _marked_prefixes(body: Any) -> list[tuple[str, int]]:
    """(hash, length in characters) of every prefix that ends at a `cache_control` block."""
    import hashlib

    blocks: list[tuple[str, bool]] = []
    system = body.get("system")
    if isinstance(system, str):
        blocks.append(("system:" + system, False))
    for index, block in enumerate(system if isinstance(system, list) else []):
        blocks.append((("system:" if index == 0 else "") + str(block.get("text", "")),
                       bool(block.get("cache_control"))))
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        for index, block in enumerate(content or []):
            head = f"{message.get('role')}:" if index == 0 else ""
            blocks.append((head + str(block.get("text", "")), bool(block.get("cache_control"))))
    digest = hashlib.sha256()
    chars = 0
    prefixes = []
    for text, marked in blocks:
        digest.update(text.encode("utf-8") + b"\0")
        chars += len(text)
        if marked:
            prefixes.append((digest.copy().hexdigest(), chars))
    return prefixes
