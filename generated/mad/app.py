"""The composition root: builds the cell, wires every MAD to the bus, starts and stops it.

This is the only module that knows every MAD; the MADs know only the bus. The
policies below (who may read which secret, who may call which tool, with what
quota) are the ecosystem's security configuration, kept as code and reviewed
like code. ``Config.mads`` says which MADs run in this process: all of them by
default (the cellular monolith); a subset when the cell is spread over several
processes sharing a Redis bus.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mad.core.bus import Bus, BusError, InMemoryBus
from mad.core.mad import MAD
from mad.core.observability import LogBridge, Observability
from mad.core.redis_bus import RedisBus
from mad.fiedler import Fiedler
from mad.grace import Grace, token_hash
from mad.marco import Marco, SandboxLimits
from mad.rogers import Rogers
from mad.tools.gateway import ToolGateway, ToolPolicy
from mad.turing import KEY_ENV, Turing, load_master_key

ALL_MADS = ("turing", "rogers", "fiedler", "marco", "grace")
TOKEN_ENV = "MAD_GRACE_TOKEN"

SECRET_READERS = {"grace": ["grace/*"], "fiedler": ["fiedler/*"], "marco": ["marco/*"],
                  "rogers": ["rogers/*"]}
SECRET_WRITERS = {"fiedler": ["fiedler/*"]}
AUDITORS = ["grace"]


def default_tool_policies() -> dict[str, ToolPolicy]:
    return {
        "grace": ToolPolicy(["mads.fiedler.*", "mads.rogers.*"], {"mads.fiedler.*": (60, 60.0)}),
        "fiedler": ToolPolicy(["mads.rogers.search", "mads.rogers.history", "mads.marco.fetch"],
                              {"mads.marco.fetch": (10, 60.0)}),
        "marco": ToolPolicy(["mads.rogers.search"]),
        "hopper": ToolPolicy(["mads.fiedler.ask", "mads.fiedler.consult", "mads.fiedler.models",
                              "mads.rogers.*", "mads.marco.fetch"],
                             {"mads.fiedler.*": (20, 60.0), "mads.marco.fetch": (5, 60.0)}),
    }


def make_bus(url: str) -> Bus:
    """``memory`` for the in-process bus, ``redis://...`` (or ``rediss://``) for Redis."""
    if url == "memory":
        return InMemoryBus()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBus(url)
    raise BusError(f"unknown bus {url!r}: use 'memory' or a redis:// URL")


@dataclass
class Config:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    bus: str = "memory"
    mads: tuple[str, ...] = ALL_MADS
    admin_token: str | None = None
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {"token", "admin"}
    rate: float = 5.0
    burst: int = 20
    login_burst: int = 10
    tool_policies: dict[str, ToolPolicy] = field(default_factory=default_tool_policies)
    secret_readers: dict[str, list[str]] = field(default_factory=lambda: dict(SECRET_READERS))
    secret_writers: dict[str, list[str]] = field(default_factory=lambda: dict(SECRET_WRITERS))
    auditors: list[str] = field(default_factory=lambda: list(AUDITORS))
    marco: SandboxLimits = field(default_factory=SandboxLimits)
    fiedler_providers: list[dict[str, Any]] = field(default_factory=list)
    budgets: dict[str, float] = field(default_factory=dict)
    breaker_threshold: int = 5
    breaker_reset: float = 30.0
    log_stream: TextIO | None = None


class Ecosystem:
    """The whole cell: ``with Ecosystem(config) as eco: ...``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.mads: dict[str, MAD] = {}
        self.bus: Bus | None = None
        self.obs: Observability | None = None
        self.gateway: ToolGateway | None = None
        self.address: tuple[str, int] | None = None

    @property
    def url(self) -> str | None:
        return f"http://{self.address[0]}:{self.address[1]}" if self.address else None

    def admin_token(self) -> str:
        """The admin's token: configured, from the environment, or generated into a 0600 file."""
        cfg = self.config
        token = cfg.admin_token or os.environ.get(TOKEN_ENV)
        if token:
            return token
        path = cfg.data_dir / "grace_admin_token"
        if path.exists():
            return path.read_text().strip()
        token = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
        return token

    def start(self) -> "Ecosystem":
        cfg = self.config
        unknown = set(cfg.mads) - set(ALL_MADS)
        if unknown:
            raise ValueError(f"unknown MAD(s): {', '.join(sorted(unknown))}")
        cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (cfg.data_dir / "logs").mkdir(exist_ok=True)
        self.obs = Observability(cfg.data_dir / "logs" / "mad.jsonl", cfg.log_stream,
                                 cfg.breaker_threshold, cfg.breaker_reset)
        self.bus = bus = make_bus(cfg.bus)
        obs = self.obs
        self._bridge = LogBridge(obs.log)  # bus handler failures: the JSON log, not stderr
        mad_logger = logging.getLogger("mad")
        mad_logger.addHandler(self._bridge)
        mad_logger.propagate = False
        builders = {
            "turing": lambda: Turing(bus, obs, cfg.data_dir / "turing.db",
                                     load_master_key(cfg.data_dir / "turing.key"), cfg.secret_readers,
                                     cfg.secret_writers, cfg.auditors,
                                     key_file=None if os.environ.get(KEY_ENV) else cfg.data_dir / "turing.key"),
            "rogers": lambda: Rogers(bus, obs, cfg.data_dir / "rogers.db"),
            "fiedler": lambda: Fiedler(bus, obs, remote_providers=cfg.fiedler_providers, budgets=cfg.budgets),
            "marco": lambda: Marco(bus, obs, cfg.marco),
            "grace": lambda: Grace(bus, obs, rate=cfg.rate, burst=cfg.burst, login_burst=cfg.login_burst),
        }
        for name in ALL_MADS:
            if name in cfg.mads:
                self.mads[name] = builders[name]()
        if "turing" in self.mads:
            self._bootstrap_users(self.mads["turing"])  # type: ignore[arg-type]
        for mad in self.mads.values():
            mad.start()
        self.gateway = ToolGateway(bus, obs, cfg.tool_policies)
        for cls in (Rogers, Fiedler, Marco):
            self.gateway.register(cls.name, cls.tools)
        if "grace" in self.mads:
            self.address = self.mads["grace"].serve(cfg.host, cfg.port)  # type: ignore[attr-defined]
        obs.log.write("app", "ecosystem_started", mads=sorted(self.mads), bus=type(bus).__name__,
                      url=self.url)
        return self

    def _bootstrap_users(self, turing: Turing) -> None:
        users = {"admin": {"sha256": token_hash(self.admin_token()), "admin": True}}
        for name, entry in self.config.users.items():
            users[name] = {"sha256": token_hash(entry["token"]), "admin": bool(entry.get("admin"))}
        turing.put_if_changed("bootstrap", "grace/users", json.dumps(users, sort_keys=True))

    def mcp(self, caller: str) -> Any:
        """An in-process MCP client session for MAD ``caller`` (``async with``)."""
        assert self.gateway is not None, "start the ecosystem first"
        from mad.tools.mcp_server import connect  # the SDK takes ~1 s to import: only when used

        return connect(self.gateway, caller)

    def stop(self) -> None:
        for mad in reversed(list(self.mads.values())):
            mad.stop()
        bridge = getattr(self, "_bridge", None)
        if bridge is not None:
            mad_logger = logging.getLogger("mad")
            mad_logger.removeHandler(bridge)
            mad_logger.propagate = not mad_logger.handlers
            self._bridge = None
        if self.obs:
            self.obs.log.write("app", "ecosystem_stopped")
        if self.bus:
            self.bus.close()
        if self.obs:
            self.obs.close()

    def __enter__(self) -> "Ecosystem":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
