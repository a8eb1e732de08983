"""The fake provider's answers for a workspace that scripted none: a placeholder tree from specs/.

`genops regenerate --provider fake`, `genops stability --provider fake` and a tutorial's first
release must work on any workspace with no key and no network, and a scripted reply table
(`.genops/fake-responses.json`) exists only in genops's own tests. So a fake provider built for a
workspace without that file answers the synthesis requests itself, deterministically, from the
workspace's own files (genops.toml's project name and the requirements in specs/):

- the blueprint: group `core` (`<package>/__init__.py`, `pyproject.toml`) and group `tests`
  (`tests/test_requirements.py`, depending on `core`), both listing every requirement;
- a group: exactly the files its request lists (the default `group.j2` names them), else the files
  of that group in the blueprint above;
- the whole tree (`single`): every file of the blueprint above;
- a placement: one new group per requirement to place: a module of the package recording it
  and its test file.

The package's modules record each requirement's text (`REQUIREMENTS`, `requirement(id)`); every
test file has one test per requirement, named after it, that calls the module recording it (so
the traceability gate sees the requirement's code run), or, when no module of the tree records
it, checks the test's own record. It implements nothing: it passes the gates so the pipeline can
be exercised end to end. Any other request (an edit, a review, a narrative, a repair) gets the
fake's plain answer, which is in no protocol.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from genops.protocol.files import format_protocol
from genops.workspace.specs import load_specs

TEST_FILE = "tests/test_requirements.py"
PLACED = "spec-"  # the name prefix of a group this fake's placement adds
_GROUP = re.compile(r"Write the files of group `([^`]+)`")
_FILES = re.compile(r"^Files \(write exactly these[^\n]*\n((?:- [^\n]+\n)+)", re.M)
_REQS = re.compile(r"^Requirements this group implements: ([^\n]*)$", re.M)
_REQ_ID = re.compile(r"\bREQ-[A-Z][A-Z0-9]*-\d+\b")
_TO_PLACE = re.compile(r"Requirements to place:\n(.*?)(?:\n\n|\Z)", re.S)

PYPROJECT = """\
[project]
name = "{name}"
version = "0.1.0"
description = "A placeholder derived from the specification by genops's offline fake provider"
dependencies = []

[project.optional-dependencies]
test = ["pytest"]
"""


def package_name(project: str) -> str:
    """A Python package name for a project name: lower case, `_` for anything else."""
    name = re.sub(r"[^a-z0-9_]+", "_", project.lower()).strip("_") or "app"
    return f"pkg_{name}" if name[0].isdigit() else name


class SpecTree:
    """What the fake derives its answers from: the workspace's project name and requirements."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        with open(self.root / "genops.toml", "rb") as handle:
            project = tomllib.load(handle).get("project", {})
        self.project = str(project.get("name") or self.root.name)
        self.package = package_name(self.project)
        requirements, _ = load_specs(self.root)
        self.requirements: dict[str, str] = {r.id: r.text for r in requirements}

    # -- the blueprint this fake plans ------------------------------------------------------

    def blueprint(self) -> dict[str, Any]:
        ids = list(self.requirements)
        return {"groups": [
            {"name": "core", "description": f"the {self.package} package: a record of every "
                                            "requirement",
             "files": [f"{self.package}/__init__.py", "pyproject.toml"], "requirements": ids,
             "depends_on": []},
            {"name": "tests", "description": "one test per requirement",
             "files": [TEST_FILE], "requirements": ids, "depends_on": ["core"]}]}

    def _planned(self, group: str) -> list[str] | None:
        for entry in self.blueprint()["groups"]:
            if entry["name"] == group:
                return list(entry["files"])
        return None

    # -- answers ----------------------------------------------------------------------------

    def answer(self, text: str, everything: str) -> str | None:
        """The answer to a request whose last user message is `text` (`everything`: all of its
        messages), or None when it is not a synthesis request this fake answers."""
        if "Place new requirements" in text:
            return self._placement(text)
        if "Plan the complete source tree" in text:
            return json.dumps(self.blueprint(), indent=1)
        group = _GROUP.search(text)
        if group is not None:
            return self._group(group.group(1), text, everything)
        if "Write the complete source tree" in text:
            files = [f for g in self.blueprint()["groups"] for f in g["files"]]
            return format_protocol(self._files(files, list(self.requirements), self.package))
        return None

    def _group(self, name: str, text: str, everything: str) -> str | None:
        listed = _FILES.search(text)
        files = [line[2:].strip() for line in listed.group(1).splitlines()] if listed \
            else self._planned(name)
        if not files:
            return None
        named = _REQS.search(text)
        ids = _REQ_ID.findall(named.group(1)) if named else list(self.requirements)
        # The tests run the code that records their requirements: a module of the group itself,
        # else the package when the tree has it (a group placement added has its own module).
        source = next((m for m in map(_module_name, files) if m), None)
        if source is None and f"{self.package}/__init__.py" in everything \
                and not name.startswith(PLACED):
            source = self.package
        return format_protocol(self._files(files, ids, source))

    def _placement(self, text: str) -> str:
        section = _TO_PLACE.search(text)
        ids = _REQ_ID.findall(section.group(1) if section else text)
        groups = []
        for req_id in dict.fromkeys(ids):
            slug = req_id.lower().replace("-", "_")
            groups.append({"name": f"{PLACED}{req_id.lower()}",
                           "description": f"the record of {req_id} and its test",
                           "files": [f"{self.package}/{slug}.py", f"tests/test_{slug}.py"],
                           "requirements": [req_id], "depends_on": []})
        return json.dumps({"groups": groups}, indent=1)

    def _files(self, paths: list[str], ids: list[str], source: str | None) -> dict[str, str]:
        return {path: self._file(path, ids, source) for path in paths}

    def _file(self, path: str, ids: list[str], source: str | None) -> str:
        name = Path(path).name
        if name == "pyproject.toml":
            return PYPROJECT.format(name=re.sub(r"[^A-Za-z0-9._-]+", "-", self.project))
        if not path.endswith(".py"):
            return f"{self.project}: a placeholder derived from its specification.\n"
        if name == "conftest.py":
            return '"""Shared test setup: none is needed."""\n'
        if _is_test(path):
            return self._test_module(ids, source)
        return self._module(ids)

    def _record(self, ids: list[str]) -> str:
        lines = "".join(f"    {req_id!r}: {self.requirements.get(req_id, '')!r},\n"
                        for req_id in ids)
        return "REQUIREMENTS: dict[str, str] = {\n" + lines + "}\n"

    def _module(self, ids: list[str]) -> str:
        return (f'"""{self.project}: a placeholder derived from its specification by genops\'s '
                'offline fake provider.\n\nIt records each requirement it stands for; a model '
                'writes the implementation.\n"""\n\n' + self._record(ids) + "\n\n"
                "def requirement(req_id: str) -> str:\n"
                '    """The text of requirement `req_id` as the specification states it."""\n'
                "    return REQUIREMENTS[req_id]\n")

    def _test_module(self, ids: list[str], source: str | None) -> str:
        head = ('"""One test per requirement (a placeholder derived from the specification by '
                'genops\'s offline fake provider)."""\n\n')
        if source:
            head += f"from {source} import requirement\n\n"
        else:  # no module of the tree to run: the test holds its own record
            head += self._record(ids) + "\n"
        tests = []
        for req_id in ids:
            call = f"requirement({req_id!r})" if source else f"REQUIREMENTS[{req_id!r}]"
            tests.append(f"\ndef test_{req_id.lower().replace('-', '_')}() -> None:\n"
                         f'    """{req_id}."""\n'
                         f"    assert {call} == {self.requirements.get(req_id, '')!r}\n")
        if not tests:
            tests.append('\ndef test_placeholder() -> None:\n    """No requirement is '
                         'defined yet."""\n    assert True\n')
        return head + "\n".join(tests)


def _module_name(path: str) -> str | None:
    """The dotted module a non-test Python file of the tree is imported as, if it can be."""
    if not path.endswith(".py") or _is_test(path):
        return None
    parts = path[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def _is_test(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py" \
        or any(p in ("tests", "test") for p in parts[:-1])
