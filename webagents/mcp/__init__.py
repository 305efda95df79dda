"""MCP (Model Context Protocol) in both directions.

In: ``MCPSkill`` offers an MCP server's tools to an agent's model. Out: a served agent's
``all``-scope tools are an MCP server at ``/agents/{name}/mcp`` (``webagents.mcp.server``).
Needs the ``mcp`` extra (``pip install 'webagents-net[mcp]'``); importing this package does
not import ``mcp``: that happens when a server is connected or mounted.
"""

from webagents.mcp.connection import MCPCallError, MCPServerError, MCPTimeout
from webagents.mcp.skill import MCPConfig, MCPSkill

__all__ = ["MCPCallError", "MCPConfig", "MCPServerError", "MCPSkill", "MCPTimeout"]
