"""Shared test setup: a git identity so real repositories can commit in temp dirs."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"GIT_AUTHOR_NAME": "genops-test", "GIT_AUTHOR_EMAIL": "test@genops.invalid",
                       "GIT_COMMITTER_NAME": "genops-test",
                       "GIT_COMMITTER_EMAIL": "test@genops.invalid"}.items():
        monkeypatch.setenv(key, os.environ.get(key, value))
