"""llama.cpp's `llama-server` speaking the OpenAI Responses API only partly, as the wire emulator
serves it: it reports `status: completed` for an answer cut at the output limit or the context
window, and refuses input items it does not know (issue 24's findings against a real server).
Split from `emulator_wire` (ADR-0004: modules under 600 lines).
"""

from __future__ import annotations

import time
from typing import Any

from genops.testing.emulator_wire import (
    OpenAIResponses,
    Recorded,
    Rendered,
    Reply,
    _input,
    _output,
    sse,
)


class LlamaServerResponses(OpenAIResponses):
    """llama-server's partial `/v1/responses` (tools/server/server-task.cpp, server-chat.cpp):
    sparse events (no sequence numbers, no output indexes), `status: "completed"` whatever
    stopped the answer (no `incomplete_details`, no `response.incomplete`, even when it was cut at
    `max_output_tokens`), and usage counted by the server. The request is converted to Chat
    Completions first; `input_error` refuses the input items that conversion cannot place."""

    def _final(self, reply: Reply, req: Recorded, text: str) -> dict[str, Any]:
        prompt = _input(reply, req) + reply.cache_read + reply.cache_write
        output = [{"type": "message", "status": "completed", "id": "msg_emulator",
                   "content": [{"type": "output_text", "annotations": [], "logprobs": [],
                                "text": text}], "role": "assistant"}] if text else []
        return {"id": "resp_emulator", "object": "response", "created_at": int(time.time()),
                "status": "completed", "model": reply.model or req.model, "output": output,
                "usage": {"input_tokens": prompt, "output_tokens": _output(reply),
                          "total_tokens": prompt + _output(reply),
                          "input_tokens_details": {"cached_tokens": reply.cache_read}}}

    def render_stream(self, reply: Reply, req: Recorded, deltas: list[str]) -> Rendered:
        def ev(kind: str, **data: Any) -> bytes:
            return sse({"type": kind, **data}, kind)
        started = {"id": "resp_emulator", "object": "response", "status": "in_progress"}
        prelude = [ev("response.created", response=started),
                   ev("response.in_progress", response=started),
                   ev("response.output_item.added", item={
                       "content": [], "id": "msg_emulator", "role": "assistant",
                       "status": "in_progress", "type": "message"}),
                   ev("response.content_part.added", item_id="msg_emulator",
                      part={"type": "output_text", "text": ""})]
        events = [(d, ev("response.output_text.delta", item_id="msg_emulator", delta=d))
                  for d in deltas]
        final = self._final(reply, req, reply.text)
        finale = [ev("response.output_text.done", item_id="msg_emulator", text=reply.text),
                  ev("response.content_part.done", item_id="msg_emulator",
                     part=final["output"][0]["content"][0] if final["output"] else {}),
                  ev("response.output_item.done", item=final["output"][0] if final["output"]
                     else {}),
                  ev("response.completed", response=final)]
        return Rendered(prelude, events, finale)

    def render_body(self, reply: Reply, req: Recorded) -> dict[str, Any]:
        return self._final(reply, req, reply.text)

    @staticmethod
    def input_error(body: Any) -> str | None:
        """What llama-server answers 400 for when converting the input items, else None: an
        item with string content is an input message only for user, system and developer; an
        assistant item needs `"type": "message"` ("Cannot determine type of 'item'")."""
        if not isinstance(body, dict) or "input" not in body:
            return "'input' is required"
        if body.get("previous_response_id"):
            return "llama.cpp does not support 'previous_response_id'."
        items = body["input"]
        if isinstance(items, str):
            return None
        if not isinstance(items, list):
            return "'input' must be a string or array of objects"
        for item in items:
            if not isinstance(item, dict):
                return "Cannot determine type of 'item'"
            role, kind = item.get("role"), item.get("type")
            if role in ("user", "system", "developer") and "content" in item:
                continue
            if role == "assistant" and kind == "message":
                continue
            return "Cannot determine type of 'item'"
        return None

    @staticmethod
    def error_body(message: str) -> dict[str, Any]:
        """llama-server's error body for an invalid request (HTTP 400)."""
        return {"error": {"code": 400, "message": message, "type": "invalid_request_error"}}


# --- Gemini generateContent ---------------------------------------------------------------------



LLAMA_RESPONSES = LlamaServerResponses()
