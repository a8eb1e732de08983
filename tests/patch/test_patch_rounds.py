"""The patch conversation's requests: the edit protocol's example names a real file of the request,
and a round that would repeat the previous round's request byte for byte is not sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from genops.calls import CompletionRequest
from genops.ledger.db import Ledger
from genops.patch.engine import PatchFailed, PatchJob, run_patch
from genops.protocol.edits import render_edit_help
from genops.providers.client import ModelClient
from genops.providers.fake import FakeProvider
from genops.workspace import load_workspace
from genops.workspace.scaffold import init_workspace

S, D, R = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
BASE = {"hello/__init__.py": '"""Greetings."""\n',
        "hello/greet.py": 'def greet(name):\n    return f"Hi, {name}!"\n'}
# what a small model answered: the prompt's example path, a SEARCH that matches nothing
COPIED = f'<edit path="hello/greet.py">\n{S}\n    return "Hello"\n{D}\n    return "Hi"\n{R}\n</edit>\n'


def job(tmp_path: Path, answer: str) -> tuple[PatchJob, list[CompletionRequest]]:
    root = init_workspace(tmp_path / "ws", name="hello", provider="anthropic", git=False).root
    ws = load_workspace(root)
    fake = FakeProvider(responder=lambda request: answer)
    rungs = ws.config.rung_models()[:1]
    client = ModelClient(root, ws.config, run_id="run-patch", providers={rungs[0][0]: fake},
                         sleep=lambda _s: None)
    return (PatchJob(ws=ws, client=client, rungs=rungs, base=dict(BASE), base_root=None,
                     instruction="greet(name) in hello/greet.py says Hello", run_dir=root / "run"),
            fake.requests)


def test_the_edit_protocol_example_names_a_file_of_the_request(tmp_path: Path) -> None:
    good = f'<edit path="hello/greet.py">\n{S}\n    return f"Hi, {{name}}!"\n{D}\n' \
           f'    return f"Hello, {{name}}!"\n{R}\n</edit>\n'
    patch_job, requests = job(tmp_path, good)
    result = run_patch(patch_job)

    asked = requests[0].messages[-1].content
    assert result.tree["hello/greet.py"].endswith('"Hello, {name}!"\n')
    assert '<edit path="hello/greet.py">' in asked  # the file chosen for the change
    assert "pkg/module.py" not in asked and "pkg/obsolete.py" not in asked
    assert '<delete path="hello/' not in asked  # no real file is offered for deletion
    assert "pkg/" not in render_edit_help() and "RELATIVE/PATH/OF/THE/FILE" in render_edit_help()


def test_a_round_that_would_repeat_the_previous_request_is_not_sent(tmp_path: Path) -> None:
    patch_job, requests = job(tmp_path, COPIED)
    assert patch_job.ws.config.patch.max_repairs >= 2
    with pytest.raises(PatchFailed) as info:
        run_patch(patch_job)

    err = info.value
    assert len(requests) == 2  # round 1, and round 2 with the failure report
    assert "round 3's request would repeat round 2's byte for byte" in err.message
    assert "temperature 0" in err.message and "not sent" in err.message
    assert "block 1 (hello/greet.py)" in err.message and err.exit_code == 1
    rows = Ledger.for_workspace(patch_job.ws.root).calls()
    assert [r.status for r in rows] == ["ok", "ok"], "no third round, not even from the archive"
