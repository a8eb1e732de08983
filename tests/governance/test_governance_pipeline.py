"""The governance gates inside the real `genops regenerate` pipeline (fake provider, real git),
then `genops check` on what it promoted."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import tomli_w
from gov_helpers import adr_yaml

from genops.protocol.files import format_protocol
from genops.workspace.scaffold import init_workspace

GREET = ('def greet(name):\n    """Say hello."""\n    if not name:\n'
         '        raise ValueError("a name is required")\n    return f"Hello, {name}!"\n')
TESTS = ("import pytest\n\nfrom hello import greet\n\n\ndef test_greet():  # REQ-GREET-1\n"
         "    assert greet('Ada') == 'Hello, Ada!'\n\n\ndef test_empty():  # REQ-GREET-2\n"
         "    with pytest.raises(ValueError):\n        greet('')\n")
GOOD = {"hello/__init__.py": GREET, "tests/test_greet.py": TESTS}
EVIL = {**GOOD, "hello/calc.py": "def calc(text):\n    return eval(text)\n"}


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "genops.cli.main", *args], cwd=root,
                          capture_output=True, text=True, timeout=300, check=False)


def script(root: Path, files: dict[str, str]) -> None:
    """The fake model's answer to the single-request synthesis."""
    replies = {"Write the complete source tree": format_protocol(files)}
    (root / ".genops" / "fake-responses.json").write_text(json.dumps(replies), encoding="utf-8")


def workspace(tmp_path: Path) -> Path:
    """A fake-provider workspace, single strategy, tests in-process, with an ADR forbidding eval."""
    root = init_workspace(tmp_path / "ws", provider="fake").root
    config = tomllib.loads((root / "genops.toml").read_text(encoding="utf-8"))
    config["ladder"]["rungs"] = ["senior"]
    config["synthesis"]["strategy"] = "single"
    config["gates"]["tests"]["use_venv"] = False
    (root / "genops.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    (root / "adr" / "ADR-0002-no-eval.yaml").write_text(adr_yaml(
        "ADR-0002", rules=[{"kind": "forbidden_calls", "calls": ["eval", "exec"]}]))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "governed workspace"], cwd=root, check=True)
    return root


def test_regenerate_is_gated_by_adr_rules_and_check_guards_the_result(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    script(root, EVIL)
    refused = run(root, "regenerate", "-m", "first try")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "adr_rules" in refused.stderr and "hello.calc.calc calls eval" in refused.stderr
    assert not any((root / "generated").iterdir())  # nothing promoted

    principles = root / "specs" / "principles.md"  # a new input, so a new request to the model
    principles.write_text(principles.read_text() + "\n- Never evaluate strings as code.\n")
    subprocess.run(["git", "commit", "-qam", "principle: no eval"], cwd=root, check=True)
    script(root, GOOD)
    promoted = run(root, "regenerate", "-m", "second try")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    manifest = json.loads((root / ".genops" / "releases" / "r0001" / "manifest.json").read_text())
    verdicts = {g["gate"]: g["verdict"] for g in manifest["gates"]}
    assert verdicts["adr_rules"] == "pass" and verdicts["traceability"] == "pass"
    assert verdicts["diff_policy"] == "skip" and verdicts["context_fit"] == "pass"

    checked = run(root, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    (root / "generated" / "hello" / "__init__.py").write_text(GREET + "# hand edit\n")
    drifted = run(root, "check", "--format", "markdown")
    assert drifted.returncode == 1
    # findings are rendered inert (a path may be the model's): markdown escapes, same text shown
    assert r"generated/hello/\_\_init\_\_.py was edited by hand since release r0001" in drifted.stdout
