"""genops keeps its own ADRs (docs/adr) on genops/, and a forbidden import in a copy fails them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from genops.gates.rules_tree import Violation
from genops.gates.selfgov import check_package, self_adrs

REPO = Path(__file__).resolve().parents[2]


def _where(items: Sequence[Violation]) -> list[str]:
    return [f"{v.file}:{v.line}: {v.message}" for v in items]


def test_genops_keeps_its_own_adrs() -> None:
    report = check_package(REPO)
    assert report.violations == [], "\n".join(_where(report.violations))
    assert report.unused_waivers == [], "\n".join(_where(report.unused_waivers))
    assert report.rules_checked >= 7
    kinds = {r["kind"] for adr in self_adrs(REPO) for r in adr.rules}
    assert {"layers", "forbid_import", "max_file_lines", "acyclic"} <= kinds


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pristine copy of genops/ and docs/adr; each case copies it again before breaking it."""
    root = tmp_path_factory.mktemp("selfgov-base")
    shutil.copytree(REPO / "genops", root / "genops",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(REPO / "docs" / "adr", root / "docs" / "adr")
    return root


def _break(base: Path, tmp: Path, file: str, text: str, *, late: bool) -> tuple[Path, int]:
    """A copy of the fixture with `text` added to `file` (at the end in a function if late)."""
    root = tmp / "repo"
    shutil.copytree(base, root)
    path = root / file
    lines = path.read_text(encoding="utf-8").splitlines()
    if late:
        lines += ["", "", "def _added() -> None:", f"    {text}"]
        line = len(lines)
    else:
        at = next(i for i, ln in enumerate(lines) if ln.startswith("from __future__")) + 1
        lines.insert(at, text)
        line = at + 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root, line


# (file, added import, added late inside a function, ADR rule id the violation cites)
CASES = [
    ("genops/errors.py", "import rich", False, "ADR-0002/forbid_import"),
    ("genops/ledger/db.py", "import openai", True, "ADR-0003/forbid_import#1"),
    ("genops/gates/drift.py", "import anthropic", False, "ADR-0003/forbid_import#2"),
    ("genops/store/tree.py", "from google.genai import types", True, "ADR-0003/forbid_import#3"),
    ("genops/synthesis/levels.py", "from google import genai", True, "ADR-0003/forbid_import#3"),
    ("genops/fsutil.py", "from genops.ledger import db", True, "ADR-0001/layers"),
    ("genops/workspace/config.py", "from genops.cli import main", False, "ADR-0001/layers"),
    ("genops/semdiff/imports.py", "from genops.semdiff.build import build_model", True,
     "ADR-0005/acyclic#1"),
    ("genops/gates/base.py", "from genops.release import pipeline", True, "ADR-0005/acyclic#2"),
    ("genops/store/tree.py", "from genops import gates", False, "ADR-0001/layers"),
]


@pytest.mark.parametrize(("file", "text", "late", "rule"), CASES,
                         ids=[f"{c[3]}:{c[0]}" for c in CASES])
def test_forbidden_import_in_a_copy_fails(repo_copy: Path, tmp_path: Path, file: str, text: str,
                                          late: bool, rule: str) -> None:
    root, line = _break(repo_copy, tmp_path, file, text, late=late)
    report = check_package(root)
    hits = [v for v in report.violations if v.rule.rule_id == rule]
    assert hits, "\n".join(_where(report.violations))
    # Pointed at directly, or (a module cycle, reported from its first module) named among its
    # edges; a package cycle is reported at the import that closes it.
    assert any((v.file, v.line) == (file, line) or f"{file}:{line}" in v.message for v in hits), \
        "\n".join(_where(hits))
    # The original tree is untouched.
    assert (repo_copy / file).read_bytes() == (REPO / file).read_bytes()


def test_ci_entry_point_names_file_and_line(repo_copy: Path, tmp_path: Path) -> None:
    root, line = _break(repo_copy, tmp_path, "genops/errors.py", "import rich", late=False)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bad = subprocess.run([sys.executable, "-m", "genops.cli.selfcheck", str(root)], env=env,
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"genops/errors.py:{line}: error: ADR-0002 rule 1 (forbid_import" in bad.stdout
    good = subprocess.run([sys.executable, "-m", "genops.cli.selfcheck", str(REPO)], env=env,
                          capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "0 violation(s)" in good.stdout


# (file, added import, late, the finding CI prints at the added line)
CI_CASES = [
    ("genops/gates/base.py", "from genops.release import pipeline", True,
     "error: ADR-0005 rule 2 (acyclic 'packages of genops'): package import cycle genops.gates → "
     "genops.release → genops.gates"),
    ("genops/store/tree.py", "from genops.gates import base", False,
     "error: ADR-0001 rule 1 (layers 'cli down to core'): genops.store.tree → genops.gates.base — "
     "layer 8"),
]


@pytest.mark.parametrize(("file", "text", "late", "words"), CI_CASES, ids=[c[0] for c in CI_CASES])
def test_ci_fails_a_package_cycle_or_upward_import(repo_copy: Path, tmp_path: Path, file: str,
                                                   text: str, late: bool, words: str) -> None:
    root, line = _break(repo_copy, tmp_path, file, text, late=late)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "genops.cli.selfcheck", str(root)], env=env,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"{file}:{line}: {words}" in run.stdout, run.stdout


def test_a_bad_self_adr_is_a_usage_error(repo_copy: Path, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(repo_copy, root)
    adr = root / "docs" / "adr" / "ADR-0004-module-size.yaml"
    adr.write_text(adr.read_text(encoding="utf-8").replace("max: 600", "max: -1"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "genops.cli.selfcheck", str(root)], env=env,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2
    assert "docs/adr/ADR-0004-module-size.yaml" in run.stderr
