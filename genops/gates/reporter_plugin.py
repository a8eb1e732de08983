"""genops's pytest reporter: streams each test's outcome to genops as it happens.

This file is not imported by genops. The tests gate copies it into a read-only folder of the
sandbox and loads it into the tree's pytest with `-p genops_reporter`, before any conftest.py.
It writes JSON lines to a pipe whose other end genops holds (the descriptor is named once, in
GENOPS_REPORT_FD, and removed from the environment at import), so the verdict no longer rests on
the JUnit file the tested code can rewrite: genops cross-checks the stream against the process's
exit code and that file, and any disagreement fails the gate.

Standard library only: it runs inside the tree's venv, which need not have genops.
"""

from __future__ import annotations

import json
import os
from typing import Any

_FD: int | None = None
_raw = os.environ.pop("GENOPS_REPORT_FD", None)
if _raw is not None and _raw.isdigit():
    _FD = int(_raw)
MAX_TEXT = 4000


def _send(record: dict[str, Any]) -> None:
    if _FD is None:
        return
    data = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8", "replace")
    view = memoryview(data)
    while view:
        written = os.write(_FD, view)
        view = view[written:]


def pytest_sessionstart(session: Any) -> None:
    _send({"event": "start", "pid": os.getpid()})


def pytest_collection_finish(session: Any) -> None:
    _send({"event": "collected", "count": len(session.items)})


def pytest_runtest_logreport(report: Any) -> None:
    location = getattr(report, "location", None) or (None, None, None)
    message = ""
    if report.failed:
        longrepr = getattr(report, "longreprtext", "") or str(report.longrepr or "")
        message = longrepr[-MAX_TEXT:]
    _send({"event": "report", "nodeid": report.nodeid, "when": report.when,
           "outcome": report.outcome, "xfail": hasattr(report, "wasxfail"),
           "file": location[0], "line": location[1], "message": message})


def pytest_sessionfinish(session: Any, exitstatus: Any) -> None:
    _send({"event": "finish", "exitstatus": int(exitstatus)})
