"""Output conventions seen by a user: text in brackets survives, pipes get whole lines, --version.

Every command here runs as a real subprocess with stdout and stderr piped, as in CI logs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from genops.workspace.scaffold import init_workspace


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "genops.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / ("w" * 60) / ("deep" * 25) / "ws"  # a path over 200 characters
    init_workspace(root, name="hello", provider="anthropic", git=True)  # dry runs send nothing
    assert len(str(root)) > 200
    return root


def _set_toml(root: Path, old: str, new: str) -> None:
    toml = root / "genops.toml"
    text = toml.read_text(encoding="utf-8")
    assert old in text
    toml.write_text(text.replace(old, new), encoding="utf-8")


# (what to break in genops.toml, text in brackets that must reach the user verbatim)
BRACKET_CASES = [
    pytest.param('rungs = ["senior", "fallback"]', 'rungs = ["senior", "nosuch"]', "under [models]",
                 id="unknown-rung"),
    pytest.param('[prices."claude-sonnet-4-5-20250929"]', '[prices."other-model"]',
                 '[prices."claude-sonnet-4-5-20250929"]', id="missing-price"),
]


@pytest.mark.parametrize(("old", "new", "expected"), BRACKET_CASES)
def test_errors_print_bracketed_text_verbatim(workspace: Path, old: str, new: str, expected: str) -> None:
    _set_toml(workspace, old, new)
    result = run(workspace, "regenerate", "--dry-run")
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr, result.stderr


def test_piped_output_is_not_cut_at_80_columns(workspace: Path) -> None:
    result = run(workspace, "regenerate", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    assert not any("…" in line for line in lines), lines
    # the model id is printed whole, whatever the width of a pipe
    assert "anthropic claude-sonnet-4-5-20250929" in result.stdout, result.stdout


# Every command of `genops --help`, in a fresh workspace (no release, no run, no key): what it
# prints there, and whether that line names the 200-character workspace path.
PIPE_CASES = [
    (("init", "--here"), "already has", True),
    (("regenerate", "--dry-run"), "anthropic claude-sonnet-4-5-20250929", False),
    (("resume",), "no unfinished run to resume", False),
    (("replay",), "this workspace has no release yet", False),
    (("patch", "fix the bus"), "there is no release to patch yet", False),
    (("diff", ".", "."), "0 semantic changes (0 breaking)", False),
    (("check",), "genops check", False),
    (("summary",), "this workspace has no release yet", False),
    (("architecture",), "ARCHITECTURE.md is rendered from a release", False),
    (("review",), "no [review.panel] configured", False),
    (("log",), "no releases yet", False),
    (("rollback", "r0001"), "no release r0001 in", True),
    (("cost",), "per-run budget", False),
    (("stability",), "ANTHROPIC_API_KEY is not set", False),
    (("verify",), "this workspace has no release yet", False),
    (("lock",), "0 hash-pinned distributions", False),
    (("keygen", "KEY"), "public key .genops/keys/", False),
    (("help", "config"), "[models.<rung>.capabilities]", False),
    (("runs",), "no runs yet", False),
    (("runs", "cancel", "nosuch"), "no run 'nosuch' in", True),
    (("affected",), "is not inside a federation", True),
    (("federation", "check"), "is not inside a federation", True),
    (("partition", "--plan"), "a proposal only: nothing was changed", False),
]


def test_the_pipe_cases_cover_every_command() -> None:
    """A new command gets a row here (the table above is the list of what is checked)."""
    from genops.cli.main import app
    from typer.main import get_command

    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    assert commands == {args[0] for args, _, _ in PIPE_CASES}


@pytest.mark.parametrize(("args", "whole", "names_path"), PIPE_CASES,
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_every_command_prints_whole_lines_in_a_pipe(workspace: Path, tmp_path: Path,
                                                    args: tuple[str, ...], whole: str,
                                                    names_path: bool) -> None:
    """Run from a 200-character path, stdout and stderr piped: nothing is cut or wrapped."""
    args = tuple(str(tmp_path / "signing.pem") if a == "KEY" else a for a in args)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}  # nothing is sent
    result = run(workspace, *args, env=env)
    text = result.stdout + result.stderr
    assert whole in text, text
    assert "…" not in text and "\x1b[" not in text, text
    assert "Traceback" not in text, text
    if names_path:  # the message names the deep path whole, on the line that says what is wrong
        line = next(line for line in text.splitlines() if whole in line)
        assert str(workspace) in line, line
    if args[0] == "init":  # the error names every file, on one line, whatever its length
        line = next(line for line in text.splitlines() if "already has" in line)
        assert line.endswith("specs/requirements.md")


def test_version(tmp_path: Path) -> None:
    result = run(tmp_path, "--version")
    assert result.returncode == 0
    assert re.fullmatch(r"genops \d+\.\d+\.\d+\S*\n", result.stdout), result.stdout


def test_the_missing_price_hint_is_valid_toml(workspace: Path) -> None:
    """The snippet the user is told to paste keeps its `[prices."<model>"]` header and parses."""
    import tomllib

    _set_toml(workspace, '[prices."claude-sonnet-4-5-20250929"]', '[prices."other-model"]')
    result = run(workspace, "regenerate", "--dry-run")
    assert result.returncode == 2
    snippet = result.stderr[result.stderr.index('[prices."claude-sonnet-4-5-20250929"]'):]
    table = tomllib.loads(snippet)["prices"]["claude-sonnet-4-5-20250929"]
    assert set(table) == {"input", "output", "cache_read", "cache_write"}


def test_the_budget_hint_keeps_its_table_name(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    init_workspace(root, name="hello", provider="fake", git=True)
    text = (root / "genops.toml").read_text(encoding="utf-8")
    text = re.sub(r"per_run_usd = [0-9.]+", "per_run_usd = 0.000001", text)
    text = re.sub(r'(\[prices\."fake-1"\]\ninput = )0.0\noutput = 0.0', r"\g<1>1.0\noutput = 2.0",
                  text)
    (root / "genops.toml").write_text(text, encoding="utf-8")
    subprocess.run(["git", "commit", "-qam", "tiny budget"], cwd=root, check=True)
    result = run(root, "regenerate")
    assert result.returncode == 4, result.stderr
    assert ("  hint: raise [budget] per_run_usd in genops.toml, lower the rung's "
            "max_output_tokens, or use a cheaper model\n") in result.stderr


# (emulator faults, the golden error line's shape, what the hint must say about the ladder)
PROVIDER_FAILURES = [
    pytest.param(("auth",), r"error: blueprint: rung 'senior' \(anthropic claude-sonnet-4-5-20250929\) "
                 r"failed after 1 attempt: anthropic: .*\(received credential: \[redacted\]\)",
                 id="auth-key-redacted"),
    pytest.param(("overloaded", "overloaded"), r"error: blueprint: rung 'senior' \(anthropic "
                 r"claude-sonnet-4-5-20250929\) failed after 2 attempts: ", id="overloaded"),
]


@pytest.mark.parametrize(("faults", "golden"), PROVIDER_FAILURES)
def test_provider_failure_names_unit_rung_and_attempts(workspace: Path, faults: tuple[str, ...],
                                                       golden: str) -> None:
    import os

    from genops.testing.emulator import Emulator, Fault

    _set_toml(workspace, 'on_failure = "fallback"', 'on_failure = "stop"')
    _set_toml(workspace, "max_attempts = 6", "max_attempts = 2")
    _set_toml(workspace, "base_delay_s = 1.0", "base_delay_s = 0.0")
    subprocess.run(["git", "commit", "-qam", "stop on failure"], cwd=workspace, check=True)
    key = "sk-ant-test-golden-0123456789abcdef"
    with Emulator() as emu:
        emu.fault("anthropic", *[Fault(kind=kind, echo_key=True) for kind in faults])  # type: ignore[arg-type]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
        env.update(ANTHROPIC_API_KEY=key, ANTHROPIC_BASE_URL=emu.base_url("anthropic"))
        result = run(workspace, "regenerate", env=env)
    assert result.returncode == 3, result.stderr
    first, hint = result.stderr.splitlines()[-2:]
    assert re.fullmatch(golden + ".*", first), first
    assert key not in result.stderr
    assert hint.startswith("  hint: ")
    assert '[ladder] on_failure = "stop", so the other rungs (fallback) were not tried' in hint
    assert "falls back" not in hint and "fall back" not in hint


def test_help_ships_with_the_package_and_hints_point_at_it(tmp_path: Path) -> None:
    """A pip user has no docs/: hints name `genops help TOPIC`, and every topic prints."""
    from genops.help import TOPICS, source_text

    listing = run(tmp_path, "help")
    assert listing.returncode == 0
    repo = Path(__file__).resolve().parents[2]
    for topic in TOPICS:
        shown = run(tmp_path, "help", topic.name)
        assert shown.returncode == 0 and shown.stdout.strip(), topic.name
        assert topic.name in listing.stdout
        assert shown.stdout == source_text(repo, topic), (
            f"genops/help/{topic.name}.md is stale: run `python -m genops.help`")
    source = "\n".join(p.read_text(encoding="utf-8") for p in (repo / "genops").rglob("*.py"))
    assert not re.search(r"hint=[^)]*docs/", source)
    unknown = run(tmp_path, "help", "nosuch")
    assert unknown.returncode == 2 and "topics: config" in unknown.stderr


def test_a_mistyped_genops_toml_key_gets_did_you_mean(workspace: Path) -> None:
    _set_toml(workspace, "per_run_usd =", "per_run_us =")
    result = run(workspace, "regenerate", "--dry-run")
    assert result.returncode == 2
    assert "budget.per_run_us: unknown key; did you mean 'per_run_usd'?" in result.stderr
    assert "genops help config" in result.stderr


def test_dry_run_warns_that_a_rungs_key_is_missing(workspace: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    result = run(workspace, "regenerate", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert "warning: senior: ANTHROPIC_API_KEY is not set" in result.stdout
    assert "warning: fallback: OPENAI_API_KEY is not set" in result.stdout


def test_init_here_adds_a_workspace_to_an_existing_repository(tmp_path: Path) -> None:
    repo = tmp_path / "app"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "app.py").write_text("print('hi')\n")
    (repo / ".gitignore").write_text("*.log\n")
    made = run(repo, "init", "--here", "--provider", "fake")
    assert made.returncode == 0, made.stderr
    assert (repo / "genops.toml").is_file() and (repo / "app.py").read_text() == "print('hi')\n"
    assert (repo / ".gitignore").read_text().startswith("*.log\n")
    assert ".genops/ledger.db" in (repo / ".gitignore").read_text()
    before = (repo / "genops.toml").read_text()
    again = run(repo, "init", "--here")
    assert again.returncode == 2 and "never overwrites" in again.stderr
    assert (repo / "genops.toml").read_text() == before
