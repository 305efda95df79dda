"""In-process MCP servers built with the ``mcp`` SDK for the MCP tests, and the command lines
of the real MCP servers from PyPI (installed by the dev extra)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.server.mcpserver.exceptions import ToolError

TIME_SERVER = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]


def git_server(repository: str) -> list[str]:
    return [sys.executable, "-m", "mcp_server_git", "--repository", repository]


class Gate:
    """Lets a test wait until a hanging tool has really started on the server."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()


def calculator(gate: Gate | None = None) -> MCPServer:
    """``add``, ``divide`` (a ``ToolError`` on zero), ``hang`` (never returns), ``grow`` (adds
    a ``shout`` tool and says the tool list changed)."""
    server: MCPServer = MCPServer("calc", log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        if b == 0:
            raise ToolError("cannot divide by zero")
        return a / b

    @server.tool()
    async def hang() -> str:
        """Never answers."""
        if gate is not None:
            gate.entered.set()
        await asyncio.Event().wait()
        return "unreachable"

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Adds the shout tool."""

        def shout(text: str) -> str:
            """Upper-case the text."""
            return text.upper()

        server.add_tool(shout, name="shout")
        await ctx.notify_tools_changed()
        return "grown"

    return server


def named(*names: str) -> MCPServer:
    """A server offering one trivial tool per name."""
    server: MCPServer = MCPServer("named", log_level="WARNING")
    for name in names:

        def echo(text: str = "") -> str:
            return text

        server.add_tool(echo, name=name, description=f"tool {name}")
    return server


def tool_names(tools: list[dict[str, Any]]) -> list[str]:
    return [tool["function"]["name"] for tool in tools]
