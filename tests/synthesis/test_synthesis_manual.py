"""The manual provider: requests become files a person answers, one dependency level at a time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synth_helpers import ALL_FILES, BLUEPRINT, GROUPS, make_client, write_workspace

from genops.errors import ExitCode
from genops.ledger.pricing import estimate_tokens
from genops.calls import CompletionRequest, Message
from genops.providers.manual import ManualPending, ManualProvider
from genops.synthesis.engine import synthesize
from genops.synthesis.levels import SynthesisResult
from genops.protocol.files import format_protocol
from genops.workspace import Workspace


def attempt(ws: Workspace, run_dir: Path, run_id: str = "run-1") -> SynthesisResult:
    client = make_client(ws, {"senior": ManualProvider(ws.root, run_dir)}, run_id=run_id)
    return synthesize(ws, client=client, rungs=ws.config.rung_models(), previous_tree=None,
                      run_dir=run_dir)


def answer(pending: list[Path], responses: Path) -> None:
    """Answer each request file as a person would: the blueprint JSON or the group's files."""
    for request in pending:
        label = request.stem.split("-", 1)[1]
        text = json.dumps(BLUEPRINT) if label == "blueprint" else \
            format_protocol(GROUPS[label][0])
        (responses / request.name).write_text(text, encoding="utf-8")


def test_manual_flow_level_by_level(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", senior_provider="manual")
    run_dir = ws.root / ".genops" / "runs" / "run-1"
    rounds: list[list[str]] = []
    for _ in range(10):
        try:
            result = attempt(ws, run_dir)
            break
        except ManualPending as pending:
            assert pending.exit_code == ExitCode.AWAITING  # waiting is not success (exit 5)
            rounds.append([p.name for p in pending.pending])
            assert all(p.is_file() for p in pending.pending)
            answer(pending.pending, pending.responses_dir)
    else:
        pytest.fail("the manual flow never finished")
    assert rounds == [["01-blueprint.md"], ["02-core.md", "03-docs.md"],
                      ["04-config.md", "05-bus.md"], ["06-store.md"], ["07-app.md"],
                      ["08-tests.md"]]
    assert result.files == dict(sorted(ALL_FILES.items()))
    assert result.cost_usd == 0.0
    # what a person reads: where to answer, the protocol, every message with its role
    text = (run_dir / "requests" / "06-store.md").read_text()
    assert "responses/06-store.md" in text
    assert '<file path="' in text and "## Message 1 (system)" in text
    assert "## Message 3 (user)" in text and "Write the files of group `store`" in text
    index = json.loads((run_dir / "requests" / "index.json").read_text())
    assert sorted(index.values()) == [name[:-3] for r in rounds for name in r]
    # a final re-run is all archive hits
    again = attempt(ws, run_dir, run_id="run-2")
    assert all(c.from_archive for c in again.calls)


def test_manual_provider_numbers_requests_stably(tmp_path: Path) -> None:
    provider = ManualProvider(tmp_path, tmp_path / "run")

    def request(label: str, text: str) -> CompletionRequest:
        return CompletionRequest("manual", "manual", (Message("user", text),), 100,
                                 extra=(("label", label),))

    for label, text in [("blueprint", "a"), ("core", "b"), ("blueprint", "a")]:
        with pytest.raises(ManualPending):
            provider.complete(request(label, text))
    assert sorted(p.name for p in (tmp_path / "run" / "requests").glob("*.md")) == \
        ["01-blueprint.md", "02-core.md"]
    answer_text = format_protocol({"a.py": "x = 1\n"})
    (tmp_path / "run" / "responses" / "02-core.md").write_text(answer_text)
    response = provider.complete(request("core", "b"))
    assert response.text == answer_text and response.stop == "complete"
    assert response.usage.output_tokens == estimate_tokens(answer_text) and response.usage.input_tokens > 0
