"""The workspace loads whole or fails with one error naming file and line (exit 2), writing nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from genops.errors import ConfigError, ExitCode
from genops.workspace import load_workspace
from genops.workspace.scaffold import init_workspace
from genops.testing.snapshot import workspace_files


@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    return init_workspace(tmp_path / "ws", git=False).root


def snapshot(root: Path) -> dict[str, bytes]:
    return workspace_files(root)


def test_scaffold_loads(ws: Path) -> None:
    workspace = load_workspace(ws)
    assert [r.id for r in workspace.requirements] == ["REQ-GREET-1", "REQ-GREET-2"]
    assert workspace.config.ladder.rungs == ["senior", "fallback"]
    assert [a.id for a in workspace.active_adrs()] == ["ADR-0001"]
    assert "genops.toml" in workspace.input_hashes()


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


# (what to break, how, file named in the error, line named, words in the message)
BAD_INPUTS = [
    ("toml unknown key", lambda r: _append(r / "genops.toml", "\n[budget2]\nx = 1\n"),
     "genops.toml", None, "unknown key"),
    ("toml typo inside a table",
     lambda r: (r / "genops.toml").write_text((r / "genops.toml").read_text().replace(
         "temperature = 0.0", "temprature = 0.0", 1)),
     "genops.toml", 14, "temprature"),
    ("toml syntax", lambda r: _append(r / "genops.toml", "\n[broken\n"), "genops.toml", None,
     "TOML syntax"),
    ("toml ladder names a missing model",
     lambda r: (r / "genops.toml").write_text((r / "genops.toml").read_text().replace(
         'rungs = ["senior", "fallback"]', 'rungs = ["senior", "cheap"]')),
     "genops.toml", None, "cheap"),
    ("toml narrative names a missing model",
     lambda r: _append(r / "genops.toml", '\n[review]\nsummary = true\nsummary_rung = "scribe"\n'),
     "genops.toml", None, "review.summary_rung 'scribe' is not a table under [models]"),
    ("yaml syntax", lambda r: (r / "adr" / "ADR-0002-x.yaml").write_text(
        "id: ADR-0002\ntitle: [unclosed\n"), "adr/ADR-0002-x.yaml", 3, "YAML syntax"),
    ("adr unknown key", lambda r: (r / "adr" / "ADR-0002-x.yaml").write_text(
        "id: ADR-0002\ntitle: t\nstatus: accepted\ndecision: d\nowner: me\n"),
     "adr/ADR-0002-x.yaml", 5, "unknown key"),
    ("adr bad status", lambda r: (r / "adr" / "ADR-0002-x.yaml").write_text(
        "id: ADR-0002\ntitle: t\nstatus: maybe\ndecision: d\n"), "adr/ADR-0002-x.yaml", 3,
     "status"),
    ("duplicate adr id", lambda r: (r / "adr" / "ADR-0002-x.yaml").write_text(
        "id: ADR-0001\ntitle: t\nstatus: accepted\ndecision: d\n"), "adr/ADR-0002-x.yaml", 1,
     "duplicate ADR id ADR-0001"),
    ("requirement defined twice", lambda r: _append(r / "specs" / "requirements.md",
                                                    "- **REQ-GREET-1** again\n"),
     "specs/requirements.md", 9, "REQ-GREET-1 is defined twice"),
    ("template undefined variable", lambda r: (r / "prompts").mkdir(exist_ok=True) or
     (r / "prompts" / "extra.j2").write_text("hello\n{{ requirments }}\n"),
     "prompts/extra.j2", 2, "requirments"),
    ("template syntax", lambda r: (r / "prompts").mkdir(exist_ok=True) or
     (r / "prompts" / "extra.j2").write_text("{% for x in requirements %}\n"),
     "prompts/extra.j2", None, "syntax"),
]


@pytest.mark.parametrize("case,breaker,file,line,words", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_one_clear_error(ws: Path, case: str, breaker, file: str, line: int | None,
                                      words: str) -> None:
    breaker(ws)
    before = snapshot(ws)
    with pytest.raises(ConfigError) as info:
        load_workspace(ws)
    err = info.value
    assert err.file == file
    if line is not None:
        assert err.line == line, str(err)
    assert words in str(err)
    assert err.exit_code == ExitCode.USAGE
    assert snapshot(ws) == before


def test_cli_exit_code_and_message_for_bad_file(ws: Path) -> None:
    _append(ws / "genops.toml", "\n[bogus]\n")
    result = subprocess.run([sys.executable, "-m", "genops.cli.main", "cost"], cwd=ws,
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "genops.toml" in result.stderr and "bogus" in result.stderr
    assert "Traceback" not in result.stderr
