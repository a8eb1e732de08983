"""genops.toml values are taken as typed, never coerced, and every resource value is bounded.

Each bad value goes through the real CLI (`genops regenerate --dry-run` in a workspace made by
`genops init`): exit 2, an error naming genops.toml, the line and the key, what was given and what
was expected, and nothing written.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from genops.cli.main import main
from genops.testing.snapshot import workspace_files
from genops.workspace import load_workspace
from genops.workspace.scaffold import init_workspace

REPO = Path(__file__).resolve().parents[2]


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cwd: Path,
            *args: str) -> tuple[int, str]:
    """The real `genops` entry point, in process."""
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["genops", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


@pytest.fixture()
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
       capsys: pytest.CaptureFixture[str]) -> Path:
    code, output = run_cli(monkeypatch, capsys, tmp_path, "init", "ws", "--provider", "fake")
    assert code == 0, output
    return tmp_path / "ws"


def with_key(text: str, table: str, key: str, value: str) -> tuple[str, int]:
    """genops.toml with `key = value` first in `[table]` (the table added when missing), and the
    1-based line it is on."""
    header = f"[{table}]\n"
    if header not in text:
        text = text.rstrip("\n") + f"\n\n{header}"
    start = text.index(header) + len(header)
    end = text.find("\n[", start)
    end = len(text) if end < 0 else end + 1
    body = re.sub(rf"^{re.escape(key)}\s*=.*\n", "", text[start:end], flags=re.MULTILINE)
    text = text[:start] + f"{key} = {value}\n" + body + text[end:]
    return text, text[:start].count("\n") + 1


# (table, key, value as written in TOML, what the error says)
BAD_VALUES = [
    # no coercion of booleans or strings into numbers
    ("patch", "max_share", "true", "expected a number, got true (a boolean)"),
    ("models.senior", "timeout_s", '"10"', 'expected a number, got "10" (a string)'),
    ("budget", "per_run_usd", '"5"', 'expected a number, got "5" (a string)'),
    ("models.senior", "temperature", '"0.5"', 'expected a number, got "0.5" (a string)'),
    ("models.senior", "seed", '"7"', 'expected an integer, got "7" (a string)'),
    ("synthesis", "max_continuations", '"3"', 'expected an integer, got "3" (a string)'),
    ("gates.tests.limits", "cpu_s", "true", "expected an integer, got true (a boolean)"),
    ('prices."fake-1"', "output", "false", "expected a number, got false (a boolean)"),
    # no floats into integers, however round
    ("synthesis", "concurrency", "1e9", "expected an integer, got 1000000000.0 (a float)"),
    ("synthesis", "concurrency", "4.0", "expected an integer, got 4.0 (a float)"),
    ("project", "max_file_bytes", "1e12", "expected an integer, got 1000000000000.0 (a float)"),
    ("models.senior", "max_output_tokens", "4000.0", "expected an integer, got 4000.0 (a float)"),
    # no numbers or strings into booleans
    ("gates.tests", "use_venv", "1", "expected a boolean (true or false), got 1 (an integer)"),
    ("gates.tests", "required", '"yes"', 'expected a boolean (true or false), got "yes"'),
    ("review", "summary", '"false"', 'expected a boolean (true or false), got "false"'),
    ("review.high_risk", "breaking", "0", "expected a boolean (true or false), got 0"),
    ("audit", "require_signature", '"true"', 'expected a boolean (true or false), got "true"'),
    ("models.senior.capabilities", "prefill", "1", "expected a boolean (true or false), got 1"),
    ("models.senior.capabilities", "temperature", '"any"',
     'expected a boolean or a number, got "any" (a string)'),
    # upper bounds on every resource value
    ("models.senior", "timeout_s", "1e9", "less than or equal to 86400, got 1000000000.0"),
    ("models.senior", "max_output_tokens", "1000000000", "less than or equal to 1000000, got"),
    ("models.senior", "context_window", "1000000000000", "less than or equal to 100000000"),
    ("models.senior.capabilities", "min_cache_tokens", "1000000000", "less than or equal to 1000000"),
    ("patch", "context_tokens", "100000000000", "less than or equal to 10000000"),
    ("retry", "base_delay_s", "1e6", "less than or equal to 3600"),
    ("retry", "max_delay_s", "1e9", "less than or equal to 86400"),
    ("retry", "max_retry_after_s", "1e9", "less than or equal to 86400"),
    ("budget", "per_run_usd", "1e12", "less than or equal to 1000000, got"),
    ("budget", "per_month_usd", "1e12", "less than or equal to 10000000, got"),
    ('prices."fake-1"', "input", "1e9", "less than or equal to 10000"),
    ("gates.migrations", "timeout_s", "1e9", "less than or equal to 86400"),
    ("review.panel", "quorum", "1000", "less than or equal to 64"),
    ("review.panel", "max_code_lines", "1000000000", "less than or equal to 100000"),
]


@pytest.mark.parametrize("table,key,value,words", BAD_VALUES,
                         ids=[f"{t}.{k}={v}" for t, k, v, _ in BAD_VALUES])
def test_a_mistyped_or_unbounded_value_is_refused_by_the_real_cli(
        ws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        table: str, key: str, value: str, words: str) -> None:
    path = ws / "genops.toml"
    text, line = with_key(path.read_text(encoding="utf-8"), table, key, value)
    path.write_text(text, encoding="utf-8")
    before = workspace_files(ws, (".git/",))
    code, output = run_cli(monkeypatch, capsys, ws, "regenerate", "--dry-run")
    flat = re.sub(r"\s+", " ", output)
    field = f"{table.replace(chr(34), '')}.{key}"
    assert code == 2, output
    assert f"genops.toml:{line}: {field}: " in flat, output
    assert words in flat, output
    assert "Traceback" not in output
    assert workspace_files(ws, (".git/",)) == before


def test_json_error_carries_the_file_and_line(ws: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = ws / "genops.toml"
    text, line = with_key(path.read_text(encoding="utf-8"), "patch", "max_share", "true")
    path.write_text(text, encoding="utf-8")
    code, output = run_cli(monkeypatch, capsys, ws, "regenerate", "--dry-run", "--json")
    assert code == 2
    assert '"line": %d' % line in output and "expected a number, got true" in output


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini", "fake", "manual"])
def test_every_scaffolded_genops_toml_still_loads(tmp_path: Path, provider: str) -> None:
    root = init_workspace(tmp_path / "ws", name="hello", provider=provider, git=False).root
    assert load_workspace(root).config.project.name == "hello"


def test_this_repository_genops_toml_still_loads() -> None:
    assert load_workspace(REPO).config.models
