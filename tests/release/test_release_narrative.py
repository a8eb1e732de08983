"""`[review] summary`: the pinned model's narrative atop diffs/<release>.md, through the pipeline
with the fake provider: written under three fixed headings, names it gives that the change lacks
listed as unverified, repaired once, left out (and the release goes on) when still malformed,
costed in the manifest beside the synthesis, and answered from the archive on replay."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from release_helpers import commit_all, genops, make_workspace, workspace

from genops.ledger.db import Ledger
from genops.protocol.answers import check_answer
from genops.protocol.narrative import NarrativeError, check_narrative
from genops.release.pipeline import regenerate

NARRATIVE = """## What changed and why
`hello/__init__.py` greets by name (REQ-GREET-1) and refuses an empty name (REQ-GREET-2).

## Risks
It also names REQ-GREET-9 and `hello/missing.py`, which this change does not contain.

## What a reviewer should check
The empty-name check in `generated/hello/__init__.py:7`.
"""
ASKED = "Write the narrative at the top of the reviewer summary"
REPAIR = "does not have the shape asked for"


def _with_narrative(root: Path, first: str, repaired: str | None = None) -> None:
    """Turn on [review] summary and script the fake's narrative answers (the repair first: the
    fake answers with the first entry whose key is in the last user message)."""
    with open(root / "genops.toml", "a", encoding="utf-8") as toml:
        toml.write("\n[review]\nsummary = true\n")
    path = root / ".genops" / "fake-responses.json"
    replies = json.loads(path.read_text(encoding="utf-8"))
    scripted = ({REPAIR: repaired} if repaired is not None else {}) | {ASKED: first}
    path.write_text(json.dumps(scripted | replies, indent=2), encoding="utf-8")
    commit_all(root, "narrative on")


def _manifest(root: Path, release: str) -> dict:
    return json.loads((root / ".genops" / "releases" / release / "manifest.json").read_text())


def test_the_narrative_is_written_checked_costed_and_replayed(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    _with_narrative(root, NARRATIVE)
    outcome = regenerate(workspace(root), reason="first synthesis")
    assert outcome.status == "promoted" and outcome.release is not None
    release = outcome.release.release
    manifest = _manifest(root, release)
    entry = manifest["narrative"]
    assert entry["text"] == NARRATIVE and [c["label"] for c in entry["calls"]] == ["summary"]
    assert entry["unverified"] == ["REQ-GREET-9", "hello/missing.py"]
    spent = manifest["totals"]["narrative"]
    assert spent["calls"] == 1 and spent["cost_usd"] > 0
    run_total = Ledger.for_workspace(root).run_total(manifest["run"])
    assert run_total == pytest.approx(manifest["totals"]["cost_usd"] + spent["cost_usd"], abs=1e-6)

    summary = (root / "diffs" / f"{release}.md").read_text(encoding="utf-8")
    assert "## Model-written narrative (unverified)\n\nWritten by fake `fake-1`" in summary
    assert "> **What changed and why**" in summary and "\n## Risks" not in summary
    assert "Not found in this change, check before relying on them: `REQ-GREET-9`, " \
           "`hello/missing.py`" in summary
    assert f"narrative ${spent['cost_usd']:.4f} over 1 calls" in summary
    again = genops(root, "summary", release)
    assert again.returncode == 0 and again.stdout == summary  # rendered from the manifest alone

    replayed = genops(root, "replay", "--json")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert json.loads(replayed.stdout)["narrative"] == "reproduced"


def test_a_malformed_narrative_is_repaired_once(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    _with_narrative(root, "Looks good to me.", repaired="```markdown\n" + NARRATIVE + "```\n")
    outcome = regenerate(workspace(root), reason="first synthesis")
    assert outcome.release is not None
    entry = _manifest(root, outcome.release.release)["narrative"]
    assert [c["label"] for c in entry["calls"]] == ["summary", "summary-repair"]
    assert entry["text"] == NARRATIVE and "error" not in entry


def test_a_narrative_still_malformed_is_left_out_and_the_release_goes_on(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    _with_narrative(root, "Looks good to me.", repaired="## Risks\nnone\n")
    outcome = regenerate(workspace(root), reason="first synthesis")
    assert outcome.status == "promoted" and outcome.release is not None
    release = outcome.release.release
    manifest = _manifest(root, release)
    assert manifest["narrative"]["error"].startswith("not usable after one repair: ")
    assert manifest["totals"]["narrative"]["calls"] == 2  # both answers were paid for
    summary = (root / "diffs" / f"{release}.md").read_text(encoding="utf-8")
    assert "> No narrative: the answer of fake fake-1 was not usable after one repair" in summary
    assert "## Narrative" not in summary


def test_replay_notices_a_narrative_the_archive_does_not_hold(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    _with_narrative(root, NARRATIVE)
    outcome = regenerate(workspace(root), reason="first synthesis")
    assert outcome.release is not None
    path = root / ".genops" / "releases" / outcome.release.release / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["narrative"]["text"] = NARRATIVE.replace("greets by name", "greets everyone")
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    commit_all(root, "an edited narrative")
    replayed = genops(root, "replay", "--json")
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert json.loads(replayed.stdout)["narrative"] == \
        "the archived answer differs from the recorded narrative"
    assert "but not its summary narrative" in replayed.stderr


H1, H2, H3 = "## What changed and why", "## Risks", "## What a reviewer should check"
SHAPES = [
    ("three headings", f"{H1}\na\n{H2}\nb\n{H3}\nc\n", None),
    ("fenced, with a preamble line", f"```markdown\nHere it is.\n{H1}\na\n{H2}\nb\n{H3}\nc\n```",
     None),
    ("a heading missing", f"{H1}\na\n{H3}\nc\n", "lacks the heading(s) '## Risks'"),
    ("out of order", f"{H2}\nb\n{H1}\na\n{H3}\nc\n", "out of order"),
    ("an empty section", f"{H1}\na\n{H2}\n\n{H3}\nc\n", "a narrative section is empty"),
    ("plain prose", "Looks good to me.", "lacks the heading(s)"),
]


@pytest.mark.parametrize(("name", "text", "error"), SHAPES, ids=[s[0] for s in SHAPES])
def test_the_narrative_shape(name: str, text: str, error: str | None) -> None:
    """One check serves the pipeline and the manual provider (which refuses before archiving)."""
    for label in ("summary", "summary-repair"):
        if error is None:
            check_answer(text, label)
            assert check_narrative(text).startswith(H1)
        else:
            with pytest.raises(NarrativeError, match=error.replace("(", r"\(").replace(")", r"\)")):
                check_answer(text, label)


def test_a_manual_narrative_request_shows_its_headings_not_the_file_protocol(tmp_path: Path) -> None:
    from genops.calls import Message
    from genops.providers.manual import ManualProvider
    from genops.synthesis.conversation import build_request
    from genops.workspace.config import ModelConfig

    cfg = ModelConfig(provider="manual", model="by-hand")
    request = build_request(cfg, (Message("user", "narrate"),), cache_key="summary",
                            label="summary")
    text = ManualProvider(tmp_path, tmp_path / "run").render_request(request, "0001-summary",
                                                                      tmp_path / "answer.md")
    assert f"under exactly these headings, in this order: {H1}; {H2}; {H3}." in text
    assert "## The file protocol" not in text and "<file path=" not in text


def test_with_the_manual_provider_the_narrative_is_a_request_file_like_any_other(
        tmp_path: Path) -> None:
    """By hand: the run waits for the narrative after the gates, refuses an answer without the
    headings (exit 2, naming the file, nothing archived), and promotes once it is answered."""
    root = make_workspace(tmp_path)
    _with_narrative(root, NARRATIVE)
    replies = json.loads((root / ".genops" / "fake-responses.json").read_text())
    first = genops(root, "regenerate", "--provider", "manual", "--reason", "by hand")
    assert first.returncode == 5, first.stderr
    run_dir = next((root / ".genops" / "runs").iterdir())
    responses = run_dir / "responses"
    for name, needle in (("01-blueprint.md", "Plan the complete source tree"),
                         ("02-core.md", "Write the files of group `core`"),
                         ("03-tests.md", "Write the files of group `tests`")):
        (responses / name).write_text(replies[needle], encoding="utf-8")
        step = genops(root, "resume", run_dir.name)
    assert step.returncode == 5, step.stdout + step.stderr  # the gates passed; the narrative waits
    request = next((run_dir / "requests").glob("*summary.md"))
    assert "under exactly these headings" in request.read_text(encoding="utf-8")
    answer = responses / request.name
    answer.write_text("Looks good to me.\n", encoding="utf-8")
    refused = genops(root, "resume", run_dir.name)
    assert refused.returncode == 2 and request.name in refused.stderr, refused.stderr
    assert "lacks the heading(s)" in refused.stderr
    answer.write_text(NARRATIVE, encoding="utf-8")
    done = genops(root, "resume", run_dir.name)
    assert done.returncode == 0 and "promoted r0001" in done.stdout, done.stdout + done.stderr
    entry = _manifest(root, "r0001")["narrative"]
    assert entry["provider"] == "manual" and entry["text"] == NARRATIVE
    assert "Written by manual `" in (root / "diffs" / "r0001.md").read_text(encoding="utf-8")


KINDS = [
    ("blueprint", '{"groups": []}', None),
    # a selective run's placement request is a blueprint update (issue 26: the manual provider
    # refused this repository's JSON placement answer as "no <file> or <delete> blocks")
    ("placement", '```json\n{"groups": []}\n```', None),
    ("placement", '<file path="a.py">\nx = 1\n</file>\n', "holds no JSON object"),
    ("core", "<file path=\"a.py\">\nx = 1\n</file>\n", None),
    ("core", '{"groups": []}', "no <file> or <delete> blocks"),
    ("review-claude", '```json\n{"verdict": "approve", "findings": []}\n```', None),
    ("review-claude-repair", "Looks fine to me!", "not JSON"),
    ("review-claude", "[1, 2]", "not a JSON object"),
    ("summary.cont1", "anything", "lacks the heading(s)"),
]


@pytest.mark.parametrize(("label", "text", "error"), KINDS, ids=[f"{k[0]}:{k[2]}" for k in KINDS])
def test_a_manual_answer_is_checked_by_the_protocol_its_label_names(label: str, text: str,
                                                                     error: str | None) -> None:
    """One dispatch (answer_kind) for the manual provider's check and the blueprint's reserved
    names: a reviewer's JSON is no longer refused as a file-protocol answer."""
    from genops.errors import GenopsError

    if error is None:
        check_answer(text, label)
    else:
        with pytest.raises(GenopsError, match=re.escape(error)):
            check_answer(text, label)
