"""A local HTTP server that speaks the OpenAI, Anthropic and Gemini wire formats.

Tests and benchmarks point the real SDKs at it, so everything between genops and the socket (SDK
request building, SSE parsing, error mapping, retry headers) runs for real with no network and no
key. It serves, on 127.0.0.1 and a free port, in a background thread:

    POST /v1/messages                               Anthropic Messages (SSE and JSON)
    POST /v1/chat/completions                       OpenAI Chat Completions (SSE and JSON)
    POST /v1/responses                              OpenAI Responses (SSE and JSON)
    POST /v1beta/models/{model}:generateContent     Gemini (also /v1/...)
    POST /v1beta/models/{model}:streamGenerateContent?alt=sse

Each dialect answers from a FIFO script of `Reply` and `Fault` items, then from a responder
callback, then with a 400 that says nothing was scripted:

    with Emulator() as emu:
        emu.fault("anthropic", Fault(status=429, retry_after=1.5))
        emu.script("anthropic", Reply(text="hello", input_tokens=12, cache_read=100))
        ...  # AnthropicProvider(ProviderSettings(base_url=emu.base_url("anthropic")))
        assert emu.requests[-1].body["max_tokens"] == 256

`max_in_flight` answers 429 with retry-after beyond N concurrent requests, as a real rate limiter
does; `pacing` spaces the deltas to simulate time to first token and tokens per second.

`local=LocalServer(...)` makes the OpenAI dialect behave like a local server instead of the hosted
API, as measured on llama.cpp's two servers (`LLAMA_CPP_PYTHON`, `LLAMA_SERVER`): no usage in a
stream, 404 on `/v1/responses` (llama-cpp-python) or a partial Responses API (llama-server:
`status: "completed"` for an answer cut at max_output_tokens, 400 for an assistant input item
without `"type": "message"`), a prompt over the context window answered with an empty 200
stream or a 400 `exceed_context_size_error`, and an answer that fills the window cut with
finish_reason "length" below the requested max_tokens (llama-server) or by closing the
connection mid-stream (llama-cpp-python).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from genops.testing.emulator_llama import LLAMA_RESPONSES
from genops.testing.emulator_wire import (
    DIALECTS,
    RESPONSES,
    Dialect,
    Fault,
    FaultKind,
    Pacing,
    PromptCache,
    Recorded,
    Rendered,
    Reply,
    StopKind,
    body_text,
    cut,
    estimate_tokens,
)

__all__ = ["LLAMA_CPP_PYTHON", "LLAMA_SERVER", "Emulator", "Fault", "FaultKind", "LocalServer",
           "Pacing", "Recorded", "Reply", "Responder", "StopKind"]

Responder = Callable[[Recorded], "Reply | Fault"]
_ALIASES = {"openai-compatible": "openai", "openai_compatible": "openai", "google": "gemini"}
_GEMINI_PATH = re.compile(r"^/(v1|v1beta|v1alpha)/models/(?P<model>[^:/]+):(?P<method>\w+)$")


@dataclass(frozen=True)
class LocalServer:
    """Where a local OpenAI-compatible server departs from the hosted API."""

    stream_usage: bool = True  # False: ignores stream_options.include_usage (llama-cpp-python)
    # False: 404 on /v1/responses (llama-cpp-python, Ollama, LM Studio); "partial": llama-server's
    # (answers cut at max_output_tokens say "completed"; unplaceable input items are a 400)
    responses_api: bool | Literal["partial"] = True
    context_window: int | None = None  # n_ctx, in the server's tokens (`chars_per_token` each)
    overflow: Literal["empty_200", "400"] = "empty_200"  # a prompt that does not fit n_ctx
    # an answer that fills n_ctx: finish_reason "length" (llama-server), or the connection closes
    # mid-stream with no finish and no terminating chunk (llama-cpp-python's generator raises)
    window_end: Literal["length", "drop"] = "length"
    # the server's tokenizer: fewer characters per token than genops' estimate (4 bytes) makes
    # the server count more tokens than genops planned with (real tokenizers run 5-30% over it)
    chars_per_token: float = 4.0

    def tokens(self, text: str) -> int:
        """How many tokens the server counts in `text`."""
        if self.chars_per_token == 4.0:
            return estimate_tokens(text)
        return math.ceil(len(text) / self.chars_per_token) if text else 0

    def prompt_tokens(self, req: Recorded) -> int:
        return self.tokens(body_text(req.body))

    def _chars(self, tokens: int) -> int:
        return int(tokens * self.chars_per_token)

    def fit(self, reply: Reply, req: Recorded) -> Reply:
        """The reply cut where the window fills: finish_reason "length", whatever max_tokens was."""
        if self.context_window is None:
            return reply
        room = max(1, self.context_window - self.prompt_tokens(req))
        output = reply.output_tokens if reply.output_tokens is not None else \
            self.tokens(reply.text)
        if output <= room:
            return reply
        return dataclasses.replace(reply, text=reply.text[:self._chars(room)], output_tokens=room,
                                   stop="max_tokens", chunks=None)

    def answer(self, reply: Reply, req: Recorded, responses: bool) -> Reply | Fault:
        """The reply as this server sends it: cut at max_output_tokens by a partial Responses
        API (which then says "completed"), cut where the window fills (finish "length", or a
        connection closed mid-stream)."""
        body = req.body if isinstance(req.body, dict) else {}
        if self.chars_per_token != 4.0:  # report the server's own counts
            reply = dataclasses.replace(
                reply, input_tokens=self.prompt_tokens(req) if reply.input_tokens is None
                else reply.input_tokens, output_tokens=self.tokens(reply.text)
                if reply.output_tokens is None else reply.output_tokens)
        limit = body.get("max_output_tokens")
        if responses and self.responses_api == "partial" and isinstance(limit, int):
            output = reply.output_tokens if reply.output_tokens is not None else \
                self.tokens(reply.text)
            if output > limit:
                reply = dataclasses.replace(reply, text=reply.text[:self._chars(limit)],
                                            output_tokens=limit, stop="complete", chunks=None)
        fitted = self.fit(reply, req)
        if fitted is not reply and self.window_end == "drop":
            return Fault(kind="drop", after_chunks=1_000_000, text=fitted.text)
        return fitted


# llama-cpp-python 0.3.x: no stream usage, no Responses API, an oversized prompt ends the stream,
# and so does an answer that fills the window (mid-stream, with no finish reason).
LLAMA_CPP_PYTHON = LocalServer(stream_usage=False, responses_api=False, overflow="empty_200",
                               window_end="drop")
# upstream llama-server: stream usage (with cached tokens), 400 exceed_context_size_error, a
# partial Responses API.
LLAMA_SERVER = LocalServer(stream_usage=True, responses_api="partial", overflow="400")


def _dialect_name(name: str) -> str:
    name = _ALIASES.get(name, name)
    if name not in DIALECTS:
        raise ValueError(f"unknown dialect {name!r}; use one of {', '.join(DIALECTS)}")
    return name


class Emulator:
    """The server plus its script; thread-safe, usable as a context manager."""

    def __init__(self, *, pacing: Pacing | None = None, max_in_flight: int | None = None,
                 busy_retry_after: float = 1.0, host: str = "127.0.0.1",
                 local: LocalServer | None = None, prompt_cache: bool = False) -> None:
        self.pacing = pacing or Pacing()
        self.local = local
        # Simulate Anthropic's prompt cache: replies that script no cache counts get computed ones.
        self.prompt_cache = PromptCache() if prompt_cache else None
        self.max_in_flight = max_in_flight
        self.busy_retry_after = busy_retry_after
        self._host = host
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Reply | Fault]] = {name: deque() for name in DIALECTS}
        self._responders: dict[str | None, Responder] = {}
        self._requests: list[Recorded] = []
        self._in_flight = 0
        self.peak_in_flight = 0
        self.busy_rejections = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Emulator:
        server = _Server((self._host, 0), _Handler)
        server.emulator = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="genops-emulator",
                                        kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; use `with Emulator() as emu:`")
        return int(self._server.server_address[1])

    def base_url(self, dialect: str) -> str:
        """The base URL each SDK expects: openai wants `/v1`, anthropic and google-genai the root."""
        name = _dialect_name(dialect)
        root = f"http://{self._host}:{self.port}"
        return f"{root}/v1" if name == "openai" else root

    # --- scripting ------------------------------------------------------------------------------

    def script(self, dialect: str, *items: Reply | Fault) -> None:
        """Queue answers for the next requests of one dialect, in order."""
        with self._lock:
            self._queues[_dialect_name(dialect)].extend(items)

    def fault(self, dialect: str, *faults: Fault) -> None:
        """Queue failures; the same FIFO as `script`, so faults and replies interleave as queued."""
        self.script(dialect, *faults)

    def responder(self, fn: Responder | None, dialect: str | None = None) -> None:
        """Answer by content once the script is empty (for one dialect, or all with None)."""
        key = None if dialect is None else _dialect_name(dialect)
        with self._lock:
            if fn is None:
                self._responders.pop(key, None)
            else:
                self._responders[key] = fn

    def pending(self, dialect: str) -> int:
        with self._lock:
            return len(self._queues[_dialect_name(dialect)])

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, dialect: str) -> list[Recorded]:
        name = _dialect_name(dialect)
        return [r for r in self.requests if r.dialect == name]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            for queue in self._queues.values():
                queue.clear()
            self.peak_in_flight = self.busy_rejections = 0

    # --- used by the handler --------------------------------------------------------------------

    def _admit(self, req: Recorded) -> bool:
        """Record the request and take an in-flight slot; False means 'too busy'."""
        with self._lock:
            self._requests.append(req)
            if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
                self.busy_rejections += 1
                return False
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            return True

    def _answer_for(self, req: Recorded) -> Reply | Fault:
        """The next answer, with simulated cache counts when `prompt_cache` is on."""
        answer = self._scripted_or_responded(req)
        if (self.prompt_cache is not None and req.dialect == "anthropic"
                and isinstance(answer, Reply) and not (answer.cache_read or answer.cache_write)):
            with self._lock:
                read, write = self.prompt_cache.usage(req.body)
            answer = dataclasses.replace(answer, cache_read=read, cache_write=write)
        return answer

    def _scripted_or_responded(self, req: Recorded) -> Reply | Fault:
        """The next scripted item, else the responder's answer, else a loud 400."""
        with self._lock:
            queue = self._queues[req.dialect]
            if queue:
                return queue.popleft()
            responder = self._responders.get(req.dialect) or self._responders.get(None)
        if responder is None:
            return Fault(status=400, kind="bad_request",
                         message=f"emulator: nothing scripted for {req.dialect} {req.path}")
        try:
            return responder(req)
        except Exception as exc:  # a broken test responder must fail the test, not hang it
            traceback.print_exc()
            return Fault(status=400, kind="bad_request",
                         message=f"emulator: the responder raised {exc!r}")

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _Server(ThreadingHTTPServer):
    """Daemon handler threads; a client hanging up is normal here, not an error to print."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 with keep-alive and chunked SSE, as the SDKs' httpx expects."""

    protocol_version = "HTTP/1.1"
    server_version = "genops-emulator/1"
    timeout = 60

    @property
    def emu(self) -> Emulator:
        return self.server.emulator  # type: ignore[attr-defined, no-any-return]

    def setup(self) -> None:
        super().setup()
        # Events are small writes; without this, Nagle plus delayed ACKs add ~40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._send_json(404, {"error": {"message": f"no route for GET {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        route = self._route(url.path, body)
        if route is None:
            self._send_json(404, {"error": {"message": f"no route for POST {url.path}"}})
            return
        name, dialect, model, stream = route
        req = Recorded(dialect=name, method="POST", path=url.path, query=query,
                       headers={k.lower(): v for k, v in self.headers.items()}, body=body,
                       model=model)
        stream = stream or req.stream
        if not self.emu._admit(req):
            busy = Fault(kind="rate_limit", retry_after=self.emu.busy_retry_after,
                         message="emulator: too many requests in flight")
            self._send_error(dialect, busy, req)
            return
        try:
            local = self.emu.local if name == "openai" else None
            if local is None:
                self._answer(dialect, req, self.emu._answer_for(req), stream)
            elif not self._local_refusal(dialect, req, local, stream):
                self._local_answer(dialect, req, local, stream)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.emu._release()

    def _route(self, path: str, body: Any) -> tuple[str, Dialect, str, bool] | None:
        model = str(body.get("model", "")) if isinstance(body, dict) else ""
        if path == "/v1/messages":
            return "anthropic", DIALECTS["anthropic"], model, False
        if path == "/v1/chat/completions":
            return "openai", DIALECTS["openai"], model, False
        if path == "/v1/responses":
            return "openai", RESPONSES, model, False
        match = _GEMINI_PATH.match(path)
        if match and match["method"] in ("generateContent", "streamGenerateContent"):
            return ("gemini", DIALECTS["gemini"], match["model"],
                    match["method"] == "streamGenerateContent")
        return None

    def _local_refusal(self, dialect: Dialect, req: Recorded, local: LocalServer,
                       stream: bool) -> bool:
        """Answer what a local server refuses before generating; True if it did."""
        if dialect is RESPONSES and not local.responses_api:
            self._send_json(404, {"detail": "Not Found"})  # FastAPI's (llama-cpp-python) 404
            return True
        if dialect is RESPONSES and local.responses_api == "partial":
            refused = LLAMA_RESPONSES.input_error(req.body)
            if refused is not None:
                self._send_json(400, LLAMA_RESPONSES.error_body(refused))
                return True
        window = local.context_window
        prompt = local.prompt_tokens(req)
        if window is None or prompt < window:
            return False
        if local.overflow == "empty_200" and stream:  # headers, then the stream just ends
            self._send_head(200, "text/event-stream; charset=utf-8", None)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return True
        self._send_json(400, {"error": {
            "code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": prompt,
            "n_ctx": window,
            "message": "the request exceeds the available context size, try increasing it"}})
        return True

    def _local_answer(self, dialect: Dialect, req: Recorded, local: LocalServer,
                      stream: bool) -> None:
        answer = self.emu._answer_for(req)
        responses = dialect is RESPONSES
        if isinstance(answer, Reply):
            answer = local.answer(answer, req, responses)
        if responses and local.responses_api == "partial":
            dialect = LLAMA_RESPONSES
        if not local.stream_usage and isinstance(req.body, dict):
            req = dataclasses.replace(req, body={k: v for k, v in req.body.items()
                                                 if k != "stream_options"})
        self._answer(dialect, req, answer, stream)

    def _answer(self, dialect: Dialect, req: Recorded, answer: Reply | Fault, stream: bool) -> None:
        if isinstance(answer, Fault) and answer.resolved_kind() not in ("drop", "stream_error"):
            self._send_error(dialect, answer, req)
            return
        if not stream:
            if isinstance(answer, Fault):  # a mid-stream fault on a plain request: cut the body
                self._send_head(200, "application/json", 4096)
                self.wfile.write(b'{"id": "trunc')
                self.wfile.flush()
                self.close_connection = True
                return
            self._send_json(200, dialect.render_body(answer, req))
            return
        self._stream(dialect, req, answer)

    def _stream(self, dialect: Dialect, req: Recorded, answer: Reply | Fault) -> None:
        reply = answer if isinstance(answer, Reply) else Reply(text=answer.text)
        pacing = reply.pacing or self.emu.pacing
        deltas = list(reply.chunks) if reply.chunks is not None else cut(reply.text,
                                                                          pacing.chunk_chars)
        rendered: Rendered = dialect.render_stream(reply, req, deltas)
        self._send_head(200, "text/event-stream; charset=utf-8", None)
        for event in rendered.prelude:
            self._chunk(event)
        if pacing.ttft_s:
            time.sleep(pacing.ttft_s)
        limit = answer.after_chunks if isinstance(answer, Fault) else len(rendered.deltas)
        for text, event in rendered.deltas[:limit]:
            self._chunk(event)
            if pacing.tokens_per_s:
                time.sleep(estimate_tokens(text) / pacing.tokens_per_s)
        if isinstance(answer, Fault):
            if answer.resolved_kind() == "drop":  # no terminating chunk: the peer sees a cut body
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._chunk(dialect.stream_error(answer, req))
        else:
            for event in rendered.finale:
                self._chunk(event)
        if rendered.done is not None:
            self._chunk(rendered.done)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # --- HTTP plumbing --------------------------------------------------------------------------

    def _send_error(self, dialect: Dialect, fault: Fault, req: Recorded) -> None:
        answer = dialect.error(fault, req)
        self._send_json(answer.status, answer.body, answer.headers)

    def _send_head(self, status: int, content_type: str, length: int | None,
                   headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        if length is None:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("content-length", str(length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self._send_head(status, "application/json", len(data), headers)
        self.wfile.write(data)
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def texts_of(body: Any) -> Iterable[str]:
    """Every string value in a request body (e.g. to answer by content in a responder)."""
    if isinstance(body, str):
        yield body
    elif isinstance(body, dict):
        for value in body.values():
            yield from texts_of(value)
    elif isinstance(body, list):
        for value in body:
            yield from texts_of(value)
