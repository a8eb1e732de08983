"""Fixtures for the archive, ledger, budget and client tests: a tiny real workspace on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_helpers import write_workspace

from genops.workspace.config import GenopsConfig
from genops.workspace.toml_config import load_config


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_workspace(root)
    return root


@pytest.fixture
def config(workspace: Path) -> GenopsConfig:
    return load_config(workspace)
