"""The test gate: the generated tree's own test suite, run the way CI would run it, as untrusted code.

The suite runs in a separate process, in a scratch copy of the staged tree (a test that writes
files cannot change what gets promoted), with a timeout that kills its whole process group, with
an environment built from an allowlist (`genops.gates.sandbox`), under bubblewrap unless
`[gates.tests] sandbox = "off"` (or "preferred" where bubblewrap cannot run; the verdict says so),
and, unless `[gates.tests] use_venv = false`, inside a venv built from the tree's declared
dependencies (`genops.gates.venvs`: downloaded without building, installed in the sandbox), with
resource limits and a cap on the output kept. When the command is pytest, the verdict comes from
genops's own reporter streamed over a pipe, cross-checked against the exit code and the suite's
JUnit file (`genops.gates.outcomes`); the JUnit XML kept as evidence is written by genops.

The sandbox is not optional by accident: "required" and "preferred" both fail without bubblewrap,
and "off" runs the tree's code on the host only when the user also says so for this invocation
(`genops --allow-unsandboxed ...` or GENOPS_ALLOW_UNSANDBOXED=1), because genops.toml may come
from a repository someone else wrote.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from genops.audit.lockfile import lock_path, stale_reason
from genops.gates.base import Finding, GateContext, GateResult, Verdict
from genops.gates.outcomes import EXECUTED_FILE, StreamReader, disagreements, write_executed, write_junit
from genops.gates.sandbox import (Limits, Probe, SandboxMode, allowlist_env, bwrap_argv,
                                  interpreter_roots, probe)
from genops.gates.venvs import VenvBuildError, declared_dependencies, ensure_venv
from genops.gates.venvs import scrub_env as scrub_env  # its home moved; imported here too
from genops.junit import JUnitReport, outcome_phrase, read_junit
from genops.store.tree import copy_tree, remove_tree
from genops.workspace import Workspace

OUTPUT_TAIL = 4000
JUNIT_MAX_BYTES = 16 * 1024 * 1024
ALLOW_UNSANDBOXED_ENV = "GENOPS_ALLOW_UNSANDBOXED"
PLUGIN = "genops_reporter"
PLUGIN_SOURCE = Path(__file__).with_name("reporter_plugin.py")


def unsandboxed_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """True when the user asked for this invocation to run the tree's code without bubblewrap."""
    return (os.environ if environ is None else environ).get(ALLOW_UNSANDBOXED_ENV, "") == "1"


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


def run_in_group(argv: list[str], cwd: Path, env: dict[str, str], *, stdout: IO[bytes] | int,
                 stderr: IO[bytes] | int, timeout: float, limits: Limits | None = None,
                 pass_fds: Sequence[int] = ()) -> int | None:
    """Run argv in its own process group: its exit code, or None when killed at the timeout.

    The whole group is killed afterwards, on success as on timeout, so a suite's stray children
    (servers, sleepers) never outlive the gate. `limits` are set in the child before it starts.
    """
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=limits.apply if limits else None, pass_fds=tuple(pass_fds))
    return _wait_group(proc, timeout)


def _wait_group(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
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


def _copy_capped(source: io.BufferedIOBase, out: IO[bytes], cap: int, dropped: list[int]) -> None:
    """Copy the child's output into `out` up to `cap` bytes; count the rest (never block it)."""
    kept = 0
    while chunk := source.read1(65536):
        room = max(cap - kept, 0)
        out.write(chunk[:room])
        kept += min(room, len(chunk))
        dropped[0] += max(len(chunk) - room, 0)


def _run(argv: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float, *,
         limits: Limits | None = None, cap: int = 1 << 20,
         pass_fds: Sequence[int] = ()) -> tuple[int | None, float, int]:
    """Run argv with stdout and stderr into `log`, at most `cap` bytes of it kept;
    (exit code or None on timeout, seconds, bytes dropped)."""
    started = time.monotonic()
    dropped = [0]
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, pass_fds=tuple(pass_fds),
                                preexec_fn=limits.apply if limits else None)
        assert proc.stdout is not None
        pump = threading.Thread(target=_copy_capped, args=(proc.stdout, out, cap, dropped),
                                daemon=True)
        pump.start()
        code = _wait_group(proc, timeout)
        pump.join(10)
        proc.stdout.close()
        if dropped[0]:
            out.write(f"\n# genops: output truncated, {dropped[0]} more byte(s) not kept "
                      f"([gates.tests.limits] output_kb)\n".encode())
    return code, time.monotonic() - started, dropped[0]


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
    needs = ("paths", "parse", "dependencies")
    __test__ = False  # not a pytest test class

    def __init__(self, command: str, timeout_s: float, use_venv: bool, required: bool, *,
                 sandbox: SandboxMode = "required", env: Sequence[str] = (),
                 bwrap: str = "bwrap", environ: Mapping[str, str] | None = None,
                 limits: Limits | None = None, output_kb: int = 1024) -> None:
        self.command = command
        self.timeout_s = timeout_s
        self.use_venv = use_venv
        self.required = required
        self.sandbox = sandbox
        self.env = tuple(env)
        self.bwrap = bwrap  # the executable looked up on PATH (injectable: tests point it away)
        self.environ = environ  # the environment allowlisted names are copied from (os.environ)
        self.limits = limits or Limits()
        self.output_kb = output_kb

    def _python(self, ctx: GateContext, argv: list[str], log: Path) -> tuple[Path | str, dict[str, Any]]:
        if not self.use_venv:
            return sys.executable, {"venv": None}
        deps = declared_dependencies(ctx.staged)
        requirements = list(deps.requirements)
        if is_pytest(argv) and not any(re.match(r"pytest\b", r) for r in requirements):
            requirements.append("pytest")  # the gate's own runner, when the tree forgot it
        lock = _lock_text(ctx)
        found = self._probe()
        config = getattr(ctx.workspace, "config", None)
        indexes = tuple(config.audit.indexes) if config is not None else ("https://pypi.org/simple",)
        venv = ensure_venv(requirements, lock, workspace=getattr(ctx.workspace, "root", None),
                           indexes=indexes, sandbox=found if found is not None and found.ok else None)
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

    def refusal(self) -> str | None:
        """Why the tree's code may not run here at all, or None (shared with the migrations gate)."""
        if self.sandbox == "off":
            if unsandboxed_allowed(self.environ):
                return None
            return ("[gates.tests] sandbox = \"off\" would run the tree's code on this machine "
                    "with your user's rights; genops does that only when you also pass "
                    "`genops --allow-unsandboxed ...` (or set GENOPS_ALLOW_UNSANDBOXED=1), because "
                    "genops.toml may come from a repository someone else wrote")
        found = self._probe()
        if found is not None and not found.ok:
            return (f"the sandbox is required but {found.message}; install bubblewrap (or, for "
                    "a tree you trust, set [gates.tests] sandbox = \"off\" and pass "
                    "--allow-unsandboxed)")
        return None

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
        junit.with_name(EXECUTED_FILE).unlink(missing_ok=True)
        found = self._probe()
        used = "bwrap" if found is not None and found.ok else "none"
        log.write_text(f"# command: {self.command}\n# sandbox: {used}"
                       f"{f' ({found.message})' if found else ' (off by [gates.tests] sandbox)'}\n",
                       encoding="utf-8")
        refused = self.refusal()
        if refused:
            return GateResult(self.name, "fail", refused, evidence=(_rel(ctx, log),),
                              data={"sandbox": "none"}, facts={"sandbox": "none"})
        if self.sandbox == "off":
            print("genops: warning: running the tree's suite WITHOUT a sandbox "
                  "(--allow-unsandboxed)", file=sys.stderr)
        argv = shlex.split(self.command)
        try:
            python, data = self._python(ctx, argv, log)
        except VenvBuildError as exc:
            with open(log, "a", encoding="utf-8") as out:
                out.write(exc.log)
            return self._verdict(f"{exc.message}; see {_rel(ctx, log)}", (), (_rel(ctx, log),),
                                 {"sandbox": used})
        data["sandbox"] = used
        code, seconds, problems = self._execute(ctx, argv, python,
                                                found if used == "bwrap" else None, log, junit,
                                                data)
        return self._result(ctx, code, seconds, log, junit, data, found, problems)

    def _execute(self, ctx: GateContext, argv: list[str], python: Path | str,
                 sandbox: Probe | None, log: Path, junit: Path,
                 data: dict[str, Any]) -> tuple[int | None, float, list[str]]:
        """Run the suite in a fresh scratch folder (under bubblewrap when given one); the
        disagreements between genops's reporter, the exit code and the suite's JUnit file."""
        with tempfile.TemporaryDirectory(prefix="genops-tests-") as tmp, \
                tempfile.TemporaryDirectory(prefix="genops-reporter-") as plugin_dir:
            scratch = Path(tmp).resolve()
            tree, home, private_tmp = scratch / "tree", scratch / "home", scratch / "tmp"
            home.mkdir()
            private_tmp.mkdir()
            copy_tree(ctx.staged, tree)
            run = resolve_argv(argv, python)
            env = allowlist_env(os.environ if self.environ is None else self.environ, self.env,
                                home=home, tmpdir=private_tmp, python=python)
            paths = [str(p) for p in (tree / "src", tree) if p.is_dir()]
            readonly = interpreter_roots(python)
            reader: StreamReader | None = None
            pytest = is_pytest(run)
            if pytest:
                produced = scratch / "junit.xml"
                shutil.copyfile(PLUGIN_SOURCE, Path(plugin_dir) / f"{PLUGIN}.py")
                readonly = [*readonly, Path(plugin_dir).resolve()]
                paths.insert(0, str(Path(plugin_dir).resolve()))
                run += ["-p", PLUGIN, f"--junitxml={produced}", "-o", "junit_family=xunit1"]
                reader = StreamReader()
                env["GENOPS_REPORT_FD"] = str(reader.write_fd)
                env["GENOPS_TRACE_ROOT"] = str(tree)
            env["PYTHONPATH"] = os.pathsep.join(paths)
            if sandbox is not None and sandbox.executable:
                run = bwrap_argv(sandbox.executable, run, scratch=scratch, cwd=tree,
                                 readonly=readonly, env=env)
            try:
                code, seconds, dropped = _run(
                    run, tree, env, log, self.timeout_s, limits=self.limits,
                    cap=self.output_kb * 1024, pass_fds=(reader.write_fd,) if reader else ())
            finally:
                if reader is not None:
                    reader.close_writer()
            if dropped:
                data["output_truncated_bytes"] = dropped
            problems: list[str] = []
            if reader is not None:
                stream = reader.result()
                suite_junit = scratch / "suite-junit.xml"
                _keep_junit(scratch / "junit.xml", suite_junit)
                problems = disagreements(stream, code, read_junit(suite_junit))
                if stream.started:
                    write_junit(stream, junit)
                    if stream.traced:
                        write_executed(stream, junit.with_name(EXECUTED_FILE))
                data["reporter"] = {"collected": stream.collected, "exitstatus": stream.exitstatus,
                                    **stream.counts()}
            remove_tree(tree)
        return code, seconds, problems

    def _result(self, ctx: GateContext, code: int | None, seconds: float, log: Path,
                junit: Path, data: dict[str, Any], found: Probe | None,
                problems: list[str] | None = None) -> GateResult:
        report = read_junit(junit)
        counts, findings = _findings(report, junit)
        data.update(counts, exit_code=code, command=self.command)
        facts = {"sandbox": data["sandbox"], **(counts if report and report.valid else {})}
        evidence = tuple(_rel(ctx, p) for p in (junit, junit.with_name(EXECUTED_FILE), log)
                         if p.is_file())
        note = ("" if data["sandbox"] == "bwrap" else " [no sandbox: "
                + (found.message if found else "[gates.tests] sandbox = \"off\"") + "]")
        pytest = is_pytest(shlex.split(self.command))
        if code is None:
            summary = f"timed out after {self.timeout_s:g}s (the process group was killed)"
        elif problems:
            data["disagreements"] = problems
            findings = [*findings, *(Finding(p, rule="evidence") for p in problems)]
            summary = (f"the suite's evidence cannot be believed: {problems[0]}"
                       + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
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
    limits = cfg.limits
    return TestsGate(cfg.command, cfg.timeout_s, cfg.use_venv, cfg.required,
                     sandbox=cfg.sandbox, env=cfg.env,
                     limits=Limits(limits.cpu_s, limits.memory_mb, limits.processes,
                                   limits.file_mb), output_kb=limits.output_kb)
