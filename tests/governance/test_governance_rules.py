"""ADR rules on small trees: each kind holds, is violated directly and through a chain (or an
alias), is waived by a later accepted ADR, and stops applying once superseded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gov_helpers import adr_yaml, load, make_tree, make_workspace

from genops.gates.adr_rules import RulesReport, check_rules

Changes = dict[str, "str | None"]
Expect = list[tuple[str, int, str]]  # (file, line, words in the message)


@dataclass
class Case:
    id: str
    rule: dict[str, Any]
    direct: Changes
    direct_at: Expect
    indirect: Changes
    indirect_at: Expect
    waive: str  # the dotted path a waiver names
    holds: Changes = field(default_factory=dict)
    previous: bool = False  # diff against the base tree (protected_api)


CASES = [
    Case("forbid_import", {"kind": "forbid_import", "from": "mad.mads", "to": "mad.sandbox"},
         direct={"mad/mads/rogers.py": "from mad import bus\nfrom mad import sandbox\n"},
         direct_at=[("mad/mads/rogers.py", 2, "mad.mads.rogers → mad.sandbox")],
         indirect={"mad/mads/rogers.py": "from mad import bus\nfrom mad import util\n",
                   "mad/util.py": "import os\nfrom mad import sandbox\n"},
         indirect_at=[("mad/mads/rogers.py", 2,
                       ("mad.mads.rogers → mad.util → mad.sandbox — mad.mads may not import "
                        "mad.sandbox (indirect; edges: mad/mads/rogers.py:2, mad/util.py:2)"))],
         waive="mad.mads.rogers"),
    Case("layers", {"kind": "layers", "layers": ["mad.mads", "mad.bus", "mad.util"]},
         direct={"mad/util.py": "from mad import bus\n"},
         direct_at=[("mad/util.py", 1, "layer 3 (mad.util) may not import the higher layer 2")],
         indirect={"mad/util.py": "import os\nfrom mad import helpers\n",
                   "mad/helpers.py": "from mad.mads import rogers\n"},
         indirect_at=[("mad/util.py", 2, "mad.util → mad.helpers → mad.mads.rogers")],
         waive="mad.util"),
    Case("independent", {"kind": "independent", "modules": ["mad.mads.*"],
                         "name": "MADs talk only through the bus"},
         direct={"mad/mads/rogers.py": "from mad import bus\nfrom mad.mads import fiedler\n"},
         direct_at=[("mad/mads/rogers.py", 2, "siblings mad.mads.rogers and mad.mads.fiedler")],
         indirect={"mad/mads/rogers.py": "from mad import bus\nfrom mad import helpers\n",
                   "mad/helpers.py": "import mad.mads.fiedler\n"},
         indirect_at=[("mad/mads/rogers.py", 2,
                       "mad.mads.rogers → mad.helpers → mad.mads.fiedler")],
         waive="mad.mads.rogers"),
    Case("acyclic", {"kind": "acyclic", "package": "mad"},
         direct={"mad/bus.py": "import json\nfrom mad import util\n",
                 "mad/util.py": "from mad import bus\n"},
         direct_at=[("mad/bus.py", 2, "import cycle mad.bus → mad.util → mad.bus")],
         indirect={"mad/bus.py": "import json\nfrom mad import util\n",
                   "mad/util.py": "from mad import helpers\n",
                   "mad/helpers.py": "from mad import bus\n"},
         indirect_at=[("mad/bus.py", 2, "mad.bus → mad.util → mad.helpers → mad.bus")],
         waive="mad.util"),
    Case("acyclic-packages", {"kind": "acyclic", "package": "mad", "level": "packages"},
         direct={"mad/bus.py": "import json\nfrom mad.mads import rogers\n"},
         direct_at=[("mad/bus.py", 2,
                     "package import cycle mad.bus → mad.mads → mad.bus — packages inside mad may "
                     "not import each other in a cycle (edges: mad/bus.py:2 mad.bus → "
                     "mad.mads.rogers, mad/mads/fiedler.py:1 mad.mads.fiedler → mad.bus)")],
         indirect={"mad/bus.py": "import json\nfrom mad import helpers\n",
                   "mad/helpers.py": "from mad.mads import rogers\n"},
         indirect_at=[("mad/bus.py", 2, "package import cycle mad.bus → mad.helpers → mad.mads → "
                                        "mad.bus")],
         waive="mad.bus"),
    Case("forbidden_calls", {"kind": "forbidden_calls",
                             "calls": ["subprocess.*", "eval", "pickle.loads"],
                             "except": ["mad.sandbox"]},
         direct={"mad/mads/fiedler.py": "import subprocess\n\n\ndef go():\n"
                                        "    subprocess.run(['ls'])\n"},
         direct_at=[("mad/mads/fiedler.py", 5, "mad.mads.fiedler.go calls subprocess.run")],
         indirect={"mad/mads/fiedler.py": "import subprocess as sp\n"
                                          "from pickle import loads as undump\n"
                                          "from subprocess import run\n\n\ndef go():\n"
                                          "    sp.check_output(['ls'])\n    run(['ls'])\n"
                                          "    eval('1')\n    return undump(b'')\n"},
         indirect_at=[("mad/mads/fiedler.py", 7, "subprocess.check_output (written sp.check_output)"),
                      ("mad/mads/fiedler.py", 8, "subprocess.run (written run)"),
                      ("mad/mads/fiedler.py", 9, "calls eval"),
                      ("mad/mads/fiedler.py", 10, "pickle.loads (written undump)")],
         waive="mad.mads.fiedler.go"),
    Case("allowed_dependencies", {"kind": "allowed_dependencies", "packages": ["pytest", "pyyaml"]},
         holds={"mad/util.py": "import os\nimport yaml\n", "tests/conftest.py": "import pytest\n"},
         direct={"mad/util.py": "import os\nimport requests.adapters\n"},
         direct_at=[("mad/util.py", 2, "imports third-party package 'requests'")],
         indirect={"pyproject.toml": "[project]\nname = 'mad'\ndependencies = [\n"
                                     "  'pyyaml>=6',\n  'redis>=5',\n]\n"},
         indirect_at=[("pyproject.toml", 5, "declares dependency 'redis'")],
         waive="*"),
    Case("max_file_lines", {"kind": "max_file_lines", "max": 8, "paths": ["mad/*.py"]},
         direct={"mad/util.py": "".join(f"X{i} = {i}\n" for i in range(10))},
         direct_at=[("mad/util.py", 9, "mad/util.py has 10 lines, over the limit of 8")],
         indirect={}, indirect_at=[], waive="mad.util"),
    Case("protected_api", {"kind": "protected_api", "paths": ["mad.bus.Bus"]},
         direct={"mad/bus.py": "import json\n\n\nclass Bus:\n    def publish(self, topic):\n"
                               "        return json.dumps(topic)\n"},
         direct_at=[("mad/bus.py", 5, "mad.bus.Bus.publish")],
         indirect={}, indirect_at=[], waive="mad.bus.Bus.publish", previous=True),
]
IDS = [c.id for c in CASES]


def run_case(tmp_path: Path, case: Case, changes: Changes, extra_adrs: dict[str, str] | None = None
             ) -> RulesReport:
    adrs = {"ADR-0002-rule.yaml": adr_yaml("ADR-0002", rules=[case.rule]), **(extra_adrs or {})}
    ws = load(make_workspace(tmp_path / "ws", adrs))
    tree = make_tree(tmp_path / "tree", {**case.holds, **changes})
    previous = make_tree(tmp_path / "before", case.holds) if case.previous else None
    return check_rules(ws.active_adrs(), tree, previous=previous)


def assert_found(report: RulesReport, expected: Expect) -> None:
    found = [(v.file, v.line, v.message) for v in report.violations]
    assert len(found) == len(expected), found
    for (file, line, message), (want_file, want_line, words) in zip(found, expected, strict=True):
        assert (file, line) == (want_file, want_line), found
        assert words in message, message
        assert message.startswith("ADR-0002 rule 1 ("), message


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rule_holds_on_the_base_tree(tmp_path: Path, case: Case) -> None:
    report = run_case(tmp_path, case, {})
    assert report.violations == []
    assert report.rules_checked == 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rule_violated_directly(tmp_path: Path, case: Case) -> None:
    assert_found(run_case(tmp_path, case, case.direct), case.direct_at)


@pytest.mark.parametrize("case", [c for c in CASES if c.indirect], ids=lambda c: c.id)
def test_rule_violated_through_a_chain_or_alias(tmp_path: Path, case: Case) -> None:
    assert_found(run_case(tmp_path, case, case.indirect), case.indirect_at)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rule_waived_by_a_later_accepted_adr(tmp_path: Path, case: Case) -> None:
    waiver = adr_yaml("ADR-0003", waives=[{"adr": "ADR-0002", "rule": case.rule["kind"],
                                           "path": case.waive}])
    report = run_case(tmp_path, case, {**case.direct, **case.indirect},
                      {"ADR-0003-waiver.yaml": waiver})
    assert report.violations == []
    assert report.waived and all(by == "ADR-0003" for _, by in report.waived)
    assert report.unused_waivers == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rule_stops_applying_once_superseded(tmp_path: Path, case: Case) -> None:
    newer = adr_yaml("ADR-0003", supersedes=["ADR-0002"])
    report = run_case(tmp_path, case, {**case.direct, **case.indirect},
                      {"ADR-0003-newer.yaml": newer})
    assert report.violations == [] and report.rules_checked == 0


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_proposed_adr_does_not_apply(tmp_path: Path, case: Case) -> None:
    adrs = {"ADR-0002-rule.yaml": adr_yaml("ADR-0002", rules=[case.rule], status="proposed")}
    ws = load(make_workspace(tmp_path / "ws", adrs))
    tree = make_tree(tmp_path / "tree", case.direct)
    assert check_rules(ws.active_adrs(), tree).violations == []


def test_a_waiver_only_covers_its_path(tmp_path: Path) -> None:
    case = CASES[IDS.index("independent")]
    waiver = adr_yaml("ADR-0003", waives=[{"adr": "ADR-0002", "rule": "independent",
                                           "path": "mad.mads.fiedler"}])
    report = run_case(tmp_path, case, {"mad/mads/rogers.py": "from mad.mads import fiedler\n",
                                       "mad/mads/fiedler.py": "from mad.mads import rogers\n"},
                      {"ADR-0003-waiver.yaml": waiver})
    assert [v.file for v in report.violations] == ["mad/mads/rogers.py"]
    assert [v.file for v, _ in report.waived] == ["mad/mads/fiedler.py"]


def test_a_stale_waiver_is_a_warning(tmp_path: Path) -> None:
    case = CASES[IDS.index("independent")]
    waiver = adr_yaml("ADR-0003", waives=[{"adr": "ADR-0002", "rule": "independent",
                                           "path": "mad.mads.rogers"}])
    report = run_case(tmp_path, case, {}, {"ADR-0003-waiver.yaml": waiver})
    assert report.violations == []
    assert [v.severity for v in report.unused_waivers] == ["warning"]
    assert "remove the waiver" in report.unused_waivers[0].message


def test_protected_api_change_named_in_allows_breaking_passes(tmp_path: Path) -> None:
    case = CASES[IDS.index("protected_api")]
    allowing = adr_yaml("ADR-0003", allows_breaking=["mad.bus.Bus.publish"])
    report = run_case(tmp_path, case, case.direct, {"ADR-0003-allow.yaml": allowing})
    assert report.violations == []


def test_forbid_import_of_a_third_party_package(tmp_path: Path) -> None:
    rule = {"kind": "forbid_import", "from": "mad.mads.*", "to": ["redis", "mad.sandbox"]}
    case = Case("third-party", rule, {}, [], {}, [], "")
    report = run_case(tmp_path, case, {"mad/mads/fiedler.py": "import redis.asyncio\n"})
    assert [(v.file, v.line) for v in report.violations] == [("mad/mads/fiedler.py", 1)]
    assert "mad.mads.fiedler → redis.asyncio" in report.violations[0].message


def test_allow_indirect_only_checks_direct_imports(tmp_path: Path) -> None:
    case = CASES[IDS.index("forbid_import")]
    rule = {**case.rule, "allow_indirect": True}
    relaxed = Case("relaxed", rule, {}, [], {}, [], "")
    assert run_case(tmp_path / "a", relaxed, case.indirect).violations == []
    assert len(run_case(tmp_path / "b", relaxed, case.direct).violations) == 1


@pytest.mark.parametrize("rule, field", [
    ({"kind": "independent", "modules": ["mad.agents.*"]}, "modules"),
    ({"kind": "forbid_import", "from": "mad.mads", "to": "mad.sandbx"}, "to"),
    ({"kind": "layers", "layers": ["mad.mads", "mad.core"]}, "layers"),
    ({"kind": "acyclic", "package": "mad.core"}, "package"),
    ({"kind": "forbidden_calls", "calls": ["eval"], "except": ["mad.sandbox2"]}, "except"),
    ({"kind": "protected_api", "paths": ["mad.gateway.Gateway"]}, "paths"),
    ({"kind": "max_file_lines", "max": 10, "paths": ["src/*.py"]}, "paths"),
], ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_a_rule_that_names_nothing_is_an_error(tmp_path: Path, rule: dict[str, Any],
                                              field: str) -> None:
    case = Case("dead", rule, {}, [], {}, [], "")
    report = run_case(tmp_path, case, {})
    assert len(report.violations) == 1
    violation = report.violations[0]
    assert violation.file == "adr/ADR-0002-rule.yaml" and violation.line == 6
    assert f"in `{field}`, which matches nothing" in violation.message


def test_independent_rule_with_one_sibling_is_an_error(tmp_path: Path) -> None:
    rule = {"kind": "independent", "modules": ["mad.mads.*"], "except": ["mad.mads.fiedler"]}
    report = run_case(tmp_path, Case("one", rule, {}, [], {}, [], ""), {})
    assert ["fewer than two siblings" in v.message for v in report.violations] == [True]


def test_forbid_import_between_members_of_one_wildcard(tmp_path: Path) -> None:
    rule = {"kind": "forbid_import", "from": "mad.mads.*", "to": "mad.mads.*"}
    case = Case("siblings", rule, {}, [], {}, [], "")
    report = run_case(tmp_path, case, {
        "mad/mads/rogers/__init__.py": "from mad.mads.rogers import core\n",
        "mad/mads/rogers/core.py": "from mad.mads import fiedler\n",
        "mad/mads/rogers.py": None})
    assert [(v.file, v.line) for v in report.violations] == [("mad/mads/rogers/core.py", 1)]


def test_forbid_import_of_a_subpackage_from_its_package(tmp_path: Path) -> None:
    rule = {"kind": "forbid_import", "from": "mad", "to": "mad.sandbox"}
    case = Case("nested", rule, {}, [], {}, [], "")
    report = run_case(tmp_path, case, {"mad/sandbox.py": None,
                                       "mad/sandbox/__init__.py": "from mad.sandbox import run\n",
                                       "mad/sandbox/run.py": "import subprocess\n",
                                       "mad/util.py": "from mad.sandbox import run\n"})
    assert [(v.file, v.line) for v in report.violations] == [("mad/util.py", 1)]


PACKAGE_RULE = {"kind": "acyclic", "package": "mad", "level": "packages"}

# (name, changes, expected (file, line, words)); the package-level form takes each direct member
# of `mad` (mad.bus, mad.mads, mad.util...) as one node.
PACKAGE_CYCLES: list[tuple[str, Changes, Expect]] = [
    ("two packages", {"mad/util.py": "from mad import helpers\n",
                      "mad/helpers.py": "import os\nimport mad.util\n"},
     [("mad/helpers.py", 2, "mad.helpers → mad.util → mad.helpers")]),
    ("three packages", {"mad/util.py": "from mad.mads import fiedler\n",
                        "mad/bus.py": "import json\nfrom mad import util\n"},
     [("mad/bus.py", 2, "mad.bus → mad.util → mad.mads → mad.bus — packages inside mad may not "
                        "import each other in a cycle (edges: mad/bus.py:2 mad.bus → mad.util, "
                        "mad/util.py:1 mad.util → mad.mads.fiedler, "
                        "mad/mads/fiedler.py:1 mad.mads.fiedler → mad.bus)")]),
    ("only through a late import", {"mad/bus.py": "import json\n\n\ndef publish():\n"
                                                  "    from mad.mads import rogers\n"
                                                  "    return rogers\n"},
     [("mad/bus.py", 5, "package import cycle mad.bus → mad.mads → mad.bus")]),
    ("one stray import closing two cycles is one violation, at that import",
     {"mad/bus.py": "import json\n\n\ndef publish():\n    from mad.mads import rogers\n"
                    "    return rogers\n",
      "mad/mads/rogers.py": "from mad import bus, helpers\n",
      "mad/helpers.py": "from mad import bus\nX = 1\n"},
     [("mad/bus.py", 5, "package import cycle mad.bus → mad.mads → mad.bus — packages inside mad "
                        "may not import each other in a cycle; this import is on 2 of the cycles")]),
    ("no cycle", {"mad/mads/rogers.py": "from mad import bus, util\n",
                  "mad/util.py": "from mad import helpers\n"}, []),
    ("module cycle inside one package", {"mad/mads/rogers.py": "from mad.mads import fiedler\n",
                                         "mad/mads/fiedler.py": "from mad.mads import rogers\n"},
     []),
]


@pytest.mark.parametrize("name, changes, expected", PACKAGE_CYCLES,
                         ids=[c[0] for c in PACKAGE_CYCLES])
def test_package_level_acyclic(tmp_path: Path, name: str, changes: Changes,
                               expected: Expect) -> None:
    case = Case("packages", PACKAGE_RULE, {}, [], {}, [], "")
    assert_found(run_case(tmp_path, case, changes), expected)


def test_module_level_acyclic_is_the_default(tmp_path: Path) -> None:
    changes: Changes = {"mad/mads/rogers.py": "from mad.mads import fiedler\n",
                        "mad/mads/fiedler.py": "from mad.mads import rogers\n"}
    for level in ({}, {"level": "modules"}):
        rule = {"kind": "acyclic", "package": "mad.mads", **level}
        case = Case("modules", rule, {}, [], {}, [], "")
        assert_found(run_case(tmp_path / str(len(level)), case, changes),
                     [("mad/mads/fiedler.py", 1, "import cycle mad.mads.fiedler → mad.mads.rogers")])


SPELLINGS: list[tuple[str, str, Expect]] = [
    ("import a.b", "import redis.asyncio\n", [("mad/util.py", 1, "may not import redis.asyncio")]),
    ("from a.b import c", "from redis.asyncio import Redis\n",
     [("mad/util.py", 1, "may not import redis.asyncio")]),
    ("from a import b", "from redis import asyncio\n",
     [("mad/util.py", 1, "may not import redis.asyncio")]),
    ("from a import other", "from redis import Redis\n", []),
    ("the package alone", "import redis\n", []),
]


@pytest.mark.parametrize("name, text, expected", SPELLINGS, ids=[s[0] for s in SPELLINGS])
def test_forbid_import_sees_every_spelling_of_a_third_party_submodule(
        tmp_path: Path, name: str, text: str, expected: Expect) -> None:
    rule = {"kind": "forbid_import", "from": "mad", "to": "redis.asyncio"}
    case = Case("spelling", rule, {}, [], {}, [], "")
    assert_found(run_case(tmp_path, case, {"mad/util.py": text}), expected)


ALLOWED = CASES[[c.id for c in CASES].index("allowed_dependencies")]


@pytest.mark.parametrize(("files", "where"), [
    # the dependencies gate always read these; allowed_dependencies did not (one reader now)
    ({"requirements.txt": "-r more/reqs.txt\n", "more/reqs.txt": "pyyaml\nredis==5.0\n"},
     ("more/reqs.txt", 2, "declares dependency 'redis'")),
    ({"setup.cfg": "[options]\ninstall_requires =\n    pyyaml\n    redis\n"},
     ("setup.cfg", 4, "declares dependency 'redis'")),
    ({"pyproject.toml": "[project]\nname = 'mad'\n[tool.uv]\nindex-url = 'https://x.invalid'\n"},
     ("pyproject.toml", 4, "'[tool.uv] index-url', an installer option")),
])
def test_allowed_dependencies_reads_every_declaration_the_dependencies_gate_reads(
        tmp_path: Path, files: Changes, where: tuple[str, int, str]) -> None:
    assert_found(run_case(tmp_path, ALLOWED, files), [where])


def test_what_only_builds_the_tree_is_not_a_dependency(tmp_path: Path) -> None:
    build = {"pyproject.toml": "[build-system]\nrequires = ['setuptools>=61']\n"
                               "[project]\nname = 'mad'\ndependencies = ['pyyaml']\n"}
    assert run_case(tmp_path, ALLOWED, build).violations == []
