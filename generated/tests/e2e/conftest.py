"""End-to-end fixtures: a whole ecosystem per test (real HTTP server on a free port) and a user client."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from mad.app import Config, Ecosystem
from tests.helpers import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, Api


@pytest.fixture
def make_eco(tmp_path: Path) -> Iterator[Callable[..., Ecosystem]]:
    """Start ecosystems (port 0, known tokens); all are stopped after the test."""
    started: list[Ecosystem] = []

    def make(**overrides: Any) -> Ecosystem:
        overrides.setdefault("data_dir", tmp_path / f"eco{len(started)}")
        overrides.setdefault("port", 0)
        overrides.setdefault("admin_token", ADMIN_TOKEN)
        overrides.setdefault("users", {"alice": {"token": ALICE_TOKEN}, "bob": {"token": BOB_TOKEN}})
        eco = Ecosystem(Config(**overrides)).start()
        started.append(eco)
        return eco

    yield make
    for eco in reversed(started):
        eco.stop()


@pytest.fixture
def eco(make_eco: Callable[..., Ecosystem]) -> Ecosystem:
    return make_eco()


@pytest.fixture
def api(eco: Ecosystem) -> Api:
    assert eco.url
    return Api(eco.url)
