"""The release gates on real trees: parse, paths, tests (real subprocess, real venv), budget."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from genops.gates.base import GateContext, GateResult
from genops.gates.budget import BudgetGate
from genops.gates.parse import ParseGate
from genops.gates.paths import PathsGate
from genops.gates.registry import run_gates
from genops.gates.tests import TestsGate, scrub_env
from genops.gates.venvs import cache_root, declared_dependencies, ensure_venv, venv_key


def _tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def _ctx(tmp_path: Path, tree: Path, **run: object) -> GateContext:
    ws = SimpleNamespace(root=tmp_path)
    return GateContext(workspace=ws, staged=tree, previous=None, evidence_dir=tmp_path / "ev",
                       run=dict(run))


PYPROJECT = '[project]\nname = "t"\nversion = "0"\n[project.optional-dependencies]\ntest = ["pytest"]\n'


@pytest.mark.parametrize("source, line, rule", [
    ("x = 1\n", None, None),
    ("def f(:\n    pass\n", 1, "syntax"),
    ("x = 1\ny = (\n", 2, "syntax"),
    ("def f():\nreturn 1\n", 2, "syntax"),
    (b"x = '\xff'\n", 1, "encoding"),
    ("s = '\\d'\n", None, None),  # an invalid escape warns but parses
])
def test_parse_gate_names_file_and_line(tmp_path: Path, source: str | bytes, line: int | None,
                                        rule: str | None) -> None:
    tree = _tree(tmp_path / "t", {"pkg/mod.py": source, "pkg/__init__.py": ""})
    result = ParseGate().check(_ctx(tmp_path, tree))
    if line is None:
        assert result.verdict == "pass", result.summary
        return
    assert result.verdict == "fail"
    (finding,) = result.findings
    assert (finding.file, finding.line, finding.rule) == ("pkg/mod.py", line, rule)
    assert "pkg/mod.py" in result.summary


def test_paths_gate_refuses_escaping_symlinks_special_files_and_case_twins(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", {"a.py": "", "pkg/b.py": "", "Readme.md": "", "README.md": ""})
    (tree / "pkg" / "up").symlink_to("../../outside")
    (tree / "abs").symlink_to("/etc/passwd")
    (tree / "pkg" / "ok").symlink_to("b.py")
    os.mkfifo(tree / "pipe")
    result = PathsGate().check(_ctx(tmp_path, tree))
    assert result.verdict == "fail"
    by_file = {(f.file, f.rule) for f in result.findings}
    assert ("pkg/up", "symlink-escape") in by_file
    assert ("abs", "symlink-escape") in by_file
    assert ("pipe", "special-file") in by_file
    assert ("pkg/ok", "symlink") in by_file  # inside the tree: a warning only
    assert any(f.rule == "case-duplicate" for f in result.findings)


def test_paths_gate_passes_a_plain_tree(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", {"a.py": "", "pkg/b.py": ""})
    assert PathsGate().check(_ctx(tmp_path, tree)).verdict == "pass"


def test_tests_gate_runs_isolated_without_keys_and_keeps_junit(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                "MISTRAL_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.setenv(key, "sk-secret-value-123")
    tree = _tree(tmp_path / "t", {"pyproject.toml": PYPROJECT, "tests/test_env.py": textwrap.dedent("""
        import os
        from pathlib import Path

        def test_no_keys():
            leaked = [k for k in os.environ if "API_KEY" in k or k.startswith(("OPENAI", "ANTHROPIC"))]
            assert leaked == []
            assert "sk-secret-value-123" not in repr(dict(os.environ))

        def test_writes_do_not_reach_the_staged_tree():
            Path("scribble.txt").write_text("x")
    """)})
    result = TestsGate("python -m pytest -q", 120, True, True).check(_ctx(tmp_path, tree))
    assert result.verdict == "pass", result.summary
    assert result.data["tests"] == 2
    assert not (tree / "scribble.txt").exists()
    assert not list(tree.rglob("__pycache__"))
    assert "ev/tests/junit.xml" in result.evidence
    assert "<testsuite" in (tmp_path / "ev" / "tests" / "junit.xml").read_text()


def test_tests_gate_failure_points_at_the_failing_test(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", {"pyproject.toml": PYPROJECT, "tests/test_math.py":
                                  "def test_ok():\n    assert 1\n\n\ndef test_bad():\n    assert 1 == 2\n"})
    result = TestsGate("pytest -q", 120, True, True).check(_ctx(tmp_path, tree))
    assert result.verdict == "fail"
    assert "1 of 2 tests failed" in result.summary
    (finding,) = result.findings
    assert finding.file == "tests/test_math.py" and finding.line == 5
    assert "test_bad" in finding.message


@pytest.mark.parametrize("sandbox", ["off", "preferred"])
def test_tests_gate_timeout_kills_the_whole_process_group(tmp_path: Path, sandbox: str) -> None:
    marker = f"genops-hang-{os.getpid()}-{sandbox}"  # found in /proc by its command line
    tree = _tree(tmp_path / "t", {"pyproject.toml": PYPROJECT, "tests/test_hang.py": textwrap.dedent(f"""
        import subprocess, sys, time
        def test_hang():
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", {marker!r}])
            time.sleep(600)
    """)})
    started = time.monotonic()
    result = TestsGate("python -m pytest -q", 8, True, True, sandbox=sandbox,  # type: ignore[arg-type]
                       environ={"GENOPS_ALLOW_UNSANDBOXED": "1"}).check(_ctx(tmp_path, tree))
    assert result.verdict == "fail" and "timed out after 8s" in result.summary
    assert time.monotonic() - started < 60
    assert not _alive_with(marker)


def _alive_with(marker: str) -> list[int]:
    """Live (non-zombie) processes whose command line carries `marker`."""
    time.sleep(0.2)
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and _alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper counts as dead)."""
    time.sleep(0.2)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_tests_gate_not_required_only_warns(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", {"pyproject.toml": PYPROJECT,
                                  "tests/test_x.py": "def test_x():\n    assert False\n"})
    result = TestsGate("python -m pytest -q", 60, True, False).check(_ctx(tmp_path, tree))
    assert result.verdict == "warn" and result.passed


def test_scrub_env_removes_every_provider_key() -> None:
    env = {"OPENAI_API_KEY": "a", "ANTHROPIC_API_KEY": "b", "GEMINI_API_KEY": "c",
           "GOOGLE_API_KEY": "d", "SOME_VENDOR_API_KEY": "e", "OPENAI_ORG_ID": "f",
           "GITHUB_TOKEN": "g", "VIRTUAL_ENV": "/v", "PATH": "/bin", "HOME": "/root", "LANG": "C"}
    assert scrub_env(env) == {"PATH": "/bin", "HOME": "/root", "LANG": "C"}


def test_declared_dependencies_read_as_data(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", {
        "pyproject.toml": '[project]\nname="x"\nversion="0"\ndependencies=["httpx>=0.27"]\n'
                          '[project.optional-dependencies]\ntest=["pytest>=8"]\ndocs=["mkdocs"]\n',
        "requirements.txt": "--index-url https://evil.example/simple\n-e .\nrich  # ui\n-r more.txt\n",
        "more.txt": "pyyaml\n-r ../../escape.txt\n",
    })
    deps = declared_dependencies(tree)
    assert deps.requirements == ("httpx>=0.27", "pytest>=8", "pyyaml", "rich")
    assert deps.sources == ("pyproject.toml", "requirements.txt")


def test_venv_is_cached_second_run_pays_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GENOPS_VENV_CACHE", str(tmp_path / "cold-cache"))
    tree = _tree(tmp_path / "t", {"pyproject.toml": PYPROJECT,
                                  "tests/test_x.py": "def test_x():\n    assert True\n"})
    gate = TestsGate("python -m pytest -q", 120, True, True)
    cold_started = time.monotonic()
    cold = gate.check(_ctx(tmp_path, tree))
    cold_s = time.monotonic() - cold_started
    warm_started = time.monotonic()
    warm = gate.check(_ctx(tmp_path, tree))
    warm_s = time.monotonic() - warm_started
    assert cold.verdict == warm.verdict == "pass"
    assert cold.data["venv_built"] is True and warm.data["venv_built"] is False
    assert warm.data["venv_seconds"] < 0.5
    assert warm_s < cold_s
    assert [p.name for p in cache_root().iterdir() if not p.name.startswith(".")] == [cold.data["venv"]]
    with capsys.disabled():
        print(f"\n[venv cache] test gate cold {cold_s:.2f}s (venv {cold.data['venv_seconds']:.2f}s), "
              f"warm {warm_s:.2f}s (venv {warm.data['venv_seconds']:.3f}s)")


def test_killed_venv_build_leaves_no_cached_venv(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "GENOPS_VENV_CACHE": str(cache)}
    script = "from genops.gates.venvs import ensure_venv; ensure_venv(['pytest'])"
    child = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while not list(cache.glob(".build-*/bin/python")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # pip is running now
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    key = venv_key(["pytest"])
    assert not (cache / key).exists()  # a half-built venv is never in the cache
    os.environ["GENOPS_VENV_CACHE"] = str(cache)
    try:
        venv = ensure_venv(["pytest"])
    finally:
        del os.environ["GENOPS_VENV_CACHE"]
    assert venv.built and (venv.python).exists()
    assert not list(cache.glob(".build-*"))  # the stale build was cleared
    check = subprocess.run([str(venv.python), "-m", "pytest", "--version"], capture_output=True)
    assert check.returncode == 0


def test_budget_gate_compares_the_run_cost(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", {"a.py": ""})
    gate = BudgetGate(per_run_usd=1.0, per_month_usd=10.0)
    assert gate.check(_ctx(tmp_path, tree, cost_usd=0.5, month_spend_usd=3.0)).verdict == "pass"
    over = gate.check(_ctx(tmp_path, tree, cost_usd=1.5))
    assert over.verdict == "fail" and "per-run budget" in over.summary
    month = gate.check(_ctx(tmp_path, tree, cost_usd=0.5, month_spend_usd=11.0))
    assert month.verdict == "fail" and "per-month" in month.summary


def test_run_gates_skips_gates_whose_prerequisites_failed(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", {"bad.py": "def (:\n"})
    seen: list[tuple[str, str | None]] = []
    results = run_gates(_ctx(tmp_path, tree),
                        [PathsGate(), ParseGate(), TestsGate("python -m pytest", 60, True, True)],
                        observer=lambda name, r: seen.append((name, r and r.verdict)))
    assert [(r.gate, r.verdict) for r in results] == [("paths", "pass"), ("parse", "fail"),
                                                      ("tests", "skip")]
    assert "parse" in results[2].summary
    assert seen[0] == ("paths", None) and seen[-1] == ("tests", "skip")
    assert isinstance(results[0], GateResult)
