"""Blueprint JSON: accepted shapes, refused ones (each a BlueprintError saying what), and levels."""

from __future__ import annotations

import json
from typing import Any

import pytest

from genops.protocol.blueprint_json import BlueprintError
from genops.synthesis.blueprint import parse_blueprint

REQS = {"REQ-CORE-1", "REQ-BUS-1", "REQ-BUS-2"}


def g(name: str, files: list[str], deps: list[str] | None = None,
      reqs: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": f"the {name}", "files": files,
            "requirements": reqs or [], "depends_on": deps or [], **extra}


def doc(*groups: dict[str, Any]) -> str:
    return json.dumps({"groups": list(groups)})


def test_plain_json_and_levels() -> None:
    bp = parse_blueprint(doc(g("core", ["mad/core.py"], reqs=["REQ-CORE-1"]),
                             g("bus", ["mad/bus.py"], ["core"], ["REQ-BUS-1"]),
                             g("cli", ["mad/cli.py"], ["bus", "core"]),
                             g("docs", ["README.md"])), REQS)
    assert [[x.name for x in level] for level in bp.levels()] == [["core", "docs"], ["bus"],
                                                                   ["cli"]]
    assert [x.name for x in bp.closure("cli")] == ["core", "bus"]


def test_fenced_json_with_prose() -> None:
    text = "Here is the plan:\n```json\n" + doc(g("core", ["a.py"])) + "\n```\nThanks."
    assert parse_blueprint(text, REQS).groups[0].files == ["a.py"]


def test_description_and_lists_optional_and_paths_normalized() -> None:
    bp = parse_blueprint('{"groups": [{"name": "core", "files": ["./a.py"]}]}', REQS)
    assert bp.groups[0].files == ["a.py"] and bp.groups[0].depends_on == []


# (case, response text, words in the error)
REFUSED = [
    ("no json", "I think the system should have a bus.", "no JSON"),
    ("broken json", '{"groups": [', "invalid JSON"),
    ("no groups", '{"groups": []}', "groups"),
    ("unknown key", doc(g("core", ["a.py"], owner="me")), "unknown key"),
    ("wrong type", '{"groups": [{"name": "core", "files": "a.py"}]}', "files"),
    ("number as name", '{"groups": [{"name": 3, "files": ["a.py"]}]}', "name"),
    ("bad name", doc(g("my group", ["a.py"])), "name"),
    ("reserved name", doc(g("blueprint", ["a.py"])), "reserved"),
    ("the placement unit's name", doc(g("placement", ["a.py"])), "reserved"),
    ("the narrative's label", doc(g("summary", ["a.py"])), "reserved"),
    ("a reviewer's label", doc(g("review-ui", ["a.py"])), "reserved"),
    ("a patch round's label", doc(g("edits-core", ["a.py"])), "reserved"),
    ("no files", doc(g("core", [])), "files"),
    ("duplicate name", doc(g("core", ["a.py"]), g("core", ["b.py"])), "used twice"),
    ("file in two groups", doc(g("core", ["a.py"]), g("bus", ["./a.py"])), "in group 'core'"),
    ("unsafe file", doc(g("core", ["../a.py"])), ".."),
    ("absolute file", doc(g("core", ["/a.py"])), "absolute"),
    ("unknown requirement", doc(g("core", ["a.py"], reqs=["REQ-NOPE-9"])), "REQ-NOPE-9"),
    ("unknown dependency", doc(g("core", ["a.py"], ["db"])), "unknown group 'db'"),
    ("self dependency", doc(g("core", ["a.py"], ["core"])), "itself"),
    ("cycle", doc(g("a", ["a.py"], ["c"]), g("b", ["b.py"], ["a"]), g("c", ["c.py"], ["b"])),
     "cycle: a -> c -> b -> a"),
]


@pytest.mark.parametrize("case,text,words", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused(case: str, text: str, words: str) -> None:
    with pytest.raises(BlueprintError) as info:
        parse_blueprint(text, REQS)
    assert words in str(info.value)
