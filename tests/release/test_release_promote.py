"""End to end: the real synthesis engine, the fake provider, real git, real gates, real promotion."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest
from release_helpers import (
    change_spec,
    genops,
    make_louder,
    make_workspace,
    manifest,
    output_hash,
    paid_keys,
    script_model,
    tags,
    tree_files,
    workspace,
)

from genops.errors import ExitCode, GateFailed, UsageError
from genops.gates.sandbox import probe
from genops.release.history import release_log, rollback
from genops.release.pipeline import regenerate, resume
from genops.store.tree import hash_tree
from genops.store.tree import tree_files as hashed_files

MANIFEST_KEYS = {"release", "parent", "kind", "reason", "genops_version", "created", "run",
                 "inputs", "config", "prices_sha256", "models", "calls", "totals", "output",
                 "gates", "dependencies", "blueprint", "diff", "touches", "flags"}


def _owned_status(root: Path) -> str:
    return git.Repo(root).git.status("--porcelain", "--", "generated", "diffs", ".genops/releases")


def test_regenerate_promotes_a_complete_release(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    outcome = regenerate(workspace(root), reason="first synthesis")
    assert outcome.status == "promoted" and outcome.release is not None
    assert outcome.release.release == "r0001"
    m = manifest(root, "r0001")
    assert MANIFEST_KEYS <= set(m)
    assert (m["release"], m["parent"], m["kind"], m["reason"]) == ("r0001", None, "regenerate",
                                                                  "first synthesis")
    assert m["output"]["tree_sha256"] == output_hash(root)
    assert m["output"]["files"] == hashed_files(root / "generated")
    assert set(m["output"]["files"]) == set(tree_files())
    assert m["inputs"] == workspace(root).input_hashes()
    assert {"specs/requirements.md", "genops.toml"} <= set(m["inputs"])
    assert m["config"]["sections"]["models"]["senior"]["model"] == "fake-1"
    assert len(m["prices_sha256"]) == 64
    (model,) = m["models"]
    assert (model["rung"], model["provider"], model["model"]) == ("senior", "fake", "fake-1")
    assert model["sampling"]["temperature"] == 0.0 and model["sampling"]["max_output_tokens"]
    assert [c["label"] for c in m["calls"]] == ["blueprint", "core", "tests"]
    for call in m["calls"]:
        assert len(call["key"]) == 64 and call["tokens"]["input"] > 0 and call["cost_usd"] > 0
        assert call["rung"] == "senior" and not call["from_archive"]
    assert m["totals"]["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in m["calls"]), abs=1e-6)
    assert m["totals"]["within_budget"] and m["totals"]["budget"]["per_run_usd"] == 20.0
    verdicts = {g["gate"]: g["verdict"] for g in m["gates"]}
    assert verdicts["paths"] == verdicts["parse"] == verdicts["tests"] == verdicts["budget"] == "pass"
    tests_gate = next(g for g in m["gates"] if g["gate"] == "tests")
    assert ".genops/releases/r0001/evidence/tests/junit.xml" in tests_gate["evidence"]
    assert (root / ".genops/releases/r0001/evidence/tests/junit.xml").is_file()
    sandbox = "bwrap" if probe("bwrap").ok else "none"  # recorded with the verdict, either way
    assert tests_gate["facts"] == {"sandbox": sandbox, "tests": 3, "passed": 3, "failures": 0,
                                   "errors": 0, "skipped": 0}
    assert m["dependencies"] == {"requirements": ["pytest"], "sources": ["pyproject.toml"]}
    assert [g["name"] for g in m["blueprint"]["groups"]] == ["core", "tests"]
    # diffs, commit and tag
    assert json.loads((root / "diffs/r0001.json").read_text())["new"] == "r0001"
    summary = (root / "diffs/r0001.md").read_text()
    for needle in ("# Release r0001 (regenerate)", "first synthesis", "REQ-GREET-1", "fake-1",
                   "## Gates", "## Breaking changes", "## Review first", "## Requirements",
                   "## Public API"):
        assert needle in summary
    assert tags(root) == ["genops/r0001"]
    repo = git.Repo(root)
    assert repo.tags["genops/r0001"].commit == repo.head.commit
    assert "Genops-Release: r0001" in repo.head.commit.message
    committed = set(repo.git.ls_tree("-r", "--name-only", "HEAD").splitlines())
    assert {"generated/hello/__init__.py", "diffs/r0001.md", ".genops/releases/r0001/manifest.json",
            "specs/requirements.md", "ARCHITECTURE.md"} <= committed
    assert any(p.startswith(".genops/archive/") for p in committed)
    assert not any(p.startswith((".genops/runs", ".genops/ledger")) for p in committed)
    assert _owned_status(root) == ""
    assert not (root / ".genops/promote.journal").exists()
    assert not (root / ".genops/trash/r0001").exists()


def test_second_release_records_parent_and_what_it_touches(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    regenerate(workspace(root), reason="first")
    change_spec(root, "- **REQ-GREET-3** `shout(name)` greets loudly.\n",
                files=tree_files(punct="!!"))
    outcome = regenerate(workspace(root), reason="louder")
    assert outcome.release is not None and outcome.release.release == "r0002"
    m = manifest(root, "r0002")
    assert m["parent"] == "r0001"
    assert m["touches"]["inputs_changed"] == ["specs/requirements.md"]
    assert m["touches"]["files_changed"] == 2
    assert "REQ-GREET-1" in m["touches"]["requirements"]
    diff = json.loads((root / "diffs/r0002.json").read_text())
    assert (diff["old"], diff["new"]) == ("r0001", "r0002")
    assert any(c["category"] == "behaviour" for c in diff["changes"])
    assert tags(root) == ["genops/r0001", "genops/r0002"]
    log = release_log(root)
    assert [e["release"] for e in log] == ["r0002", "r0001"]
    assert log[0]["reason"] == "louder" and log[0]["models"] == ["fake:fake-1"]
    assert log[0]["gates"]["tests"] == "pass"


def test_failing_generated_test_blocks_promotion(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    regenerate(workspace(root), reason="first")
    before = output_hash(root)
    head = git.Repo(root).head.commit.hexsha
    change_spec(root, "- **REQ-GREET-3** question.\n", files=tree_files(punct="?", expected="!"))
    with pytest.raises(GateFailed) as failed:
        regenerate(workspace(root), reason="breaks its own test")
    assert "'tests'" in failed.value.message and "tests failed" in failed.value.message
    assert "test_greet" in failed.value.message
    assert output_hash(root) == before  # generated/ byte-identical
    assert git.Repo(root).head.commit.hexsha != head  # only the spec commit happened
    assert tags(root) == ["genops/r0001"]
    assert not (root / ".genops/releases/r0002").exists() and not (root / "diffs/r0002.md").exists()
    results = {r.gate: r for r in failed.value.results}
    assert results["tests"].verdict == "fail"
    staged = next((root / ".genops/runs").glob("*/staged"))
    assert "Hello, {name}?" in (staged / "hello/__init__.py").read_text()  # kept for inspection
    assert next((root / ".genops/runs").glob("*/evidence/tests/junit.xml")).is_file()
    assert _owned_status(root) == ""


def test_dirty_owned_paths_are_refused_before_spending(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    regenerate(workspace(root), reason="first")
    paid = paid_keys(root)
    target = root / "generated/hello/__init__.py"
    target.write_text(target.read_text() + "# hand edit\n")
    with pytest.raises(UsageError) as refused:
        regenerate(workspace(root), reason="again")
    assert "generated/hello/__init__.py" in refused.value.message
    result = genops(root, "regenerate", "--reason", "cli")
    assert result.returncode == 2
    assert "refusing" in result.stderr and "generated/hello/__init__.py" in result.stderr
    assert paid_keys(root) == paid
    target.write_text(target.read_text().replace("# hand edit\n", ""))
    (root / "diffs" / "notes.md").write_text("mine")
    with pytest.raises(UsageError):
        regenerate(workspace(root), reason="again")


def test_unchanged_inputs_and_tree_promote_nothing(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    regenerate(workspace(root), reason="first")
    outcome = regenerate(workspace(root), reason="same again")
    assert outcome.status == "unchanged"
    paid = paid_keys(root)
    again = regenerate(workspace(root), reason="and again")
    assert again.status == "unchanged"
    assert paid_keys(root) == paid  # the same requests again: every one an archive hit
    assert tags(root) == ["genops/r0001"]


def test_rollback_is_a_new_release(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    regenerate(workspace(root), reason="first")
    first_tree = output_hash(root)
    make_louder(root)
    regenerate(workspace(root), reason="louder")
    r2_commit = git.Repo(root).tags["genops/r0002"].commit.hexsha
    outcome = rollback(workspace(root), "r1", reason="louder was a mistake")
    assert outcome.release is not None and outcome.release.release == "r0003"
    assert output_hash(root) == first_tree
    m = manifest(root, "r0003")
    assert (m["kind"], m["parent"], m["rollback_of"]) == ("rollback", "r0002", "r0001")
    assert m["output"]["tree_sha256"] == first_tree and m["calls"] == []
    assert tags(root) == ["genops/r0001", "genops/r0002", "genops/r0003"]
    assert git.Repo(root).tags["genops/r0002"].commit.hexsha == r2_commit  # history kept
    log = genops(root, "log", "--json")
    assert log.returncode == 0, log.stderr
    entries = json.loads(log.stdout)["releases"]
    assert [(e["release"], e["kind"]) for e in entries] == [
        ("r0003", "rollback"), ("r0002", "regenerate"), ("r0001", "regenerate")]
    again = genops(root, "rollback", "r0003")
    assert again.returncode == 2 and "already has the tree" in again.stderr


def test_cli_regenerate_json_lines_and_dry_run(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    plan = genops(root, "regenerate", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    data = json.loads(plan.stdout)
    assert data["status"] == "planned"
    (first,) = [r for r in data["plan"]["requests"] if not r["estimated"]]
    assert first["label"] == "blueprint" and first["input_tokens"] > 0 and first["worst_usd"] > 0
    assert not (root / ".genops/ledger.db").exists() or paid_keys(root) == []
    result = genops(root, "regenerate", "--reason", "from the cli", "--jsonl")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]  # every line parses
    events = [e.get("event") for e in lines]
    assert "group_started" in events and "group_done" in events and "gate_done" in events
    final = lines[-1]
    assert final["event"] == "result"
    assert final["status"] == "promoted" and final["release"]["release"] == "r0001"
    text = genops(root, "log")
    assert text.returncode == 0 and "r0001" in text.stdout and "regenerate" in text.stdout


def test_manual_provider_waits_then_resume_promotes(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    result = genops(root, "regenerate", "--provider", "manual", "--reason", "by hand")
    assert result.returncode == ExitCode.AWAITING == 5, result.stderr
    assert "awaiting responses" in result.stdout and "genops resume" in result.stdout
    run_dir = next((root / ".genops/runs").iterdir())
    requests = sorted((run_dir / "requests").glob("*.md"))
    assert [p.name for p in requests] == ["01-blueprint.md"]
    replies = json.loads((root / ".genops/fake-responses.json").read_text())
    responses = run_dir / "responses"
    misnamed = responses / "01-blueprint.txt"  # saved by an editor under another name
    misnamed.write_text(replies["Plan the complete source tree"])
    step = genops(root, "resume", run_dir.name)
    assert step.returncode == 2 and "01-blueprint.txt" in step.stderr, step.stderr
    assert "01-blueprint.md" in step.stderr
    misnamed.rename(responses / "01-blueprint.md")
    step = genops(root, "resume", run_dir.name)
    assert step.returncode == 5 and "awaiting responses" in step.stdout
    (responses / "02-core.md").write_text(replies["Write the files of group `core`"])
    step = genops(root, "resume", "--json")  # the newest unfinished run
    assert step.returncode == 5 and json.loads(step.stdout)["status"] == "awaiting"
    assert any(p.endswith("03-tests.md") for p in json.loads(step.stdout)["pending"])
    (responses / "03-tests.md").write_text(replies["Write the files of group `tests`"])
    done = genops(root, "resume", run_dir.name)
    assert done.returncode == 0, done.stderr
    assert "promoted r0001" in done.stdout
    m = manifest(root, "r0001")
    assert m["kind"] == "manual" and {c["provider"] for c in m["calls"]} == {"manual"}
    assert m["totals"]["cost_usd"] == 0.0
    assert output_hash(root) == m["output"]["tree_sha256"]


def test_resume_of_a_failed_gate_run_pays_nothing_twice(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    script_model(root, tree_files(punct="?", expected="!"))
    with pytest.raises(GateFailed):
        regenerate(workspace(root), reason="first")
    paid = paid_keys(root)
    assert len(paid) == 3
    run_id = next((root / ".genops/runs").iterdir()).name
    with pytest.raises(GateFailed):
        resume(workspace(root), run_id)
    assert paid_keys(root) == paid
    assert not (root / "generated").exists() or hash_tree(root / "generated") == hash_tree(tmp_path / "none")
