"""The support tools as an MCP server: the same tools, schemas and store as `aieng.support_tools`.

    build_server(store_path)   an MCP `Server` exposing every tool in `support_tools.TOOLS`
    serve_stdio(store_path)    run it over stdin/stdout (what `python -m aieng.mcp` does)

It uses the SDK's low-level `Server` rather than `MCPServer` because `MCPServer` derives each
tool's schema from a Python signature, while here the JSON schemas in `support_tools.TOOLS` are
the one source of truth: a client lists exactly them. A call that fails (unknown tool, arguments
failing the schema, an id that does not exist) comes back as a result with `is_error=True` and
the message that says what to do, so the model can read it and try again; the server keeps running.

In a test or a notebook, connect in memory with `mcp.Client(build_server(...))`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcp import types
from mcp.server import Server

from aieng import support_tools

__all__ = ["SERVER_NAME", "build_server", "serve_stdio"]

SERVER_NAME = "ledgerloop-support"


def _mcp_tool(spec: support_tools.ToolSpec) -> types.Tool:
    # Hints only (clients must not trust them), but they let a client ask before a tool that writes.
    hints = types.ToolAnnotations(read_only_hint=not spec.changes_data, destructive_hint=False,
                                  idempotent_hint=not spec.changes_data, open_world_hint=False)
    return types.Tool(name=spec.name, description=spec.description, input_schema=spec.parameters, annotations=hints)


def build_server(store_path: str | Path | None = None) -> Server:
    """An MCP server whose tools are `support_tools.TOOLS`, writing to the store at `store_path`.

    `store_path` defaults to `artifacts/support_store.json` in the workspace of the moment."""
    store = support_tools.SupportStore(store_path)
    tools = [_mcp_tool(spec) for spec in support_tools.TOOLS.values()]

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            result = support_tools.call_tool(params.name, params.arguments or {}, store=store)
        except support_tools.ToolError as err:
            return types.CallToolResult(content=[types.TextContent(text=str(err))], is_error=True)
        return types.CallToolResult(content=[types.TextContent(text=json.dumps(result))], structured_content=result)

    return Server(SERVER_NAME, version="1.0",
                  instructions="Ledgerloop customer support: search the help center, look up customers, orders "
                               "and invoices, open or update tickets, request refunds.",
                  on_list_tools=list_tools, on_call_tool=call_tool)


def serve_stdio(store_path: str | Path | None = None) -> None:
    """Serve the support tools over stdin/stdout until the client closes the connection (blocks)."""
    import anyio
    from mcp.server.stdio import stdio_server

    server = build_server(store_path)

    async def run() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(run)
