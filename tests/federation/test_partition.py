"""Partition planning: synthetic graphs (table-driven) and one real tree; never a write."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from genops.federation.partition import Graph, make_plan, partition
from genops.testing.snapshot import workspace_files


def graph(tokens: dict[str, int], imports: list[tuple[str, str]]) -> Graph:
    g = Graph(dict(tokens))
    for a, b in imports:
        g.names[(a, b)] = {"x"}
        g.add(a, b, 1)
    for rel in tokens:
        g.folder[rel] = rel.rsplit("/", 1)[0] if "/" in rel else "."
    return g


CASES = [
    # two tight pairs joined by one edge: the cut is that edge
    ({"a.py": 10, "b.py": 10, "c.py": 10, "d.py": 10},
     [("a.py", "b.py"), ("b.py", "a.py"), ("c.py", "d.py"), ("d.py", "c.py"), ("b.py", "c.py")],
     25, [["a.py", "b.py"], ["c.py", "d.py"]]),
    # everything fits: one part
    ({"a.py": 10, "b.py": 10, "c.py": 10}, [("a.py", "b.py"), ("b.py", "c.py")], 100,
     [["a.py", "b.py", "c.py"]]),
    # a package folder moves whole
    ({"p/x.py": 10, "p/y.py": 10, "q.py": 10}, [("q.py", "p/x.py")], 20,
     [["p/x.py", "p/y.py"], ["q.py"]]),
    # an import cycle is never cut, even over the cap
    ({"a.py": 30, "b.py": 30, "c.py": 5}, [("a.py", "b.py"), ("b.py", "a.py")], 40,
     [["a.py", "b.py"], ["c.py"]]),
    # a test goes with the code it imports
    ({"a.py": 10, "b.py": 10, "tests/test_a.py": 5}, [("tests/test_a.py", "a.py")], 16,
     [["a.py", "tests/test_a.py"], ["b.py"]]),
]


@pytest.mark.parametrize(("tokens", "imports", "cap", "expected"), CASES)
def test_partition_table(tokens: dict[str, int], imports: list[tuple[str, str]], cap: int,
                         expected: list[list[str]]) -> None:
    parts = partition(graph(tokens, imports), cap)
    assert sorted(parts) == sorted(expected)
    assert partition(graph(tokens, imports), cap) == parts  # deterministic


TREE = {
    "app/__init__.py": "",
    "app/core/__init__.py": "",
    "app/core/bus.py": '"""REQ-BUS-1."""\n\n\nclass Bus:\n    pass\n\n\nclass Message:\n'
                       '    pass\n' + "# filler\n" * 200,
    "app/users/__init__.py": "",
    "app/users/api.py": "from app.core.bus import Bus, Message\n\n\ndef create():\n"
                        '    """REQ-USER-1."""\n    return Bus()\n' + "# filler\n" * 200,
    "app/orders/__init__.py": "",
    "app/orders/api.py": "from app.core.bus import Bus\nfrom app.users.api import create\n"
                         + "# filler\n" * 200,
    "pyproject.toml": "[project]\nname = 'app'\n",
}


def test_real_tree_plan_and_cli_never_write(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    subprocess.run([sys.executable, "-m", "genops.cli.main", "init", str(root), "--provider",
                    "fake", "--no-git"], check=True, capture_output=True)
    for rel, text in TREE.items():
        path = root / "generated" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    plan = make_plan(root / "generated", 2000, 0.5)
    assert plan.tokens > plan.cap and len(plan.parts) >= 2 and not plan.over
    provided = {m: n for p in plan.parts for m, n in p.provides.items()}
    assert "Bus" in provided.get("app/core/bus.py", [])
    assert plan.cut_edges >= 1 and plan.shared == ["pyproject.toml"]
    before = workspace_files(root, (".genops/cache/",))
    done = subprocess.run([sys.executable, "-m", "genops.cli.main", "partition", "--plan",
                           "--window", "2000", "--json"], cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["cap_tokens"] == 1000 and all(p["tokens"] <= 1000 for p in data["parts"])
    assert workspace_files(root, (".genops/cache/",)) == before
    refused = subprocess.run([sys.executable, "-m", "genops.cli.main", "partition", "--plan",
                              "--window", "2000", "--output", "generated/plan.toml"], cwd=root,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and workspace_files(root, (".genops/cache/",)) == before
