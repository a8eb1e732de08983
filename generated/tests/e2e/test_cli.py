"""``python -m mad`` as a real process: start, talk over HTTP, stop, restart, distribute over Redis."""
from __future__ import annotations

import os
import re
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers import ADMIN_TOKEN, Api, free_port

ROOT = Path(__file__).resolve().parents[2]


class MadProcess:
    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        environment = {**os.environ, "MAD_GRACE_TOKEN": ADMIN_TOKEN, **(env or {})}
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
        self.proc = subprocess.Popen([sys.executable, "-m", "mad", *args], cwd=ROOT, env=environment,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url: str | None = None

    def ready(self, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if readable:
                line = self.proc.stdout.readline()
                if "ready on" in line:
                    match = re.search(r"ready on (http://\S+)", line)
                    self.url = match.group(1) if match else None
                    return line
            if self.proc.poll() is not None:
                raise AssertionError(f"mad exited early: {self.proc.stderr.read() if self.proc.stderr else ''}")
        raise AssertionError("mad did not become ready")

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=15)
        return self.proc.returncode, out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


@pytest.fixture
def processes() -> Iterator[list[MadProcess]]:
    running: list[MadProcess] = []
    yield running
    for process in running:
        process.kill()


@pytest.mark.req("REQ-CELL-1", "REQ-CELL-2", "REQ-CELL-3", "REQ-ROGERS-1", "REQ-TURING-1", "REQ-GRACE-1")
def test_python_m_mad_serves_stops_and_remembers(tmp_path: Path, processes: list[MadProcess]) -> None:
    data = tmp_path / "data"
    first = MadProcess("--port", "0", "--data-dir", str(data))
    processes.append(first)
    line = first.ready()
    assert "mads=fiedler,grace,marco,rogers,turing" in line and "bus=memory" in line
    assert first.url
    api = Api(first.url)
    chat = api.chat("what is 20 + 22?")
    assert chat.status == 200 and chat.body["reply"] == "42"
    cid = chat.body["conversation_id"]
    code, out = first.stop()
    assert code == 0 and "MAD ecosystem stopped" in out

    # all state lives under --data-dir, private to the user
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "turing.key").stat().st_mode) == 0o600
    assert {"rogers.db", "turing.db", "turing.key", "logs"} <= {p.name for p in data.iterdir()}
    assert (data / "logs" / "mad.jsonl").read_text().count("ecosystem_stopped") == 1

    second = MadProcess("--port", "0", "--data-dir", str(data))
    processes.append(second)
    second.ready()
    assert second.url
    transcript = Api(second.url).call("GET", f"/api/conversations/{cid}")
    assert transcript.status == 200
    assert [m["text"] for m in transcript.body["messages"]] == ["what is 20 + 22?", "42"]
    assert second.stop()[0] == 0


@pytest.mark.req("REQ-CELL-2", "REQ-REDIS-4")
def test_bad_options_and_unreachable_bus_exit_2(tmp_path: Path) -> None:
    for args, message in ((["--bus", "carrier-pigeon"], "unknown bus"),
                          (["--bus", f"redis://127.0.0.1:{free_port()}/0"], "cannot connect to Redis"),
                          (["--mads", "grace,skynet"], "unknown MAD(s): skynet")):
        process = MadProcess("--port", "0", "--data-dir", str(tmp_path / "d"), *args)
        out, err = process.proc.communicate(timeout=30)
        assert process.proc.returncode == 2, (args, out, err)
        assert message in err


@pytest.mark.req("REQ-REDIS-1", "REQ-REDIS-3", "REQ-CELL-1")
def test_the_cell_split_over_two_processes_on_redis(tmp_path: Path, redis_url: str,
                                                    processes: list[MadProcess]) -> None:
    core = MadProcess("--port", "0", "--data-dir", str(tmp_path / "core"), "--bus", redis_url,
                      "--mads", "turing,rogers,fiedler,grace")
    periphery = MadProcess("--data-dir", str(tmp_path / "periphery"), "--bus", redis_url, "--mads", "marco")
    processes += [core, periphery]
    assert "mads=fiedler,grace,rogers,turing " in core.ready()
    assert "no HTTP gateway in this process" in periphery.ready()
    assert core.url
    chat = Api(core.url).chat("hello over redis")
    assert chat.status == 200 and chat.body["model"] == "local/rules"
    # Marco answers from the other process: its log, not the core's, records the refusal
    from mad.core.bus import Message
    from mad.core.redis_bus import RedisBus

    bus = RedisBus(redis_url)
    try:
        reply = bus.request(Message(topic="mad.marco", sender="fiedler",
                                    body={"action": "fetch", "args": {"url": "http://127.0.0.1/"}}), timeout=10)
    finally:
        bus.close()
    assert reply.body["ok"] is False and reply.body["code"] == "refused"
    assert "loopback" in reply.body["error"]
    assert "fetch_refused" in (tmp_path / "periphery" / "logs" / "mad.jsonl").read_text()
    assert "fetch_refused" not in (tmp_path / "core" / "logs" / "mad.jsonl").read_text()
    assert core.stop()[0] == 0 and periphery.stop()[0] == 0
