"""The README's ADR rule examples are valid rules (a doc example that fails to load is a bug)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from genops.workspace.rules_schema import RULE_KINDS
from genops.workspace import load_workspace
from genops.workspace.scaffold import init_workspace

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_rule_examples() -> list[dict]:
    """Every example of the rule-kind table: a row's second cell may hold several, `; `-separated."""
    cells = re.findall(r"^\| `\w+` \| (`\{kind: .*?\}`(?:; `\{kind: .*?\}`)*) \|", README.read_text(),
                       re.MULTILINE)
    return [yaml.safe_load(example) for cell in cells for example in re.findall(r"`(\{.*?\})`", cell)]


def test_every_rule_kind_has_a_readme_example() -> None:
    assert {rule["kind"] for rule in readme_rule_examples()} == set(RULE_KINDS)


def test_readme_rule_examples_load(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", git=False).root
    adr = {"id": "ADR-0002", "title": "examples", "status": "accepted", "decision": "d",
           "rules": readme_rule_examples()}
    (root / "adr" / "ADR-0002-examples.yaml").write_text(yaml.safe_dump(adr, sort_keys=False))
    workspace = load_workspace(root)
    assert len(workspace.adrs[1].rules) == len(readme_rule_examples()) > len(RULE_KINDS)
