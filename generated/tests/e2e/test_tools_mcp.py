"""MADs call each other's tools over MCP (official SDK), under permissions and quotas."""
from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Callable

import pytest

from mad.app import Ecosystem
from mad.tools.gateway import ToolPolicy


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def session(eco: Ecosystem, caller: str, calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[Any]]:
    async with eco.mcp(caller) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        results = [await client.call_tool(name, args) for name, args in calls]
    return names, results


@pytest.mark.req("REQ-TOOLS-1", "REQ-TOOLS-2")
def test_each_mad_sees_only_the_tools_it_may_call(eco: Ecosystem) -> None:
    hopper, _ = run(session(eco, "hopper", []))
    assert hopper == ["mads.fiedler.ask", "mads.fiedler.consult", "mads.fiedler.models", "mads.marco.fetch",
                      "mads.rogers.conversations", "mads.rogers.history", "mads.rogers.search"]
    assert all(re.fullmatch(r"mads\.[a-z]+\.[a-z_]+", name) for name in hopper)
    grace, _ = run(session(eco, "grace", []))
    assert "mads.marco.fetch" not in grace and "mads.fiedler.usage" in grace
    assert run(session(eco, "turing", []))[0] == []


@pytest.mark.req("REQ-TOOLS-1", "REQ-TOOLS-2")
def test_tools_carry_their_input_schema(eco: Ecosystem) -> None:
    async def schemas() -> dict[str, Any]:
        async with eco.mcp("hopper") as client:
            return {t.name: t.input_schema for t in (await client.list_tools()).tools}

    fetch = run(schemas())["mads.marco.fetch"]
    assert fetch["properties"] == {"url": {"type": "string"}} and fetch["required"] == ["url"]
    assert fetch["additionalProperties"] is False


@pytest.mark.req("REQ-TOOLS-2", "REQ-TOOLS-5")
def test_a_tool_call_is_routed_over_the_bus_to_its_mad(eco: Ecosystem) -> None:
    _, (answer,) = run(session(eco, "hopper", [("mads.fiedler.ask", {"prompt": "what is 7 * 6?"})]))
    assert not answer.is_error
    assert answer.structured_content["text"] == "42"
    assert json.loads(answer.content[0].text)["model"] == "local/rules"
    assert eco.obs
    handled = eco.obs.log.recent(mad="fiedler", event="handled", action="ask")
    assert handled and handled[-1]["sender"] == "hopper"  # the call went to Fiedler as hopper's request
    assert eco.obs.log.recent(mad="tools", event="tool_call", caller="hopper", tool="mads.fiedler.ask")
    assert eco.obs.metrics.snapshot()["hopper"]["tool_calls"] == 1


@pytest.mark.req("REQ-TOOLS-3")
def test_a_tool_outside_the_callers_permissions_is_refused(eco: Ecosystem) -> None:
    _, results = run(session(eco, "grace", [("mads.marco.fetch", {"url": "https://example.org/"}),
                                            ("mads.turing.get_secret", {"name": "x"})]))
    denied, unknown = results
    assert denied.is_error
    assert denied.content[0].text == "permission denied: 'grace' may not call 'mads.marco.fetch'"
    assert unknown.is_error and "unknown tool 'mads.turing.get_secret'" in unknown.content[0].text


@pytest.mark.req("REQ-TOOLS-4")
def test_a_tool_call_past_its_quota_gets_a_clear_error(make_eco: Callable[..., Ecosystem]) -> None:
    eco = make_eco(tool_policies={"tester": ToolPolicy(["mads.*"], {"mads.fiedler.models": (2, 60.0)})})
    calls = [("mads.fiedler.models", {})] * 3 + [("mads.rogers.conversations", {})]
    _, results = run(session(eco, "tester", calls))
    assert [r.is_error for r in results] == [False, False, True, False]
    message = results[2].content[0].text
    assert re.fullmatch(r"quota exceeded: 'tester' may call 'mads\.fiedler\.models' 2 time\(s\) per 60s; "
                        r"try again in \d+s", message), message
    assert results[2].structured_content["code"] == "quota"
    assert eco.obs and eco.obs.log.recent(event="quota_exceeded", caller="tester")


@pytest.mark.req("REQ-TOOLS-6")
def test_arguments_are_checked_against_the_schema(eco: Ecosystem) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("mads.fiedler.ask", {}), ("mads.fiedler.ask", {"prompt": "hi", "temperature": 2}),
        ("mads.fiedler.ask", {"prompt": 42}), ("mads.rogers.search", {"query": "x", "limit": True}),
        ("mads.fiedler.ask", {"prompt": "hi", "task": "poetry"}),
    ]
    _, results = run(session(eco, "hopper", calls))
    texts = [r.content[0].text for r in results]
    assert all(r.is_error for r in results)
    assert "missing required argument(s): prompt" in texts[0]
    assert "unknown argument 'temperature'" in texts[1]
    assert "argument 'prompt' must be string" in texts[2]
    assert "argument 'limit' must be integer" in texts[3]
    assert "mads.fiedler.ask failed: unknown task 'poetry'" in texts[4]  # the MAD's own check
