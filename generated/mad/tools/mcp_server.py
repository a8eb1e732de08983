"""The tool gateway over MCP, with the official ``mcp`` SDK (the only module importing it).

One MCP server per calling MAD: the session *is* the caller's identity, so
``tools/list`` shows only what that MAD may call, and every ``tools/call`` goes
through the gateway's permission, schema and quota checks. Refusals come back
as MCP tool errors (``isError``) whose text says exactly what was refused.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from mcp import Client, types
from mcp.server import Server, ServerRequestContext

from mad.tools.gateway import ToolError, ToolGateway


def build_mcp_server(gateway: ToolGateway, caller: str) -> Server[Any]:
    """An MCP server exposing to ``caller`` the tools it is permitted to call."""

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[
            types.Tool(name=t.full_name, description=t.spec.description, input_schema=t.spec.input_schema())
            for t in gateway.tools_for(caller)])

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            result = await asyncio.to_thread(gateway.call, caller, params.name, dict(params.arguments or {}))
        except ToolError as exc:
            return types.CallToolResult(is_error=True, content=[types.TextContent(type="text", text=str(exc))],
                                        structured_content={"code": exc.code, "error": str(exc)})
        payload = result if isinstance(result, dict) else {"result": result}
        return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(result, default=str))],
                                    structured_content=payload)

    return Server(f"mad-tools-{caller}", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool)


def connect(gateway: ToolGateway, caller: str) -> Client:
    """An MCP client session (async context manager) for ``caller``, in process."""
    return Client(build_mcp_server(gateway, caller))
