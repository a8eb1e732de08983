"""Grace's guards at the DMZ: rate limits and input validation.

Nothing from outside reaches a MAD before it has passed these: a body must be
JSON of bounded size, carry only known fields of the right type and length,
and the caller must be within its rate.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
from typing import Any

CONVERSATION_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")  # use fullmatch: "$" matches before a final "\n"
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SURROGATE_RE = re.compile("[\ud800-\udfff]")  # JSON may spell them (\\ud800); UTF-8 cannot encode them
TAG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")  # as Rogers' (REQ-ROGERS-6); always fullmatch
MAX_TAGS = 16
PAGE_DEFAULT, PAGE_MAX = 50, 200  # conversations a page of GET /api/conversations (REQ-GRACE-6)
TASKS = ("chat", "math", "summarize")
MAX_MESSAGE_CHARS = 4000
MAX_QUERY_CHARS = 200


class HTTPProblem(Exception):
    """A request refused with an HTTP status and a message safe to show."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class RateLimiter:
    """A token bucket per key: ``rate`` tokens a second, at most ``burst`` saved."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if a request by ``key`` may pass now, else the seconds until one may."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate if self.rate > 0 else math.inf

    def check(self, key: str, what: str) -> None:
        wait = self.take(key)
        if wait:
            retry = max(1, math.ceil(wait))
            raise HTTPProblem(429, f"rate limit exceeded for {what}; retry in {retry}s",
                              {"Retry-After": str(retry)})


def parse_json_body(content_type: str | None, length: str | None, read: Any, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object, or an :class:`HTTPProblem`."""
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise HTTPProblem(415, "Content-Type must be application/json")
    if length is None:
        raise HTTPProblem(411, "Content-Length is required")
    try:
        size = int(length)
    except ValueError:
        raise HTTPProblem(400, "bad Content-Length") from None
    if size < 0 or size > max_bytes:
        raise HTTPProblem(413, f"body larger than {max_bytes} bytes")
    raw = read(size)
    if len(raw) < size:
        raise HTTPProblem(400, "body is shorter than its Content-Length")
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise HTTPProblem(400, "body is nested too deeply") from None
    except (UnicodeDecodeError, ValueError):
        raise HTTPProblem(400, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HTTPProblem(400, "body must be a JSON object")
    return data


def clean_text(value: Any, field: str, max_chars: int) -> str:
    if not isinstance(value, str):
        raise HTTPProblem(400, f"{field} must be a string")
    value = value.strip()
    if not value:
        raise HTTPProblem(400, f"{field} must not be empty")
    if len(value) > max_chars:
        raise HTTPProblem(400, f"{field} is longer than {max_chars} characters")
    if CONTROL_RE.search(value):
        raise HTTPProblem(400, f"{field} contains control characters")
    if SURROGATE_RE.search(value):
        raise HTTPProblem(400, f"{field} contains an unpaired surrogate (not valid Unicode text)")
    return value


def conversation_id(value: Any) -> str:
    if not isinstance(value, str) or not CONVERSATION_RE.fullmatch(value):
        raise HTTPProblem(400, "conversation_id is malformed")
    return value


def validate_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat request's fields, checked: message, conversation_id?, task?, team?"""
    unknown = sorted(set(body) - {"message", "conversation_id", "task", "team"})
    if unknown:
        raise HTTPProblem(400, f"unknown field(s): {', '.join(unknown)}")
    out: dict[str, Any] = {"message": clean_text(body.get("message"), "message", MAX_MESSAGE_CHARS)}
    if body.get("conversation_id") is not None:
        out["conversation_id"] = conversation_id(body["conversation_id"])
    task = body.get("task", "chat")
    if task not in TASKS:
        raise HTTPProblem(400, f"task must be one of {', '.join(TASKS)}")
    out["task"] = task
    team = body.get("team", 0)
    if isinstance(team, bool) or not isinstance(team, int) or not 0 <= team <= 5:
        raise HTTPProblem(400, "team must be an integer from 0 to 5")
    out["team"] = team
    return out


def tag_name(value: Any) -> str:
    if not isinstance(value, str) or not TAG_RE.fullmatch(value):
        raise HTTPProblem(400, "a tag is 1-32 lowercase letters, digits or '-', starting with a letter or digit")
    return value


def validate_tags(body: dict[str, Any]) -> list[str]:
    """The body of POST /api/conversations/<id>/tags: ``{"tags": [1-16 tags]}`` (REQ-GRACE-9)."""
    unknown = sorted(set(body) - {"tags"})
    if unknown:
        raise HTTPProblem(400, f"unknown field(s): {', '.join(unknown)}")
    tags = body.get("tags")
    if not isinstance(tags, list) or not 1 <= len(tags) <= MAX_TAGS:
        raise HTTPProblem(400, f"tags must be a list of 1 to {MAX_TAGS} tags")
    return sorted({tag_name(tag) for tag in tags})


def encode_cursor(updated: float, cid: str) -> str:
    """An opaque page cursor: the last listed conversation's ``updated`` and ``id``."""
    raw = json.dumps([updated, cid], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> dict[str, Any]:
    """``before`` for Rogers from a cursor this server gave out; anything else is 400."""
    try:
        if len(value) > 200:
            raise ValueError
        updated, cid = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if isinstance(updated, bool) or not isinstance(updated, (int, float)) or \
                not isinstance(cid, str) or not CONVERSATION_RE.fullmatch(cid):
            raise ValueError
    except (ValueError, TypeError, binascii.Error):
        raise HTTPProblem(400, "cursor is malformed: use the one the previous page's Link header gave") from None
    return {"updated": updated, "id": cid}


def page_query(query: dict[str, list[str]]) -> dict[str, Any]:
    """``limit``, ``cursor`` and ``tag`` of GET /api/conversations, checked (REQ-GRACE-6)."""
    unknown = sorted(set(query) - {"limit", "cursor", "tag"})
    if unknown:
        raise HTTPProblem(400, f"unknown parameter(s): {', '.join(unknown)}")
    if any(len(values) != 1 for values in query.values()):
        raise HTTPProblem(400, "each parameter may be given once")
    out: dict[str, Any] = {"limit": PAGE_DEFAULT}
    if "limit" in query:
        raw = query["limit"][0]
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
            raise HTTPProblem(400, f"limit must be an integer from 1 to {PAGE_MAX}")
        out["limit"] = int(raw)
    if "cursor" in query:
        out["before"] = decode_cursor(query["cursor"][0])
    if "tag" in query:
        out["tag"] = tag_name(query["tag"][0])
    return out
