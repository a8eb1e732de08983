"""One JSON convention for every command (README "Output and exit codes").

`--json`: exactly one JSON document on stdout, also when the command fails (then it is the error).
`--jsonl`: JSON Lines on stdout, the last line the result (`"event": "result"`).
Every command runs as a real subprocess against a small real workspace (fake provider).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from release_helpers import clean_env, genops, in_process_env, make_louder, make_workspace, workspace

from genops.release.pipeline import regenerate


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> Path:
    """A workspace with release r0001 and a spec change not yet released."""
    root = tmp_path_factory.mktemp("conventions")
    with in_process_env(venv_cache):
        root = make_workspace(root)
        regenerate(workspace(root), reason="first")
        make_louder(root)
    return root


def _env() -> dict[str, str]:
    return clean_env(GENOPS_VENV_CACHE=os.environ["GENOPS_VENV_CACHE"])


# (arguments after `genops`, the exit code expected; each prints one JSON document with --json)
JSON_COMMANDS: list[tuple[tuple[str, ...], int]] = [
    (("regenerate", "--dry-run", "--json"), 0),
    (("log", "--json"), 0),
    (("diff", "--json"), 0),
    (("diff", "--format", "json"), 0),
    (("diff", "r0001", "generated", "--json", "--fail-on", "any"), 0),
    (("check", "--json"), 0),
    (("check", "--format", "json"), 0),
    (("cost", "--json"), 0),
    (("runs", "--json"), 0),
    (("runs", "cancel", "nosuch-run", "--json"), 2),
    (("verify", "--json"), 0),
    (("summary", "--json"), 0),
    (("architecture", "--json"), 0),
    (("review", "--json"), 0),
    (("review", "--format", "json"), 0),
    (("replay", "--json"), 0),
    (("resume", "--json"), 2),  # no unfinished run: the error is the document
    (("rollback", "r0001", "--json"), 2),  # already the current tree
    (("patch", "--from-drift", "--json"), 2),  # no drift to record
    (("patch", "--dry-run", "--json", "make greet louder"), 0),
]


@pytest.mark.parametrize(("args", "code"), JSON_COMMANDS,
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else str(v))
def test_json_is_one_document(released: Path, args: tuple[str, ...], code: int) -> None:
    result = genops(released, *args, env=_env())
    assert result.returncode == code, result.stdout[-2000:] + result.stderr[-2000:]
    document = json.loads(result.stdout)  # the whole of stdout, nothing before or after
    assert isinstance(document, dict)
    if code:
        assert document["status"] == "error" and document["exit_code"] == code
        assert document["error"] and result.stderr.startswith("error:")


def _jsonl(stdout: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stdout.splitlines()]  # every line parses on its own
    assert lines and all(isinstance(line, dict) and "event" in line for line in lines)
    assert [line["event"] for line in lines].count("result") == 1
    assert lines[-1]["event"] == "result"
    return lines


def test_jsonl_streams_events_then_the_result(released: Path) -> None:
    """regenerate, then replay, patch and resume, each as JSON Lines."""
    made = _jsonl(genops(released, "regenerate", "--reason", "louder", "--jsonl",
                         env=_env()).stdout)
    assert {"group_started", "group_done", "gate_done"} <= {e["event"] for e in made}
    assert made[-1]["status"] == "promoted" and made[-1]["release"]["release"] == "r0002"

    replayed = genops(released, "replay", "--jsonl", env=_env())
    assert replayed.returncode == 0, replayed.stderr
    assert _jsonl(replayed.stdout)[-1]["reproduced"] is True

    failed = genops(released, "patch", "--from-drift", "--jsonl", env=_env())
    assert failed.returncode == 2
    last = _jsonl(failed.stdout)[-1]
    assert last["status"] == "error" and last["exit_code"] == 2

    resumed = genops(released, "resume", "--jsonl", env=_env())
    assert resumed.returncode == 2 and _jsonl(resumed.stdout)[-1]["status"] == "error"


def test_init_and_keygen_print_one_document(tmp_path: Path) -> None:
    made = genops(tmp_path, "init", "ws", "--provider", "fake", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["files"]
    key = genops(tmp_path / "ws", "keygen", str(tmp_path / "signing.key"), "--json")
    assert key.returncode == 0, key.stderr
    assert json.loads(key.stdout)["public_key"].startswith(".genops/keys/")


def test_outside_a_workspace_log_is_a_usage_error(tmp_path: Path) -> None:
    plain = genops(tmp_path, "log")
    assert plain.returncode == 2 and "not inside a genops workspace" in plain.stderr
    assert "genops init" in plain.stderr and plain.stdout == ""
    as_json = genops(tmp_path, "log", "--json")
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["exit_code"] == 2
