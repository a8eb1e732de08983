"""The test gate: the generated tree's own test suite, run the way CI would run it, as untrusted code.

The suite runs in a separate process, in a scratch copy of the staged tree (a test that writes
files cannot change what gets promoted), with a timeout that kills its whole process group, with
an environment built from an allowlist (`genops.gates.sandbox`), under bubblewrap unless
`[gates.tests] sandbox = "off"` (or "preferred" where bubblewrap cannot run; the verdict says so),
and, unless `[gates.tests] use_venv = false`, inside a venv built from the tree's declared
dependencies (`genops.gates.venvs`). When the command is pytest, JUnit XML is kept as evidence
next to the captured output, and the verdict counts passed, failed and skipped tests from it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from genops.audit.lockfile import lock_path, stale_reason
from genops.gates.base import Finding, GateContext, GateResult, Verdict
from genops.gates.sandbox import Probe, SandboxMode, allowlist_env, bwrap_argv, interpreter_roots, probe
from genops.gates.venvs import VenvBuildError, declared_dependencies, ensure_venv
from genops.gates.venvs import scrub_env as scrub_env  # its home moved; imported here too
from genops.junit import JUnitReport, outcome_phrase, read_junit
from genops.store.tree import copy_tree, remove_tree
from genops.workspace import Workspace

OUTPUT_TAIL = 4000
JUNIT_MAX_BYTES = 64 * 1024 * 1024


def is_pytest(argv: list[str]) -> bool:
    return bool(argv) and (Path(argv[0]).name.startswith("pytest") or argv[1:3] == ["-m", "pytest"])


def resolve_argv(argv: list[str], python: Path | str) -> list[str]:
    """Run `python ...` and `pytest ...` with the gate's interpreter (`python -m pytest`)."""
    head = Path(argv[0]).name
    if re.fullmatch(r"python(3(\.\d+)?)?", head):
        return [str(python), *argv[1:]]
    if head in ("pytest", "py.test"):
        return [str(python), "-m", "pytest", *argv[1:]]
    return argv


def junit_findings(path: Path) -> tuple[dict[str, int], list[Finding]]:
    """Counts (tests, passed, failures, errors, skipped) and one finding per failed test case."""
    return _findings(read_junit(path), path)


def _findings(report: JUnitReport | None, path: Path) -> tuple[dict[str, int], list[Finding]]:
    if report is None:
        return {"tests": 0, "passed": 0, "failures": 0, "errors": 0, "skipped": 0}, []
    if not report.valid:
        return report.counts(), [Finding("JUnit XML is not valid XML", path.name, rule="junit")]
    return report.counts(), [Finding(f"{c.id}: {c.message}", c.file, c.line,
                                     rule="failure" if c.outcome == "failed" else "error")
                             for c in report.cases if c.outcome in ("failed", "error")]


def _rel(ctx: GateContext, path: Path) -> str:
    root = Path(getattr(ctx.workspace, "root", "/"))
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def run_in_group(argv: list[str], cwd: Path, env: dict[str, str], *, stdout: IO[bytes],
                 stderr: IO[bytes] | int, timeout: float) -> int | None:
    """Run argv in its own process group: its exit code, or None when killed at the timeout.

    The whole group is killed afterwards, on success as on timeout, so a suite's stray children
    (servers, sleepers) never outlive the gate.
    """
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        code: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    return code


def _run(argv: list[str], cwd: Path, env: dict[str, str], log: Path,
         timeout: float) -> tuple[int | None, float]:
    """Run argv with stdout and stderr into `log`; (exit code or None on timeout, seconds)."""
    started = time.monotonic()
    with open(log, "ab") as out:
        code = run_in_group(argv, cwd, env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    return code, time.monotonic() - started


def _keep_junit(produced: Path, evidence: Path) -> None:
    """Copy the suite's JUnit file into the evidence, only if it is a plain, bounded file."""
    try:
        st = produced.lstat()
    except FileNotFoundError:
        return
    if produced.is_symlink() or not produced.is_file() or st.st_size > JUNIT_MAX_BYTES:
        return  # a suite could leave a link to a host file here: never copy through it
    shutil.copyfile(produced, evidence, follow_symlinks=False)


def _lock_text(ctx: GateContext) -> str | None:
    """The workspace's dependency lock when it covers the staged tree's declared dependencies
    (the lock gate fails the run otherwise), else None: install the declared ones."""
    config = getattr(ctx.workspace, "config", None)
    if config is None or config.audit.lock == "off":
        return None
    path = lock_path(ctx.workspace.root, config.project.output)
    if not path.is_file():
        return None
    if stale_reason(list(declared_dependencies(ctx.staged).requirements), path, fix="genops lock"):
        return None
    return path.read_text(encoding="utf-8")


class TestsGate:
    name = "tests"
    needs = ("paths", "parse")
    __test__ = False  # not a pytest test class

    def __init__(self, command: str, timeout_s: float, use_venv: bool, required: bool, *,
                 sandbox: SandboxMode = "preferred", env: Sequence[str] = (),
                 bwrap: str = "bwrap", environ: Mapping[str, str] | None = None) -> None:
        self.command = command
        self.timeout_s = timeout_s
        self.use_venv = use_venv
        self.required = required
        self.sandbox = sandbox
        self.env = tuple(env)
        self.bwrap = bwrap  # the executable looked up on PATH (injectable: tests point it away)
        self.environ = environ  # the environment allowlisted names are copied from (os.environ)

    def _python(self, ctx: GateContext, argv: list[str], log: Path) -> tuple[Path | str, dict[str, Any]]:
        if not self.use_venv:
            return sys.executable, {"venv": None}
        deps = declared_dependencies(ctx.staged)
        requirements = list(deps.requirements)
        if is_pytest(argv) and not any(re.match(r"pytest\b", r) for r in requirements):
            requirements.append("pytest")  # the gate's own runner, when the tree forgot it
        lock = _lock_text(ctx)
        venv = ensure_venv(requirements, lock)
        what = "the hash-pinned lock" if lock is not None else (" ".join(requirements) or "(no dependencies)")
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"# venv {venv.key} ({'built' if venv.built else 'cached'} in "
                      f"{venv.seconds:.1f}s): {what}\n")
        return venv.python, {"venv": venv.key, "venv_built": venv.built,
                             "venv_seconds": round(venv.seconds, 3), "requirements": requirements,
                             "from_lock": lock is not None}

    def _probe(self) -> Probe | None:
        """The bubblewrap to use, None when the policy is off."""
        return None if self.sandbox == "off" else probe(self.bwrap)

    def python_for(self, ctx: GateContext, argv: list[str],
                   log: Path) -> tuple[Path | str, dict[str, Any]]:
        """The interpreter (the tree's cached venv) another gate runs the tree's code with."""
        return self._python(ctx, argv, log)

    def sandbox_probe(self) -> Probe | None:
        """The bubblewrap this gate would use (None when the policy is off), for other gates."""
        return self._probe()

    def check(self, ctx: GateContext) -> GateResult:
        evidence = ctx.evidence_dir / "tests"
        evidence.mkdir(parents=True, exist_ok=True)
        log, junit = evidence / "output.txt", evidence / "junit.xml"
        junit.unlink(missing_ok=True)
        found = self._probe()
        used = "bwrap" if found is not None and found.ok else "none"
        log.write_text(f"# command: {self.command}\n# sandbox: {used}"
                       f"{f' ({found.message})' if found else ' (off by [gates.tests] sandbox)'}\n",
                       encoding="utf-8")
        if found is not None and not found.ok and self.sandbox == "required":
            return GateResult(self.name, "fail", f"sandbox required but {found.message}; install "
                              "bubblewrap or set [gates.tests] sandbox = \"preferred\"",
                              evidence=(_rel(ctx, log),), data={"sandbox": "none"},
                              facts={"sandbox": "none"})
        argv = shlex.split(self.command)
        try:
            python, data = self._python(ctx, argv, log)
        except VenvBuildError as exc:
            with open(log, "a", encoding="utf-8") as out:
                out.write(exc.log)
            return self._verdict(f"{exc.message}; see {_rel(ctx, log)}", (), (_rel(ctx, log),),
                                 {"sandbox": used})
        data["sandbox"] = used
        code, seconds = self._execute(ctx, argv, python, found if used == "bwrap" else None,
                                      log, junit)
        return self._result(ctx, code, seconds, log, junit, data, found)

    def _execute(self, ctx: GateContext, argv: list[str], python: Path | str,
                 sandbox: Probe | None, log: Path, junit: Path) -> tuple[int | None, float]:
        """Run the suite in a fresh scratch folder (under bubblewrap when given one)."""
        with tempfile.TemporaryDirectory(prefix="genops-tests-") as tmp:
            scratch = Path(tmp).resolve()
            tree, home, private_tmp = scratch / "tree", scratch / "home", scratch / "tmp"
            home.mkdir()
            private_tmp.mkdir()
            copy_tree(ctx.staged, tree)
            run = resolve_argv(argv, python)
            if is_pytest(run):
                produced = scratch / "junit.xml"
                run += [f"--junitxml={produced}", "-o", "junit_family=xunit1"]  # file+line
            env = allowlist_env(os.environ if self.environ is None else self.environ, self.env,
                                home=home, tmpdir=private_tmp, python=python)
            env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (tree / "src", tree) if p.is_dir())
            if sandbox is not None and sandbox.executable:
                run = bwrap_argv(sandbox.executable, run, scratch=scratch, cwd=tree,
                                 readonly=interpreter_roots(python), env=env)
            code, seconds = _run(run, tree, env, log, self.timeout_s)
            _keep_junit(scratch / "junit.xml", junit)
            remove_tree(tree)
        return code, seconds

    def _result(self, ctx: GateContext, code: int | None, seconds: float, log: Path,
                junit: Path, data: dict[str, Any], found: Probe | None) -> GateResult:
        report = read_junit(junit)
        counts, findings = _findings(report, junit)
        data.update(counts, exit_code=code, command=self.command)
        facts = {"sandbox": data["sandbox"], **(counts if report and report.valid else {})}
        evidence = tuple(_rel(ctx, p) for p in (junit, log) if p.is_file())
        note = ("" if data["sandbox"] == "bwrap" else " [no sandbox: "
                + (found.message if found else "[gates.tests] sandbox = \"off\"") + "]")
        pytest = is_pytest(shlex.split(self.command))
        if code is None:
            summary = f"timed out after {self.timeout_s:g}s (the process group was killed)"
        elif code == 0 and report is not None and report.valid and counts["passed"]:
            return GateResult(self.name, "pass", outcome_phrase(counts) + note, evidence=evidence,
                              seconds=seconds, data=data, facts=facts)
        elif code == 0 and not pytest:
            return GateResult(self.name, "pass", f"`{self.command}` exited 0 (no JUnit "
                              f"evidence: test counts unknown){note}", evidence=evidence,
                              seconds=seconds, data=data, facts=facts)
        elif code == 0:
            summary = ("pytest exited 0 but left no valid JUnit XML" if report is None
                       or not report.valid else f"no test passed ({outcome_phrase(counts)})")
        elif code == 5 and pytest:
            summary = "no tests were collected"
        elif findings:
            summary = (f"{counts['failures'] + counts['errors']} of {counts['tests']} tests failed "
                       f"(first: {findings[0].message}; {outcome_phrase(counts)})")
        else:
            tail = log.read_text(encoding="utf-8", errors="replace")[-OUTPUT_TAIL:].strip()
            last = tail.splitlines()[-1] if tail else ""
            summary = f"exit code {code}" + (f": {last}" if last else "")
        return self._verdict(summary + note, tuple(findings), evidence, data, seconds, facts)

    def _verdict(self, summary: str, findings: tuple[Finding, ...], evidence: tuple[str, ...],
                 data: dict[str, Any], seconds: float = 0.0,
                 facts: dict[str, Any] | None = None) -> GateResult:
        verdict: Verdict = "fail" if self.required else "warn"
        return GateResult(self.name, verdict, summary, findings=findings, evidence=evidence,
                          seconds=seconds, data=data,
                          facts=facts or {"sandbox": data.get("sandbox", "none")})


def make_gate(ws: Workspace) -> TestsGate:
    cfg = ws.config.gates.tests
    return TestsGate(cfg.command, cfg.timeout_s, cfg.use_venv, cfg.required,
                     sandbox=cfg.sandbox, env=cfg.env)
