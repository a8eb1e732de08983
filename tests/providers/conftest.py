"""Provider tests drive the real SDKs over HTTP at the emulator; no SDK object is mocked.

Every test starts from a clean environment: the SDKs' own variables are removed (so a developer's
real key or base URL can never be used) and recognisable fake keys are set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from providers_support import KEYS

from genops.testing.emulator import Emulator

_SDK_VARS = ("ANTHROPIC_", "OPENAI_", "GEMINI_", "GOOGLE_")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(_SDK_VARS):
            monkeypatch.delenv(name)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator
