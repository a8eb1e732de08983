"""A hostile model against the path policy, the seal and promotion's git hygiene.

Every attack answer goes through `regenerate` with the scripted fake provider on a copy of one
prepared workspace (release r0001 promoted). Each must be refused with exit 2, the refused block
and path named, `generated/` and everything outside `.genops/runs` unchanged (the ledger and the
response archive record the paid calls by design), no new commit or tag, and the run marked
failed rather than left at `synthesizing`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import git
import pytest
from release_helpers import (
    clean_env,
    commit_all,
    genops,
    in_process_env,
    make_louder,
    make_workspace,
    manifest,
    output_hash,
    script_model,
    tags,
    tree_files,
    workspace,
)

from genops.errors import GenopsError
from genops.gates.base import GateContext, GateResult
from genops.gates.paths import PathsGate, path_findings
from genops.pathpolicy import PathPolicy, PathRefused
from genops.release.pipeline import regenerate
from genops.release.promote import journal_path, recover_interrupted
from genops.release.runs import list_runs
from genops.release.seal import SealBroken
from genops.release.staging import StagingError, stage_tree
from genops.store.tree import hash_tree
from genops.testing.snapshot import workspace_files

GOOD = tree_files()


def _block(path: str, text: str = "x = 1\n") -> str:
    return f'<file path="{path}">\n{text}</file>\n'


def _core_with(*extra: str) -> str:
    """The core group's answer (blocks 1 and 2 good) with hostile blocks from block 3 on."""
    good = _block("hello/__init__.py", GOOD["hello/__init__.py"]) + _block(
        "pyproject.toml", GOOD["pyproject.toml"])
    return good + "".join(extra)


# name -> (core group answer, the path the refusal must name, words the message must hold)
ATTACKS: dict[str, tuple[str, str, str]] = {
    "git-config": (_core_with(_block(".git/config", "[core]\n\tfsmonitor = touch /tmp/x\n")),
                   ".git/config", "ignores"),
    "git-hook": (_core_with(_block(".git/hooks/post-commit", "#!/bin/sh\ntouch pwned\n")),
                 ".git/hooks/post-commit", "ignores"),
    "genops-state": (_core_with(_block(".genops/releases/r0001/manifest.json", "{}\n")),
                     ".genops/releases/r0001/manifest.json", "ignores"),
    "nested-node-modules": (_core_with(_block("x/node_modules/bad.py")),
                            "x/node_modules/bad.py", "ignores"),
    "venv": (_core_with(_block("venv/evil.py")), "venv/evil.py", "ignores"),
    "pycache": (_core_with(_block("hello/__pycache__/evil.py")), "hello/__pycache__/evil.py",
                "ignores"),
    "egg-info": (_core_with(_block("hello.egg-info/PKG-INFO", "Name: evil\n")),
                 "hello.egg-info/PKG-INFO", "ignores"),
    "top-build": (_core_with(_block("build/lib/hello/__init__.py")),
                  "build/lib/hello/__init__.py", "ignores"),
    "hidden-dir": (_core_with(_block(".hidden/x.py")), ".hidden/x.py", "hidden"),
    "gitignore": (_core_with(_block(".gitignore", "*.py\n")), ".gitignore", "hidden"),
    "reserved-con": (_core_with(_block("con.py")), "con.py", "reserved"),
    "reserved-aux": (_core_with(_block("aux")), "aux", "reserved"),
    "reserved-lpt9-case": (_core_with(_block("hello/LPT9.txt")), "hello/LPT9.txt", "reserved"),
    "trailing-dot-space": (_core_with(_block("hello/name. ")), "hello/name. ", "dot or a space"),
    "bidi-override": (_core_with(_block("a\u202eb.py")), "a\u202eb.py", "U+202E"),
    "zero-width": (_core_with(_block("hello/a\u200bb.py")), "hello/a\u200bb.py", "U+200B"),
    "long-name": (_core_with(_block("hello/" + "n" * 300 + ".py")), "hello/" + "n" * 300 + ".py",
                  "bytes"),
    "long-path": (_core_with(_block("/".join(["d" * 100] * 11) + "/x.py")),
                  "/".join(["d" * 100] * 11) + "/x.py", "bytes"),
    "oversized": (_core_with(_block("hello/big.py", "x = 1\n" * 350_000)), "hello/big.py",
                  "max_file_bytes"),
    "file-dir-clash": (_core_with(_block("pyproject.toml/evil.py")), "pyproject.toml",
                       "pyproject.toml/evil.py"),
}


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> Path:
    """A workspace with release r0001 promoted (copied by each test)."""
    base = tmp_path_factory.mktemp("pathpolicy-base")
    with in_process_env(venv_cache):
        root = make_workspace(base)
        regenerate(workspace(root), reason="first")
    return root


def _copy(root: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(root, dest, symlinks=True)
    return dest


def _script_hostile(root: Path, answer: str) -> None:
    """A hostile model: the core group answers `answer`, and repeats it when asked to repair."""
    toml = root / "genops.toml"  # room for a 2 MiB answer in one response (no truncation)
    toml.write_text(re.sub(r"max_output_tokens = \d+", "max_output_tokens = 1000000",
                           toml.read_text(encoding="utf-8")), encoding="utf-8")
    script_model(root, core_reply=answer)
    replies_path = root / ".genops" / "fake-responses.json"
    replies = json.loads(replies_path.read_text(encoding="utf-8"))
    replies["Send the complete answer for group 'core' again"] = answer
    replies_path.write_text(json.dumps(replies), encoding="utf-8")
    commit_all(root, "script a hostile model")


def _outside_runs(root: Path) -> dict[str, bytes]:
    """Every file outside .genops/runs, the ledger and the archive (those record paid calls)."""
    return workspace_files(root, (".git/", ".genops/runs/", ".genops/ledger.db", ".genops/archive/"))


def _refs(root: Path) -> tuple[str, list[str]]:
    return git.Repo(root).head.commit.hexsha, tags(root)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_hostile_answer_is_refused(released: Path, tmp_path: Path, attack: str) -> None:
    root = _copy(released, tmp_path)
    answer, path, why = ATTACKS[attack]
    _script_hostile(root, answer)
    before, tree, refs = _outside_runs(root), output_hash(root), _refs(root)
    with pytest.raises(GenopsError) as refused:
        regenerate(workspace(root), reason=attack)
    message = str(refused.value)
    assert refused.value.exit_code == 2, message
    assert "block " in message and repr(path) in message and why in message, message
    assert output_hash(root) == tree
    assert _outside_runs(root) == before
    assert _refs(root) == refs
    assert not list((root / ".genops/runs").glob("*/staged"))
    assert [r.stage for r in list_runs(root)][-1] == "failed"


@pytest.mark.parametrize("attack", ["git-config", "file-dir-clash", "bidi-override"])
def test_hostile_answer_through_the_cli(released: Path, tmp_path: Path, attack: str) -> None:
    root = _copy(released, tmp_path)
    _script_hostile(root, ATTACKS[attack][0])
    before = _outside_runs(root)
    cli = genops(root, "regenerate", "--reason", attack)
    assert cli.returncode == 2, cli.stderr
    assert "error:" in cli.stderr and ("block 3" in cli.stderr or "block 2" in cli.stderr)
    assert _outside_runs(root) == before
    assert not (root / "generated/.git").exists()


class _Tamper:
    """A gate that rewrites the staged tree behind the other gates' backs, then passes."""

    name = "tamper"

    def __init__(self, write: Callable[[Path], None]) -> None:
        self.write = write

    def check(self, ctx: GateContext) -> GateResult:
        self.write(ctx.staged)
        return GateResult(self.name, "pass", "looked harmless")


def _edit(staged: Path) -> None:
    (staged / "hello/__init__.py").write_text("import os\n", encoding="utf-8")


def _plant_git(staged: Path) -> None:
    (staged / ".git").mkdir()
    (staged / ".git/config").write_text("[core]\n\tfsmonitor = touch pwned\n", encoding="utf-8")


@pytest.mark.parametrize(("tamper", "named"), [(_edit, "hello/__init__.py"),
                                                (_plant_git, ".git/config")])
def test_tree_changed_during_the_gates_fails_the_run(
        released: Path, tmp_path: Path, tamper: Callable[[Path], None], named: str) -> None:
    root = _copy(released, tmp_path)
    make_louder(root)
    before, tree, refs = _outside_runs(root), output_hash(root), _refs(root)
    with pytest.raises(SealBroken) as broken:
        regenerate(workspace(root), reason="tamper", gates=[PathsGate(), _Tamper(tamper)])
    assert broken.value.exit_code == 1
    assert named in str(broken.value) and named in broken.value.paths
    assert output_hash(root) == tree and _outside_runs(root) == before and _refs(root) == refs
    assert [r.stage for r in list_runs(root)][-1] == "gates_failed"


@pytest.mark.parametrize("point", ["after-journal", "after-trash"])
def test_tree_changed_before_the_swap_abandons_the_promotion(
        released: Path, tmp_path: Path, venv_cache: Path, point: str) -> None:
    """Killed before the swap, the staged tree is edited; recovery refuses to swap it in and
    puts the old tree back (after-trash: generated/ had already been moved aside)."""
    root = _copy(released, tmp_path)
    make_louder(root)
    tree, refs = output_hash(root), _refs(root)
    killed = genops(root, "regenerate", "--reason", "r", env=clean_env(
        GENOPS_CRASH_AT=point, GENOPS_VENV_CACHE=str(venv_cache)))
    assert killed.returncode == 137, killed.stderr
    staged = next((root / ".genops/runs").glob("*/staged"))
    (staged / "hello/evil.py").write_text("import os\n", encoding="utf-8")
    with pytest.raises(SealBroken) as broken:
        recover_interrupted(root)
    assert broken.value.exit_code == 1 and "hello/evil.py" in str(broken.value)
    assert output_hash(root) == tree and _refs(root) == refs
    assert not journal_path(root).exists()
    assert recover_interrupted(root) is None  # the workspace is usable again


def test_manifest_records_the_gated_tree(released: Path) -> None:
    recorded = manifest(released, "r0001")["output"]
    assert recorded["gated_tree_sha256"] == recorded["tree_sha256"] == hash_tree(
        released / "generated")


HOOKS = ("post-commit", "reference-transaction", "post-index-change", "pre-commit",
         "commit-msg", "post-rewrite")


def test_planted_hooks_never_run_during_promotion(released: Path, tmp_path: Path) -> None:
    root = _copy(released, tmp_path)
    marker = tmp_path / "hook-ran"
    for hook in HOOKS:
        script = root / ".git/hooks" / hook
        script.write_text(f"#!/bin/sh\necho {hook} >> {marker}\n", encoding="utf-8")
        script.chmod(0o755)
    make_louder(root)
    marker.unlink(missing_ok=True)  # the test's own commit above ran them: they are live
    outcome = regenerate(workspace(root), reason="hooks")
    assert outcome.status == "promoted" and tags(root) == ["genops/r0001", "genops/r0002"]
    assert not marker.exists(), marker.read_text()
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "x"], cwd=root, check=True,
                   env=clean_env())
    assert "post-commit" in marker.read_text()  # and still live outside genops


def _allow(root: Path, line: str) -> None:
    """Add a `[project]` setting to genops.toml."""
    path = root / "genops.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[project]\n", f"[project]\n{line}\n", 1), encoding="utf-8")


def test_allowed_gitignore_cannot_hide_release_files(tmp_path: Path) -> None:
    """With `.gitignore` allowed, promotion still tracks every manifest file (git add -f)."""
    root = make_workspace(tmp_path, strategy="single")
    _allow(root, 'allow_hidden = [".gitignore"]')
    script_model(root, {**GOOD, ".gitignore": "*.py\n*.toml\n"})
    commit_all(root, "allow a .gitignore")
    regenerate(workspace(root), reason="first")
    listed = set(manifest(root, "r0001")["output"]["files"])
    tracked = set(git.Repo(root).git.ls_files("generated").splitlines())
    assert ".gitignore" in listed and {f"generated/{p}" for p in listed} == tracked
    clone = tmp_path / "clone"
    git.Repo.clone_from(root, clone)
    checked = genops(clone, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr


LEFTOVERS = ("hello.egg-info/PKG-INFO", "hello.egg-info/SOURCES.txt", "build/lib/hello/x.py",
             "dist/hello-0.1.0.tar.gz", ".pytest_cache/v/cache/nodeids", ".coverage",
             "htmlcov/index.html", "hello/__pycache__/__init__.cpython-311.pyc", ".DS_Store")


def _leave_leftovers(root: Path) -> None:
    for rel in LEFTOVERS:
        (root / "generated" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "generated" / rel).write_text("leftover\n", encoding="utf-8")


def test_build_leftovers_are_not_drift_and_never_committed(released: Path, tmp_path: Path,
                                                            venv_cache: Path) -> None:
    """As after `cd generated && pip install -e .`, with a .gitignore that lists none of it."""
    root = _copy(released, tmp_path)
    (root / ".gitignore").write_text(".genops/ledger.db*\n.genops/runs/\n.genops/cache/\n"
                                     ".genops/trash/\n.genops/venvs/\n.genops/promote.*\n",
                                     encoding="utf-8")
    make_louder(root)
    _leave_leftovers(root)
    checked = genops(root, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "egg-info" not in checked.stdout + checked.stderr
    # Regenerate is not refused for them; killed right after the swap, leftovers appear in the
    # new tree, and recovery's commit still holds exactly the manifest's files.
    killed = genops(root, "regenerate", "--reason", "r", env=clean_env(
        GENOPS_CRASH_AT="after-swap", GENOPS_VENV_CACHE=str(venv_cache)))
    assert killed.returncode == 137, killed.stderr
    _leave_leftovers(root)
    assert recover_interrupted(root) is not None
    listed = set(manifest(root, "r0002")["output"]["files"])
    tracked = set(git.Repo(root).git.ls_files("generated").splitlines())
    assert {f"generated/{p}" for p in listed} == tracked
    assert genops(root, "check").returncode == 0


def test_init_gitignore_lists_the_leftovers(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    lines = (root / ".gitignore").read_text(encoding="utf-8").splitlines()
    for line in ("*.egg-info/", "build/", "dist/", ".pytest_cache/", ".coverage", "htmlcov/"):
        assert line in lines


# The policy itself, as a table: (path, allow_hidden, refused rule or None when accepted).
POLICY_TABLE = [
    ("mad/bus.py", (), None),
    ("./mad/bus.py", (), None),
    ("mad/build/x.py", (), None),  # build/ is a leftover only at the top of the tree
    ("mad/console.py", (), None),  # 'console' is not 'con'
    ("mad/CON.tar.gz", (), "reserved"),
    ("Com1", (), "reserved"),
    ("mad/nul .txt", (), "reserved"),
    ("dist/x.py", (), "ignored"),
    ("a/.tox/x", (), "ignored"),
    ("a/b.pyc", (), "ignored"),
    (".coverage", (), "ignored"),
    (".github/workflows/ci.yml", (), "hidden"),
    (".github/workflows/ci.yml", (".github",), None),
    (".gitignore", (".github",), "hidden"),
    ("x/.env", (), "hidden"),
    ("a\tb.py", (), "character"),
    ("a\u2066b.py", (), "character"),
    ("a\u2028b.py", (), "character"),
    ("name.", (), "trailing"),
    ("dir /x.py", (), "trailing"),
    ("é" * 128 + ".py", (), "too-long"),  # 128 characters but 259 bytes
    ("../x.py", (), "syntax"),
    ("C:/x.py", (), "syntax"),
]


@pytest.mark.parametrize(("path", "allow", "rule"), POLICY_TABLE)
def test_path_policy_table(path: str, allow: tuple[str, ...], rule: str | None) -> None:
    policy = PathPolicy(allow_hidden=frozenset(allow))
    if rule is None:
        assert policy.check(path) == path.removeprefix("./")
        return
    with pytest.raises(PathRefused) as refused:
        policy.check(path)
    assert refused.value.rule == rule


def test_paths_gate_applies_the_policy_to_the_tree_on_disk(tmp_path: Path) -> None:
    """Whatever put them there, refused names in a staged tree fail the paths gate."""
    for rel in ("ok/a.py", ".git/config", "x/node_modules/m.js", ".hidden/x.py", "aux.txt",
                "big.bin"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n", encoding="utf-8")
    (tmp_path / "big.bin").write_bytes(b"0" * 2048)
    findings = path_findings(tmp_path, PathPolicy(max_file_bytes=1024))
    assert {(f.file, f.rule) for f in findings} == {
        (".git", "policy/ignored"), ("x/node_modules", "policy/ignored"),
        (".hidden", "policy/hidden"), ("aux.txt", "policy/reserved"), ("big.bin", "policy/size")}


def test_staging_names_both_paths_of_a_clash(tmp_path: Path) -> None:
    with pytest.raises(StagingError) as refused:
        stage_tree({"a/b": "x\n", "a/b/c.py": "y\n"}, [], run_dir=tmp_path / "run")
    assert "'a/b'" in str(refused.value) and "'a/b/c.py'" in str(refused.value)
    assert not (tmp_path / "run" / "staged").exists()


@pytest.mark.parametrize("setting", ['allow_hidden = [".git"]', 'allow_hidden = ["github"]',
                                     'allow_hidden = [".venv"]', "max_file_bytes = 0"])
def test_bad_policy_settings_are_refused(tmp_path: Path, setting: str) -> None:
    root = make_workspace(tmp_path)
    _allow(root, setting)
    result = genops(root, "regenerate", "--dry-run")
    assert result.returncode == 2 and "genops.toml" in result.stderr, result.stderr
