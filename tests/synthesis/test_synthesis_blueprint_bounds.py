"""A blueprint is bounded (groups, files per group, depth) and checked without recursion.

A hostile or confused model answering 10,000 groups, a 10,000-long dependency cycle or JSON nested
100,000 deep gets a BlueprintError (repairable, exit 2), quickly, and no group request is sent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from synth_helpers import BLUEPRINT, demo_responder, kind_of, make_client, write_workspace

from genops.errors import ExitCode
from genops.calls import CompletionRequest
from genops.providers.fake import FakeProvider
from genops.protocol.blueprint_json import BlueprintError
from genops.synthesis.blueprint import BlueprintLimits, parse_blueprint
from genops.synthesis.engine import synthesize

WIDE = BlueprintLimits(max_groups=20_000, max_files_per_group=64, max_depth=20_000)


def groups(n: int, *, deps: str = "none", files: int = 1) -> str:
    """A blueprint of `n` groups: independent, a chain, or a chain closed into a cycle."""
    items = []
    for i in range(n):
        depends = [] if deps == "none" or i == 0 and deps == "chain" else [f"g{(i - 1) % n}"]
        items.append({"name": f"g{i}", "files": [f"p{i}/f{j}.py" for j in range(files)],
                      "depends_on": depends})
    return json.dumps({"groups": items})


# (case, answer, limits, words in the error)
REFUSED = [
    ("10,000 groups", groups(10_000), None, "10000 groups; at most 64"),
    ("65 files in a group", groups(1, files=65), None, "65 files; at most 64"),
    ("17 levels deep", groups(17, deps="chain"), None, "17 levels deep; at most 16"),
    ("bounds from the caller", groups(5), BlueprintLimits(max_groups=4), "at most 4"),
    ("3-cycle", groups(3, deps="cycle"), None, "cycle: g0 -> g2 -> g1 -> g0"),
    ("10,000-long cycle", groups(10_000, deps="cycle"), WIDE, "(10000 groups)"),
    ("5,000-long chain", groups(5_000, deps="chain"), BlueprintLimits(20_000, 64, 100),
     "5000 levels deep"),
    ("JSON nested 100,000 deep", '{"groups": ' + "[" * 100_000 + "]" * 100_000 + "}", None,
     "nested too deeply"),
    ("a group nested 100,000 deep", '{"groups": [{"name": "a", "files": '
     + "[" * 100_000 + "]" * 100_000 + "}]}", None, "nested too deeply"),
]


@pytest.mark.parametrize("case,answer,limits,words", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_quickly_with_a_clear_error(case: str, answer: str,
                                            limits: BlueprintLimits | None, words: str) -> None:
    started = time.monotonic()
    with pytest.raises(BlueprintError) as info:
        parse_blueprint(answer, limits=limits)
    assert words in info.value.message
    assert info.value.exit_code == ExitCode.USAGE
    assert time.monotonic() - started < 5


def test_a_long_chain_within_the_bounds_is_levelled_without_recursion() -> None:
    blueprint = parse_blueprint(groups(3_000, deps="chain"), limits=WIDE)
    levels = blueprint.levels()
    assert len(levels) == 3_000 and levels[-1][0].name == "g2999"
    assert [g.name for g in blueprint.closure("g3")] == ["g0", "g1", "g2"]


def test_engine_refuses_a_huge_blueprint_before_any_group_request(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", max_output=400_000)  # the whole answer arrives
    sent: list[str] = []

    def respond(request: CompletionRequest) -> str:
        sent.append(kind_of(request))
        return groups(10_000)

    client = make_client(ws, {"senior": FakeProvider(responder=respond)})
    started = time.monotonic()
    with pytest.raises(BlueprintError) as info:
        synthesize(ws, client=client, rungs=ws.config.rung_models()[:1], previous_tree=None,
                   run_dir=ws.root / ".genops" / "runs" / "run-1")
    assert "[synthesis] max_groups" in info.value.message
    assert sent == ["blueprint", "repair"]  # one repair (max_repairs = 1), no group request
    assert time.monotonic() - started < 10
    requests = list((ws.root / ".genops" / "runs" / "run-1").rglob("*"))
    assert sum(p.stat().st_size for p in requests if p.is_file()) < 5_000_000


def test_bounds_come_from_genops_toml(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ws = write_workspace(root)
    toml = (root / "genops.toml").read_text(encoding="utf-8")
    (root / "genops.toml").write_text(toml.replace("max_repairs = 1", "max_repairs = 0\n"
                                                   "max_groups = 3"), encoding="utf-8")
    from genops.workspace import load_workspace

    ws = load_workspace(root)
    client = make_client(ws, {"senior": FakeProvider(responder=demo_responder())})
    with pytest.raises(BlueprintError) as info:
        synthesize(ws, client=client, rungs=ws.config.rung_models()[:1], previous_tree=None,
                   run_dir=root / ".genops" / "runs" / "run-1")
    assert f"{len(BLUEPRINT['groups'])} groups; at most 3" in info.value.message


def test_cli_refuses_a_huge_blueprint_with_exit_2_and_promotes_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    from genops.workspace.scaffold import init_workspace

    root = init_workspace(tmp_path / "ws", name="hello", provider="fake", git=True).root
    toml = (root / "genops.toml").read_text(encoding="utf-8")
    toml = toml.replace('rungs = ["senior", "fallback"]', 'rungs = ["senior"]')
    (root / "genops.toml").write_text(toml.replace("max_output_tokens = 32000",
                                                   "max_output_tokens = 400000", 1),
                                      encoding="utf-8")
    (root / ".genops" / "fake-responses.json").write_text(json.dumps({"": groups(10_000)}),
                                                           encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "hostile model"], cwd=root, check=True)
    tree = sorted(p.relative_to(root) for p in (root / "generated").rglob("*"))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "genops.cli.main", "regenerate"], cwd=root,
                          capture_output=True, text=True, timeout=300)
    flat = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "10000 groups; at most 64 are allowed ([synthesis] max_groups)" in flat
    assert "Traceback" not in done.stderr and time.monotonic() - started < 60
    assert sorted(p.relative_to(root) for p in (root / "generated").rglob("*")) == tree
    assert not list((root / ".genops" / "releases").glob("r*"))
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    # Only the run folder, the local ledger and the response archive (every answer is archived
    # before it is parsed) may change; nothing reaches the tree, diffs or releases.
    assert all(line[3:].startswith((".genops/runs/", ".genops/archive/", ".genops/ledger"))
               for line in status), status
