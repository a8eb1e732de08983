"""The parse gate: every `.py` file of the staged tree is valid UTF-8 Python.

Each syntax error is a finding with its file and line; the tree's files are only read.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

from genops.gates.base import Finding, GateContext, GateResult
from genops.treeignore import ignored_component
from genops.workspace import Workspace


def _python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py")
                  if p.is_file() and not p.is_symlink()
                  and ignored_component(p.relative_to(root).as_posix()) is None)


def parse_findings(root: Path) -> tuple[int, list[Finding]]:
    """(files checked, findings) for every Python file under `root`."""
    files = _python_files(root)
    findings: list[Finding] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            source = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            findings.append(Finding(f"not UTF-8 ({exc.reason} at byte {exc.start})", rel, 1,
                                    rule="encoding"))
            continue
        try:
            with warnings.catch_warnings():  # invalid escape sequences warn; they still parse
                warnings.simplefilter("ignore")
                ast.parse(source, filename=rel)
        except SyntaxError as exc:
            findings.append(Finding(f"syntax error: {exc.msg}", rel, exc.lineno, rule="syntax"))
        except ValueError as exc:  # e.g. a NUL byte in the source
            findings.append(Finding(f"cannot parse: {exc}", rel, 1, rule="syntax"))
    return len(files), findings


class ParseGate:
    name = "parse"
    needs = ("paths",)

    def check(self, ctx: GateContext) -> GateResult:
        count, findings = parse_findings(ctx.staged)
        if findings:
            first = findings[0]
            return GateResult(self.name, "fail",
                              f"{len(findings)} of {count} Python files do not parse "
                              f"(first: {first.file}:{first.line}: {first.message})",
                              findings=tuple(findings))
        return GateResult(self.name, "pass", f"{count} Python files parse")


def make_gate(ws: Workspace) -> ParseGate:
    return ParseGate()
