"""The tool gateway: every MAD capability as a namespaced tool, behind one door.

MADs declare tools (:class:`mad.core.mad.ToolSpec`); the gateway names them
``mads.<mad>.<tool>``, validates arguments against their schema, checks the
calling MAD's permissions (``fnmatch`` patterns over tool names) and quotas
(calls per sliding window), and then routes the call to the owning MAD *over
the bus*, as a request sent on the caller's behalf. The gateway never imports
a MAD. ``mad.tools.mcp_server`` serves it over the Model Context Protocol.
"""
from __future__ import annotations

import fnmatch
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mad.core.bus import Bus
from mad.core.mad import MADError, ToolSpec, ask
from mad.core.observability import Observability

TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                      "boolean": (bool,), "object": (dict,), "array": (list,)}


class ToolError(Exception):
    """A tool call that was refused or failed; the message is shown to the caller."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ToolPolicy:
    """What one MAD may call: allowed patterns and quotas ``{pattern: (calls, window_s)}``."""

    allow: list[str] = field(default_factory=list)
    quotas: dict[str, tuple[int, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Tool:
    full_name: str
    mad: str
    spec: ToolSpec


def validate_args(spec: ToolSpec, args: dict[str, Any]) -> None:
    """Check ``args`` against the tool's schema: required, known, typed."""
    if not isinstance(args, dict):
        raise ToolError("bad_request", "arguments must be an object")
    missing = [name for name in spec.required if name not in args]
    if missing:
        raise ToolError("bad_request", f"missing required argument(s): {', '.join(missing)}")
    for name, value in args.items():
        if name not in spec.params:
            raise ToolError("bad_request", f"unknown argument {name!r}")
        expected = spec.params[name].get("type")
        types = TYPES.get(expected or "", (object,))
        if isinstance(value, bool) and expected in ("integer", "number"):
            raise ToolError("bad_request", f"argument {name!r} must be {expected}")
        if not isinstance(value, types):
            raise ToolError("bad_request", f"argument {name!r} must be {expected}")


class ToolGateway:
    def __init__(self, bus: Bus, obs: Observability, policies: dict[str, ToolPolicy],
                 timeout: float = 30.0) -> None:
        self.bus = bus
        self.obs = obs
        self.policies = policies
        self.timeout = timeout
        self._tools: dict[str, Tool] = {}
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def register(self, mad: str, specs: tuple[ToolSpec, ...] | list[ToolSpec]) -> None:
        for spec in specs:
            full = f"mads.{mad}.{spec.name}"
            self._tools[full] = Tool(full, mad, spec)

    def permitted(self, caller: str, full_name: str) -> bool:
        policy = self.policies.get(caller)
        return bool(policy) and any(fnmatch.fnmatchcase(full_name, p) for p in policy.allow)

    def tools_for(self, caller: str) -> list[Tool]:
        """The tools ``caller`` may call, by name."""
        return [t for name, t in sorted(self._tools.items()) if self.permitted(caller, name)]

    def _take_quota(self, caller: str, full_name: str) -> None:
        policy = self.policies.get(caller)
        if policy is None:
            return
        for pattern, (limit, window) in policy.quotas.items():
            if not fnmatch.fnmatchcase(full_name, pattern):
                continue
            now = time.monotonic()
            with self._lock:
                calls = self._calls.setdefault((caller, pattern), deque())
                while calls and now - calls[0] >= window:
                    calls.popleft()
                if len(calls) >= limit:
                    retry = math.ceil(window - (now - calls[0]))
                    self.obs.log.write("tools", "quota_exceeded", "warning", caller=caller, tool=full_name)
                    raise ToolError("quota", f"quota exceeded: {caller!r} may call {pattern!r} {limit} "
                                             f"time(s) per {window:g}s; try again in {retry}s")
                calls.append(now)

    def call(self, caller: str, full_name: str, args: dict[str, Any] | None = None) -> Any:
        """Check, count and route one tool call; raise :class:`ToolError` on refusal or failure."""
        args = args or {}
        tool = self._tools.get(full_name)
        if tool is None:
            raise ToolError("not_found", f"unknown tool {full_name!r}")
        if not self.permitted(caller, full_name):
            self.obs.log.write("tools", "tool_denied", "warning", caller=caller, tool=full_name)
            raise ToolError("forbidden", f"permission denied: {caller!r} may not call {full_name!r}")
        validate_args(tool.spec, args)
        self._take_quota(caller, full_name)
        self.obs.metrics.record_tool_call(caller)
        self.obs.log.write("tools", "tool_call", caller=caller, tool=full_name)
        try:
            return ask(self.bus, self.obs, caller, tool.mad, tool.spec.action, args, timeout=self.timeout)
        except MADError as exc:
            raise ToolError(exc.code, f"{full_name} failed: {exc.message}") from None
