"""Helpers shared by the tests: free ports, waiting, and an HTTP client for Grace."""
from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
ALICE_TOKEN = "alice-token-for-tests-0123456789"
BOB_TOKEN = "bob-token-for-tests-0123456789ab"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str]
    text: str


class Api:
    """A user talking to Grace over real HTTP."""

    def __init__(self, base: str, token: str | None = ADMIN_TOKEN) -> None:
        self.base = base
        self.token = token

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = "default",
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Response:
        token = self.token if token == "default" else token
        hdrs = {"Content-Type": "application/json"}
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        hdrs.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, payload, rh = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            status, payload, rh = exc.code, exc.read(), dict(exc.headers)
        text = payload.decode("utf-8", "replace")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        return Response(status, parsed, rh, text)

    def chat(self, message: str, **fields: Any) -> Response:
        return self.call("POST", "/api/chat", {"message": message, **fields})
