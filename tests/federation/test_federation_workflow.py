"""The CI fan-out workflow: schema, zizmor, and the plan -> matrix -> fan-in wiring."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from genops.federation.workflow import plan_script, workflow_text


def test_wiring_and_no_template_injection() -> None:
    doc = yaml.safe_load(workflow_text("examples/federation"))
    jobs = doc["jobs"]
    assert doc["env"]["FEDERATION_ROOT"] == "examples/federation"
    assert jobs["plan"]["outputs"]["matrix"] == "${{ steps.plan.outputs.matrix }}"
    assert jobs["member"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert jobs["member"]["needs"] == "plan" and jobs["federation"]["needs"] == ["plan", "member"]
    runs = " ".join(s["run"] for j in jobs.values() for s in j["steps"] if "run" in s)
    assert "genops affected --json" in runs and "genops federation check" in runs
    assert "genops verify --all" in runs and "genops check" in runs
    assert "${{" not in runs  # values reach scripts through env only
    for job in jobs.values():
        assert job["permissions"] == {"contents": "read"}
        for step in job["steps"]:
            if "uses" in step:
                assert len(step["uses"].split("@")[1]) == 40
            if str(step.get("uses", "")).startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False
    assert doc["permissions"] == {}


@pytest.mark.parametrize("tool", ["zizmor", "check-jsonschema"])
def test_linters(tool: str, tmp_path: Path) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (pip install zizmor check-jsonschema)")
    path = tmp_path / "genops-federation.yml"
    path.write_text(workflow_text("examples/federation"), encoding="utf-8")
    args = ["zizmor", "--offline", "--no-progress", "--min-severity", "low"] \
        if tool == "zizmor" else ["check-jsonschema", "--builtin-schema", "vendor.github-workflows"]
    done = subprocess.run([*args, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_plan_step_runs_and_writes_the_matrix(released: Path, tmp_path: Path) -> None:
    """The plan job's script, run as CI runs it, on a released federation."""
    output = tmp_path / "github_output"
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(tmp_path),
           "FEDERATION_ROOT": ".", "BASE_REF": "", "BEFORE": ""}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", plan_script(workflow_text("."))],
                          cwd=released, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    matrix = json.loads(lines["matrix"])
    assert lines["any"] in ("true", "false")
    assert all(set(row) >= {"member", "path"} for row in matrix["include"])
