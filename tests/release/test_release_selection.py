"""Which groups a change selects (genops.release.selective.choose), one row per kind of change.

r0001 is made once with the fake provider (groups `core`: hello/__init__.py, pyproject.toml and
`tests`: tests/test_greet.py; both list REQ-GREET-1 and REQ-GREET-2); each row edits a copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from genops.release.pipeline import regenerate
from genops.release.selective import choose, estimate
from genops.workspace import load_workspace
from release_helpers import in_process_env, make_workspace

REQS = "specs/requirements.md"


def edit(path: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        file = root / path
        text = file.read_text() if file.exists() else ""
        file.write_text(text.replace(old, new) if old else text + new)
    return apply


def adr(body: str) -> Callable[[Path], None]:
    return edit("adr/ADR-0100-x.yaml", "", "id: ADR-0100\ntitle: X\nstatus: accepted\n"
                                         "decision: Do X.\n" + body)


CASES = [  # (id, change, full reason substring or None, seeds {group: reasons}, unplaced)
    ("requirement text", edit(REQS, "returns `\"Hello, <name>!\"`", "returns a greeting"),
     None, {"core": ["REQ-GREET-1 text changed"], "tests": ["REQ-GREET-1 text changed"]}, []),
    ("requirement removed", edit(REQS, "- **REQ-GREET-2** `greet(\"\")` raises `ValueError`.\n", ""),
     None, {"core": ["REQ-GREET-2 removed"], "tests": ["REQ-GREET-2 removed"]}, []),
    ("requirement added", edit(REQS, "", "- **REQ-GREET-3** `greet` strips spaces.\n"),
     None, {}, ["REQ-GREET-3"]),
    ("prose outside requirements", edit(REQS, "## Greeting (GREET)", "## Greetings (GREET)"),
     "outside its requirement lines", {}, []),
    ("principles", edit("specs/principles.md", "", "\n- Be terse.\n"),
     "specs/principles.md changed", {}, []),
    ("system prompt", edit("prompts/system.j2", "", "\nBe terse.\n"),
     "prompts/system.j2 changed", {}, []),
    ("repair prompt only", edit("prompts/repair.j2", "", "\nPlease.\n"), None, {}, []),
    ("model pin", edit("genops.toml", "temperature = 0.0", "temperature = 0.5"),
     "a model pin changed", {}, []),
    ("budget only", edit("genops.toml", "per_month_usd = 200.0", "per_month_usd = 300.0"),
     None, {}, []),
    ("ADR without scope", adr(""), "has no scope", {}, []),
    ("ADR naming a requirement", adr("requirements: [REQ-GREET-2]\n"),
     None, {"core": ["ADR-0100 changed"], "tests": ["ADR-0100 changed"]}, []),
    ("ADR rule scoped to a module", adr("rules:\n  - kind: forbid_import\n    from: hello\n"
                                        "    to: [socket]\n"),
     None, {"core": ["ADR-0100 changed"]}, []),
    ("ADR rule with no module scope", adr("rules:\n  - kind: allowed_dependencies\n"
                                          "    packages: [pytest]\n"), "has no scope", {}, []),
]


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> Path:
    root = make_workspace(tmp_path_factory.mktemp("selection"))
    with in_process_env(venv_cache):
        assert regenerate(load_workspace(root), reason="release 1").status == "promoted"
    return root


@pytest.mark.parametrize(("change", "full", "seeds", "unplaced"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_change_selects_the_groups_it_touches(released: Path, tmp_path: Path,
                                                change: Callable[[Path], None], full: str | None,
                                                seeds: dict[str, list[str]],
                                                unplaced: list[str]) -> None:
    root = tmp_path / "ws"
    shutil.copytree(released, root, symlinks=True)
    change(root)
    choice = choose(load_workspace(root))
    if full is not None:
        assert choice.selection is None and full in (choice.full_reason or ""), choice.full_reason
        return
    assert choice.selection is not None, choice.full_reason
    assert choice.selection.seeds == seeds
    assert choice.selection.unplaced == unplaced


def test_full_flag_and_dry_run_estimate(released: Path) -> None:
    ws = load_workspace(released)
    assert choose(ws, full=True).full_reason == "--full was given"
    assert "no input changed since r0001" in (choose(ws).full_reason or "")
    (released / "genops.toml").write_text((released / "genops.toml").read_text()
                                          .replace("per_month_usd = 200.0", "per_month_usd = 300.0"))
    nothing = estimate(load_workspace(released), choose(load_workspace(released)))
    assert nothing["mode"] == "selective" and nothing["groups"] == {}
    assert nothing["estimated_usd"] == 0 and nothing["full_usd"] > 0
