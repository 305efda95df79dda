"""``MCPSkill``: the tools of an MCP server (a stdio command or a streamable-HTTP URL) offered
to an agent's model with the server's own JSON schemas."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from webagents._urls import redact_url
from webagents.agents.skills.base import Skill
from webagents.agents.skills.decorators import Scope
from webagents.agents.tool_sources import TOOL_NAME, external_tool
from webagents.errors import AgentConfigError, ToolRetry
from webagents.mcp.connection import Connection, MCPCallError, MCPServerError, MCPTimeout

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import CallToolResult, Tool

    from webagents.agents.agent import BaseAgent
    from webagents.agents.capabilities import ToolEntry

__all__ = ["MCPConfig", "MCPSkill"]

logger = logging.getLogger("webagents")

DEFAULT_TIMEOUT = 30.0


class MCPConfig(BaseModel):
    """``MCPSkill``'s configuration: exactly one of ``command`` and ``url``."""

    model_config = ConfigDict(extra="forbid")

    command: list[str] | None = Field(default=None, min_length=1)
    url: str | None = None
    env: dict[str, str] | None = None
    cwd: str | None = None
    headers: dict[str, str] | None = None
    prefix: str | None = None
    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0)

    @model_validator(mode="after")
    def _one_server(self) -> MCPConfig:
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// URL of the server's MCP endpoint")
        if self.url is not None and (self.env is not None or self.cwd is not None):
            raise ValueError("env and cwd apply to a command, not to a url")
        if self.command is not None and self.headers is not None:
            raise ValueError("headers apply to a url, not to a command")
        if self.prefix is not None and not TOOL_NAME.fullmatch(self.prefix):
            raise ValueError("prefix may hold only letters, digits, '_' and '-'")
        return self


class MCPSkill(Skill):
    """The tools of one MCP server, connected when the agent starts.

    ``MCPSkill(command=["uvx", "mcp-server-time"])`` starts the server as a subprocess
    (``env`` adds variables, ``cwd`` sets its folder); ``MCPSkill(url="https://.../mcp",
    headers={...})`` reaches a streamable-HTTP server; ``MCPSkill(server=obj)`` connects an
    in-process ``mcp`` server object (tests, embedding). The same keys may come as a config
    dict: ``MCPSkill({"command": [...], "prefix": "git"})``.

    ``prefix`` renames the server's tools ``<prefix>_<tool>`` (a prefix ending in ``_`` or
    ``-`` is used as it is), which resolves a clash with another source. ``timeout``
    (seconds, default 30) bounds connecting and each call: a server that does not answer
    gives the model a tool error, never a hung run. ``scope`` is the tools' scope (``all``).
    """

    config_model = MCPConfig

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        command: Sequence[str] | None = None,
        url: str | None = None,
        server: object = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        headers: Mapping[str, str] | None = None,
        prefix: str | None = None,
        timeout: float | None = None,
        scope: Scope = "all",
    ) -> None:
        if importlib.util.find_spec("mcp") is None:
            raise AgentConfigError(
                "MCPSkill needs the mcp package: pip install 'webagents-net[mcp]'"
            )
        given = {
            "command": list(command) if command is not None else None,
            "url": url,
            "env": dict(env) if env is not None else None,
            "cwd": str(cwd) if cwd is not None else None,
            "headers": dict(headers) if headers is not None else None,
            "prefix": prefix,
            "timeout": timeout,
        }
        merged = {**(config or {}), **{k: v for k, v in given.items() if v is not None}}
        super().__init__(merged, scope=scope)
        self.settings: MCPConfig
        kinds = [k for k in ("command", "url") if merged.get(k) is not None]
        if server is not None:
            kinds.append("server")
        if len(kinds) != 1:
            raise AgentConfigError(
                f"MCPSkill takes exactly one server: command=[...] (a stdio server), "
                f"url='http://.../mcp' (streamable HTTP) or server=<in-process server>; "
                f"got {kinds or 'none'}"
            )
        self._server = server
        self._connection: Connection | None = None
        self._connecting: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    # naming ------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """How errors and logs name this server: the skill's key in the agent."""
        return self.skill_key or type(self).__name__

    @property
    def source(self) -> str:
        return f"mcp:{self.label}"

    def tool_name(self, remote: str) -> str:
        """The name the model sees for the server's tool ``remote``."""
        prefix = self.settings.prefix
        if not prefix:
            return remote
        return f"{prefix}{remote}" if prefix.endswith(("_", "-")) else f"{prefix}_{remote}"

    # lifecycle ---------------------------------------------------------------------------

    async def initialize(self, agent: BaseAgent) -> None:
        """Connect (within ``timeout``) and offer the server's tools; a clash with another
        tool source is an ``AgentConfigError`` (the connection is closed again)."""
        connection = Connection(
            self.label, self._open, timeout=self.settings.timeout, on_tools=self._tools_changed
        )
        tools = await connection.start()
        try:
            self._offer(agent, tools)
        except BaseException:
            await connection.stop()
            raise
        self._connection = connection

    async def cleanup(self) -> None:
        connection, self._connection = self._connection, None
        if self.agent is not None:
            self.agent.offer_tools(self.source, [])
        if connection is not None:
            await connection.stop()

    async def _live(self) -> Connection:
        """The connection, opened again when it ended (a crashed server) or belongs to an
        event loop that is not running this call (``run_sync`` starts one per call)."""
        connection = self._connection
        if connection is not None and connection.usable:
            return connection
        loop = asyncio.get_running_loop()
        if self._connecting is None or self._connecting[0] is not loop:
            self._connecting = (loop, asyncio.Lock())
        async with self._connecting[1]:
            connection = self._connection
            if connection is not None and connection.usable:
                return connection
            connection = Connection(
                self.label, self._open, timeout=self.settings.timeout, on_tools=self._tools_changed
            )
            tools = await connection.start()
            if self.agent is not None:
                try:
                    self._offer(self.agent, tools)
                except AgentConfigError as error:
                    logger.error("MCP server %r: %s", self.label, error)
            self._connection = connection
            return connection

    async def _open(
        self, stack: contextlib.AsyncExitStack, on_message: Callable[[Any], Awaitable[None]]
    ) -> Client:
        """Enter the ``mcp`` client on ``stack``; runs in the connection's own task."""
        from mcp import Client, StdioServerParameters

        settings = self.settings
        target: Any
        if self._server is not None:
            target = self._server
        elif settings.command is not None:
            executable, *args = settings.command
            target = StdioServerParameters(
                command=executable, args=args, env=settings.env, cwd=settings.cwd
            )
        else:
            assert settings.url is not None
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = await stack.enter_async_context(
                create_mcp_http_client(headers=self.request_headers())
            )
            target = streamable_http_client(settings.url, http_client=http)
        client = Client(
            target,
            read_timeout_seconds=settings.timeout,
            message_handler=on_message,  # type: ignore[arg-type]  # a Protocol of the same call
        )
        return await stack.enter_async_context(client)

    def request_headers(self) -> dict[str, str]:
        """The headers of every request to a ``url`` server: ``headers=`` as configured.
        Override to add per-connection headers (W3C trace context, for instance)."""
        return dict(self.settings.headers or {})

    # tools -------------------------------------------------------------------------------

    def _offer(self, agent: BaseAgent, tools: list[Tool]) -> None:
        agent.offer_tools(
            self.source,
            self._entries(tools),
            fix=f"give one MCPSkill a prefix, e.g. MCPSkill(..., prefix={self.label + '_'!r})",
        )

    def _tools_changed(self, tools: list[Tool]) -> None:
        agent = self.agent
        if agent is None:
            return
        try:
            self._offer(agent, tools)
        except AgentConfigError as error:
            logger.error(
                "MCP server %r changed its tools; keeping the old ones: %s", self.label, error
            )

    def _entries(self, tools: list[Tool]) -> list[ToolEntry]:
        entries = []
        for tool in tools:
            name = self.tool_name(tool.name)
            if not TOOL_NAME.fullmatch(name):
                logger.warning(
                    "MCP server %r: tool %r is not offered: a tool name must match "
                    "^[a-zA-Z0-9_-]{1,64}$",
                    self.label,
                    name[:80],
                )
                continue
            entries.append(
                external_tool(
                    name,
                    tool.description or tool.title or "",
                    tool.input_schema,
                    self._caller(tool.name),
                    where=f"MCPSkill {self.label!r} (tool {tool.name!r})",
                    scope=self.scope,
                )
            )
        return entries

    def _caller(self, remote: str) -> Callable[..., Awaitable[str]]:
        async def call(**arguments: Any) -> str:
            return await self.call_tool(remote, arguments)

        return call

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        """Call the server's tool ``name``; the text the model reads. Failures raise
        ``ToolRetry`` with a short message (the model sees it as a tool error)."""
        shown = self.tool_name(name)
        try:
            connection = await self._live()
            result = await connection.call(name, arguments)
        except MCPTimeout as error:
            logger.warning("MCP tool %r: %s", shown, error)
            raise ToolRetry(
                f"tool {shown!r} timed out after {self.settings.timeout:g} s; the MCP server "
                f"{self.label!r} did not answer"
            ) from None
        except MCPCallError as error:
            raise ToolRetry(str(error)) from None
        except MCPServerError as error:
            logger.warning("MCP tool %r: %s", shown, error)
            raise ToolRetry(
                f"tool {shown!r} failed: MCP server {self.label!r} is unavailable"
            ) from None
        text = result_text(result)
        if result.is_error:
            raise ToolRetry(text or f"tool {shown!r} failed")
        return text

    def __repr__(self) -> str:
        settings = self.settings
        target = (
            redact_url(settings.url) if settings.url else (settings.command or ["<in-process>"])[0]
        )
        return f"MCPSkill(key={self.skill_key!r}, server={target!r})"


def result_text(result: CallToolResult) -> str:
    """The text of a tool result: its text blocks joined; other blocks shortly described;
    structured content when there is no text."""
    parts: list[str] = []
    for block in result.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)  # type: ignore[union-attr]
        elif kind == "resource":
            resource = block.resource  # type: ignore[union-attr]
            text = getattr(resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource {resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")  # type: ignore[union-attr]
        else:
            parts.append(f"[{kind} content: {getattr(block, 'mime_type', '')}]")
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, default=str)
    return "\n".join(parts)
