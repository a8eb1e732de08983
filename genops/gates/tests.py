"""The test gate: the generated tree's own test suite, run the way CI would run it, in isolation.

The suite runs in a separate process, in a scratch copy of the staged tree (a test that writes
files cannot change what gets promoted), with a timeout that kills its whole process group, with
no provider key in its environment, and, unless `[gates.tests] use_venv = false`, inside a venv
built from the tree's declared dependencies (`genops.gates.venvs`). When the command is pytest,
JUnit XML is kept as evidence next to the captured output.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genops.gates.base import Finding, GateContext, GateResult, Verdict
from genops.gates.venvs import VenvBuildError, declared_dependencies, ensure_venv
from genops.release.tree import copy_tree, remove_tree

# Variables that may hold a credential: never handed to generated code.
_SECRET_PREFIXES = ("OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "AZURE_OPENAI_", "MISTRAL_",
                    "COHERE_", "GROQ_", "DEEPSEEK_", "XAI_", "TOGETHER_", "OPENROUTER_", "AWS_")
_SECRET_PATTERN = re.compile(r"(API_?KEY|_TOKEN|SECRET|PASSWORD|CREDENTIALS)", re.IGNORECASE)
# Variables that would make the suite see genops's interpreter setup instead of its own.
_INTERPRETER_VARS = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "CONDA_PREFIX",
                     "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
OUTPUT_TAIL = 4000


def scrub_env(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of `environ` without provider keys, credentials or interpreter overrides."""
    return {k: v for k, v in environ.items()
            if not k.upper().startswith(_SECRET_PREFIXES)
            and not _SECRET_PATTERN.search(k)
            and k not in _INTERPRETER_VARS and not k.startswith("GENOPS_")}


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
    """Counts (tests, failures, errors, skipped) and one finding per failed test case."""
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if not path.is_file():
        return counts, []
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return counts, [Finding("JUnit XML is not valid XML", path.name, rule="junit")]
    for suite in root.iter("testsuite"):
        for key in counts:
            counts[key] += int(suite.get(key, "0") or 0)
    findings: list[Finding] = []
    for case in root.iter("testcase"):
        for tag in ("failure", "error"):
            problem = case.find(tag)
            if problem is not None:
                name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
                message = (problem.get("message") or "").strip().splitlines()
                findings.append(Finding(f"{name}: {message[0] if message else tag}",
                                        case.get("file"), _int(case.get("line")), rule=tag))
    return counts, findings


def _int(value: str | None) -> int | None:
    return int(value) + 1 if value and value.isdigit() else None  # junit lines are 0-based


def _rel(ctx: GateContext, path: Path) -> str:
    root = Path(getattr(ctx.workspace, "root", "/"))
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _run(argv: list[str], cwd: Path, env: dict[str, str], log: Path,
         timeout: float) -> tuple[int | None, float]:
    """Run argv in its own process group; (exit code or None on timeout, seconds)."""
    started = time.monotonic()
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            try:  # the suite's stray children go too, on success as on timeout
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    return code, time.monotonic() - started


class TestsGate:
    name = "tests"
    needs = ("paths", "parse")
    __test__ = False  # not a pytest test class

    def __init__(self, command: str, timeout_s: float, use_venv: bool, required: bool) -> None:
        self.command = command
        self.timeout_s = timeout_s
        self.use_venv = use_venv
        self.required = required

    def _python(self, ctx: GateContext, argv: list[str], log: Path) -> tuple[Path | str, dict[str, Any]]:
        if not self.use_venv:
            return sys.executable, {"venv": None}
        deps = declared_dependencies(ctx.staged)
        requirements = list(deps.requirements)
        if is_pytest(argv) and not any(re.match(r"pytest\b", r) for r in requirements):
            requirements.append("pytest")  # the gate's own runner, when the tree forgot it
        venv = ensure_venv(requirements)
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"# venv {venv.key} ({'built' if venv.built else 'cached'} in "
                      f"{venv.seconds:.1f}s): {' '.join(requirements) or '(no dependencies)'}\n")
        return venv.python, {"venv": venv.key, "venv_built": venv.built,
                             "venv_seconds": round(venv.seconds, 3), "requirements": requirements}

    def check(self, ctx: GateContext) -> GateResult:
        evidence = ctx.evidence_dir / "tests"
        evidence.mkdir(parents=True, exist_ok=True)
        log, junit = evidence / "output.txt", evidence / "junit.xml"
        junit.unlink(missing_ok=True)
        log.write_text(f"# command: {self.command}\n", encoding="utf-8")
        argv = shlex.split(self.command)
        try:
            python, data = self._python(ctx, argv, log)
        except VenvBuildError as exc:
            with open(log, "a", encoding="utf-8") as out:
                out.write(exc.log)
            return self._verdict(f"{exc.message}; see {_rel(ctx, log)}", (), (_rel(ctx, log),), {})
        argv = resolve_argv(argv, python)
        if is_pytest(argv):
            argv += [f"--junitxml={junit}", "-o", "junit_family=xunit1"]  # xunit1 has file+line
        with tempfile.TemporaryDirectory(prefix="genops-tests-") as scratch:
            tree = Path(scratch) / "tree"
            copy_tree(ctx.staged, tree)
            env = scrub_env(os.environ)
            env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=os.pathsep.join(
                str(p) for p in (tree / "src", tree) if p.is_dir()))
            code, seconds = _run(argv, tree, env, log, self.timeout_s)
            remove_tree(tree)
        return self._result(ctx, code, seconds, log, junit, data)

    def _result(self, ctx: GateContext, code: int | None, seconds: float, log: Path,
                junit: Path, data: dict[str, Any]) -> GateResult:
        counts, findings = junit_findings(junit)
        data.update(counts, exit_code=code, command=self.command)
        evidence = tuple(_rel(ctx, p) for p in (junit, log) if p.is_file())
        if code is None:
            summary = f"timed out after {self.timeout_s:g}s (the process group was killed)"
        elif code == 0:
            return GateResult(self.name, "pass", f"{counts['tests']} tests passed"
                              + (f", {counts['skipped']} skipped" if counts["skipped"] else ""),
                              evidence=evidence, seconds=seconds, data=data)
        elif code == 5 and is_pytest(shlex.split(self.command)):
            summary = "no tests were collected"
        elif findings:
            summary = (f"{counts['failures'] + counts['errors']} of {counts['tests']} tests failed "
                       f"(first: {findings[0].message})")
        else:
            tail = log.read_text(encoding="utf-8", errors="replace")[-OUTPUT_TAIL:].strip()
            last = tail.splitlines()[-1] if tail else ""
            summary = f"exit code {code}" + (f": {last}" if last else "")
        return self._verdict(summary, tuple(findings), evidence, data, seconds)

    def _verdict(self, summary: str, findings: tuple[Finding, ...], evidence: tuple[str, ...],
                 data: dict[str, Any], seconds: float = 0.0) -> GateResult:
        verdict: Verdict = "fail" if self.required else "warn"
        return GateResult(self.name, verdict, summary, findings=findings, evidence=evidence,
                          seconds=seconds, data=data)


def make_gate(ws: Any) -> TestsGate:
    cfg = ws.config.gates.tests
    return TestsGate(cfg.command, cfg.timeout_s, cfg.use_venv, cfg.required)
