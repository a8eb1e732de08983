"""Live progress of a run: one line per unit (blueprint, group) with tokens, tokens/s and cost.

`LiveProgress` draws on stderr with rich.live on a terminal, and prints one plain line per finished
unit, message and gate elsewhere (pipes, CI logs, `NO_COLOR`): no spinner frames in a log, and a
message is printed once however often it is reported. `JsonProgress` writes JSON lines events on
stdout for machines (`--jsonl`). Both implement `genops.synthesis.progress.Progress` and are called from
worker threads, so every method takes a lock. Streamed token counts are estimates (characters / 4,
the same rule the budget uses) until the unit finishes and its billed usage is known.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from genops.render.console import err, plain_output

CHARS_PER_TOKEN = 4
JSON_TOKEN_INTERVAL_S = 0.5


@dataclass
class _Unit:
    name: str
    started: float
    chars: int = 0
    cost: float = 0.0
    done: bool = False
    tokens: int | None = None  # billed output tokens once finished
    seconds: float = 0.0
    note: str = ""
    from_archive: bool = False

    @property
    def shown_tokens(self) -> int:
        return self.tokens if self.tokens is not None else self.chars // CHARS_PER_TOKEN

    def rate_text(self, now: float) -> str:
        """Tokens per second, or "archive" for an answer read from the archive (no stream rate)."""
        if self.done and self.from_archive:
            return "archive"
        return f"{self.rate(now):,.0f} tok/s"

    def rate(self, now: float) -> float:
        elapsed = (self.seconds if self.done else now - self.started) or 1e-9
        return self.shown_tokens / elapsed if elapsed > 0.05 else 0.0


class LiveProgress:
    """Rich live display; use as a context manager around the run."""

    def __init__(self, console: Console | None = None, *, plain: bool | None = None) -> None:
        self.console = console or err
        self.plain = plain_output(sys.stderr) if plain is None else plain
        self._lock = threading.Lock()
        self._units: dict[str, _Unit] = {}
        self._messages: list[str] = []
        self._gates: list[tuple[str, str]] = []
        self._live = Live(console=self.console, refresh_per_second=8, transient=False,
                          get_renderable=self._render)

    def __enter__(self) -> LiveProgress:
        if not self.plain:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._live.is_started:
            return
        self._live.__exit__(None, None, None)
        if not self.console.is_terminal:  # rich leaves the last line open when not on a terminal
            self.console.line()

    def _line(self, text: str) -> None:
        """A plain progress line (plain mode only), never read as markup."""
        self.console.print(Text(text), highlight=False)

    # -- Progress ----------------------------------------------------------------------------

    def group_started(self, name: str) -> None:
        with self._lock:
            self._units[name] = _Unit(name, time.monotonic())

    def tokens(self, name: str, n: int, cost: float) -> None:
        with self._lock:
            unit = self._units.setdefault(name, _Unit(name, time.monotonic()))
            unit.chars += n
            unit.cost += cost

    def group_done(self, name: str, record: Any) -> None:
        with self._lock:
            unit = self._units.setdefault(name, _Unit(name, time.monotonic()))
            unit.done = True
            unit.tokens = record.usage.output_tokens
            unit.cost = record.cost_usd
            unit.seconds = time.monotonic() - unit.started
            unit.from_archive = record.from_archive
            unit.note = f"{record.rung} · {record.model}" + (" · archive" if record.from_archive else "")
            if self.plain:
                self._line(f"done {unit.name}: {unit.shown_tokens:,} tok, {unit.rate_text(unit.started)}, "
                           f"${unit.cost:.4f} ({unit.note})")

    def message(self, text: str) -> None:
        with self._lock:
            if text in self._messages:  # reported again (a resume re-runs earlier steps): once is enough
                return
            self._messages.append(text)
            if self.plain:
                self._line(f"• {text}")

    # -- gates -------------------------------------------------------------------------------

    def gate(self, name: str, result: Any) -> None:
        """A gate observer (see genops.gates.registry.run_gates)."""
        with self._lock:
            verdict = "running" if result is None else result.verdict
            self._gates = [g for g in self._gates if g[0] != name] + [(name, verdict)]
            if self.plain and result is not None:
                self._line(f"gate {name}: {verdict}")

    # -- drawing -----------------------------------------------------------------------------

    def _render(self) -> Group:
        with self._lock:
            now = time.monotonic()
            table = Table.grid(padding=(0, 2))
            for _ in range(6):
                table.add_column()
            total = 0.0
            for unit in self._units.values():
                total += unit.cost
                mark: Any = Text("✓", style="green") if unit.done else Spinner("dots")
                table.add_row(mark, Text(unit.name, style="bold"),
                              f"{unit.shown_tokens:,} tok", unit.rate_text(now),
                              f"${unit.cost:.4f}", Text(unit.note, style="dim"))
            parts: list[Any] = [table] if self._units else []
            if self._units:
                parts.append(Text(f"running cost ${total:.4f}", style="dim"))
            parts += [Text(f"• {m}", style="yellow") for m in self._messages[-5:]]  # Text: no markup
            if self._gates:
                done = [n for n, v in self._gates if v != "running"]
                failed = [n for n, v in self._gates if v == "fail"]
                running = [n for n, v in self._gates if v == "running"]
                line = f"gates: {len(done)} done" + (f", failed: {', '.join(failed)}" if failed else "")
                parts.append(Text(line + (f" · running {running[0]}" if running else "")))
            return Group(*parts)


class JsonProgress:
    """JSON lines on `stream` (stdout by default): one object per event, flushed at once."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._chars: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def __enter__(self) -> JsonProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def emit(self, event: str, **data: Any) -> None:
        line = json.dumps({"event": event, "t": round(time.time(), 3), **data}, default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def group_started(self, name: str) -> None:
        self.emit("group_started", group=name)

    def tokens(self, name: str, n: int, cost: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._chars[name] = self._chars.get(name, 0) + n
            due = now - self._last.get(name, 0.0) >= JSON_TOKEN_INTERVAL_S
            if due:
                self._last[name] = now
            tokens = self._chars[name] // CHARS_PER_TOKEN
        if due:
            self.emit("tokens", group=name, tokens=tokens)

    def group_done(self, name: str, record: Any) -> None:
        self.emit("group_done", group=name, rung=record.rung, provider=record.provider,
                  model=record.model, output_tokens=record.usage.output_tokens,
                  input_tokens=record.usage.input_tokens, cost_usd=record.cost_usd,
                  latency_s=round(record.latency_s, 3), from_archive=record.from_archive)

    def message(self, text: str) -> None:
        self.emit("message", text=text)

    def gate(self, name: str, result: Any) -> None:
        if result is None:
            self.emit("gate_started", gate=name)
        else:
            self.emit("gate_done", **result.to_dict())
