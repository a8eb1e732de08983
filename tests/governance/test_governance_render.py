"""`genops check` renderings: SARIF valid against the 2.1.0 schema, JUnit, GitHub annotations,
markdown and text (golden files; refresh with GENOPS_REFRESH_GOLDEN=1), and the CI workflow."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from genops.gates.base import Finding, GateResult
from genops.release.check_suite import CheckReport
from genops.workspace.workflow import workflow_text
from genops.render.check import COMMENT_MARKER, FORMATS, render

HERE = Path(__file__).parent
SCHEMA = json.loads((HERE / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
GOLDEN = HERE / "golden"


def sample_report() -> dict[str, Any]:
    results = [
        GateResult("drift", "fail", "generated/ differs from release r0002 (1 edited)", (
            Finding("generated/mad/bus.py was edited by hand since release r0002: ...",
                    "generated/mad/bus.py", None, rule="drift/edited"),)),
        GateResult("manifest", "pass", "manifests of r0002 and its parents are consistent"),
        GateResult("adr_rules", "fail", "1 ADR rule violation(s)", (
            Finding("ADR-0003 rule 1 (independent): mad.mads.rogers → mad.mads.fiedler — "
                    "siblings may not import each other, 100% sure: yes\nsecond line",
                    "generated/mad/mads/rogers.py", 2, rule="ADR-0003/independent"),
            Finding("ADR-0004 waives independent of ADR-0003 for 'x', but no such violation "
                    "exists (any more); remove the waiver", "adr/ADR-0004.yaml", None,
                    rule="ADR-0004/waiver#1", severity="warning"),)),
        GateResult("diff_policy", "pass", "2 semantic change(s)", (
            Finding("mad.bus.Bus.publish: parameter 'timeout' removed — allowed by ADR-0005",
                    "generated/mad/bus.py", 5, rule="diff/parameter_removed", severity="note"),)),
        GateResult("traceability", "warn", "1 of 2 requirement(s) not covered", (
            Finding("REQ-GREET-2 (greet('') raises): no test references it",
                    "specs/requirements.md", 9, rule="traceability/uncovered",
                    severity="warning"),)),
        GateResult("context_fit", "fail", "the tree is ~300,000 tokens, above fail_share 90%"),
        GateResult("parse", "skip", "not run"),
    ]
    report = CheckReport(workspace="/ws", output="generated", release="r0002", base="r0001",
                         results=results)
    return report.to_dict()


def test_sarif_validates_against_the_2_1_0_schema() -> None:
    log = json.loads(render(sample_report(), "sarif"))
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    run = log["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == ["drift/edited", "ADR-0003/independent", "ADR-0004/waiver#1",
                     "diff/parameter_removed", "traceability/uncovered", "context_fit"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    violation = by_rule["ADR-0003/independent"]
    assert violation["level"] == "error"
    assert violation["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "generated/mad/mads/rogers.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 2}}
    assert rules[violation["ruleIndex"]] == "ADR-0003/independent"
    assert by_rule["diff/parameter_removed"]["level"] == "note"
    assert by_rule["context_fit"]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"] == "genops.toml"  # a check without findings still points somewhere
    assert len(run["results"]) == 6


def test_sarif_paths_take_the_repository_prefix() -> None:
    log = json.loads(render(sample_report(), "sarif", prefix="workspaces/mad/"))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in log["runs"][0]["results"]}
    assert "workspaces/mad/generated/mad/bus.py" in uris
    jsonschema.Draft4Validator(SCHEMA).validate(log)


def test_junit_has_one_case_per_check() -> None:
    root = ET.fromstring(render(sample_report(), "junit"))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("7", "3", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["adr_rules"].find("failure")
    assert failure is not None and "generated/mad/mads/rogers.py:2" in (failure.text or "")
    assert cases["parse"].find("skipped") is not None
    assert cases["manifest"].find("failure") is None


def test_github_annotations_are_escaped_workflow_commands() -> None:
    lines = render(sample_report(), "github").splitlines()
    rogers = next(line for line in lines if "rogers.py" in line)
    assert rogers.startswith("::error file=generated/mad/mads/rogers.py,line=2,"
                             "title=genops adr_rules%3A ADR-0003/independent::")
    assert "100%25 sure: yes%0Asecond line" in rogers
    assert any(line.startswith("::warning file=adr/ADR-0004.yaml,title=") for line in lines)
    assert any(line.startswith("::notice file=generated/mad/bus.py,line=5,") for line in lines)
    assert "::error title=genops context_fit::the tree is ~300,000 tokens, above fail_share " \
           "90%25" in lines
    assert lines[-1] == "genops check: failed"


def test_json_is_the_report() -> None:
    data = json.loads(render(sample_report(), "json"))
    assert data["passed"] is False and data["release"] == "r0002"
    assert [r["gate"] for r in data["results"]][:2] == ["drift", "manifest"]


@pytest.mark.parametrize("fmt, suffix", [("text", "txt"), ("markdown", "md")])
def test_human_formats_match_golden_files(fmt: str, suffix: str) -> None:
    text = render(sample_report(), fmt)
    golden = GOLDEN / f"check.{suffix}"
    if os.environ.get("GENOPS_REFRESH_GOLDEN") or not golden.exists():
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_markdown_is_a_findable_pr_comment() -> None:
    text = render(sample_report(), "markdown")
    assert text.startswith(COMMENT_MARKER)
    assert "| adr_rules | ❌ fail |" in text
    assert "- `generated/mad/mads/rogers.py:2` ADR-0003 rule 1" in text


def test_every_format_renders() -> None:
    assert all(render(sample_report(), fmt) for fmt in FORMATS)


def _steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load(workflow_text())
    return list(workflow["jobs"]["check"]["steps"])


def test_workflow_is_valid_yaml_with_the_ci_steps() -> None:
    workflow = yaml.safe_load(workflow_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    assert workflow["permissions"] == {}  # least privilege: the job asks for what it needs
    assert workflow["jobs"]["check"]["permissions"]["security-events"] == "write"
    steps = _steps()
    uses = [s.get("uses", "") for s in steps]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert any(u.startswith("actions/setup-python@") for u in uses)
    assert 'pip install "$GENOPS_INSTALL"' in runs
    assert "genops check --format github" in runs
    assert "genops check --format sarif --output genops.sarif" in runs
    upload = next(s for s in steps if s.get("uses", "").startswith(
        "github/codeql-action/upload-sarif@"))
    assert upload["with"]["sarif_file"] == "genops.sarif"
    assert "genops check --format markdown --output genops-check.md" in runs
    assert 'gh pr comment "$PR" --body-file genops-check.md' in runs
    assert "genops review --format markdown --output genops-review.md" in runs
    assert "cat genops-review.md >> genops-check.md" in runs
    review = next(s for s in steps if s.get("id") == "review")
    assert review["continue-on-error"] is True
    assert "$GITHUB_STEP_SUMMARY" in runs
    last = steps[-1]
    assert last["if"] == ("steps.check.outcome == 'failure' || steps.review.outcome == 'failure'")
    assert "exit 1" in last["run"]


def test_workflow_install_target_can_be_this_repository() -> None:
    assert yaml.safe_load(workflow_text(install="."))["env"]["GENOPS_INSTALL"] == "."
    assert yaml.safe_load(workflow_text())["env"]["GENOPS_INSTALL"] == "genops"
