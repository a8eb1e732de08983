"""Shared fixtures: the bus on each transport and a real Redis server (tests/e2e adds the ecosystem).

Every test names the requirements it covers with ``@pytest.mark.req("REQ-...")``;
the IDs are also written to the JUnit report as the ``requirements`` property.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
from typing import Iterator

import pytest

from mad.core.bus import Bus, InMemoryBus
from mad.core.redis_bus import RedisBus
from tests.helpers import free_port, wait_for


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        ids = [i for marker in item.iter_markers("req") for i in marker.args]
        if ids:
            item.user_properties.append(("requirements", " ".join(sorted(set(ids)))))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, for the whole session."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server); Redis tests skipped")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def ready() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False
        try:
            wait_for(ready, timeout=10)
        except AssertionError:
            pytest.skip(f"redis-server did not start on port {port}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(params=["memory", "redis"])
def bus_url(request: pytest.FixtureRequest) -> str:
    """Each bus transport in turn: the same tests must pass on both."""
    if request.param == "memory":
        return "memory"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def bus(bus_url: str) -> Iterator[Bus]:
    b: Bus = InMemoryBus() if bus_url == "memory" else RedisBus(bus_url)
    yield b
    b.close()


@pytest.fixture
def memory_bus() -> Iterator[InMemoryBus]:
    b = InMemoryBus()
    yield b
    b.close()
