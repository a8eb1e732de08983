"""`genops patch` through the CLI with the fake and manual providers: dry run, manual round trip,
scope guard, --from-test and `genops resume --repair`. Real git repos, real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import git

from release_helpers import (commit_all, genops, make_workspace, manifest, output_hash, paid_keys,
                             script_model, tree_files)

S, D, R = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
LOUD = (f'<edit path="hello/__init__.py">\n{S}\n    return f"Hello, {{name}}{{punct}}"\n{D}\n'
        f'    return f"Hello, {{name}}!!"\n{R}\n</edit>\n')
FIX = (f'<edit path="hello/__init__.py">\n{S}\n    return f"Hello, {{name}}!"\n{D}\n'
       f'    return f"Hello, {{name}}!"  # checked\n{R}\n</edit>\n')
FIX_TEST = (f'<edit path="tests/test_greet.py">\n{S}\n    assert greet("Ada") == "Hello, Ada?"\n{D}\n'
            f'    assert greet("Ada") == "Hello, Ada!"\n{R}\n</edit>\n')


def add_replies(root: Path, replies: dict[str, str]) -> None:
    """Scripted fake replies, checked first (the fake answers with the first key found)."""
    path = root / ".genops" / "fake-responses.json"
    path.write_text(json.dumps({**replies, **json.loads(path.read_text())}), encoding="utf-8")
    commit_all(root, "script the model")


def released(tmp_path: Path, **files: str) -> Path:
    root = make_workspace(tmp_path)
    if files:
        script_model(root, tree_files(**files))
        commit_all(root, "script")
    result = genops(root, "regenerate", "-m", "first")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return root


def test_dry_run_shows_the_files_tokens_and_worst_case_and_spends_nothing(tmp_path: Path) -> None:
    root = released(tmp_path)
    paid = paid_keys(root)
    result = genops(root, "patch", "--dry-run", "--json", "make greet louder")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [c["path"] for c in plan["selection"]["chosen"]] == ["hello/__init__.py",
                                                                 "tests/test_greet.py"]
    assert plan["selection"]["chosen"][0]["reason"] == "defines 'greet'"
    assert plan["requests"][0]["input_tokens"] > 0 and plan["max_rounds"] == 4
    assert plan["worst_case_usd"] > 0 and plan["within_budget"] is True
    assert paid_keys(root) == paid and not list((root / ".genops" / "runs").glob("*/context.json"))


def test_manual_provider_round_trips_a_patch(tmp_path: Path) -> None:
    root = released(tmp_path)
    first = genops(root, "patch", "--provider", "manual", "make greet louder")
    assert first.returncode == 5, first.stdout[-2000:] + first.stderr[-2000:]  # awaiting
    assert "awaiting responses" in first.stdout
    [request] = root.glob(".genops/runs/*/requests/01-edits-patch-r1.md")
    text = request.read_text()
    assert "answer with edit blocks" in text and S in text and "make greet louder" in text
    (request.parent.parent / "responses" / request.name).write_text(LOUD.replace("{punct}", "!"))
    assert output_hash(root) == manifest(root, "r0001")["output"]["tree_sha256"]
    second = genops(root, "resume")
    assert second.returncode == 1, second.stdout[-2000:] + second.stderr[-2000:]  # tests expect "!"
    assert "gate 'tests' failed" in second.stderr

    test_edit = LOUD.replace("{punct}", "!") + (
        f'<edit path="tests/test_greet.py">\n{S}\n    assert greet("Ada") == "Hello, Ada!"\n{D}\n'
        f'    assert greet("Ada") == "Hello, Ada!!"\n{R}\n</edit>\n')
    third = genops(root, "patch", "--provider", "manual", "make greet louder, tests too")
    assert third.returncode == 5  # waiting for the answer
    [request] = [p for p in root.glob(".genops/runs/*/requests/01-edits-patch-r1.md")
                 if not (p.parent.parent / "responses" / p.name).exists()]
    (request.parent.parent / "responses" / request.name).write_text(test_edit)
    fourth = genops(root, "resume")
    assert fourth.returncode == 0, fourth.stdout[-2000:] + fourth.stderr[-2000:]
    release = manifest(root, "r0002")
    assert release["kind"] == "patch" and release["calls"][0]["provider"] == "manual"
    assert "Hello, {name}!!" in (root / "generated" / "hello" / "__init__.py").read_text()


def test_a_patch_over_max_share_is_refused_with_advice_to_regenerate(tmp_path: Path) -> None:
    root = released(tmp_path)
    rewrite = "".join(f"# line {i}\n" for i in range(30))
    add_replies(root, {"rewrite everything": f'<edit path="hello/big.py">\n{S}\n{D}\n{rewrite}{R}\n</edit>\n'})
    before = output_hash(root)
    result = genops(root, "patch", "rewrite everything")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "max_share" in result.stderr and "genops regenerate" in result.stderr
    assert output_hash(root) == before


def test_a_patch_breaking_a_protected_api_is_refused(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    (root / "adr" / "ADR-0002-greet-is-public.yaml").write_text(
        "id: ADR-0002\ntitle: greet is public\nstatus: accepted\ndecision: Keep greet stable.\n"
        "rules:\n  - kind: protected_api\n    paths: [hello.greet]\n")
    commit_all(root, "protect greet")
    assert genops(root, "regenerate", "-m", "first").returncode == 0
    add_replies(root, {"add a greeting word": (
        f'<edit path="hello/__init__.py">\n{S}\ndef greet(name: str) -> str:\n{D}\n'
        f'def greet(name: str, word: str) -> str:\n{R}\n</edit>\n')})
    result = genops(root, "patch", "add a greeting word")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "ADR-protected API" in result.stderr and "hello.greet" in result.stderr


def test_from_test_uses_the_failure_output_as_the_instruction(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    toml = (root / "genops.toml").read_text().replace("[gates.tests]\n", "[gates.tests]\nrequired = false\n")
    (root / "genops.toml").write_text(toml)
    script_model(root, tree_files(expected="?"))
    commit_all(root, "tests not required, one failing")
    assert genops(root, "regenerate", "-m", "first").returncode == 0
    add_replies(root, {"Make these failing tests pass": FIX_TEST})
    result = genops(root, "patch", "--from-test", "tests/test_greet.py::test_greet")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    instruction = manifest(root, "r0002")["patch"]["instruction"]
    assert "test_greet" in instruction and "Hello, Ada?" in instruction
    assert "/tmp" not in instruction  # scratch paths are made tree-relative
    assert manifest(root, "r0002")["patch"]["origin"] == "test"


def test_resume_repair_fixes_a_run_whose_tests_failed(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    script_model(root, tree_files(expected="?"))
    commit_all(root, "a generated test contradicts the code")
    failed = genops(root, "regenerate", "-m", "first")
    assert failed.returncode == 1 and "gate 'tests' failed" in failed.stderr
    add_replies(root, {"failed these checks": FIX_TEST})
    repaired = genops(root, "resume", "--repair")
    assert repaired.returncode == 0, repaired.stdout[-2000:] + repaired.stderr[-2000:]
    release = manifest(root, "r0001")
    assert release["repairs"][0]["round"] == 1 and "edits-repair1-r1" in [c["label"] for c in release["calls"]]
    assert not git.Repo(root).is_dirty()


def over_budget_spec_change(tmp_path: Path, on_budget: str) -> Path:
    """r0001 with long principles (every regeneration request carries them, a patch does not),
    then a budget that a regeneration request crosses and a patch request does not, and one
    requirement reworded."""
    root = make_workspace(tmp_path)
    (root / "specs" / "principles.md").write_text("# Principles\n\n" + "Be kind to callers. " * 5000)
    commit_all(root, "long principles")
    assert genops(root, "regenerate", "-m", "first").returncode == 0
    toml = (root / "genops.toml").read_text()
    toml = toml.replace("per_run_usd = 20.0", "per_run_usd = 0.08")
    toml = toml.replace('on_budget = "stop"', f'on_budget = "{on_budget}"')
    (root / "genops.toml").write_text(toml)
    spec = root / "specs" / "requirements.md"
    spec.write_text(spec.read_text().replace('returns `"Hello, <name>!"`', 'returns `"Hello, <name>!!"`'))
    add_replies(root, {"The specification changed since release r0001": LOUD.replace("{punct}", "!") + (
        f'<edit path="tests/test_greet.py">\n{S}\n    assert greet("Ada") == "Hello, Ada!"\n{D}\n'
        f'    assert greet("Ada") == "Hello, Ada!!"\n{R}\n</edit>\n')})
    return root


def test_on_budget_patch_turns_a_regeneration_over_budget_into_a_patch(tmp_path: Path) -> None:
    root = over_budget_spec_change(tmp_path, "patch")
    result = genops(root, "regenerate", "-m", "louder greeting")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "patching instead" in result.stderr
    release = manifest(root, "r0002")
    assert release["kind"] == "patch" and release["patch"]["origin"] == "budget"
    assert "changed REQ-GREET-1" in release["patch"]["instruction"]
    assert "Hello, {name}!!" in (root / "generated" / "hello" / "__init__.py").read_text()


def test_over_budget_regeneration_offers_a_patch(tmp_path: Path) -> None:
    root = over_budget_spec_change(tmp_path, "stop")
    result = genops(root, "regenerate", "-m", "louder greeting")
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert "REQ-GREET-1" in result.stderr and 'on_budget = "patch"' in result.stderr
