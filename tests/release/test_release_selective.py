"""Selective regeneration end to end: the real Anthropic SDK against the emulator, real git.

Release 1 is made in full once (module fixture) and copied per test. The scripted model answers
by the last user message: the blueprint, a placement, or one group's files. Groups: `base`
(REQ-BASE-1), `m1` and `m3` (independent), `m2` (depends on base's API).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genops.protocol.files import format_protocol
from genops.testing.emulator import Emulator, Recorded, Reply
from release_helpers import clean_env, commit_all

KEY = "sk-ant-selective-0123456789"
BASE = '"""REQ-BASE-1: the shared base."""\n\n\ndef base() -> int:\n    return 10\n'
BASE_NEW_API = ('"""REQ-BASE-1: the shared base."""\n\n\n'
                'def base(scale: int) -> int:\n    return 10 * scale\n')


def module(i: int, note: str = "") -> str:
    uses = "from pkg.base import base\n\n\n" if i == 2 else "\n"
    body = "base() + 2" if i == 2 else str(i)
    return f'"""Module {i}: REQ-MOD-{i}.{note}"""\n{uses}\ndef value_{i}() -> int:\n    return {body}\n'


def suite_file(i: int) -> str:
    expected = 12 if i == 2 else i
    return (f'"""REQ-MOD-{i}."""\nfrom pkg.m{i} import value_{i}\n\n\n'
            f"def test_value_{i}():\n    assert value_{i}() == {expected}\n")


def group(name: str, files: list[str], reqs: list[str], deps: list[str]) -> dict[str, Any]:
    return {"name": name, "description": name, "files": files, "requirements": reqs,
            "depends_on": deps}


BLUEPRINT = {"groups": [
    group("base", ["pkg/__init__.py", "pkg/base.py", "tests/test_base.py"], ["REQ-BASE-1"], []),
    *[group(f"m{i}", [f"pkg/m{i}.py", f"tests/test_m{i}.py"], [f"REQ-MOD-{i}"],
            ["base"] if i == 2 else []) for i in (1, 2, 3)]]}


class Model:
    """Answers by the last user message; `files` is what the groups return now."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.files: dict[str, str] = {
            "pkg/__init__.py": '"""The package."""\n', "pkg/base.py": BASE,
            "tests/test_base.py": '"""REQ-BASE-1."""\nfrom pkg.base import base\n\n\n'
                                  "def test_base():\n    assert base() == 10\n",
            **{f"pkg/m{i}.py": module(i) for i in (1, 2, 3)},
            **{f"tests/test_m{i}.py": suite_file(i) for i in (1, 2, 3)}}
        self.blueprint: dict[str, Any] = BLUEPRINT
        self.placement = ""
        self.asked: list[str] = []  # unit per request: blueprint, placement or the group name

    def __call__(self, req: Recorded) -> Reply:
        last = req.body["messages"][-1]["content"]
        text = last if isinstance(last, str) else "".join(b.get("text", "") for b in last)
        with self.lock:
            if text.startswith("Place new requirements"):
                self.asked.append("placement")
                return Reply(text=self.placement, input_tokens=900)
            if "Plan the complete source tree" in text:
                self.asked.append("blueprint")
                return Reply(text=json.dumps(self.blueprint), input_tokens=900)
            name = re.search(r"Write the files of group `([\w-]+)`", text).group(1)  # type: ignore[union-attr]
            self.asked.append(name)
            paths = next(g["files"] for g in self.blueprint["groups"] if g["name"] == name)
            return Reply(text=format_protocol({p: self.files[p] for p in paths}), input_tokens=1200)


def make_workspace(root: Path, base_url: str) -> Path:
    from genops.workspace.scaffold import init_workspace

    init_workspace(root, name="sel", provider="anthropic", git=True)
    toml = (root / "genops.toml").read_text()
    toml = toml.replace("max_output_tokens = 32000\n",
                        f'max_output_tokens = 4000\nbase_url = "{base_url}"\n', 1)
    toml = toml.replace('rungs = ["senior", "fallback"]', 'rungs = ["senior"]')
    toml = toml.replace("timeout_s = 900", "timeout_s = 120\nuse_venv = false")
    (root / "genops.toml").write_text(toml)
    reqs = "\n".join(f"- **REQ-MOD-{i}** `value_{i}()` returns its number." for i in (1, 2, 3))
    (root / "specs" / "requirements.md").write_text(
        f"# Requirements\n\n- **REQ-BASE-1** `base()` returns 10.\n{reqs}\n")
    commit_all(root, "selective workspace")
    return root


def genops(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "genops.cli.main", *args], cwd=root,
                          env=clean_env(ANTHROPIC_API_KEY=KEY), capture_output=True, text=True,
                          timeout=600)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout + result.stderr


def tree_bytes(root: Path) -> dict[str, bytes]:
    out = root / "generated"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def edit_spec(root: Path, old: str, new: str, path: str = "specs/requirements.md") -> None:
    spec = root / path
    spec.write_text(spec.read_text().replace(old, new) if old else spec.read_text() + new)
    commit_all(root, f"edit {path}")


def manifest(root: Path, release: str) -> dict[str, Any]:
    return json.loads((root / ".genops" / "releases" / release / "manifest.json").read_text())


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, emulator: Emulator) -> Path:
    """A workspace whose r0001 was made in full (blueprint + 4 groups)."""
    model = Model()
    emulator.responder(model, "anthropic")
    root = make_workspace(tmp_path_factory.mktemp("sel") / "ws", emulator.base_url("anthropic"))
    ok(genops(root, "regenerate", "--reason", "release 1"))
    assert sorted(model.asked) == ["base", "blueprint", "m1", "m2", "m3"]
    return root


@pytest.fixture()
def ws(released: Path, tmp_path: Path, emulator: Emulator) -> tuple[Path, Model]:
    root = tmp_path / "ws"
    shutil.copytree(released, root, symlinks=True)
    model = Model()
    emulator.responder(model, "anthropic")
    return root, model


def test_one_edited_requirement_regenerates_only_its_group(ws: tuple[Path, Model]) -> None:
    root, model = ws
    before = tree_bytes(root)
    edit_spec(root, "`value_1()` returns its number.", "`value_1()` returns one, as an int.")
    dry = genops(root, "regenerate", "--dry-run", "--json")
    ok(dry)
    plan = json.loads(dry.stdout)
    assert plan["selection"]["groups"] == {"m1": ["REQ-MOD-1 text changed"]}
    assert 0 < plan["selection"]["ratio"] < 0.5
    model.files["pkg/m1.py"] = module(1, " Returns one.")
    out = ok(genops(root, "regenerate", "--reason", "edit REQ-MOD-1"))
    assert model.asked == ["m1"]  # no blueprint, no other group
    assert "selective regeneration: 1 group(s) regenerated" in out
    after = tree_bytes(root)
    assert after["pkg/m1.py"] == module(1, " Returns one.").encode()
    assert {p: b for p, b in after.items() if p != "pkg/m1.py"} == \
        {p: b for p, b in before.items() if p != "pkg/m1.py"}
    record = manifest(root, "r0002")["selection"]
    assert record["groups"]["m1"] == {"status": "regenerated", "reasons": ["REQ-MOD-1 text changed"]}
    assert {n for n, g in record["groups"].items() if g["status"] == "carried"} == \
        {"base", "m2", "m3"}
    assert {g["verdict"] for g in manifest(root, "r0002")["gates"]} <= {"pass", "warn", "skip"}
    replayed = ok(genops(root, "replay", "r0002", "--no-gates"))
    assert "reproduced" in replayed and model.asked == ["m1"]  # offline: nothing asked


def test_new_requirement_is_placed_by_a_limited_blueprint_request(ws: tuple[Path, Model]) -> None:
    root, model = ws
    edit_spec(root, "", "- **REQ-MOD-4** `value_4()` returns 4.\n")
    new = group("m4", ["pkg/m4.py", "tests/test_m4.py"], ["REQ-MOD-4"], [])
    model.placement = json.dumps({"groups": [new]})
    model.blueprint = {"groups": [*BLUEPRINT["groups"], new]}
    model.files.update({"pkg/m4.py": module(4), "tests/test_m4.py": suite_file(4)})
    out = ok(genops(root, "regenerate", "--reason", "add REQ-MOD-4"))
    assert model.asked == ["placement", "m4"]
    assert "m4: places REQ-MOD-4" in out
    m = manifest(root, "r0002")
    assert [g["name"] for g in m["blueprint"]["groups"]] == ["base", "m1", "m2", "m3", "m4"]
    assert (root / "generated" / "pkg" / "m4.py").read_text() == module(4)
    ok(genops(root, "replay", "r0002", "--no-gates"))


def test_principles_change_regenerates_fully_and_says_why(ws: tuple[Path, Model]) -> None:
    root, model = ws
    edit_spec(root, "", "\n- Prefer plain functions.\n", "specs/principles.md")
    out = ok(genops(root, "regenerate", "--reason", "principles"))
    assert "full regeneration: specs/principles.md changed" in out
    assert sorted(model.asked) == ["base", "blueprint", "m1", "m2", "m3"]
    assert manifest(root, "r0002")["selection"]["mode"] == "full"


def test_full_flag_forces_a_full_run(ws: tuple[Path, Model]) -> None:
    root, model = ws
    edit_spec(root, "`value_3()` returns its number.", "`value_3()` returns three.")
    out = ok(genops(root, "regenerate", "--full", "--reason", "everything"))
    assert "full regeneration: --full was given" in out
    assert sorted(model.asked) == ["base", "blueprint", "m1", "m2", "m3"]


def test_api_change_in_a_regenerated_group_pulls_in_its_consumers(ws: tuple[Path, Model]) -> None:
    root, model = ws
    edit_spec(root, "`base()` returns 10.", "`base(scale)` returns 10 times scale.")
    model.files["pkg/base.py"] = BASE_NEW_API
    model.files["tests/test_base.py"] = ('"""REQ-BASE-1."""\nfrom pkg.base import base\n\n\n'
                                         "def test_base():\n    assert base(1) == 10\n")
    model.files["pkg/m2.py"] = module(2).replace("base() + 2", "base(1) + 2")
    out = ok(genops(root, "regenerate", "--reason", "base takes a scale", "--allow-breaking"))
    assert model.asked == ["base", "m2"]  # m1 and m3 do not consume base
    record = manifest(root, "r0002")["selection"]["groups"]
    assert record["m2"]["status"] == "regenerated"
    assert "consumes group base's changed API" in record["m2"]["reasons"][0]
    assert record["m1"]["status"] == record["m3"]["status"] == "carried"
    assert "m2: consumes group base's changed API" in out
    ok(genops(root, "replay", "r0002", "--no-gates"))


def test_an_additive_api_change_leaves_its_consumers_carried(ws: tuple[Path, Model]) -> None:
    # A parameter with a default (and a new function) keep every consumer's code valid: the
    # consumers are carried, not asked again (issue 26: Rogers' paging added `limit` and
    # `before` to `conversations`; before this, every group depending on rogers was re-sent).
    root, model = ws
    edit_spec(root, "`base()` returns 10.", "`base()` returns 10; `base(scale)` 10 times scale.")
    model.files["pkg/base.py"] = ('"""REQ-BASE-1."""\n\n\ndef base(scale: int = 1) -> int:\n'
                                  "    return 10 * scale\n\n\ndef unit() -> int:\n"
                                  "    return 1\n")
    out = ok(genops(root, "regenerate", "--reason", "base takes an optional scale"))
    assert model.asked == ["base"]
    record = manifest(root, "r0002")["selection"]["groups"]
    assert [record[m]["status"] for m in ("m1", "m2", "m3")] == ["carried"] * 3
    assert "consumes group" not in out
    ok(genops(root, "replay", "r0002", "--no-gates"))


@pytest.mark.parametrize(("old", "new", "pulls"), [
    ("def f(a):\n    return a\n", "def f(a, b=1):\n    return a + b\n", False),  # optional param
    ("def f(a):\n    return a\n", "def f(a):\n    return a\n\n\ndef g():\n    return 1\n", False),
    ('PAGE = "<p>old</p>"\n', 'PAGE = "<p>new</p>"\n', False),  # a constant's text
    ("class C:\n    tools = (1,)\n", "class C:\n    tools = (1, 2)\n", False),
    ("def f(a):\n    return a\n", "def f(a, b):\n    return a + b\n", True),  # required param
    ("def f(a):\n    return a\n", "def g(a):\n    return a\n", True),  # removed
    ("def f(a: int) -> int:\n    return a\n", "def f(a: str) -> int:\n    return 1\n", True),
])
def test_which_api_changes_pull_in_consumers(old: str, new: str, pulls: bool) -> None:
    from genops.synthesis.selective import api_changes

    assert bool(api_changes({"pkg/m.py": old}, {"pkg/m.py": new})) is pulls
