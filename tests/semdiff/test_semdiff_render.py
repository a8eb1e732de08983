"""The five output formats of a semantic diff, as the people and tools reading them see them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from semdiff_helpers import diff, module

from genops.render.semdiff import render, to_markdown
from genops.semdiff import DiffResult

GOLDEN = Path(__file__).parent / "golden"
REFRESH = os.environ.get("GENOPS_REFRESH_GOLDEN") == "1"

OLD = {"pkg/__init__.py": "", "pkg/bus.py": "class Bus:\n    def publish(self, msg, timeout: float = 5.0):\n"
       "        return msg\n\n    def close(self):\n        return None\n", "pkg/x,y.py": "def f():\n    return 1\n",
       "pkg/fmt.py": "X = {'a':1}\n"}
NEW = {"pkg/__init__.py": "", "pkg/bus.py": "import httpx\n\nclass Bus:\n    def publish(self, msg):\n"
       "        return msg\n\n    def close(self):\n        return 1\n", "pkg/x,y.py": "def f():\n    return 2\n",
       "pkg/fmt.py": 'X = {"a": 1}  # same\n'}

CONTRACT_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["old", "new", "changes", "stats"],
    "properties": {
        "old": {"type": "string"}, "new": {"type": "string"},
        "stats": {"type": "object", "additionalProperties": False,
                  "required": ["files_textually_changed", "text_lines_changed", "semantic_changes"],
                  "properties": {k: {"type": "integer", "minimum": 0} for k in
                                 ("files_textually_changed", "text_lines_changed", "semantic_changes")}},
        "changes": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["category", "kind", "path", "breaking", "detail", "old", "new", "location"],
            "properties": {
                "category": {"enum": ["error", "api", "behaviour", "cosmetic", "architecture", "dependency"]},
                "kind": {"type": "string"}, "path": {"type": "string"}, "breaking": {"type": "boolean"},
                "detail": {"type": "string"}, "old": {"type": ["string", "null"]}, "new": {"type": ["string", "null"]},
                "parameter": {"type": "string"}, "new_path": {"type": "string"}, "target": {"type": "string"},
                "location": {"type": "object", "required": ["file", "line"], "additionalProperties": False,
                             "properties": {"file": {"type": ["string", "null"]},
                                            "line": {"type": ["integer", "null"]}}}}}}}}


@pytest.fixture
def result(tmp_path: Path) -> DiffResult:
    return diff(tmp_path, OLD, NEW, old_label="r0002", new_label="generated")


def test_json_is_the_contract(result: DiffResult) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = json.loads(render(result, "json"))
    jsonschema.validate(data, CONTRACT_SCHEMA)
    assert (data["old"], data["new"]) == ("r0002", "generated")
    assert data["changes"][0] == {
        "category": "api", "kind": "parameter_removed", "path": "pkg.bus.Bus.publish", "parameter": "timeout",
        "breaking": True, "detail": "parameter 'timeout' removed", "old": "timeout: float = 5.0", "new": None,
        "location": {"file": "pkg/bus.py", "line": 4}}
    assert data["stats"]["semantic_changes"] == sum(c["category"] != "cosmetic" for c in data["changes"])


def test_text_puts_breaking_first_and_only_counts_cosmetic(result: DiffResult) -> None:
    text = render(result, "text")
    assert text.index("Breaking (1)") < text.index("Behaviour") < text.index("Dependencies")
    assert "parameter_removed" in text and "pkg.bus.Bus.publish(timeout)" in text
    assert "1 formatting_only" in text and "pkg.fmt" not in text
    assert "\x1b[" not in text and "\x1b[" in render(result, "text", color=True)


def test_github_annotations(result: DiffResult) -> None:
    lines = render(result, "github", prefix="generated/").splitlines()
    assert lines[0] == ("::error file=generated/pkg/bus.py,line=4,title=api/parameter_removed::"
                        "pkg.bus.Bus.publish(timeout): parameter 'timeout' removed")
    assert "::warning file=generated/pkg/x%2Cy.py,line=1,title=behaviour/body_changed::pkg.x,y.f: body changed" \
        in lines
    assert not any("formatting_only" in line for line in lines)


def test_sarif(result: DiffResult) -> None:
    log = json.loads(render(result, "sarif", prefix="generated/"))
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run = log["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    first = run["results"][0]
    assert first["ruleId"] == "parameter_removed" and first["level"] == "error"
    assert rules[first["ruleIndex"]] == "parameter_removed"
    assert first["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "generated/pkg/bus.py"},
                                                         "region": {"startLine": 4}}
    assert {r["level"] for r in run["results"]} == {"error", "warning", "note"}


def test_markdown_golden(result: DiffResult) -> None:
    text = to_markdown(result)
    golden = GOLDEN / "semdiff.md"
    if REFRESH or not golden.exists():
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), "run with GENOPS_REFRESH_GOLDEN=1 to accept the change"


def test_markdown_escapes_table_cells(tmp_path: Path) -> None:
    result = diff(tmp_path, module("X = 'a|b'\n"), module("X = 'c|d'\n"))
    assert "'a\\|b'" in to_markdown(result)


def test_no_changes(tmp_path: Path) -> None:
    result = diff(tmp_path, module("X = 1\n"), module("X = 1\n"))
    assert "No semantic changes." in to_markdown(result) and "no changes" in render(result, "text")
    assert render(result, "github") == "" and json.loads(render(result, "sarif"))["runs"][0]["results"] == []


def test_unknown_format(result: DiffResult) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render(result, "html")
