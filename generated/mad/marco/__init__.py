"""Marco, the web explorer: the cell's sandboxed periphery.

Marco itself holds no risky code: it validates the request, then hands the
fetch to :mod:`mad.marco.sandbox`, which runs it in a child process with time
and memory limits and the SSRF policy. At most ``concurrency`` sandboxes run at
once; a refused or killed fetch is an error with a clear reason, never a crash.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from mad.core.bus import Bus, Message
from mad.core.mad import MAD, MADError, ToolSpec
from mad.core.observability import Observability
from mad.marco.sandbox import Refused, check_url, run_sandboxed


@dataclass
class SandboxLimits:
    timeout_s: float = 10.0
    memory_mb: int = 256
    cpu_s: int = 10
    max_bytes: int = 1_000_000
    max_redirects: int = 5
    allow: list[str] = field(default_factory=list)  # exact host:port pairs exempt from SSRF checks
    resolve: dict[str, list[str]] = field(default_factory=dict)  # pinned name -> addresses


class Marco(MAD):
    name = "marco"
    tools = (ToolSpec("fetch", "Fetch a public web page (sandboxed) and return its text.", "fetch",
                      {"url": {"type": "string"}}, ("url",)),)

    def __init__(self, bus: Bus, obs: Observability, limits: SandboxLimits | None = None,
                 concurrency: int = 2) -> None:
        super().__init__(bus, obs)
        self.limits = limits or SandboxLimits()
        self._slots = threading.BoundedSemaphore(concurrency)

    def fetch(self, url: str, **overrides: Any) -> dict[str, Any]:
        """Fetch ``url`` in the sandbox; ``overrides`` adjust the limits for this call."""
        if not isinstance(url, str) or len(url) > 2048:
            raise MADError("bad_request", "url must be a string of at most 2048 characters")
        lim = self.limits
        request = {"url": url, "memory_mb": lim.memory_mb, "cpu_s": lim.cpu_s, "timeout": lim.timeout_s,
                   "max_bytes": lim.max_bytes, "max_redirects": lim.max_redirects,
                   "allow": list(lim.allow), "resolve": dict(lim.resolve)}
        request.update(overrides)
        try:
            check_url(url, request["allow"], request["resolve"])
        except Refused as exc:
            self.log("fetch_refused", "warning", url=url, reason=str(exc))
            raise MADError("refused", str(exc)) from None
        with self._slots:
            result = run_sandboxed(request, timeout=float(request["timeout"]))
        self.log("fetched", url=url, ok=result.get("ok"), code=result.get("code"),
                 status=result.get("status"))
        if not result.get("ok"):
            code = "refused" if result.get("code") == "refused" else "unavailable"
            raise MADError(code, str(result.get("error", "fetch failed")))
        result.pop("ok", None)
        return result

    def do_fetch(self, request: Message, url: str) -> dict[str, Any]:
        return self.fetch(url)
