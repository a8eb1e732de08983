"""Inputs that cannot reach out: sandboxed templates, symlinked inputs, bounded settings.

Each hostile input is refused with exit 2 naming the file (and field or line), nothing it asks
for runs (a marker file the payload would create never appears, a secret in the environment never
shows), and nothing in the workspace outside `.genops/runs` changes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from genops.cli.main import main
from genops.workspace.scaffold import init_workspace
from genops.testing.snapshot import workspace_files

SECRET = "sk-test-SECRET-7f3a9"


@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    return init_workspace(tmp_path / "ws", name="hello", provider="fake", git=True).root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the workspace except git's own and the runs folder."""
    return workspace_files(root, (".git/", ".genops/runs/"))


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], root: Path,
            *args: str) -> tuple[int, str]:
    """The real `genops` entry point, in process (fast), with a provider key in the env."""
    monkeypatch.chdir(root)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setattr(sys, "argv", ["genops", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


def _flat(text: str) -> str:
    """Rich wraps long lines; compare without the wrapping."""
    return re.sub(r"\s+", " ", text)


# --- templates -------------------------------------------------------------------------------

def payloads(marker: Path) -> list[tuple[str, str]]:
    """(name, template line): each refused when the workspace loads, before anything renders."""
    touch = f"touch {marker}"
    popen = f".popen('{touch}').read()"
    built = "{% set a = '_' ~ '_init__' %}{% set g = '_' ~ '_globals__' %}"
    return [
        ("cycler globals popen", f"{{{{ cycler.__init__.__globals__.os{popen} }}}}"),
        ("joiner globals in set", f"{{% set x = joiner.__init__.__globals__.os{popen} %}}"),
        ("namespace globals", f"{{{{ namespace.__init__.__globals__.os{popen} }}}}"),
        ("lipsum globals", f"{{{{ lipsum.__globals__['os']{popen} }}}}"),
        ("str mro subclasses", "{{ ''.__class__.__mro__[1].__subclasses__() }}"),
        ("tuple base subclasses", "{% for c in ().__class__.__base__.__subclasses__() %}{% endfor %}"),
        ("range class", "{{ range.__class__ }}"),
        ("self template context", "{{ self._TemplateReference__context }}"),
        ("getitem by name", f"{{{{ cycler['__init__']['__globals__']['os']{popen} }}}}"),
        ("attr filter, constant", f"{{{{ (cycler|attr('__init__')|attr('__globals__'))['os']{popen} }}}}"),
        ("flask config", "{{ config.items() }}"),
        ("flask request", "{{ request.application.__globals__ }}"),
        ("environment key", "{{ cycler.__init__.__globals__.os.environ['OPENAI_API_KEY'] }}"),
        ("attr filter, built name", built + f"{{{{ (cycler|attr(a)|attr(g))['os']{popen} }}}}"),
        ("environment key, built name",
         built + "{{ (cycler|attr(a)|attr(g))['os'].environ['OPENAI_API_KEY'] }}"),
        ("format string", "{{ '{0.__class__.__mro__}'.format(project) }}"),
        ("format_map string", "{{ '{p.__class__}'.format_map({'p': project}) }}"),
        ("include outside", "{% include '../../../etc/passwd' %}"),
        ("include computed", "{% include 'sys' ~ 'tem.j2' %}"),
        ("import os", "{% import 'os' as os %}{{ os }}"),
        ("extends outside", "{% extends '/etc/passwd' %}"),
    ]


PAYLOAD_NAMES = [p[0] for p in payloads(Path("m"))]


@pytest.mark.parametrize("index", range(len(PAYLOAD_NAMES)), ids=PAYLOAD_NAMES)
def test_template_escape_is_refused_and_nothing_runs(
        ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], index: int) -> None:
    marker = tmp_path / "PWNED"
    _, line = payloads(marker)[index]
    system = ws / "prompts" / "system.j2"
    system.write_text("You write code.\n\n" + line + "\n" + system.read_text(encoding="utf-8"),
                      encoding="utf-8")
    before = snapshot(ws)
    code, output = run_cli(monkeypatch, capsys, ws, "regenerate", "--dry-run")
    assert code == 2, output
    assert "prompts/system.j2:3:" in _flat(output), output  # the file and line of the payload
    assert "Traceback" not in output and SECRET not in output
    assert not marker.exists()
    assert snapshot(ws) == before


# Payloads that pass the load-time check and meet the sandbox itself at render time.
RUNTIME = [
    ("getitem with a built name", "{% set a = '_' ~ '_init__' %}{{ cycler[a] }}"),
    ("globals through a built key",
     "{% set a = '_' ~ '_init__' %}{% set g = '_' ~ '_globals__' %}"
     "{{ cycler[a][g]['os'].popen('touch MARKER').read() }}"),
    ("environ through a built key",
     "{% set a = '_' ~ '_init__' %}{% set g = '_' ~ '_globals__' %}"
     "{{ cycler[a][g]['os'].environ['OPENAI_API_KEY'] }}"),
    ("list mutation", "{{ requirements.append(1) }}"),
]


@pytest.mark.parametrize("source", [r[1] for r in RUNTIME], ids=[r[0] for r in RUNTIME])
def test_the_sandbox_refuses_at_render_what_load_cannot_see(
        ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    from genops.errors import ConfigError
    from genops.workspace import load_workspace

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.chdir(tmp_path)
    (ws / "prompts" / "extra.j2").write_text("line one\n" + source.replace(
        "MARKER", str(tmp_path / "PWNED")) + "\n", encoding="utf-8")
    workspace = load_workspace(ws)
    context = dict.fromkeys(("project", "release"), "") | {"requirements": [{"id": "REQ-A-1"}]}
    with pytest.raises(ConfigError) as refused:
        workspace.render("extra", context)
    assert refused.value.file == "prompts/extra.j2" and refused.value.line == 2
    assert "sandbox" in refused.value.message and SECRET not in str(refused.value)
    assert not (tmp_path / "PWNED").exists()


def test_template_payload_refused_by_the_real_cli(ws: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    (ws / "prompts" / "extra.j2").write_text(
        f"ok\n{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}\n",
        encoding="utf-8")
    before = snapshot(ws)
    env = {**os.environ, "OPENAI_API_KEY": SECRET}
    done = subprocess.run([sys.executable, "-m", "genops.cli.main", "regenerate", "--dry-run"],
                          cwd=ws, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "prompts/extra.j2:2:" in _flat(done.stderr) and "Traceback" not in done.stderr
    assert not marker.exists() and snapshot(ws) == before


def test_templates_still_render_loops_filters_and_namespace(
        ws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    system = ws / "prompts" / "system.j2"
    system.write_text("{% set ns = namespace(n=0) %}{% for r in requirements %}"
                      "{% set ns.n = ns.n + 1 %}{{ r.id|lower }}{% endfor %}{{ ns.n }}"
                      "{{ '%s!'|format(project.name) }}{% include 'protocol_note.j2' %}\n"
                      + system.read_text(encoding="utf-8"), encoding="utf-8")
    (ws / "prompts" / "protocol_note.j2").write_text("note {{ release }}\n", encoding="utf-8")
    code, output = run_cli(monkeypatch, capsys, ws, "regenerate", "--dry-run")
    assert code == 0, output


# --- symlinked inputs ------------------------------------------------------------------------

def _outside(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "outside" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _link_spec(ws: Path, tmp: Path) -> str:
    (ws / "specs" / "leak.md").symlink_to(_outside(tmp, "passwd.md", "- **REQ-LEAK-1** root:x:0\n"))
    return "specs/leak.md"


def _link_specs_dir(ws: Path, tmp: Path) -> str:
    _outside(tmp, "specs/requirements.md", "- **REQ-LEAK-1** root:x:0\n")
    os.rename(ws / "specs", tmp / "old-specs")
    (ws / "specs").symlink_to(tmp / "outside" / "specs", target_is_directory=True)
    return "specs/requirements.md"


def _link_adr(ws: Path, tmp: Path) -> str:
    (ws / "adr" / "ADR-0009-leak.yaml").symlink_to(_outside(
        tmp, "adr.yaml", "id: ADR-0009\ntitle: t\nstatus: accepted\ndecision: d\n"))
    return "adr/ADR-0009-leak.yaml"


def _link_template(ws: Path, tmp: Path) -> str:
    (ws / "prompts" / "system.j2").unlink()
    (ws / "prompts" / "system.j2").symlink_to(_outside(tmp, "system.j2", "secret text\n"))
    return "prompts/system.j2"


def _link_config(ws: Path, tmp: Path) -> str:
    text = (ws / "genops.toml").read_text(encoding="utf-8")
    (ws / "genops.toml").unlink()
    (ws / "genops.toml").symlink_to(_outside(tmp, "genops.toml", text))
    return "genops.toml"


SYMLINKS = [("spec file", _link_spec), ("specs folder", _link_specs_dir), ("adr", _link_adr),
            ("template", _link_template), ("genops.toml", _link_config)]


@pytest.mark.parametrize("make_link", [s[1] for s in SYMLINKS], ids=[s[0] for s in SYMLINKS])
def test_symlinked_input_leaving_the_workspace_is_refused(
        ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], make_link) -> None:  # type: ignore[no-untyped-def]
    named = make_link(ws, tmp_path)
    before = snapshot(ws)
    code, output = run_cli(monkeypatch, capsys, ws, "regenerate", "--dry-run")
    text = _flat(output)
    assert code == 2, output
    assert f"{named}: is a symlink" in text and "leads outside the workspace" in text
    assert "root:x:0" not in output and "Traceback" not in output
    assert snapshot(ws) == before


def test_symlink_inside_the_workspace_is_an_ordinary_input(
        ws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / "notes").mkdir()
    (ws / "notes" / "extra.md").write_text("- **REQ-EXTRA-1** shared text\n", encoding="utf-8")
    (ws / "specs" / "extra.md").symlink_to(Path("..") / "notes" / "extra.md")
    code, output = run_cli(monkeypatch, capsys, ws, "regenerate", "--dry-run")
    assert code == 0, output


# --- settings --------------------------------------------------------------------------------

def set_key(text: str, table: str, key: str, value: str) -> str:
    """genops.toml with `key = value` set in `[table]` (added when the key is not there)."""
    header = f"[{table}]\n"
    if header not in text:
        return text + f"\n{header}{key} = {value}\n"
    start = text.index(header) + len(header)
    end = text.find("\n[", start)
    end = len(text) if end < 0 else end + 1
    body = text[start:end]
    line = re.compile(rf"^{re.escape(key)}\s*=.*$", re.MULTILINE)
    body = line.sub(f"{key} = {value}", body, count=1) if line.search(body) \
        else f"{key} = {value}\n{body}"
    return text[:start] + body + text[end:]


# (table, key, bad value, words in the message)
BAD_SETTINGS = [
    ("project", "output", '".git"', "inside .git/"),
    ("project", "output", '".genops"', "inside .genops/"),
    ("project", "output", '"specs"', "inside specs/"),
    ("project", "output", '"adr/out"', "inside adr/"),
    ("project", "output", '"prompts"', "inside prompts/"),
    ("project", "output", '"diffs"', "inside diffs/"),
    ("project", "output", '"gen/.git"', "inside .git/"),
    ("project", "output", '"../x"', "stay inside the workspace"),
    ("project", "output", '"gen/../../x"', "stay inside the workspace"),
    ("project", "output", '"/abs"', "relative folder"),
    ("project", "output", '"."', "not the workspace itself"),
    ("project", "output", '""', "relative folder"),
    ("budget", "per_run_usd", "inf", "finite number"),
    ("budget", "per_run_usd", "nan", "finite number"),
    ("budget", "per_run_usd", "-1", "greater than 0"),
    ("budget", "per_run_usd", "0", "greater than 0"),
    ("budget", "per_month_usd", "inf", "finite number"),
    ("synthesis", "concurrency", "0", "greater than or equal to 1"),
    ("synthesis", "max_groups", "0", "greater than or equal to 1"),
    ("synthesis", "max_depth", "0", "greater than or equal to 1"),
    ("models.senior", "max_output_tokens", "0", "greater than 0"),
    ("models.senior", "timeout_s", "-1", "greater than 0"),
    ("models.senior", "temperature", "nan", "finite number"),
    ("retry", "max_delay_s", "inf", "finite number"),
    ('prices."fake-1"', "input", "-1", "greater than or equal to 0"),
    ('prices."fake-1"', "output", "inf", "finite number"),
    ("gates.tests", "timeout_s", "0", "greater than 0"),
]


@pytest.mark.parametrize("table,key,value,words", BAD_SETTINGS,
                         ids=[f"{t}.{k}={v}" for t, k, v, _ in BAD_SETTINGS])
def test_bad_setting_is_refused(ws: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str], table: str, key: str,
                                value: str, words: str) -> None:
    path = ws / "genops.toml"
    path.write_text(set_key(path.read_text(encoding="utf-8"), table, key, value), encoding="utf-8")
    before = snapshot(ws)
    code, output = run_cli(monkeypatch, capsys, ws, "regenerate", "--dry-run")
    text = _flat(output)
    assert code == 2, output
    field = f"{table.replace(chr(34), '')}.{key}"
    assert "genops.toml:" in text and field in text and words in text, output
    assert "Traceback" not in output
    assert snapshot(ws) == before and (ws / ".git" / "HEAD").is_file()


def test_output_git_is_refused_by_the_real_cli_and_git_survives(ws: Path) -> None:
    path = ws / "genops.toml"
    path.write_text(set_key(path.read_text(encoding="utf-8"), "project", "output", '".git"'),
                    encoding="utf-8")
    before = snapshot(ws)
    for args in (["regenerate", "--dry-run"], ["check"], ["regenerate"]):
        done = subprocess.run([sys.executable, "-m", "genops.cli.main", *args], cwd=ws,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, (args, done.stderr)
        assert "project.output" in _flat(done.stderr)
    assert snapshot(ws) == before
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ws, capture_output=True,
                            text=True, check=True)
    assert status.stdout == " M genops.toml\n"
