"""`genops regenerate --dry-run` and `genops regenerate` agree (issue 24): what the plan refuses
the run refuses; nothing changed means nothing sent; an estimate that cannot be made says
"unknown" and why; a selective plan counts exactly the requests the run sends. Real CLI, fake
provider."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from release_helpers import (commit_all, genops, make_workspace, paid_keys, script_model, tags,
                             tree_files)


@pytest.fixture
def released(tmp_path: Path) -> Path:
    root = make_workspace(tmp_path)
    result = genops(root, "regenerate", "-m", "first")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return root


def run_dirs(root: Path) -> list[str]:
    return sorted(p.parent.name for p in (root / ".genops" / "runs").glob("*/run.json"))


def test_a_missing_price_is_refused_by_the_run_as_by_the_dry_run(released: Path) -> None:
    toml = released / "genops.toml"
    text = re.sub(r'\[prices\."fake-1"\]\ninput = 1.0\noutput = 2.0\n', "", toml.read_text())
    assert text != toml.read_text()
    toml.write_text(text)
    commit_all(released, "the price is gone")
    paid, runs = paid_keys(released), run_dirs(released)

    planned = genops(released, "regenerate", "--dry-run")
    ran = genops(released, "regenerate", "-m", "no price")
    assert planned.returncode == ran.returncode == 2, ran.stdout[-2000:] + ran.stderr[-2000:]
    error = "no price pinned for model 'fake-1'"
    assert error in planned.stderr and error in ran.stderr
    assert tags(released) == ["genops/r0001"] and paid_keys(released) == paid
    assert run_dirs(released) == runs  # refused before a run started


def test_nothing_changed_sends_nothing_promotes_nothing_and_says_so(released: Path) -> None:
    paid, runs = paid_keys(released), run_dirs(released)
    plan = json.loads(genops(released, "regenerate", "--dry-run", "--json").stdout)
    assert plan["plan"]["requests"] == [] and plan["plan"]["worst_case_usd"] == 0
    assert plan["selection"]["mode"] == "none"

    said = genops(released, "regenerate", "-m", "again")
    assert said.returncode == 0, said.stdout[-2000:] + said.stderr[-2000:]
    text = " ".join(said.stdout.split())
    assert "no input changed since r0001" in text and "nothing sent and nothing promoted" in text
    assert "--full" in text
    as_json = genops(released, "regenerate", "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert (data["status"], data["run"], data["calls"]) == ("unchanged", None, 0)
    assert paid_keys(released) == paid and run_dirs(released) == runs
    assert tags(released) == ["genops/r0001"]

    forced = genops(released, "regenerate", "--full", "--json")  # --full regenerates anyway
    assert forced.returncode == 0, forced.stderr
    data = json.loads(forced.stdout)
    assert data["run"] is not None and data["calls"] == 3 and data["status"] == "unchanged"
    assert len(run_dirs(released)) == len(runs) + 1


def test_an_estimate_that_cannot_be_made_says_unknown_and_why(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)  # no release: nothing recorded to price the groups from
    plan = genops(root, "regenerate", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    text = " ".join(plan.stdout.split())
    assert "estimated cost unknown: there is no previous release" in text, text
    assert "estimated cost $0" not in text
    data = json.loads(genops(root, "regenerate", "--dry-run", "--json").stdout)["selection"]
    assert data["estimated_usd"] is None and data["full_usd"] is None
    assert "no previous release" in data["unknown"]


def test_a_selective_plan_counts_exactly_the_requests_the_run_sends(released: Path) -> None:
    spec = released / "specs" / "requirements.md"
    spec.write_text(spec.read_text().replace('returns `"Hello, <name>!"`', "greets by name"))
    script_model(released, tree_files())
    commit_all(released, "REQ-GREET-1 reworded")

    plan = json.loads(genops(released, "regenerate", "--dry-run", "--json").stdout)
    rows = [r for r in plan["plan"]["requests"] if r["rung"] == "senior"]
    assert [r["label"] for r in rows] == ["group ×2"], rows  # no blueprint request: none is sent
    assert plan["selection"]["mode"] == "selective"
    before = len(paid_keys(released))

    ran = genops(released, "regenerate", "-m", "reworded", "--json")
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert json.loads(ran.stdout)["calls"] == 2 == len(paid_keys(released)) - before


def test_a_release_answered_by_hand_prices_the_next_run_at_the_pinned_model(
        released: Path) -> None:
    # issue 26: this repository's parent releases were answered with --provider manual ($0 each);
    # the dry-run priced the next run, which goes to the pinned model, at "$0.0000 against
    # $0.0000 for a full run". The recorded tokens are priced at the model's pinned price.
    from genops.release.selective import choose, estimate
    from genops.workspace import load_workspace

    spec = released / "specs" / "requirements.md"
    spec.write_text(spec.read_text().replace('returns `"Hello, <name>!"`', "greets by name"))
    commit_all(released, "REQ-GREET-1 reworded")
    ws = load_workspace(released)
    as_recorded = estimate(ws, choose(ws))
    manifest = released / ".genops" / "releases" / "r0001" / "manifest.json"
    data = json.loads(manifest.read_text())
    assert data["calls"] and all(c["provider"] == "fake" for c in data["calls"])
    for call in data["calls"]:  # the same release, as if every answer had been given by hand
        call["provider"], call["cost_usd"] = "manual", 0.0
    manifest.write_text(json.dumps(data))
    by_hand = estimate(ws, choose(ws))
    assert as_recorded["full_usd"] and as_recorded["estimated_usd"]
    assert (by_hand["full_usd"], by_hand["estimated_usd"]) == \
        (as_recorded["full_usd"], as_recorded["estimated_usd"])
