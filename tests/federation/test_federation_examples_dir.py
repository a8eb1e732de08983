"""The committed example federation (examples/federation): its plan, its consumer links and its
federation release, read in place (nothing written: no regeneration, no replay)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fedhelpers as h

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "federation"

pytestmark = pytest.mark.skipif(not (EXAMPLE / "genops.toml").is_file(),
                                reason="no examples/federation in this checkout")


def test_the_affected_plan_has_the_ci_shape() -> None:
    result = h.genops(EXAMPLE, "affected", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads(result.stdout)
    assert {"federation", "base", "members", "order", "matrix"} <= set(plan)
    assert plan["federation"] == "shop"
    assert [m["name"] for m in plan["members"]] == ["identity", "orders", "web"]
    assert set(plan["matrix"]) == {"include"}
    affected = [m["name"] for m in plan["members"] if m["affected"]]
    assert [row["member"] for row in plan["matrix"]["include"]] == affected
    assert all(row["path"] == f"members/{row['member']}" for row in plan["matrix"]["include"])


def test_every_consumer_range_admits_its_provider() -> None:
    result = h.genops(EXAMPLE, "federation", "check", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    links = json.loads(result.stdout)["links"]
    assert {(link["consumer"], link["provider"]) for link in links} == \
        {("orders", "identity"), ("web", "orders")}
    assert all(link["ok"] for link in links)


def test_the_federation_release_verifies() -> None:
    result = h.genops(EXAMPLE, "verify", "--all", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "f0001" in result.stdout


def test_a_dry_run_at_the_root_prints_the_affected_plan() -> None:
    # At a federation root, `regenerate --dry-run` used to read the root's genops.toml as a
    # workspace's ("project: Field required"); it plans the federation run instead.
    planned = h.genops(EXAMPLE, "regenerate", "--dry-run", "--json")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    plan = json.loads(planned.stdout)
    assert plan == json.loads(h.genops(EXAMPLE, "affected", "--json").stdout)
    text = h.genops(EXAMPLE, "regenerate", "--dry-run")
    assert text.returncode == 0 and "project: Field required" not in text.stdout + text.stderr
