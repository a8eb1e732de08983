"""Context selection: which files a patch request shows in full, and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from genops.patch.context import select_context

TREE = {
    "pkg/__init__.py": '"""Package."""\n',
    "pkg/bus.py": '"""REQ-BUS-1."""\n\n\nclass Bus:\n    def publish(self) -> None:\n        pass\n',
    "pkg/fiedler.py": '"""Fiedler."""\nfrom pkg.bus import Bus\n\n\ndef retry_call() -> Bus:\n    return Bus()\n',
    "pkg/rogers.py": '"""Rogers."""\nfrom pkg import fiedler\n\nX = 1\n',
    "pkg/turing.py": '"""Turing."""\n\n\ndef secret() -> str:\n    return "s"\n',
    "tests/test_bus.py": '"""REQ-BUS-1."""\nfrom pkg.bus import Bus\n\n\ndef test_bus():\n    Bus()\n',
}

CASES = [
    ("path", "fix pkg/turing.py", [("pkg/turing.py", "named in the instruction")]),
    ("traceback", 'File "/tmp/x/generated/pkg/turing.py", line 4, in secret',
     [("pkg/turing.py", "named in the instruction")]),
    ("dotted", "pkg.turing.secret returns the wrong thing", [("pkg/turing.py", "named in the instruction")]),
    ("symbol", "secret() should return 't'", [("pkg/turing.py", "defines 'secret'")]),
    ("module-word", "the retry bug in Fiedler",
     [("pkg/fiedler.py", "defines 'Fiedler'"),
      ("pkg/rogers.py", "imports pkg/fiedler.py"), ("pkg/bus.py", "imported by pkg/fiedler.py")]),
    ("requirement", "REQ-BUS-1 is not met",
     [("pkg/bus.py", "names REQ-BUS-1"), ("tests/test_bus.py", "names REQ-BUS-1"),
      ("pkg/fiedler.py", "imports pkg/bus.py")]),
    ("nothing", "make it nicer", []),
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    for rel, text in TREE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize("name,text,expected", CASES, ids=[c[0] for c in CASES])
def test_selection_and_reasons(tree: Path, name: str, text: str,
                               expected: list[tuple[str, str]]) -> None:
    selection = select_context(text, TREE, root=tree, budget_tokens=10_000)
    assert [(c.path, c.reason) for c in selection.chosen] == expected
    for path in TREE:  # every file not shown in full is in the map (if it has public API)
        if path not in selection.paths and path.endswith(".py") and "def " in TREE[path]:
            assert f"({path})" in selection.map_text


def test_budget_leaves_files_to_the_map(tree: Path) -> None:
    selection = select_context("REQ-BUS-1", TREE, root=tree, budget_tokens=30)
    assert selection.tokens <= 30 and selection.skipped
    assert all(s.path not in selection.paths for s in selection.skipped)
