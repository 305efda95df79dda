"""A stdio MCP server for the MCP tests: ``pid`` (its process id) and ``die`` (the process
exits mid-call, as a crashing server does) and ``traceparent`` (the trace context the request
carried). Run as ``python tests/mcp_stdio_app.py``."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context

server: MCPServer = MCPServer("fragile", log_level="WARNING")


@server.tool()
def pid() -> int:
    """This server's process id."""
    return os.getpid()


@server.tool()
def traceparent(ctx: Context) -> str:
    """The W3C traceparent the request carried in its _meta, or "none"."""
    meta = ctx.request_context.meta or {}
    found = (
        meta.get("traceparent") if isinstance(meta, dict) else getattr(meta, "traceparent", None)
    )
    return str(found or "none")


@server.tool()
def die() -> str:
    """Ends the server's process."""
    os._exit(3)


if __name__ == "__main__":
    server.run()
