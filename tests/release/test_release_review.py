"""The reviewer summary and ARCHITECTURE.md: golden files of a fixture release (refresh with
GENOPS_REFRESH_GOLDEN=1), the same release rendering the same bytes, `genops summary` matching
what publishing wrote, and `genops check` failing on a stale ARCHITECTURE.md."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from release_helpers import commit_all, genops, make_workspace, workspace

from genops.review.changes import semantic_diff
from genops.release.pipeline import regenerate
from genops.review.documents import render_documents
from genops.workspace import load_workspace
from genops.workspace.scaffold import init_workspace

GOLDEN = Path(__file__).parent / "golden"
REFRESH = os.environ.get("GENOPS_REFRESH_GOLDEN") == "1"

OLD = {
    "app/__init__.py": "",
    "app/core.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
    "app/vault.py": ("import cryptography\n\n\ndef get(key: str, timeout: float = 5.0) -> str:\n"
                     "    return key.upper()\n"),
    "tests/test_core.py": ("from app.core import add\n\n\ndef test_add():\n"
                           "    # REQ-APP-1\n    assert add(1, 2) == 3\n"),
    "pyproject.toml": '[project]\nname = "app"\ndependencies = ["cryptography==44.0.0"]\n',
}
NEW = {
    **OLD,
    "app/core.py": "def add(a: int, b: int) -> int:\n    total = a + b\n    return total\n",
    "app/vault.py": ("import cryptography\n\nfrom app import core\n\n\ndef get(key: str) -> str:\n"
                     "    return key.lower()\n"),
    "app/web.py": ("from app.vault import get\n\n\nclass Page:\n    def render(self, key: str) -> str:\n"
                   "        return get(key)\n"),
    "tests/test_core.py": ("from app.core import add\n\n\ndef test_add():\n"
                           "    # REQ-APP-1 REQ-APP-2\n    assert add(1, 2) == 3\n\n\n"
                           "def test_slow():\n    # REQ-APP-4\n    assert True\n"),
    "pyproject.toml": ('[project]\nname = "app"\n'
                       'dependencies = ["cryptography==44.0.0", "jinja2==3.1.4"]\n'),
}
ADR = """\
id: ADR-0001
title: Layers and the vault
status: accepted
supersedes: [ADR-0002]
decision: Only the vault holds cryptography; web over vault over core.
requirements: [REQ-APP-1]
rules:
  - kind: layers
    layers: [app.web, app.vault, app.core]
  - kind: forbid_import
    name: only the vault holds cryptography
    from: app
    to: cryptography
    except: [app.vault]
"""
OLD_ADR = """\
id: ADR-0002
title: Everything in one module
status: accepted
decision: One module.
"""
OLD_REQS = [("REQ-APP-1", "add adds"), ("REQ-APP-2", "old wording"), ("REQ-APP-3", "dropped")]
NEW_REQS = [("REQ-APP-1", "add adds", ["tests/test_core.py:5"]),
            ("REQ-APP-2", "new wording", ["tests/test_core.py:5"]),
            ("REQ-APP-4", "slow path", ["tests/test_core.py:10"]),
            ("REQ-APP-5", "nobody tests this", [])]
JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="2" failures="0" errors="0" skipped="1">
<testcase classname="tests.test_core" name="test_add" file="tests/test_core.py" line="3"/>
<testcase classname="tests.test_core" name="test_slow" file="tests/test_core.py" line="8">
<skipped message="slow"/></testcase>
</testsuite></testsuites>
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def _trace(path: Path, rows: list[dict[str, Any]]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "traceability.json").write_text(json.dumps({"requirements": rows}), "utf-8")


def _manifest() -> dict[str, Any]:
    price = {"input": 3.0, "output": 15.0, "cache_read": 0.3, "cache_write": 3.75}
    call = {"label": "core", "rung": "senior", "provider": "manual", "model": "pinned-1",
            "key": "0" * 64, "tokens": {"input": 100_000, "output": 20_000, "cache_read": 0,
                                        "cache_write": 0},
            "cost_usd": 0.0, "latency_s": 0.0, "from_archive": False, "stop": "complete"}
    gates = [{"gate": "tests", "verdict": "pass", "summary": "1 tests passed, 1 skipped",
              "evidence": [".genops/releases/r0002/evidence/tests/junit.xml"]},
             {"gate": "review_panel", "verdict": "pass",
              "summary": "1 of 2 reviewers approve; outvoted: b (openai m)", "evidence": [],
              "findings": [{"message": "b (openai m) request changes: major [ADR-0001]: web "
                            "reaches the vault", "file": "generated/app/web.py", "line": 1}]}]
    return {"release": "r0002", "parent": "r0001", "kind": "manual", "reason": "vault cleanup",
            "genops_version": "0.1.0", "created": "2026-01-01T00:00:00Z", "run": "run-2",
            "models": [{"rung": "senior", "provider": "manual", "model": "pinned-1",
                        "sampling": {"temperature": 0.0}, "price": price}],
            "calls": [call],
            "totals": {"calls": 1, "archive_hits": 0, "cost_usd": 0.0,
                       "tokens": call["tokens"], "budget": {"per_run_usd": 10.0}},
            "output": {"tree_sha256": "ab" * 32, "file_count": 6},
            "touches": {"files_added": 1, "files_removed": 0, "files_changed": 4,
                        "adrs": ["ADR-0001"]},
            "gates": gates,
            "blueprint": {"groups": [{"name": "core", "files": ["app/core.py", "app/vault.py"],
                                      "requirements": ["REQ-APP-1", "REQ-APP-2", "REQ-APP-4"]}]}}


@pytest.fixture
def fixture_release(tmp_path: Path) -> tuple[Any, dict[str, Any], dict[str, Any], Path, Path, Path]:
    """A workspace whose release r0002 changes OLD into NEW; evidence written by hand."""
    root = tmp_path / "ws"
    init_workspace(root, name="vault app", provider="fake", git=False)
    for old in (root / "adr").glob("*.yaml"):
        old.unlink()
    (root / "adr" / "ADR-0001-layers.yaml").write_text(ADR, encoding="utf-8")
    (root / "adr" / "ADR-0002-one-module.yaml").write_text(OLD_ADR, encoding="utf-8")
    _trace(root / ".genops/releases/r0001/evidence",
           [{"id": i, "text": t, "tests": []} for i, t in OLD_REQS])
    evidence = root / ".genops/releases/r0002/evidence"
    _trace(evidence, [{"id": i, "text": t, "tests": m, "groups": ["core"] if m else []}
                      for i, t, m in NEW_REQS])
    (evidence / "tests").mkdir()
    (evidence / "tests" / "junit.xml").write_text(JUNIT, encoding="utf-8")
    old, new = _write(tmp_path / "old", OLD), _write(tmp_path / "new", NEW)
    diff, _ = semantic_diff(old, new, old_label="r0001", new_label="r0002")
    return load_workspace(root), _manifest(), diff, old, new, evidence


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REFRESH or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), "run with GENOPS_REFRESH_GOLDEN=1 to accept"


def test_summary_and_architecture_match_golden_and_repeat(fixture_release: Any) -> None:
    ws, manifest, diff, old, new, evidence = fixture_release
    docs = render_documents(ws, manifest, diff, new_tree=new, old_tree=old, evidence=evidence)
    again = render_documents(ws, manifest, diff, new_tree=new, old_tree=old, evidence=evidence)
    assert docs == again
    _golden("summary.md", docs.summary)
    _golden("architecture.md", docs.architecture)


@pytest.mark.parametrize("needle", [
    # cost: nothing spent, what the tokens cost at the pinned prices, who answered
    "$0.0000 spent of $10.00 per-run budget (answered by hand through the manual provider)",
    "$0.6000 at the pinned prices for 100,000 in / 20,000 out tokens",
    "| tests | 1 passed · 0 failed · 1 skipped |",
    # review first: breaking and privileged vault ahead of the dependency and the new module
    "1. `app/vault.py` (risk 145",
    "imports cryptography (ADR-0001 allows only it)",
    "2. `pyproject.toml` (risk 60, declared dependencies): added jinja2==3.1.4",
    "`app/web.py` (risk 10, 6 lines): new, and no test imports it",
    # requirements: delta and coverage
    "- Delta (since the parent): 2 added, 1 changed, 1 removed (REQ-APP-3)",
    "| REQ-APP-4 | ⏭️ skipped only | 0 / 1 / 0 | core |",
    "| REQ-APP-5 | ❌ no test | 0 / 0 / 0 | — |",
    # public API and body code
    "| parameter_removed (breaking) | `app.vault.get(timeout)`",
    "New modules (1): `app.web` (2)",
    "-    return key.upper()", "+    return key.lower()",
    # the panel's verdict, then (after genops's figures) its findings with file and line, escaped
    "✅ 1 of 2 reviewers approve; outvoted: b (openai m)",
    "## Model-written review findings (unverified)",
    "- `generated/app/web.py:1`: b (openai m) request changes: major \\[ADR-0001\\]",
])
def test_summary_sections(fixture_release: Any, needle: str) -> None:
    ws, manifest, diff, old, new, evidence = fixture_release
    docs = render_documents(ws, manifest, diff, new_tree=new, old_tree=old, evidence=evidence)
    assert needle in docs.summary


def test_architecture_sections(fixture_release: Any) -> None:
    ws, manifest, diff, old, new, evidence = fixture_release
    text = render_documents(ws, manifest, diff, new_tree=new, old_tree=old,
                            evidence=evidence).architecture
    assert '  subgraph m_app_pkg["app"]' in text and '    m_app_web["app.web · L1"]' in text
    assert "  m_app_vault --> m_app_core" in text and "  m_app_web --> m_app_vault" in text
    assert "| `app.vault` | `app/vault.py` | 7 | ADR-0001 L2 | cryptography |" in text
    assert "| REQ-APP-5 | `app.core`, `app.vault` | no |" not in text  # no group: no module
    assert "| REQ-APP-1 | `app.core`, `app.vault` | yes |" in text
    assert ("- ADR-0002: Everything in one module (superseded, superseded by ADR-0001) "
            "[`adr/ADR-0002-one-module.yaml`]") in text


def test_mermaid_marks_cycles() -> None:
    from genops.review.architecture import ArchitectureFacts, ModuleFacts
    from genops.render.architecture import mermaid

    facts = ArchitectureFacts(
        project="p", release=None, adrs=[], layers=[], requirements=[],
        modules=[ModuleFacts(n, f"{n}.py", n, 1) for n in ("a", "b", "c")],
        edges=[("a", "b"), ("b", "a"), ("b", "c")], cycles=[["a", "b"]])
    text = "\n".join(mermaid(facts))
    assert "  class m_a,m_b cycle" in text and "  linkStyle 0,1 stroke:#cf222e,stroke-width:2px" in text


def test_publish_writes_both_and_check_keeps_architecture_fresh(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    regenerate(workspace(root), reason="first synthesis")
    summary = genops(root, "summary", "r0001")
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout == (root / "diffs/r0001.md").read_text(encoding="utf-8")
    rendered = genops(root, "architecture")
    assert rendered.stdout == (root / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert genops(root, "check").returncode == 0
    (root / "ARCHITECTURE.md").write_text(rendered.stdout.replace("hello", "HELLO"), "utf-8")
    commit_all(root, "hand edit")
    stale = genops(root, "check", "--format", "github")
    assert stale.returncode == 1
    assert "file=ARCHITECTURE.md,line=1" in stale.stdout and "architecture/stale" in stale.stdout
    assert genops(root, "architecture", "--write").returncode == 0
    assert genops(root, "check").returncode == 0
