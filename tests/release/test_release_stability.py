"""`genops stability` with the fake provider's seeded variation mode: known classes per file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genops.providers.fake import VARIATION_ENV, variation_class
from release_helpers import clean_env, genops, make_workspace

RANK = {"identical": 0, "cosmetic": 1, "behaviour": 2, "api": 3}
SEED = 9  # runs 1-3 vary as: identical, api + identical, cosmetic + behaviour


def expected(seed: int, path: str) -> str:
    return variation_class(seed, path)


def test_stability_reports_the_variation_classes_the_fake_produced(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    env = clean_env()
    first = genops(root, "regenerate", "--reason", "release 1", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    before = {p: p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()}
    archive = sorted(p.name for p in (root / ".genops" / "archive").rglob("*"))

    result = genops(root, "stability", "--runs", "3", "--provider", "fake", "--json",
                    env=clean_env(**{VARIATION_ENV: str(SEED)}))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["release"] == "r0001" and len(report["runs"]) == 3
    paths = ["hello/__init__.py", "pyproject.toml", "tests/test_greet.py"]
    for run in report["runs"]:
        seed = SEED + run["run"] - 1
        assert run["files"] == {p: expected(seed, p) for p in paths}, run["run"]
        assert run["tests"]["rate"] == 1.0 and run["tests"]["total"] == 3
        assert run["cost_usd"] > 0 and run["calls"] == 3
    seen = {c for run in report["runs"] for c in run["files"].values()}
    assert seen == {"identical", "cosmetic", "behaviour", "api"}
    for pair in report["pairs"]:
        a, b = (SEED + i - 1 for i in pair["runs"])
        want = {p: max(expected(a, p), expected(b, p), key=RANK.__getitem__) for p in paths}
        assert pair["files"] == {p: c for p, c in want.items() if c != "identical"}, pair["runs"]

    # nothing promoted, the release's tree and the committed archive untouched
    assert {p: p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in (root / ".genops" / "archive").rglob("*")) == archive
    assert not (root / ".genops" / "releases" / "r0002").exists()

    text = genops(root, "stability", "--runs", "2", "--provider", "fake",
                  env=clean_env(**{VARIATION_ENV: str(SEED)}))
    assert text.returncode == 0, text.stdout + text.stderr
    assert "between runs" in text.stdout and "hello/__init__.py: api differs" in text.stdout


def test_the_text_report_has_a_column_for_every_class_the_diff_gives(
        capsys: pytest.CaptureFixture[str]) -> None:
    # issue 25 added dependency, architecture and error classes to `genops diff`; the stability
    # table showed only identical/cosmetic/behaviour/api, so a run that changed an import or a
    # dependency read as if nothing had varied.
    from types import SimpleNamespace

    from genops.render.stability import print_stability
    from genops.semdiff.classify import FILE_CLASSES

    files = {"a.py": "architecture", "pyproject.toml": "dependency", "b.py": "identical"}
    counts = {"architecture": 1, "dependency": 1, "identical": 1}
    report = SimpleNamespace(to_dict=lambda: {
        "release": "r0001", "directory": "/tmp/x", "cost_usd": 0.0, "pairs": [],
        "runs": [{"run": 1, "counts": counts, "files": files, "cost_usd": 0.0,
                  "tests": {"rate": 1.0, "passed": 1, "total": 1}}]})
    print_stability(report, as_json=False)
    text = capsys.readouterr().out
    for cls in FILE_CLASSES:
        assert cls in text, cls
    assert "a.py: architecture differs" in text and "pyproject.toml: dependency differs" in text
    assert "b.py" not in text
