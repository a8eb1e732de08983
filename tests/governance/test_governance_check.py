"""`genops check` end to end on real workspaces: real git, real releases made with genops.release's
publish, the real CLI in a subprocess; exit codes 0 / 1 / 2 as the brief binds them."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from gov_helpers import adr_yaml, load, publish_release

from genops.release.check_suite import run_check
from genops.gates.drift import detect_drift
from genops.workspace.scaffold import init_workspace

GREET = ('def greet(name, punctuation="!"):\n    """Greet someone by name."""\n    if not name:\n'
         '        raise ValueError("a name is required")\n    return f"Hello, {name}{punctuation}"\n')
TESTS = ("import pytest\n\nfrom greet import greet\n\n\ndef test_greet():  # REQ-GREET-1\n"
         "    assert greet('Ada') == 'Hello, Ada!'\n\n\ndef test_empty():  # REQ-GREET-2\n"
         "    with pytest.raises(ValueError):\n        greet('')\n")
V1 = {"greet/__init__.py": GREET, "tests/test_greet.py": TESTS}
V2 = {**V1, "greet/__init__.py": GREET + "\n\ndef farewell(name):\n    return f'Bye, {name}'\n"}
BREAKING = {**V2, "greet/__init__.py": V2["greet/__init__.py"].replace(
    'def greet(name, punctuation="!"):', "def greet(name):").replace("{punctuation}", "!")}
SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text("utf-8"))


def genops(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "genops.cli.main", *args], cwd=root,
                          capture_output=True, text=True, timeout=120, check=False)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture()
def released(tmp_path: Path) -> Path:
    """A committed workspace with two releases: r0001 (V1) and r0002 (V2, its parent r0001)."""
    root = init_workspace(tmp_path / "ws", provider="fake").root
    assert publish_release(root, V1, run="run-1") == "r0001"
    assert publish_release(root, V2, run="run-2") == "r0002"
    return root


def test_clean_workspace_passes(released: Path) -> None:
    result = genops(released, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "genops check passed — release r0002, base r0001" in result.stdout
    for gate in ("drift", "manifest", "parse", "diff_policy", "adr_rules", "traceability",
                 "context_fit"):
        assert f"✓ {gate}" in result.stdout, result.stdout


def test_hand_edit_fails_check_naming_the_file(released: Path) -> None:
    edited = released / "generated" / "greet" / "__init__.py"
    edited.write_text(edited.read_text() + "# tweak\n")
    (released / "generated" / "greet" / "extra.py").write_text("X = 1\n")
    (released / "generated" / "tests" / "test_greet.py").unlink()
    git(released, "add", "-A")
    git(released, "commit", "-qm", "hand edit")
    result = genops(released, "check")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "✗ drift" in out
    assert ("generated/greet/__init__.py was edited by hand since release r0002: "
            "`genops patch --from-drift` records the edit as a patch release, or revert it with "
            "`git checkout -- generated/greet/__init__.py`") in out
    assert "generated/greet/extra.py was added by hand" in out
    assert "generated/tests/test_greet.py was deleted by hand" in out
    assert "genops check found violations (drift" in result.stderr
    report = detect_drift(load(released))
    assert (report.edited, report.added, report.removed) == (
        ["greet/__init__.py"], ["greet/extra.py"], ["tests/test_greet.py"])


def test_breaking_change_needs_an_adr(released: Path) -> None:
    publish_release(released, BREAKING, run="run-3")
    failed = genops(released, "check", "--format", "json")
    assert failed.returncode == 1
    gates = {r["gate"]: r for r in json.loads(failed.stdout)["results"]}
    assert gates["drift"]["verdict"] == "pass"
    policy = gates["diff_policy"]
    assert policy["verdict"] == "fail"
    assert "greet.greet: parameter 'punctuation' removed" in policy["summary"]
    assert policy["findings"][0]["file"] == "generated/greet/__init__.py"

    (released / "adr" / "ADR-0002-greet-fixed.yaml").write_text(
        adr_yaml("ADR-0002", allows_breaking=["greet.greet"]))
    passed = genops(released, "check", "--format", "json")
    assert passed.returncode == 0, passed.stdout
    gates = {r["gate"]: r for r in json.loads(passed.stdout)["results"]}
    assert gates["diff_policy"]["verdict"] == "pass"
    assert "allowed by ADR-0002" in gates["diff_policy"]["findings"][0]["message"]


def test_allow_breaking_recorded_in_the_manifest_passes_with_a_warning(released: Path) -> None:
    publish_release(released, BREAKING, run="run-3", flags={"allow_breaking": True})
    result = genops(released, "check", "--format", "json")
    assert result.returncode == 0, result.stdout
    gates = {r["gate"]: r for r in json.loads(result.stdout)["results"]}
    assert gates["diff_policy"]["verdict"] == "warn"
    assert "--allow-breaking" in gates["diff_policy"]["summary"]


def test_without_the_parent_tag_its_commit_is_found_from_the_trailer(released: Path) -> None:
    publish_release(released, BREAKING, run="run-3")
    git(released, "tag", "-d", "genops/r0002")
    report = run_check(load(released))
    policy = next(r for r in report.results if r.gate == "diff_policy")
    assert report.base == "r0002" and policy.verdict == "fail"
    assert "parameter 'punctuation' removed" in policy.summary and "judged" not in policy.summary


def test_adr_rule_violation_in_generated_fails_check(released: Path) -> None:
    (released / "adr" / "ADR-0002-no-eval.yaml").write_text(adr_yaml(
        "ADR-0002", rules=[{"kind": "forbidden_calls", "calls": ["eval"]}]))
    publish_release(released, {**V2, "greet/calc.py": "def calc(text):\n    return eval(text)\n"},
                    run="run-3")
    result = genops(released, "check", "--format", "github")
    assert result.returncode == 1
    assert ("::error file=generated/greet/calc.py,line=2,title=genops adr_rules%3A "
            "ADR-0002/forbidden_calls::ADR-0002 rule 1 (forbidden_calls): greet.calc.calc calls "
            "eval") in result.stdout


def test_tampered_manifest_fails_integrity(released: Path) -> None:
    manifest_path = released / ".genops" / "releases" / "r0001" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["output"]["files"]["greet/__init__.py"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    report = run_check(load(released))
    integrity = next(r for r in report.results if r.gate == "manifest")
    assert integrity.verdict == "fail"
    assert "r0001: output.tree_sha256 does not match the hashes of its 2 files" in integrity.summary
    assert integrity.findings[0].file == ".genops/releases/r0001/manifest.json"


def test_missing_parent_manifest_breaks_the_chain(released: Path) -> None:
    (released / ".genops" / "releases" / "r0001" / "manifest.json").unlink()
    report = run_check(load(released))
    integrity = next(r for r in report.results if r.gate == "manifest")
    assert integrity.verdict == "fail"
    assert "parent release r0001 has no manifest" in integrity.summary


def test_bad_adr_rule_is_exit_2_naming_file_and_line(released: Path) -> None:
    (released / "adr" / "ADR-0002-typo.yaml").write_text(
        "id: ADR-0002\ntitle: t\nstatus: accepted\ndecision: d\nrules:\n"
        "  - kind: forbid_imports\n    from: greet\n    to: os\n")
    result = genops(released, "check")
    assert result.returncode == 2
    assert "adr/ADR-0002-typo.yaml:6: rule 1: unknown rule kind 'forbid_imports'" in result.stderr


def test_unknown_format_is_exit_2(released: Path) -> None:
    assert genops(released, "check", "--format", "xml").returncode == 2


def test_sarif_and_junit_files(released: Path, tmp_path: Path) -> None:
    (released / "generated" / "greet" / "__init__.py").write_text("def greet(name):\n    pass\n")
    sarif_path, junit_path = tmp_path / "out" / "genops.sarif", tmp_path / "junit.xml"
    assert genops(released, "check", "--format", "sarif", "--output", str(sarif_path)
                  ).returncode == 1
    assert genops(released, "check", "-f", "junit", "-o", str(junit_path)).returncode == 1
    log = json.loads(sarif_path.read_text())
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in log["runs"][0]["results"]}
    assert "generated/greet/__init__.py" in uris
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures", "0")) >= 1


def test_fresh_workspace_passes(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", provider="fake").root
    result = genops(root, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "generated/ is empty: nothing generated yet" in result.stdout


def test_base_can_be_a_release_a_directory_or_a_git_ref(released: Path, tmp_path: Path) -> None:
    publish_release(released, BREAKING, run="run-3")

    def policy(*args: str) -> tuple[int, str, str | None]:
        result = genops(released, "check", "--format", "json", *args)
        data = json.loads(result.stdout)
        gate = next(r for r in data["results"] if r["gate"] == "diff_policy")
        return result.returncode, gate["verdict"], data["base"]

    assert policy() == (1, "fail", "r0002")
    assert policy("--base", "r0003") == (0, "pass", "r0003")
    assert policy("--base", "genops/r0001") == (1, "fail", "r0001")
    assert policy("--base", "HEAD~1") == (1, "fail", "HEAD~1")  # the commit of r0002
    before = tmp_path / "before"
    for rel, text in BREAKING.items():
        (before / rel).parent.mkdir(parents=True, exist_ok=True)
        (before / rel).write_text(text)
    assert policy("--base", str(before))[:2] == (0, "pass")
    missing = genops(released, "check", "--base", "no-such-ref")
    assert missing.returncode == 2 and "no such git ref: no-such-ref" in missing.stderr
