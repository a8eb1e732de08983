"""genops's pytest reporter: streams each test's outcome to genops as it happens.

This file is not imported by genops. The tests gate copies it into a read-only folder of the
sandbox and loads it into the tree's pytest with `-p genops_reporter`, before any conftest.py.
It writes JSON lines to a pipe whose other end genops holds (the descriptor is named once, in
GENOPS_REPORT_FD, and removed from the environment at import), so the verdict no longer rests on
the JUnit file the tested code can rewrite: genops cross-checks the stream against the process's
exit code and that file, and any disagreement fails the gate.

With GENOPS_TRACE_ROOT set (the tree's folder), it also records which of the tree's functions
each test's call phase executed (a global `sys.settrace` hook that sees function calls only and
never traces lines, on every thread), so traceability can ask whether a test that names a
requirement ran the code that implements it. Module and class bodies (run at import) are left out.

Standard library only: it runs inside the tree's venv, which need not have genops.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from types import FrameType
from typing import Any

_FD: int | None = None
_raw = os.environ.pop("GENOPS_REPORT_FD", None)
if _raw is not None and _raw.isdigit():
    _FD = int(_raw)
MAX_TEXT = 4000
_ROOT = os.environ.pop("GENOPS_TRACE_ROOT", None)
_CO_OPTIMIZED = 0x0001  # set on function code objects; module and class bodies lack it
_executed: set[tuple[str, int]] | None = None
_wanted: dict[object, tuple[str, int] | None] = {}


def _tracer(frame: FrameType, event: str, arg: Any) -> None:
    """Record a call into one of the tree's functions while a test's call phase runs."""
    if _executed is None:
        return None
    code = frame.f_code
    found = _wanted.get(code, False)
    if found is False:
        name = code.co_filename
        inside = _ROOT is not None and name.startswith(_ROOT + os.sep) \
            and bool(code.co_flags & _CO_OPTIMIZED)
        found = _wanted[code] = (name[len(_ROOT) + 1:], code.co_firstlineno) \
            if inside and _ROOT is not None else None
    if found is not None:
        _executed.add(found)  # type: ignore[arg-type]
    return None


if _ROOT is not None:
    sys.settrace(_tracer)
    threading.settrace(_tracer)


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


def pytest_runtest_call(item: Any) -> None:
    global _executed
    if _ROOT is not None:
        sys.settrace(_tracer)  # again: a test run before may have replaced it (pdb, coverage)
        _executed = set()


def pytest_runtest_teardown(item: Any) -> None:
    global _executed
    if _executed is not None:
        _send({"event": "executed", "nodeid": item.nodeid,
               "functions": sorted([f, line] for f, line in _executed)})
        _executed = None


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
