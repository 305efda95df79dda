"""Served agents' tools as MCP servers: ``/agents/{name}/mcp`` (streamable HTTP).

Each agent's ``all``-scope tools are listed with the JSON schema its model sees, and a call
runs the tool as a run would (hooks, argument validation, ``Context`` injection for a caller
of scope ``all``; the API key's user is the context's ``peer_user_id``); a tool error is an
``isError`` result. One ``mcp`` low-level server answers for every agent (the agent is the
path's ``name``), stateless: each request stands alone, so nothing is kept per MCP client.
Its session manager lives in a task of its own, started by the first MCP request and ended
by ``aclose()`` (the app's shutdown).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from webagents.server.auth import USER_SCOPE_KEY
from webagents.server.errors import error_body

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.types import CallToolRequestParams, CallToolResult, ListToolsResult
    from starlette.applications import Starlette
    from starlette.types import Receive, Scope, Send

    from webagents.agents.agent import BaseAgent

__all__ = ["PATH", "MCPEndpoint", "MCPUnavailable", "mount_mcp"]

PATH = "/agents/{name}/mcp"


class MCPEndpoint:
    """The ASGI endpoint of ``/agents/{name}/mcp`` for ``agents`` (name -> agent)."""

    def __init__(self, agents: Mapping[str, BaseAgent], *, title: str = "webagents") -> None:
        self._agents = agents
        self._title = title
        self._manager: StreamableHTTPSessionManager | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._starting: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope.get("path_params", {}).get("name")
        if scope["type"] != "http" or name not in self._agents:
            await _send_error(
                send, 404, f"no agent {name!r} is served here; GET /agents lists them"
            )
            return
        manager = await self._running()
        await manager.handle_request(scope, receive, send)

    async def aclose(self) -> None:
        """Stop the session manager (in its own task) and wait for it."""
        task, stop = self._task, self._stop
        self._task = self._manager = None
        if task is None or stop is None or task.done():
            return
        if task.get_loop() is not asyncio.get_running_loop():
            return  # its loop has ended, and the task with it
        stop.set()
        await asyncio.gather(task, return_exceptions=True)

    def _live(self) -> StreamableHTTPSessionManager | None:
        task = self._task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            return None
        return self._manager

    async def _running(self) -> StreamableHTTPSessionManager:
        live = self._live()
        if live is not None:
            return live
        loop = asyncio.get_running_loop()
        if self._starting is None or self._starting[0] is not loop:
            self._starting = (loop, asyncio.Lock())  # an app served again runs on a new loop
        async with self._starting[1]:
            live = self._live()
            if live is not None:
                return live
            # Imported with the first MCP request: a server nobody asks over MCP never loads it.
            from mcp.server import Server
            from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

            server: Server[Any] = Server(
                self._title, on_list_tools=self._list_tools, on_call_tool=self._call_tool
            )
            manager = StreamableHTTPSessionManager(server, stateless=True, json_response=True)
            ready: asyncio.Future[None] = loop.create_future()
            stop = asyncio.Event()

            async def own() -> None:
                # The manager's task group is entered and left here, never in a request's task.
                async with manager.run():
                    ready.set_result(None)
                    await stop.wait()

            task = loop.create_task(own(), name="webagents: mcp endpoint")
            task.add_done_callback(_retrieve)
            done, _ = await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
            if task in done and not ready.done():
                task.result()  # raises what stopped the manager from starting
            self._manager, self._task, self._stop = manager, task, stop
            return manager

    # MCP handlers ------------------------------------------------------------------------

    def _agent(self, ctx: ServerRequestContext[Any]) -> tuple[BaseAgent, str | None]:
        request = ctx.request
        scope = getattr(request, "scope", {})
        name = scope.get("path_params", {}).get("name")
        return self._agents[name], scope.get(USER_SCOPE_KEY)

    async def _list_tools(self, ctx: ServerRequestContext[Any], params: Any) -> ListToolsResult:
        from mcp.types import ListToolsResult, Tool

        agent, _ = self._agent(ctx)
        if agent.skills:
            await agent.ensure_initialized()  # MCP servers of its own add their tools
        tools = [
            Tool(
                name=tool["function"]["name"],
                description=tool["function"].get("description") or None,
                input_schema=tool["function"]["parameters"],
            )
            for tool in agent.capabilities.tool_schemas["all"]
        ]
        return ListToolsResult(tools=tools)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: CallToolRequestParams
    ) -> CallToolResult:
        from mcp import MCPError
        from mcp.types import INVALID_PARAMS, CallToolResult, TextContent

        from webagents.agents.runner import Run
        from webagents.agents.tools import run_tool
        from webagents.context import Context, current_context
        from webagents.models.base import ToolCall

        agent, user = self._agent(ctx)
        if agent.skills:
            await agent.ensure_initialized()
        entry = agent.capabilities.tools.get(params.name)
        if entry is None or entry.scope != "all":
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {params.name[:100]}")
        run_id = f"mcp-{uuid.uuid4().hex}"
        context = Context(
            agent_name=agent.name, messages=[], run_id=run_id, peer_user_id=user, agent=agent
        )
        run = Run(agent, [], context, None, False)
        call = ToolCall(run_id, params.name, json.dumps(params.arguments or {}))
        token = current_context.set(context)
        try:
            output, is_error = await run_tool(run, agent, call)
        finally:
            current_context.reset(token)
        return CallToolResult(content=[TextContent(type="text", text=output)], is_error=is_error)


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


async def _send_error(send: Send, status: int, message: str) -> None:
    code = "agent_not_found" if status == 404 else "mcp_unavailable"
    body = error_body(status, message, code=code)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class MCPUnavailable:
    """``/agents/{name}/mcp`` when the ``mcp`` package is not installed: a 501 naming the
    extra."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _send_error(
            send,
            501,
            "this server does not serve MCP: the mcp package is not installed; "
            "pip install 'webagents-net[mcp]'",
        )

    async def aclose(self) -> None:
        pass


def mount_mcp(
    app: Starlette, agents: Mapping[str, BaseAgent], *, title: str = "webagents"
) -> Callable[[], Awaitable[None]]:
    """Serve ``agents``' tools over MCP at ``/agents/{name}/mcp`` on ``app`` (a 501 error
    naming the extra when ``mcp`` is not installed); returns what the app's shutdown awaits."""
    from starlette.routing import Route

    endpoint: MCPEndpoint | MCPUnavailable
    if importlib.util.find_spec("mcp") is None:
        endpoint = MCPUnavailable()
    else:
        endpoint = MCPEndpoint(agents, title=title)
    app.router.routes.append(Route(PATH, endpoint, methods=["GET", "POST", "DELETE"]))
    return endpoint.aclose
