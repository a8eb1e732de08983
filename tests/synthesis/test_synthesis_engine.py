"""synthesize(): strategies, continuation, repair, the fallback ladder, determinism and resume."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from synth_helpers import (ALL_FILES, BLUEPRINT, GROUPS, demo_responder, kind_of, last_user,
                           make_client, write_workspace)

from genops.errors import BudgetExceeded, ExitCode, ProviderError
from genops.calls import CompletionRequest
from genops.providers.fake import FakeProvider
from genops.synthesis.engine import synthesize
from genops.synthesis.progress import CallRecord
from genops.protocol.files import ProtocolError, format_protocol
from genops.workspace import Workspace


def run(ws: Workspace, providers: dict[str, FakeProvider], run_dir: Path | None = None,
        run_id: str = "run-1", **kwargs: object):
    client = make_client(ws, providers, run_id=run_id)  # type: ignore[arg-type]
    return synthesize(ws, client=client, rungs=ws.config.rung_models(), previous_tree=None,
                      run_dir=run_dir or ws.root / ".genops" / "runs" / run_id, **kwargs)


class Recorder:
    """A thread-safe Progress that keeps every event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.messages: list[str] = []
        self.chars = 0
        self._lock = threading.Lock()

    def group_started(self, name: str) -> None:
        with self._lock:
            self.events.append(("started", name))

    def tokens(self, name: str, n: int, cost: float) -> None:
        with self._lock:
            self.chars += n

    def group_done(self, name: str, record: CallRecord) -> None:
        with self._lock:
            self.events.append(("done", name))

    def message(self, text: str) -> None:
        with self._lock:
            self.messages.append(text)


def test_multi_generates_every_group_after_its_dependencies(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    fake = FakeProvider(responder=demo_responder())
    progress = Recorder()
    result = run(ws, {"senior": fake}, progress=progress)

    assert result.files == dict(sorted(ALL_FILES.items()))
    assert result.blueprint is not None and len(result.blueprint.groups) == 7
    assert result.rung_by_group == {"blueprint": "senior", **{g: "senior" for g in GROUPS}}
    assert set(result.models) == {"senior"} and result.models["senior"].model == "senior-1"
    assert [c.label for c in result.calls] == ["blueprint", "core", "docs", "config", "bus",
                                               "store", "app", "tests"]
    assert all(c.cost_usd > 0 and not c.from_archive for c in result.calls)
    # each group was asked after every group it depends on had answered
    order = [kind_of(r) for r in fake.requests]
    for name, (_, deps, _) in GROUPS.items():
        for dep in deps:
            assert order.index(f"group:{dep}") < order.index(f"group:{name}")
    # a group sees the generated interfaces of its (transitive) dependencies
    app_prompt = last_user(next(r for r in fake.requests if kind_of(r) == "group:app"))
    assert "def publish(self, topic: str, payload: dict) -> None" in app_prompt
    assert "def make_id(prefix: str, n: int=0) -> str" in app_prompt  # via bus -> core
    assert "demo/tests" not in app_prompt
    # every request starts with the same cacheable prefix after the blueprint
    group_requests = [r for r in fake.requests if kind_of(r).startswith("group:")]
    prefixes = {r.messages[:2] for r in group_requests}
    assert len(prefixes) == 1 and next(iter(prefixes))[1].cache_prefix
    assert "## Blueprint" in next(iter(prefixes))[1].content
    assert len({r.cache_key for r in group_requests}) == 1
    assert {e for e in progress.events if e[0] == "done"} == \
        {("done", n) for n in ["blueprint", *GROUPS]}
    journal = (ws.root / ".genops/runs/run-1/synthesis.jsonl").read_text().splitlines()
    assert [json.loads(line)["label"] for line in journal][0] == "blueprint"
    assert sorted(json.loads(line)["key"] for line in journal) == \
        sorted(c.key for c in result.calls)


def test_single_strategy_returns_every_file(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", strategy="single")
    result = run(ws, {"senior": FakeProvider(responder=demo_responder())})
    assert result.files == dict(sorted(ALL_FILES.items()))
    assert result.blueprint is None and result.rung_by_group == {"single": "senior"}


def _long_tree() -> dict[str, str]:
    lines = "".join(f"VALUE_{i} = {i}  # a line long enough to matter\n" for i in range(40))
    return {"demo/a.py": lines, "demo/b.py": lines.replace("VALUE", "OTHER")}


@pytest.mark.parametrize("repeat_partial_line", [False, True])
def test_truncated_answer_is_continued_and_stitched(tmp_path: Path,
                                                    repeat_partial_line: bool) -> None:
    """An answer cut at the output limit is continued (quoting its tail) and stitched."""
    ws = write_workspace(tmp_path / "ws", strategy="single", max_output=300)
    full = format_protocol(_long_tree())

    def respond(request: CompletionRequest) -> str:
        if kind_of(request) == "single":
            return full
        assert kind_of(request) == "continue"
        so_far = request.messages[-2].content
        assert full.startswith(so_far) and so_far[-100:] in last_user(request)
        rest = full[len(so_far):]
        if repeat_partial_line:  # models often start again at the unfinished line
            rest = so_far[so_far.rfind("\n") + 1:] + rest
        return rest

    fake = FakeProvider(responder=respond)
    result = run(ws, {"senior": fake})
    assert result.files == _long_tree()
    labels = [c.label for c in result.calls]
    assert labels[0] == "single" and labels[1:] == [f"single.cont{i}" for i in range(1, 4)]
    assert [c.stop for c in result.calls][:3] == ["max_tokens"] * 3


def test_anthropic_rung_continues_with_assistant_prefill(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", strategy="single", senior_provider="anthropic",
                         max_output=400)
    full = format_protocol(_long_tree())

    def respond(request: CompletionRequest) -> str:
        if kind_of(request) == "single":
            return full
        assert kind_of(request) == "prefill"  # the request ends with the partial answer
        prefill = request.messages[-1].content
        assert prefill == prefill.rstrip() and full.startswith(prefill)
        return full[len(prefill):]

    result = run(ws, {"senior": FakeProvider(responder=respond)})
    assert result.files == _long_tree()
    assert len(result.calls) == 3


def test_still_truncated_after_max_continuations_fails(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", strategy="single", max_output=50)
    full = format_protocol(_long_tree())
    fake = FakeProvider(responder=lambda r: full if kind_of(r) == "single" else full[:400])
    with pytest.raises(Exception) as info:
        run(ws, {"senior": fake})
    assert "still cut off after 3 continuations" in str(info.value)


def test_malformed_answer_is_repaired_once(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", strategy="single")
    good = format_protocol(ALL_FILES)

    def respond(request: CompletionRequest) -> str:
        if kind_of(request) == "single":
            return good.replace("</file>\n", "", 1)  # the first block is left open
        assert kind_of(request) == "repair"
        assert "block 1" in last_user(request) and "never closed" in last_user(request)
        return good

    progress = Recorder()
    result = run(ws, {"senior": FakeProvider(responder=respond)}, progress=progress)
    assert result.files == dict(sorted(ALL_FILES.items()))
    assert [c.label for c in result.calls] == ["single", "single.repair1"]
    assert any("asking for a repair" in m for m in progress.messages)


def test_twice_malformed_fails_with_the_parse_error(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", strategy="single")
    bad = '<file path="../escape.py">\nx = 1\n</file>\n'
    with pytest.raises(ProtocolError) as info:
        run(ws, {"senior": FakeProvider(responder=lambda r: bad)})
    assert info.value.block == 1 and ".." in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


def test_group_missing_a_file_is_repaired(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    base = demo_responder()

    def respond(request: CompletionRequest) -> str:
        if kind_of(request) == "group:core":
            return format_protocol({"demo/core.py": GROUPS["core"][0]["demo/core.py"]})
        if kind_of(request) == "repair":
            assert "missing files: demo/__init__.py" in last_user(request)
            return format_protocol(GROUPS["core"][0])
        return base(request)

    result = run(ws, {"senior": FakeProvider(responder=respond)})
    assert result.files == dict(sorted(ALL_FILES.items()))
    assert "core.repair1" in [c.label for c in result.calls]


def test_bad_blueprint_is_repaired(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    base = demo_responder()
    asked: list[str] = []

    def respond(request: CompletionRequest) -> str:
        if kind_of(request) == "blueprint":
            return '{"groups": [{"name": "core", "files": ["a.py"], "requirements": ["REQ-X-9"]}]}'
        if kind_of(request) == "repair":
            asked.append(last_user(request))
            return json.dumps(BLUEPRINT)
        return base(request)

    result = run(ws, {"senior": FakeProvider(responder=respond)})
    assert "REQ-X-9" in asked[0]
    assert result.blueprint is not None and len(result.blueprint.groups) == 7


def _failing(error_class: str, retryable: bool) -> FakeProvider:
    def respond(request: CompletionRequest) -> str:
        raise ProviderError(f"senior is {error_class}", error_class=error_class,
                            retryable=retryable)
    return FakeProvider(responder=respond)


def test_provider_failure_falls_back_to_the_next_rung(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    progress = Recorder()
    senior = _failing("overloaded", retryable=True)
    junior = FakeProvider(responder=demo_responder())
    result = run(ws, {"senior": senior, "junior": junior}, progress=progress)
    assert result.files == dict(sorted(ALL_FILES.items()))
    assert set(result.rung_by_group.values()) == {"junior"}
    assert set(result.models) == {"junior"}
    assert {c.model for c in result.calls} == {"junior-1"}
    assert len(senior.requests) == 2 * 8  # two attempts (retry.max_attempts) per unit
    assert any("falling back to 'junior'" in m for m in progress.messages)


def test_provider_failure_with_on_failure_stop_raises(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", on_failure="stop")
    with pytest.raises(ProviderError) as info:
        run(ws, {"senior": _failing("server", retryable=False),
                 "junior": FakeProvider(responder=demo_responder())})
    assert info.value.exit_code == ExitCode.PROVIDER


def test_last_rung_failure_is_raised(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    with pytest.raises(ProviderError, match="senior is auth"):
        run(ws, {"senior": _failing("server", False), "junior": _failing("auth", False)})


def test_budget_falls_back_to_a_cheaper_rung(tmp_path: Path) -> None:
    # senior's worst case (4000 output tokens at $500/M = $2) crosses the $1 run budget
    ws = write_workspace(tmp_path / "ws", per_run=1.0, senior_output=500.0, on_budget="fallback")
    senior = FakeProvider(responder=demo_responder())
    result = run(ws, {"senior": senior, "junior": FakeProvider(responder=demo_responder())})
    assert senior.requests == []  # nothing was sent to the model that would cross the budget
    assert set(result.rung_by_group.values()) == {"junior"}
    assert result.cost_usd <= 1.0


def test_budget_stop_raises_budget_exceeded(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", per_run=1.0, senior_output=500.0, on_budget="stop")
    with pytest.raises(BudgetExceeded) as info:
        run(ws, {"senior": FakeProvider(responder=demo_responder()),
                 "junior": FakeProvider(responder=demo_responder())})
    assert info.value.exit_code == ExitCode.BUDGET


def test_same_inputs_render_the_same_requests(tmp_path: Path) -> None:
    """Two workspaces with equal inputs in different places send byte-identical requests."""
    keys = []
    for name in ("one", "two"):
        ws = write_workspace(tmp_path / name / "ws")
        result = run(ws, {"senior": FakeProvider(responder=demo_responder())})
        keys.append([c.key for c in result.calls])
    assert keys[0] == keys[1]


def test_resume_pays_nothing(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    first = run(ws, {"senior": FakeProvider(responder=demo_responder())})
    again = FakeProvider(responder=demo_responder())
    second = run(ws, {"senior": again}, run_id="run-2",
                 run_dir=ws.root / ".genops" / "runs" / "run-1")
    assert again.requests == []
    assert all(c.from_archive for c in second.calls) and second.cost_usd == 0.0
    assert [c.key for c in second.calls] == [c.key for c in first.calls]
    assert second.files == first.files


def test_resume_after_a_failed_group_sends_only_the_rest(tmp_path: Path) -> None:
    """A run that died at `app` resumes: finished calls are archive hits, the rest are sent."""
    ws = write_workspace(tmp_path / "ws", on_failure="stop")
    base = demo_responder()

    def broken(request: CompletionRequest) -> str:
        if kind_of(request) == "group:app":
            raise ProviderError("connection reset", error_class="network")
        return base(request)

    with pytest.raises(ProviderError):
        run(ws, {"senior": FakeProvider(responder=broken)})
    fresh = FakeProvider(responder=demo_responder())
    result = run(ws, {"senior": fresh}, run_id="run-2",
                 run_dir=ws.root / ".genops" / "runs" / "run-1")
    assert sorted(kind_of(r) for r in fresh.requests) == ["group:app", "group:tests"]
    assert [c.label for c in result.calls if not c.from_archive] == ["app", "tests"]
    assert result.files == dict(sorted(ALL_FILES.items()))


def test_previous_tree_api_and_files_reach_the_prompt(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    previous = tmp_path / "previous"
    (previous / "demo").mkdir(parents=True)
    (previous / "demo" / "bus.py").write_text(
        "class Bus:\n    def publish(self, topic: str) -> None:\n        pass\n"
        "    def _private(self) -> None:\n        pass\n")
    (previous / "demo" / "__pycache__").mkdir()
    (previous / "demo" / "__pycache__" / "bus.cpython-311.pyc").write_bytes(b"\0")
    fake = FakeProvider(responder=demo_responder())
    client = make_client(ws, {"senior": fake})
    synthesize(ws, client=client, rungs=ws.config.rung_models(), previous_tree=previous,
               run_dir=tmp_path / "run")
    context = fake.requests[0].messages[1].content
    assert "- demo/bus.py" in context and "pycache" not in context
    assert "def publish(self, topic: str) -> None" in context and "_private" not in context
    bus_task = last_user(next(r for r in fake.requests if kind_of(r) == "group:bus"))
    assert "def publish(self, topic: str) -> None:" in bus_task  # its previous version
