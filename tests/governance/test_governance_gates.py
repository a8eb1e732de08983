"""The governance gates as the regenerate pipeline runs them: a staged tree, the previous tree,
GateContext.run facts (allow_breaking, blueprint) and evidence written to the evidence dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gov_helpers import adr_yaml, load, make_tree, make_workspace, write_tree

from genops.gates.adr_rules import AdrRulesGate
from genops.gates.base import GateContext
from genops.gates.context_fit import ContextFitGate
from genops.gates.diff_policy import DiffPolicyGate
from genops.release.gateset import default_gates
from genops.gates.traceability import TraceabilityGate
from genops.synthesis.blueprint import Blueprint

BREAKING = {"mad/bus.py": "import json\n\n\nclass Bus:\n    def publish(self, topic):\n"
                          "        return json.dumps(topic)\n"}


def context(tmp_path: Path, *, adrs: dict[str, str] | None = None,
            changes: dict[str, Any] | None = None, previous: bool = True,
            gates: dict[str, dict[str, Any]] | None = None, **run: Any) -> GateContext:
    ws = load(make_workspace(tmp_path / "ws", adrs or {}, gates=gates))
    staged = make_tree(tmp_path / "staged", changes)
    before = make_tree(tmp_path / "before") if previous else None
    return GateContext(workspace=ws, staged=staged, previous=before,
                       evidence_dir=ws.root / ".genops" / "runs" / "r" / "evidence", run=dict(run))


def test_breaking_change_without_an_adr_fails_the_diff_policy_gate(tmp_path: Path) -> None:
    ctx = context(tmp_path, changes=BREAKING)
    result = DiffPolicyGate().check(ctx)
    assert result.verdict == "fail"
    finding = result.findings[0]
    assert (finding.file, finding.line, finding.rule) == ("generated/mad/bus.py", 5,
                                                          "diff/parameter_removed")
    assert "mad.bus.Bus.publish: parameter 'timeout' removed" in finding.message
    assert "needs an accepted ADR naming it in allows_breaking" in finding.message
    evidence = json.loads((ctx.evidence_dir / "diff_policy.json").read_text())
    assert evidence["blocked"] and evidence["diff"]["changes"]
    assert result.evidence == (".genops/runs/r/evidence/diff_policy.json",)


def test_breaking_change_named_by_an_accepted_adr_passes(tmp_path: Path) -> None:
    adrs = {"ADR-0002-bus.yaml": adr_yaml("ADR-0002", allows_breaking=["mad.bus.Bus.publish"])}
    result = DiffPolicyGate().check(context(tmp_path, adrs=adrs, changes=BREAKING))
    assert result.verdict == "pass"
    assert "1 allowed by ADR" in result.summary


def test_a_proposed_adr_does_not_allow_breaking(tmp_path: Path) -> None:
    adrs = {"ADR-0002-bus.yaml": adr_yaml("ADR-0002", status="proposed",
                                          allows_breaking=["mad.bus.Bus"])}
    assert DiffPolicyGate().check(context(tmp_path, adrs=adrs, changes=BREAKING)).verdict == "fail"


def test_allow_breaking_flag_passes_with_a_warning(tmp_path: Path) -> None:
    result = DiffPolicyGate().check(context(tmp_path, changes=BREAKING, allow_breaking=True))
    assert result.verdict == "warn" and "--allow-breaking" in result.summary


@pytest.mark.parametrize("fail_on, verdict", [("breaking", "pass"), ("api", "fail"),
                                              ("behaviour", "fail"), ("never", "pass")])
def test_policy_levels(tmp_path: Path, fail_on: str, verdict: str) -> None:
    added = {"mad/util.py": "import os\n\n\ndef helper():\n    return os.sep\n"}
    ctx = context(tmp_path, changes=added, gates={"diff": {"fail_on": fail_on}})
    assert DiffPolicyGate().check(ctx).verdict == verdict


def test_first_release_skips_the_diff(tmp_path: Path) -> None:
    assert DiffPolicyGate().check(context(tmp_path, previous=False)).verdict == "skip"


def test_diff_is_computed_once_and_shared_with_adr_rules(tmp_path: Path) -> None:
    adrs = {"ADR-0002-api.yaml": adr_yaml("ADR-0002", rules=[{"kind": "protected_api",
                                                              "paths": ["mad.bus"]}])}
    ctx = context(tmp_path, adrs=adrs, changes=BREAKING, allow_breaking=True)
    assert DiffPolicyGate().check(ctx).verdict == "warn"
    assert ctx.run["diff"] is not None
    result = AdrRulesGate().check(ctx)
    assert result.verdict == "fail"  # --allow-breaking does not lift a protected API
    assert result.findings[0].rule == "ADR-0002/protected_api"
    assert result.findings[0].file == "generated/mad/bus.py"


def test_adr_rules_gate_names_adr_rule_file_and_line(tmp_path: Path) -> None:
    adrs = {"ADR-0002-bus.yaml": adr_yaml("ADR-0002", rules=[
        {"kind": "independent", "modules": ["mad.mads.*"], "name": "MADs talk only through the bus"}])}
    ctx = context(tmp_path, adrs=adrs,
                  changes={"mad/mads/rogers.py": "from mad.mads import fiedler\n"})
    result = AdrRulesGate().check(ctx)
    assert result.verdict == "fail"
    finding = result.findings[0]
    assert (finding.file, finding.line) == ("generated/mad/mads/rogers.py", 1)
    assert finding.message.startswith(
        "ADR-0002 rule 1 (independent 'MADs talk only through the bus'): "
        "mad.mads.rogers → mad.mads.fiedler")
    assert finding.message.endswith("[rule at adr/ADR-0002-bus.yaml:6]")
    evidence = json.loads((ctx.evidence_dir / "adr_rules.json").read_text())
    assert evidence["violations"][0]["rule_location"] == "adr/ADR-0002-bus.yaml:6"


def test_default_gates_include_the_governance_gates(tmp_path: Path) -> None:
    names = [g.name for g in default_gates(load(make_workspace(tmp_path / "ws", {})))]
    for name in ("diff_policy", "adr_rules", "traceability", "context_fit"):
        assert name in names


REQS = "# Requirements\n- **REQ-BUS-1** publish delivers.\n- **REQ-BUS-2** timeouts.\n" \
       "- **REQ-MAD-1** MADs are independent.\n"


def trace_context(tmp_path: Path, *, mode: str = "warn", **run: Any) -> GateContext:
    ctx = context(tmp_path, previous=False, gates={"traceability": {"uncovered": mode}},
                  changes={"tests/test_mads.py": "def test_mads():  # REQ-MAD-1, REQ-BUS-1\n"
                                                 "    pass  # REQ-OLD-9\n"}, **run)
    (ctx.workspace.root / "specs" / "requirements.md").write_text(REQS)
    ctx.workspace = load(ctx.workspace.root)
    return ctx


def blueprint() -> Blueprint:
    return Blueprint.model_validate({"groups": [
        {"name": "bus", "files": ["mad/bus.py"], "requirements": ["REQ-BUS-1", "REQ-BUS-2"]},
        {"name": "mads", "files": ["mad/mads/rogers.py"], "requirements": []}]})


def test_traceability_matrix_and_gaps(tmp_path: Path) -> None:
    ctx = trace_context(tmp_path, blueprint=blueprint())
    result = TraceabilityGate().check(ctx)
    assert result.verdict == "warn"
    assert "2 of 3 requirement(s) not covered" in result.summary
    gaps = {f.message.split(" ")[0]: f for f in result.findings if f.rule == "traceability/uncovered"}
    assert set(gaps) == {"REQ-BUS-2", "REQ-MAD-1"}
    assert "no test references it" in gaps["REQ-BUS-2"].message
    assert "no blueprint group implements it" in gaps["REQ-MAD-1"].message
    assert (gaps["REQ-BUS-2"].file, gaps["REQ-BUS-2"].line) == ("specs/requirements.md", 3)
    unknown = {f.message: (f.file, f.line) for f in result.findings
               if f.rule == "traceability/unknown-id"}
    assert unknown["tests mention REQ-OLD-9, which no spec defines"] == (
        "generated/tests/test_mads.py", 2)
    matrix = json.loads((ctx.evidence_dir / "traceability.json").read_text())
    row = matrix["requirements"][0]
    assert row == {"id": "REQ-BUS-1", "text": "publish delivers.",
                   "defined_at": "specs/requirements.md:2", "groups": ["bus"],
                   "tests": ["tests/test_mads.py:1"], "status": "mentioned", "outcomes": None,
                   "exercised_by": None,
                   "covered": True, "gaps": []}
    markdown = (ctx.evidence_dir / "traceability.md").read_text()
    assert "| REQ-BUS-1 | bus | `tests/test_mads.py:1` | covered (named by a test; no outcomes) |" \
        in markdown


def test_traceability_fails_when_configured_to(tmp_path: Path) -> None:
    result = TraceabilityGate().check(trace_context(tmp_path, mode="fail", blueprint=blueprint()))
    assert result.verdict == "fail"
    assert all(f.severity == "error" for f in result.findings if f.rule == "traceability/uncovered")


def test_traceability_without_blueprint_checks_tests_only(tmp_path: Path) -> None:
    result = TraceabilityGate().check(trace_context(tmp_path))
    assert "(no blueprint: implementation not checked)" in result.summary
    assert [f.message.split(" ")[0] for f in result.findings
            if f.rule == "traceability/uncovered"] == ["REQ-BUS-2"]


@pytest.mark.parametrize("warn, fail, verdict", [(0.5, 0.9, "pass"), (0.001, 0.9, "warn"),
                                                 (0.0005, 0.001, "fail")])
def test_context_fit_against_the_senior_window(tmp_path: Path, warn: float, fail: float,
                                               verdict: str) -> None:
    ctx = context(tmp_path, previous=False,
                  gates={"context_fit": {"warn_share": warn, "fail_share": fail}})
    write_tree(ctx.staged, {"mad/big.py": "x = 1\n" * 200})  # 1,200 bytes: ~300 tokens more
    result = ContextFitGate().check(ctx)
    assert result.verdict == verdict, result.summary
    assert result.data["context_window"] == 200000  # claude-sonnet-4-5, the scaffold's senior
    if verdict != "pass":
        assert "sub-ecosystems" in result.summary
