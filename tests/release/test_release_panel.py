"""The review panel through the real anthropic and openai SDKs against the emulator: a reviewer
that requests changes blocks (exit 1) with its finding in markdown, github and sarif; a malformed
answer is repaired once; the verdicts replay from the archive with no key and no server; the
budget refuses before any reviewer is called; in the pipeline the panel blocks a promotion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from release_helpers import clean_env, commit_all, genops, make_workspace, tree_files, workspace

from genops.errors import GateFailed
from genops.ledger.db import Ledger
from genops.release.pipeline import regenerate
from genops.release.stages import RunOutcome
from genops.testing.emulator import Emulator, Reply
from genops.workspace.scaffold import init_workspace

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
KEYS = {"ANTHROPIC_API_KEY": "sk-ant-PANELCANARY-0123456789", "OPENAI_API_KEY": "sk-PANELCANARY-0123"}
PANEL = """
[models.claude_reviewer]
provider = "anthropic"
model = "claude-sonnet-4-5-20250929"
base_url = "{anthropic}"
max_output_tokens = 2000
timeout_s = 20

[models.gpt_reviewer]
provider = "openai"
model = "gpt-5-2025-08-07"
base_url = "{openai}"
max_output_tokens = 2000
timeout_s = 20

[review.panel]
rungs = ["claude_reviewer", "gpt_reviewer"]
when = "{when}"
"""
APPROVE = json.dumps({"verdict": "approve", "findings": []})
BLOCK = json.dumps({"verdict": "request_changes", "findings": [
    {"file": "hello/__init__.py", "line": 7, "severity": "blocker", "requirement": "REQ-GREET-2",
     "adr": None, "rationale": "an empty name must raise, but whitespace passes"}]})


def _configure(root: Path, emu: Emulator, *, when: str = "always", budget: float | None = None) -> None:
    toml = (root / "genops.toml").read_text(encoding="utf-8")
    if budget is not None:
        toml = toml.replace("per_run_usd = 20.0", f"per_run_usd = {budget}")
    toml += PANEL.format(anthropic=emu.base_url("anthropic"), openai=emu.base_url("openai"),
                         when=when)
    (root / "genops.toml").write_text(toml, encoding="utf-8")


@pytest.fixture
def unreleased(tmp_path: Path) -> Path:
    """A workspace whose output tree is written directly (no release): the change is the whole tree."""
    root = tmp_path / "ws"
    init_workspace(root, name="hello", provider="fake", git=True)
    for rel, text in tree_files().items():
        (root / "generated" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "generated" / rel).write_text(text, encoding="utf-8")
    return root


def _env() -> dict[str, str]:
    return clean_env(**KEYS)


def test_a_request_for_changes_blocks_and_is_annotated_then_replays(unreleased: Path) -> None:
    with Emulator() as emu:
        _configure(unreleased, emu)
        emu.script("anthropic", Reply(text=APPROVE, input_tokens=3000, output_tokens=50))
        emu.script("openai", Reply(text=BLOCK, input_tokens=3000, output_tokens=120))
        github = genops(unreleased, "review", "--format", "github", env=_env())
        assert len(emu.requests_for("anthropic")) == len(emu.requests_for("openai")) == 1
        prompt = json.dumps(emu.requests_for("openai")[0].body)
        assert "REQ-GREET-2" in prompt and "hello/__init__.py" in prompt
    assert github.returncode == 1, github.stdout + github.stderr
    assert "::error file=generated/hello/__init__.py,line=7" in github.stdout
    assert "gpt_reviewer (openai gpt-5-2025-08-07) request changes: blocker [REQ-GREET-2]" \
        in github.stdout
    # the server is gone and no key is set: every verdict comes from the archive
    offline = clean_env()
    markdown = genops(unreleased, "review", "--format", "markdown", env=offline)
    assert markdown.returncode == 1, markdown.stderr
    assert "generated/hello/__init__.py:7" in markdown.stdout
    assert "1 of 2 reviewers request changes: gpt_reviewer" in markdown.stdout
    sarif = genops(unreleased, "review", "--format", "sarif", env=offline)
    assert sarif.returncode == 1
    results = json.loads(sarif.stdout)["runs"][0]["results"]
    location = results[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "generated/hello/__init__.py"
    assert location["region"]["startLine"] == 7
    for path in unreleased.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert b"PANELCANARY" not in path.read_bytes(), path


def test_a_malformed_answer_is_repaired_once(unreleased: Path) -> None:
    with Emulator() as emu:
        _configure(unreleased, emu)
        emu.script("anthropic", Reply(text=APPROVE))
        emu.script("openai", Reply(text="Looks fine to me!"),
                   Reply(text="```json\n" + APPROVE + "\n```"))
        passed = genops(unreleased, "review", "--format", "json", env=_env())
        repair = json.dumps(emu.requests_for("openai")[1].body)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "not the JSON object asked for" in repair and "Looks fine to me!" in repair
    panel = json.loads(passed.stdout)["results"][0]
    assert panel["verdict"] == "pass" and "2 of 2 reviewers approve" in panel["summary"]


def test_a_second_malformed_answer_misses_the_quorum(unreleased: Path) -> None:
    with Emulator() as emu:
        _configure(unreleased, emu)
        emu.script("anthropic", Reply(text=APPROVE))
        emu.script("openai", Reply(text="no"), Reply(text="still no"))
        failed = genops(unreleased, "review", env=_env())
    assert failed.returncode == 1
    assert "only 1 of 2 reviewers answered (quorum 2)" in failed.stdout
    assert "malformed answer after one repair" in failed.stdout


def test_budget_refuses_before_any_reviewer_is_called(unreleased: Path) -> None:
    with Emulator() as emu:
        _configure(unreleased, emu, budget=0.01)
        refused = genops(unreleased, "review", env=_env())
        assert emu.requests_for("anthropic") == [] and emu.requests_for("openai") == []
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "no reviewer was called" in refused.stderr


def test_high_risk_policy_skips_a_quiet_change(unreleased: Path) -> None:
    with Emulator() as emu:
        _configure(unreleased, emu, when="high_risk")
        toml = (unreleased / "genops.toml").read_text(encoding="utf-8")
        (unreleased / "genops.toml").write_text(
            toml + "\n[review.high_risk]\ndependencies = false\nchanged_share = 1.0\n", encoding="utf-8")
        quiet = genops(unreleased, "review", env=_env())
        assert emu.requests == []
    assert quiet.returncode == 0 and "not high risk" in quiet.stdout


def _regenerate_with_panel(root: Path, monkeypatch: pytest.MonkeyPatch, claude: str,
                          gpt: str) -> RunOutcome:
    """The first synthesis of `root` with a two-vendor panel answering `claude` and `gpt`."""
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    with Emulator() as emu:
        _configure(root, emu)
        commit_all(root, "panel configured")
        emu.script("anthropic", Reply(text=claude))
        emu.script("openai", Reply(text=gpt))
        return regenerate(workspace(root), reason="first synthesis")


def test_the_panel_blocks_a_promotion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_workspace(tmp_path)
    with pytest.raises(GateFailed) as caught:
        _regenerate_with_panel(root, monkeypatch, BLOCK, APPROVE)
    panel = next(r for r in caught.value.results if r.gate == "review_panel")
    assert panel.verdict == "fail" and panel.findings[0].file == "generated/hello/__init__.py"
    assert not (root / "generated" / "hello").exists() and not (root / "ARCHITECTURE.md").exists()


def test_an_approving_panel_is_promoted_with_its_spend_in_the_manifest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The panel's calls are paid in the same run: the manifest's totals, the reviewer summary
    and `genops log` count them beside the synthesis, and the ledger agrees."""
    root = make_workspace(tmp_path)
    outcome = _regenerate_with_panel(root, monkeypatch, APPROVE, APPROVE)
    assert outcome.status == "promoted" and outcome.release is not None
    release = outcome.release.release
    manifest = json.loads((root / ".genops" / "releases" / release / "manifest.json").read_text())
    review = manifest["totals"]["review_panel"]
    assert review["calls"] == 2 and review["paid_calls"] == 2 and review["cost_usd"] > 0
    assert review["tokens"]["input"] > 0 and review["tokens"]["output"] > 0
    ledger = Ledger.for_workspace(root)
    run_total = ledger.run_total(manifest["run"])
    assert run_total == pytest.approx(manifest["totals"]["cost_usd"] + review["cost_usd"], abs=1e-6)
    summary = (root / "diffs" / f"{release}.md").read_text(encoding="utf-8")
    assert f"review panel ${review['cost_usd']:.4f} over 2 calls" in summary, summary
    log = json.loads(genops(root, "log", "--json", env=_env()).stdout)["releases"][0]
    assert log["cost_usd"] == pytest.approx(run_total, abs=1e-6)
