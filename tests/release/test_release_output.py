"""A real run's progress in a pipe (a CI log): plain lines, no spinner frames, no colour codes."""

from __future__ import annotations

import os
from pathlib import Path

from release_helpers import clean_env, genops, make_workspace

SPINNER = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")


def test_progress_in_a_pipe_is_plain_lines(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    result = genops(root, "regenerate", "--reason", "first",
                    env=clean_env(GENOPS_VENV_CACHE=os.environ["GENOPS_VENV_CACHE"]))
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert not SPINNER & set(text), text
    assert "\x1b[" not in text
    # one line per finished unit and per gate, each printed once
    assert text.count("done blueprint:") == 1, text
    assert "gate tests: pass" in text, text
    assert "promoted r0001" in text
