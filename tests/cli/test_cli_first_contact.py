"""First contact (issue 24): `init --here` anywhere, one "not in a workspace" error, help topics
that state the exit code a waiting run really has, plain tables in a pipe, a closed pipe."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from genops.workspace import scaffold
from genops.workspace.scaffold import init_here, init_workspace


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run([sys.executable, "-m", "genops.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def listing(root: Path) -> dict[str, str]:
    """Every path under `root` (the .git folder as one entry) with a file's text."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".git/"):
            continue
        found[rel] = path.read_text(encoding="utf-8") if path.is_file() else "<dir>"
    return found


# -- init --here -------------------------------------------------------------------------------


def test_init_here_works_in_a_directory_without_a_gitignore(tmp_path: Path) -> None:
    """Outside git: a repository whose first commit is the scaffold, not the user's files."""
    import git

    project = tmp_path / "plain"
    project.mkdir()
    (project / "notes.txt").write_text("mine\n")
    made = run(project, "init", "--here", "--provider", "fake")
    assert made.returncode == 0, made.stderr
    assert "Traceback" not in made.stderr
    assert (project / "genops.toml").is_file() and (project / "generated").is_dir()
    assert ".genops/ledger.db*" in (project / ".gitignore").read_text()
    committed = git.Repo(project).git.ls_files().splitlines()
    assert "genops.toml" in committed and ".gitignore" in committed
    assert "notes.txt" not in committed and (project / "notes.txt").read_text() == "mine\n"
    assert not list(project.glob(".genops-init-*"))

    in_repo = tmp_path / "repo"
    in_repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=in_repo, check=True)
    made = run(in_repo, "init", "--here", "--provider", "fake")
    assert made.returncode == 0, made.stderr
    assert (in_repo / ".gitignore").is_file() and (in_repo / "genops.toml").is_file()


@pytest.mark.parametrize("gitignore", [None, "*.log"], ids=["no-gitignore", "gitignore"])
def test_init_here_is_all_or_nothing_and_can_be_run_again(tmp_path: Path, gitignore: str | None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "app.py").write_text("print('hi')\n")
    if gitignore is not None:
        (project / ".gitignore").write_text(gitignore)  # no final newline
    before = listing(project)

    def broken_git(root: Path, **kwargs: object) -> None:
        (root / ".git").mkdir()
        raise OSError("git failed")

    with monkeypatch.context() as patch:
        patch.setattr(scaffold, "_git_init", broken_git)
        with pytest.raises(OSError, match="git failed"):
            init_here(project, provider="fake", git=True)
    assert listing(project) == before
    assert not (project / ".git").exists()

    result = init_here(project, provider="fake", git=True)  # the second run starts clean
    assert result.git and (project / "genops.toml").is_file()
    if gitignore is not None:
        assert (project / ".gitignore").read_text().startswith("*.log\n\n# genops\n")


# -- one error outside a workspace ---------------------------------------------------------------

OUTSIDE = [
    ("regenerate",), ("regenerate", "--dry-run"), ("resume",), ("replay",), ("replay", "r0001"),
    ("patch", "fix it"), ("runs",), ("runs", "cancel", "x"), ("log",), ("check",), ("verify",),
    ("review",), ("summary",), ("architecture",), ("cost",), ("rollback", "r0001"),
    ("stability",), ("lock",), ("keygen", "KEY"), ("diff",),
]


def test_every_command_outside_a_workspace_gives_the_same_error(tmp_path: Path) -> None:
    outside = tmp_path / "not-a-workspace"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    procs = {args: subprocess.Popen(
        [sys.executable, "-m", "genops.cli.main",
         *(str(tmp_path / "k.pem") if a == "KEY" else a for a in args)],
        cwd=outside, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for args in OUTSIDE}
    expected = f"error: {outside} is not inside a genops workspace (no genops.toml here or above)"
    for args, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (args, err)
        assert err.splitlines()[0] == expected, (args, err)
        assert "git init" not in err and "Traceback" not in err, (args, err)
    assert list(outside.iterdir()) == []  # no lock folder left behind


# -- help topics ---------------------------------------------------------------------------------

_WAITING = re.compile(r"await|manual answer|ManualPending", re.IGNORECASE)
_EXIT = re.compile(r"\bexit(?:s| code| codes:)?\s+`?(\d)\b", re.IGNORECASE)


def test_help_topics_give_exit_5_for_a_run_awaiting_manual_answers() -> None:
    """Every clause of every topic that ties an exit code to a waiting run says 5."""
    from genops.help import TOPICS, topic_text

    claims = []
    for topic in TOPICS:
        text = " ".join(topic_text(topic.name).split())
        for sentence in re.split(r"(?<=\.)\s+|\|", text):
            listed = re.search(r"exit codes?:", sentence, re.IGNORECASE)  # "Exit codes: 0 ...; 5 ..."
            for clause in sentence.split(";"):
                if not _WAITING.search(clause):
                    continue
                if listed:
                    clause = re.sub(r"^.*exit codes?:", "", clause, flags=re.IGNORECASE)
                    claims += [(topic.name, code, clause) for code in re.findall(r"^\s*(\d)\b", clause)]
                claims += [(topic.name, code, clause) for code in _EXIT.findall(clause)]
    wrong = [claim for claim in claims if claim[1] != "5"]
    assert not wrong, wrong
    assert {name for name, _, _ in claims} >= {"patch", "synthesis", "releases"}


# -- piped output --------------------------------------------------------------------------------

_BOX = re.compile("[\u2500-\u257f]")


def test_piped_tables_are_plain_lines(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    init_workspace(root, name="hello", provider="fake", git=True)
    result = run(root, "regenerate", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert not _BOX.search(result.stdout), result.stdout
    lines = result.stdout.splitlines()
    assert lines[0] == "plan (multi) — nothing sent, nothing spent"
    assert re.fullmatch(r"request\s+rung\s+model\s+input\s+max out\s+worst \$\s+window\s+fits",
                        lines[1]), lines[1]
    rows = [line for line in lines[2:] if line.startswith(("blueprint", "group"))]
    assert len(rows) == 4 and all(line.endswith("yes") for line in rows), rows
    assert all(line == line.rstrip() for line in lines)


def test_a_plain_table_keeps_long_cells_whole_and_on_one_line() -> None:
    from rich.table import Table
    from rich.text import Text

    from genops.render.console import plain_table

    table = Table(title="releases")
    for column in ("release", "reason", "cost"):
        table.add_column(column)
    long_reason = "because " * 40
    table.add_row("r0001", Text(long_reason.strip()), "$0.01")
    table.add_row("r0002", "two\nlines", "[b]$1.00[/b]")
    assert plain_table(table).plain.splitlines() == [
        "releases",
        "release  reason                            cost",
        f"r0001    {long_reason.strip()}  $0.01",
        "r0002    two lines                         $1.00",
    ]


@pytest.mark.parametrize("args", [("cost",), ("help", "config"), ("log",), ("--help",),
                                  ("regenerate", "--dry-run")], ids=" ".join)
def test_a_closed_pipe_ends_quietly_with_exit_0(tmp_path: Path, args: tuple[str, ...]) -> None:
    """`genops cost | head`: the reader goes away before genops writes."""
    root = tmp_path / "ws"
    init_workspace(root, name="hello", provider="fake", git=True)
    proc = subprocess.Popen([sys.executable, "-m", "genops.cli.main", *args], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert err == b"", err
