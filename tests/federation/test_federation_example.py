"""End to end on a released three-member federation (identity <- orders <- web), through the CLI.

(b) a compatible interface change is promoted with a minor version (and refused without one);
(a) a breaking change, promoted with a major version, is caught by the federation check;
(d) affected regeneration sends requests only for the touched member and its affected consumers.
"""

from __future__ import annotations

import json
from pathlib import Path

import fedhelpers as h


def _manifest(member: Path, release: str) -> dict[str, object]:
    return json.loads((member / ".genops" / "releases" / release / "manifest.json").read_text())


def test_compatible_change_needs_and_gets_a_minor_version(released: Path) -> None:
    identity = h.change_member(released, "identity", h.identity_files(more=h.LIST_USERS),
                               spec="- **REQ-ID-2** users can be listed.\n")
    refused = h.genops(identity, "regenerate")  # a member command inside the monorepo
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "interface identity: addition change (identity.api.list_users" in refused.stderr
    assert "needs version 1.1.0 or later" in refused.stderr
    h.change_member(released, "identity", version="1.1.0")
    done = h.genops(identity, "regenerate")
    assert done.returncode == 0, done.stdout + done.stderr
    release = sorted(p.name for p in (identity / ".genops" / "releases").iterdir())[-1]
    manifest = _manifest(identity, release)
    assert manifest["interface_version"] == "1.1.0" and len(str(manifest["interface_digest"])) == 64
    gate = next(g for g in manifest["gates"] if g["gate"] == "interface")  # type: ignore[union-attr]
    assert "1.0.0 -> 1.1.0: addition" in gate["summary"]
    check = h.genops(released, "federation", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    # member commands work inside the monorepo: verify and replay this member's release
    replay = h.genops(identity, "replay", release, "--no-gates")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "reproduced byte-for-byte" in replay.stdout


def test_breaking_change_is_caught_by_the_federation_check(released: Path) -> None:
    identity = released / "members" / "identity"
    h.change_member(released, "identity", h.identity_files(more=h.LIST_USERS),
                    spec="- **REQ-ID-2** users can be listed.\n", version="1.1.0")
    assert h.genops(identity, "regenerate").returncode == 0
    h.change_member(released, "identity", h.identity_files(), spec="- **REQ-ID-3** no list.\n",
                    version="2.0.0")
    done = h.genops(identity, "regenerate", "--allow-breaking")
    assert done.returncode == 0, done.stdout + done.stderr  # major bump: the member may release
    check = h.genops(released, "federation", "check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert ("consumer orders requires identity >=1.0,<2, but identity's release r0003 publishes "
            "interface 2.0.0; the interface changed since r0002 (1.1.0), breaking: "
            "identity.api.list_users") in check.stdout
    data = json.loads(h.genops(released, "federation", "check", "--json").stdout)
    bad = [link for link in data["links"] if not link["ok"]]
    assert [(b["consumer"], b["provider"], b["version"]) for b in bad] == \
        [("orders", "identity", "2.0.0")]
    assert bad[0]["change"]["level"] == "breaking"


def test_affected_regeneration_sends_requests_only_where_needed(released: Path) -> None:
    members = {n: released / "members" / n for n in ("identity", "orders", "web")}
    before = {n: h.ledger_calls(p) for n, p in members.items()}
    h.change_member(released, "web", h.web_files(), spec="- **REQ-WEB-2** bold items.\n")
    plan = json.loads(h.genops(released, "affected", "--json").stdout)
    assert [m["name"] for m in plan["members"] if m["affected"]] == ["web"]
    assert plan["matrix"] == {"include": [{"member": "web", "path": "members/web"}]}
    run = h.genops(released, "regenerate")
    assert run.returncode == 0, run.stdout + run.stderr
    after_web = {n: h.ledger_calls(p) for n, p in members.items()}
    h.change_member(released, "identity", h.identity_files(more=h.LIST_USERS),
                    spec="- **REQ-ID-2** users can be listed.\n", version="1.1.0")
    plan = json.loads(h.genops(released, "affected", "--json").stdout)
    assert {m["name"]: m["affected"] for m in plan["members"]} == \
        {"identity": True, "orders": True, "web": False}
    assert plan["order"] == [["identity"], ["orders"]]
    run = h.genops(released, "regenerate")
    assert run.returncode == 0, run.stdout + run.stderr
    after_identity = {n: h.ledger_calls(p) for n, p in members.items()}
    print(f"\nrequests per member (ledger, status ok): first releases {before}; "
          f"after a web spec change {after_web}; after an identity interface change "
          f"{after_identity}")
    assert after_web == {**before, "web": before["web"] + 1}
    assert after_identity == {**after_web, "identity": after_web["identity"] + 1,
                              "orders": after_web["orders"] + 1}
    snapshot = json.loads((members["orders"] / "interfaces/identity/interface.json").read_text())
    assert snapshot["version"] == "1.1.0" and "def list_users" in snapshot["surface"]


def test_a_member_run_that_failed_its_gates_does_not_block_the_next_root_run(
        released: Path) -> None:
    # At the root, a member's run whose interface gate refused the release used to be resumed
    # by the next root run, which then stopped with exit 2 ("inputs changed since run ...
    # started: interface.toml") until someone ran `genops runs cancel` in the member.
    h.change_member(released, "identity", h.identity_files(more=h.LIST_USERS),
                    spec="- **REQ-ID-2** users can be listed.\n")
    refused = h.genops(released, "regenerate")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "needs version 1.1.0 or later" in refused.stdout + refused.stderr
    h.change_member(released, "identity", version="1.1.0")
    again = h.genops(released, "regenerate")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "inputs changed since run" not in again.stdout + again.stderr
    identity = released / "members" / "identity"
    latest = sorted(p.name for p in (identity / ".genops" / "releases").iterdir())[-1]
    assert _manifest(identity, latest)["interface_version"] == "1.1.0"
