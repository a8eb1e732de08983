"""A mistake in an ADR's rules is a ConfigError naming the ADR file, the line and what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from gov_helpers import load, make_workspace

from genops.errors import ConfigError
from genops.workspace.rules_schema import RULE_KINDS, validate_rules

HEAD = "id: ADR-0002\ntitle: t\nstatus: accepted\ndecision: d\n"
GOOD = HEAD + "rules:\n  - kind: independent\n    modules: [mad.mads.*]\n"

# (name, ADR text, line named, words in the message); line 5 is `rules:`, 6 the first rule.
MISTAKES = [
    ("unknown kind", HEAD + "rules:\n  - kind: forbid_imports\n    from: a\n    to: b\n", 6,
     "unknown rule kind 'forbid_imports' (did you mean 'forbid_import'?)"),
    ("missing field", HEAD + "rules:\n  - kind: forbid_import\n    from: mad.mads\n", 6,
     "forbid_import needs the field 'to'"),
    ("extra field", HEAD + "rules:\n  - kind: acyclic\n    package: mad\n    modules: [x]\n", 8,
     "acyclic takes no field 'modules'"),
    ("file path as pattern", HEAD + "rules:\n  - kind: acyclic\n    package: mad/bus.py\n", 7,
     "looks like a file path; use a dotted module name such as 'mad.bus'"),
    ("unclosed bracket", HEAD + "rules:\n  - kind: independent\n    modules: ['mad.[ab']\n", 7,
     "has an unclosed '['"),
    ("bad characters", HEAD + "rules:\n  - kind: forbidden_calls\n    calls: ['os system']\n", 7,
     "is not a dotted module pattern"),
    ("max not a number", HEAD + "rules:\n  - kind: max_file_lines\n    max: lots\n", 7,
     "`max` must be a positive integer"),
    ("one layer", HEAD + "rules:\n  - kind: layers\n    layers: [mad]\n", 7,
     "at least two layers"),
    ("one independent module", HEAD + "rules:\n  - kind: independent\n    modules: [mad.bus]\n",
     7, "two or more modules"),
    ("bad acyclic level",
     HEAD + "rules:\n  - kind: acyclic\n    package: mad\n    level: package\n", 8,
     "`level` must be one of modules, packages, got 'package'"),
    ("second rule is the bad one",
     HEAD + "rules:\n  - kind: acyclic\n    package: mad\n  - kind: layerz\n    layers: [a, b]\n",
     8, "rule 2: unknown rule kind 'layerz'"),
    ("bad allows_breaking", HEAD + "allows_breaking:\n  - mad/bus.py\n", 6,
     "allows_breaking: pattern 'mad/bus.py' looks like a file path"),
]


@pytest.mark.parametrize("name, text, line, words", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_rule_mistake_is_a_clear_config_error(tmp_path: Path, name: str, text: str, line: int,
                                              words: str) -> None:
    with pytest.raises(ConfigError) as caught:  # load_workspace validates rules
        validate_rules(load(make_workspace(tmp_path / "ws", {"ADR-0002-x.yaml": text})))
    error = caught.value
    assert error.file == "adr/ADR-0002-x.yaml"
    assert error.line == line, str(error)
    assert words in str(error)
    assert str(error).startswith(f"adr/ADR-0002-x.yaml:{line}: ")


# (name, waiver entry, words in the message); ADR-0002 has one independent rule.
BAD_WAIVERS = [
    ("rule kind the ADR lacks", "{adr: ADR-0002, rule: layers, path: mad.util}",
     "waives a 'layers' rule of ADR-0002, which has none (it has: independent)"),
    ("ADR that does not exist", "{adr: ADR-0009, rule: layers, path: mad.util}",
     "waives ADR-0009, which does not exist"),
    ("itself", "{adr: ADR-0003, rule: acyclic, path: mad}", "cannot waive its own rules"),
    ("bad path", "{adr: ADR-0002, rule: independent, path: 'mad/x.py'}", "looks like a file path"),
]


@pytest.mark.parametrize("name, waiver, words", BAD_WAIVERS, ids=[w[0] for w in BAD_WAIVERS])
def test_bad_waiver_is_a_clear_config_error(tmp_path: Path, name: str, waiver: str,
                                            words: str) -> None:
    waiving = ("id: ADR-0003\ntitle: t\nstatus: accepted\ndecision: d\n"
               "rules:\n  - kind: acyclic\n    package: mad\n"
               f"waives:\n  - {waiver}\n")
    with pytest.raises(ConfigError) as caught:  # load_workspace validates rules
        validate_rules(load(make_workspace(tmp_path / "ws", {"ADR-0002-a.yaml": GOOD,
                                                             "ADR-0003-b.yaml": waiving})))
    assert caught.value.file == "adr/ADR-0003-b.yaml" and caught.value.line == 9
    assert words in str(caught.value)


def test_waiving_a_later_adr_is_refused(tmp_path: Path) -> None:
    early = HEAD.replace("ADR-0002", "ADR-0001") + "waives:\n  - {adr: ADR-0002, rule: independent, path: x}\n"
    with pytest.raises(ConfigError, match="a later ADR"):
        validate_rules(load(make_workspace(tmp_path / "ws", {"ADR-0001-a.yaml": early,
                                                             "ADR-0002-b.yaml": GOOD})))


def test_every_rule_kind_in_the_docs_validates(tmp_path: Path) -> None:
    examples: list[dict[str, Any]] = [
        {"kind": "forbid_import", "from": "mad.mads.*", "to": ["redis"], "except": ["mad.bus.*"],
         "allow_indirect": False},
        {"kind": "layers", "layers": ["mad.gateway", ["mad.mads", "mad.bus"], "mad.core"]},
        {"kind": "independent", "modules": ["mad.mads.*"], "name": "MADs talk only via the bus"},
        {"kind": "acyclic", "package": "mad"},
        {"kind": "acyclic", "package": "mad", "level": "packages"},
        {"kind": "allowed_dependencies", "packages": ["redis", "pytest", "google-genai"]},
        {"kind": "forbidden_calls", "calls": ["subprocess.*", "eval"], "except": ["mad.sandbox"]},
        {"kind": "max_file_lines", "max": 600, "paths": ["mad/**.py"]},
        {"kind": "protected_api", "paths": ["mad.bus.Bus.publish"], "description": "the bus"},
    ]
    assert {e["kind"] for e in examples} == set(RULE_KINDS)
    text = HEAD + yaml.safe_dump({"rules": examples}, sort_keys=False)
    validate_rules(load(make_workspace(tmp_path / "ws", {"ADR-0002-x.yaml": text})))
