"""The synthesis run journal: `run_dir/synthesis.jsonl`, one JSON line per completed call.

Append-only, flushed and fsynced per line, so a crash loses at most the line being written.
Resume needs nothing from it (re-running synthesis with the same inputs turns every finished
request into an archive hit); it tells a person, and `genops resume`, how far a run got.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from genops.synthesis.progress import CallRecord

JOURNAL_NAME = "synthesis.jsonl"


class RunJournal:
    """Appends call records to `run_dir/synthesis.jsonl`; safe across threads."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / JOURNAL_NAME
        self._lock = threading.Lock()

    def append(self, record: CallRecord, **extra: Any) -> None:
        line = {"label": record.label, "key": record.key, "rung": record.rung,
                "provider": record.provider, "model": record.model, "stop": record.stop,
                "from_archive": record.from_archive, "cost_usd": record.cost_usd, **extra}
        data = (json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock, open(self.path, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def entries(self) -> list[dict[str, Any]]:
        """Every complete line written so far (a torn last line is skipped)."""
        if not self.path.is_file():
            return []
        found = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return found
