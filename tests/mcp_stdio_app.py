"""A stdio MCP server for the MCP tests: ``pid`` (its process id) and ``die`` (the process
exits mid-call, as a crashing server does). Run as ``python tests/mcp_stdio_app.py``."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server: MCPServer = MCPServer("fragile", log_level="WARNING")


@server.tool()
def pid() -> int:
    """This server's process id."""
    return os.getpid()


@server.tool()
def die() -> str:
    """Ends the server's process."""
    os._exit(3)


if __name__ == "__main__":
    server.run()
