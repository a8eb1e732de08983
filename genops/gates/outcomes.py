"""The tests gate's verdict from a channel genops owns, cross-checked against what the suite wrote.

The tested code runs in the same process as pytest, so any file pytest writes (the JUnit XML) the
code can rewrite, and it can end the process with any exit code it likes. genops therefore reads
the outcomes from its own reporter (`reporter_plugin.py`), streamed over a pipe whose reading end
only genops holds, and accepts the run only when three witnesses agree:

- the stream: it started, saw the collection, reported every collected test, and finished;
- the process's exit code: pytest's own for those outcomes (0 only when nothing failed);
- the suite's JUnit file: the same tests with the same outcomes.

A disagreement fails the gate, naming it. The evidence genops keeps (`junit.xml`) is written by
genops from the stream, so every later reader (traceability, the summary, the audit pack) reads
what genops saw, not what the suite claimed. Code that targets this reporter's protocol from
inside the process could still forge all three; docs/security.md says so.
"""

from __future__ import annotations

import json
import os
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from genops.junit import JUnitReport, Outcome

MAX_STREAM_BYTES = 32 * 1024 * 1024
EXECUTED_FILE = "executed.json"  # beside junit.xml in the tests gate's evidence
# pytest's exit codes (pytest.ExitCode): what each says about the outcomes.
EXIT_OK, EXIT_FAILED, EXIT_NO_TESTS = 0, 1, 5


@dataclass
class CaseOutcome:
    nodeid: str
    outcome: Outcome = "passed"
    file: str | None = None
    line: int | None = None  # 1-based
    message: str = ""
    executed: list[tuple[str, int]] = field(default_factory=list)  # the tree's functions it ran

    @property
    def junit_id(self) -> str:
        """The id pytest's junitxml gives this test (`classname::name`)."""
        base, bracket, params = self.nodeid.partition("[")  # parameters may hold "::"
        path, _, rest = base.partition("::")
        parts = rest.split("::") if rest else []
        module = path.removesuffix(".py").replace("/", ".")
        classname = ".".join([module, *parts[:-1]])
        name = (parts[-1] if parts else path) + bracket + params
        return f"{classname}::{name}".strip(":")


@dataclass
class Stream:
    """What genops's reporter said, in order."""

    started: bool = False
    collected: int | None = None
    exitstatus: int | None = None
    cases: dict[str, CaseOutcome] = field(default_factory=dict)
    oversize: bool = False
    garbled: int = 0  # lines that were not the reporter's JSON
    traced: bool = False  # the reporter recorded executed functions

    def counts(self) -> dict[str, int]:
        tally = {o: sum(1 for c in self.cases.values() if c.outcome == o)
                 for o in ("passed", "failed", "error", "skipped")}
        return {"tests": len(self.cases), "passed": tally["passed"], "failures": tally["failed"],
                "errors": tally["error"], "skipped": tally["skipped"]}

    def add(self, record: dict[str, object]) -> None:
        event = record.get("event")
        if event == "start":
            self.started = True
        elif event == "collected" and isinstance(record.get("count"), int):
            self.collected = int(record["count"])  # type: ignore[call-overload]
        elif event == "finish" and isinstance(record.get("exitstatus"), int):
            self.exitstatus = int(record["exitstatus"])  # type: ignore[call-overload]
        elif event == "report":
            self._report(record)
        elif event == "executed" and isinstance(functions := record.get("functions"), list):
            case = self.cases.setdefault(str(record.get("nodeid", "")),
                                         CaseOutcome(str(record.get("nodeid", ""))))
            case.executed = [(str(f), int(n)) for f, n in functions if isinstance(n, int)]
            self.traced = True
        else:
            self.garbled += 1

    def _report(self, record: dict[str, object]) -> None:
        nodeid = str(record.get("nodeid", ""))
        case = self.cases.setdefault(nodeid, CaseOutcome(nodeid))
        line = record.get("line")
        case.file = str(record["file"]) if record.get("file") else case.file
        case.line = line + 1 if isinstance(line, int) else case.line
        outcome, when = record.get("outcome"), record.get("when")
        if outcome == "failed":
            failed: Outcome = "failed" if when == "call" else "error"
            if case.outcome != "failed":  # a failed call outranks an errored teardown
                case.outcome = failed
                case.message = str(record.get("message", ""))
        elif outcome == "skipped" and case.outcome == "passed":
            case.outcome = "skipped"


class StreamReader:
    """Reads the reporter's pipe on a thread until every writer has closed it."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_inheritable(self.write_fd, True)
        self._chunks: list[bytes] = []
        self._size = 0
        self.oversize = False
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while True:
            chunk = os.read(self.read_fd, 65536)
            if not chunk:
                break
            if self._size + len(chunk) > MAX_STREAM_BYTES:
                self.oversize = True
                continue  # keep draining so the writer never blocks
            self._chunks.append(chunk)
            self._size += len(chunk)
        os.close(self.read_fd)

    def close_writer(self) -> None:
        """Drop genops's own copy of the writing end (after the child has inherited it)."""
        os.close(self.write_fd)

    def result(self, timeout: float = 10.0) -> Stream:
        self._thread.join(timeout)
        stream = Stream(oversize=self.oversize)
        for raw in b"".join(self._chunks).splitlines():
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                stream.garbled += 1
                continue
            if isinstance(record, dict):
                stream.add(record)
            else:
                stream.garbled += 1
        return stream


def disagreements(stream: Stream, exit_code: int | None, junit: JUnitReport | None) -> list[str]:
    """Every way the three witnesses disagree (empty when the run can be believed)."""
    problems: list[str] = []
    if stream.oversize:
        problems.append(f"genops's reporter stream exceeded {MAX_STREAM_BYTES} bytes")
    if not stream.started:
        return problems + ["genops's pytest reporter never started (the suite disabled or "
                           "replaced it, or pytest did not run)"]
    if stream.exitstatus is None:
        problems.append("pytest did not finish its session (no end-of-session record from "
                        "genops's reporter: the process was ended early, e.g. by os._exit)")
    elif exit_code is not None and exit_code != stream.exitstatus:
        problems.append(f"the process exited {exit_code} but pytest's session ended with "
                        f"{stream.exitstatus}")
    counts = stream.counts()
    bad = counts["failures"] + counts["errors"]
    if exit_code == EXIT_OK and bad:
        problems.append(f"the process exited 0 but genops's reporter saw {bad} failing test(s)")
    reported = len(stream.cases)
    if stream.collected is not None and exit_code == EXIT_OK and reported < stream.collected:
        problems.append(f"{stream.collected} test(s) collected but only {reported} reported")
    if junit is not None:
        problems += _junit_disagreements(stream, junit)
    elif stream.exitstatus in (EXIT_OK, EXIT_FAILED):
        problems.append("the suite's JUnit file is missing or is not a regular file (pytest "
                        "writes it at the end of every run that collected tests)")
    return problems


def _junit_disagreements(stream: Stream, junit: JUnitReport) -> list[str]:
    if not junit.valid:
        return ["the suite's JUnit XML is not valid XML"]
    theirs = {c.id: c.outcome for c in junit.cases}
    ours = {c.junit_id: c.outcome for c in stream.cases.values()}
    changed = sorted(i for i in ours.keys() & theirs.keys() if ours[i] != theirs[i])
    problems = [f"the suite's JUnit file says {i} {theirs[i]}, genops's reporter saw it "
                f"{ours[i]}" for i in changed[:5]]
    extra, missing = sorted(theirs.keys() - ours.keys()), sorted(ours.keys() - theirs.keys())
    if extra:
        problems.append(f"the suite's JUnit file lists {len(extra)} test(s) genops's reporter "
                        f"never saw (first: {extra[0]})")
    if missing:
        problems.append(f"the suite's JUnit file leaves out {len(missing)} test(s) genops's "
                        f"reporter saw (first: {missing[0]})")
    return problems


def write_junit(stream: Stream, path: Path) -> None:
    """genops's evidence: the stream's outcomes as JUnit XML (xunit1: file and 0-based line)."""
    counts = stream.counts()
    suite = ET.Element("testsuite", name="pytest", tests=str(counts["tests"]),
                       failures=str(counts["failures"]), errors=str(counts["errors"]),
                       skipped=str(counts["skipped"]))
    for case in stream.cases.values():
        classname, _, name = case.junit_id.rpartition("::")
        attrs = {"classname": classname, "name": name}
        if case.file:
            attrs["file"] = case.file
        if case.line is not None:
            attrs["line"] = str(case.line - 1)
        element = ET.SubElement(suite, "testcase", attrs)
        tag = {"failed": "failure", "error": "error", "skipped": "skipped"}.get(case.outcome)
        if tag:
            lines = case.message.strip().splitlines()
            errors = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
            first = errors[0] if errors else (lines[-1] if lines else tag)
            ET.SubElement(element, tag, message=first[:500]).text = case.message or None
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def write_executed(stream: Stream, path: Path) -> None:
    """genops's evidence of what each test ran: {junit id: [[tree file, first line], ...]}."""
    data = {c.junit_id: [list(f) for f in c.executed] for c in stream.cases.values()}
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def read_executed(path: Path) -> dict[str, list[tuple[str, int]]] | None:
    """The executed-functions evidence beside a JUnit file, or None when there is none."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return {str(k): [(str(f), int(n)) for f, n in v] for k, v in data.items()}
