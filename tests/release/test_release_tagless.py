"""Releases without tags: log, diff, check, replay and rollback in clones that have no tags.

CI clones often have no tags (`git clone --no-tags`, actions/checkout) and are often shallow
(`--depth 1`). A release is found from its manifest and its commit's `Genops-Release` trailer;
tags are a convenience. Where the release commit is not in the clone at all, the command says so
(exit 2, with how to fetch it), and never silently diffs against another commit.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from release_helpers import (
    clean_env,
    commit_all,
    genops,
    in_process_env,
    make_louder,
    make_workspace,
    manifest,
    tags,
    workspace,
)

from genops.release.pipeline import regenerate
from genops.testing.snapshot import workspace_files


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> Path:
    """A workspace with r0001 and r0002 (a spec change: the greeting gets louder)."""
    base = tmp_path_factory.mktemp("tagless")
    with in_process_env(venv_cache):
        root = make_workspace(base)
        regenerate(workspace(root), reason="first")
        make_louder(root)
        regenerate(workspace(root), reason="louder")
    assert tags(root) == ["genops/r0001", "genops/r0002"]
    return root


def clone(source: Path, dest: Path, *flags: str) -> Path:
    url = source.as_uri() if "--depth" in " ".join(flags) else str(source)
    subprocess.run(["git", "clone", "-q", *flags, url, str(dest)], check=True)
    assert tags(dest) == []
    return dest


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file but git's own, the runs folder and the semantic-diff parse cache."""
    return workspace_files(root, (".git/", ".genops/runs/", ".genops/cache/"))


def ok_json(root: Path, *args: str, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    done = genops(root, *args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    data: dict = json.loads(done.stdout)  # type: ignore[type-arg]
    return data


@pytest.fixture(scope="module")
def no_tags(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clone(released, tmp_path_factory.mktemp("no-tags") / "c", "--no-tags")


def test_log_diff_and_check_need_no_tags(no_tags: Path) -> None:
    before = snapshot(no_tags)
    log = genops(no_tags, "log", "--json")
    assert log.returncode == 0, log.stderr
    assert [e["release"] for e in json.loads(log.stdout)["releases"]] == ["r0002", "r0001"]
    current = ok_json(no_tags, "diff", "--format", "json")
    assert current["old"] == "r0002" and current["changes"] == []
    old = ok_json(no_tags, "diff", "r0001", "generated", "--format", "json")
    assert old["old"] == "r0001" and old["stats"]["files_textually_changed"] >= 1
    assert any(c["kind"] == "body_changed" and c["path"] == "hello.greet"
               for c in old["changes"])
    assert ok_json(no_tags, "diff", "r0001", "r0002", "--format", "json")["changes"] \
        == old["changes"]
    default = ok_json(no_tags, "check", "--format", "json")
    policy = next(r for r in default["results"] if r["gate"] == "diff_policy")
    assert default["base"] == "r0001" and "judged" not in policy["summary"]
    explicit = ok_json(no_tags, "check", "--base", "r0001", "--format", "json")
    assert explicit["base"] == "r0001" and explicit["passed"]
    assert snapshot(no_tags) == before and tags(no_tags) == []


def test_replay_needs_no_tags(no_tags: Path) -> None:
    result = genops(no_tags, "replay", "r0002", "--no-gates", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout[result.stdout.index("{\n"):])  # after the event lines
    assert data["reproduced"] is True and data["first_difference"] is None


def test_rollback_needs_no_tags(released: Path, tmp_path: Path, venv_cache: Path) -> None:
    root = clone(released, tmp_path / "c", "--no-tags")
    result = genops(root, "rollback", "r0001", "--json",
                    env=clean_env(GENOPS_VENV_CACHE=str(venv_cache)))
    assert result.returncode == 0, result.stdout + result.stderr
    made = manifest(root, "r0003")
    assert made["kind"] == "rollback" and made["rollback_of"] == "r0001"
    assert made["output"]["tree_sha256"] == manifest(root, "r0001")["output"]["tree_sha256"]


def test_shallow_clone_judges_the_recorded_diff_and_refuses_a_missing_commit(
        released: Path, tmp_path: Path) -> None:
    root = clone(released, tmp_path / "c", "--no-tags", "--depth", "1")
    before = snapshot(root)
    assert ok_json(root, "diff", "--format", "json")["old"] == "r0002"
    default = ok_json(root, "check", "--format", "json")
    policy = next(r for r in default["results"] if r["gate"] == "diff_policy")
    assert "the commit of r0001 is not in this clone; judged diffs/r0002.json" in policy["summary"]
    for args in (["diff", "r0001", "generated"], ["check", "--base", "r0001"]):
        refused = genops(root, *args)
        flat = " ".join(refused.stderr.split())
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert "release r0001 has a manifest, but the commit that made it is not in this " \
               "clone's history" in flat and "git fetch --unshallow" in flat
        assert "Traceback" not in refused.stderr
    assert snapshot(root) == before


def test_shallow_clone_whose_head_is_a_later_plain_commit(released: Path, tmp_path: Path) -> None:
    source = clone(released, tmp_path / "source", "--no-tags")
    (source / "NOTES.md").write_text("a note after the release\n", encoding="utf-8")
    commit_all(source, "docs: a note (no release trailer)")
    root = clone(source, tmp_path / "c", "--no-tags", "--depth", "1")
    assert ok_json(root, "diff", "r0002", "generated", "--format", "json")["changes"] == []
    assert ok_json(root, "check", "--base", "r0002", "--format", "json")["passed"]
