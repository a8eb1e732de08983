"""One released federation per worker; each test works on its own copy."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import fedhelpers  # noqa: E402


@pytest.fixture(scope="session")
def released_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = fedhelpers.make_federation(tmp_path_factory.mktemp("template"))
    result = fedhelpers.genops(root, "regenerate")
    assert result.returncode == 0, result.stdout + result.stderr
    return root


@pytest.fixture()
def released(released_template: Path, tmp_path: Path) -> Path:
    """A federation whose three members each have a first release (identity, orders, web)."""
    target = tmp_path / "shop"
    shutil.copytree(released_template, target, symlinks=True)
    return target
