"""One MCP client session, owned by one asyncio task for its whole life.

The ``mcp`` client is built on anyio: entering ``Client`` opens task groups and cancel
scopes, and anyio requires each to be exited by the task that entered it. Agents start in one
task (the first run's start-up), call tools from many (every run), and close in another
(``agent.close()``, a server's shutdown): entering the client in one of them and leaving it in
another is what fails elsewhere with "Attempted to exit cancel scope in a different task".
So a dedicated task enters the client, lists the tools, and serves calls sent to it through
a queue, each in a child task of its own task group; every run awaits a future. A run that
is cancelled (or times out) cancels only its own call's scope: the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from webagents.errors import WebAgentsError

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import CallToolResult, Tool

__all__ = ["Connection", "MCPCallError", "MCPServerError", "MCPTimeout"]

logger = logging.getLogger("webagents")

_PAGE_CAP: Final = 100  # a server whose cursor never ends cannot hang a listing
_STOP: Final = object()
_RELIST: Final = object()


class MCPServerError(WebAgentsError, ConnectionError):
    """An MCP server could not be reached, or the connection to it ended. The message names the
    server (its key in the agent's skills) and the failure, never headers or credentials."""


class MCPTimeout(MCPServerError, TimeoutError):
    """An MCP server did not answer within the deadline."""


class MCPCallError(WebAgentsError):
    """The server refused a call at the protocol level (an unknown tool, invalid params)."""


@dataclass(slots=True)
class _Call:
    name: str
    arguments: dict[str, Any]
    future: asyncio.Future[CallToolResult]
    trace: Any  # the caller's OpenTelemetry context: its traceparent goes in the request


Opener = Callable[
    [contextlib.AsyncExitStack, Callable[[Any], Awaitable[None]]], Awaitable["Client"]
]


class Connection:
    """A connected MCP server. ``start()`` returns its tools; ``call()`` runs one tool;
    ``stop()`` ends the session in the task that opened it. ``on_tools`` is called with the
    new listing whenever the server says its tools changed."""

    def __init__(
        self,
        label: str,
        opener: Opener,
        *,
        timeout: float,
        on_tools: Callable[[list[Tool]], None],
    ) -> None:
        self.label = label
        self.timeout = timeout
        self._opener = opener
        self._on_tools = on_tools
        self._loop = asyncio.get_running_loop()
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._ready: asyncio.Future[list[Tool]] = self._loop.create_future()
        self._relisting = False
        self._broken = False
        self._task: asyncio.Task[None] | None = None

    @property
    def usable(self) -> bool:
        """Whether calls can be sent: the session is up and belongs to the running loop."""
        task = self._task
        if task is None or task.done() or self._broken:
            return False
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def start(self) -> list[Tool]:
        """Connect and list the tools, within the deadline; on failure nothing is left open."""
        self._task = self._loop.create_task(self._own(), name=f"webagents: mcp {self.label}")
        try:
            return await asyncio.wait_for(asyncio.shield(self._ready), self.timeout)
        except TimeoutError:
            await self._cancel()  # it is not reading its queue while it connects
            raise MCPTimeout(
                f"MCP server {self.label!r} did not answer within {self.timeout:g} s while "
                f"connecting; raise timeout= if it is slow to start"
            ) from None
        except BaseException:
            await self.stop()
            raise

    async def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        """Run tool ``name`` (the server's name) with ``arguments``, within the deadline."""
        if not self.usable:
            raise MCPServerError(f"MCP server {self.label!r} is not connected")
        from opentelemetry import context as otel  # a dependency of mcp

        future: asyncio.Future[CallToolResult] = self._loop.create_future()
        self._inbox.put_nowait(_Call(name, arguments, future, otel.get_current()))
        try:
            # A cancelled or timed-out wait cancels the future, which cancels the call's
            # scope in the owner task; the session itself goes on.
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise MCPTimeout(
                f"MCP server {self.label!r} did not answer {name!r} within {self.timeout:g} s"
            ) from None

    async def stop(self) -> None:
        """End the session (in-flight calls fail) and wait for the owner task to finish."""
        task = self._task
        if task is None or task.done():
            return
        if asyncio.get_running_loop() is not self._loop:
            return  # that loop is gone or elsewhere; its own shutdown ends the task
        self._inbox.put_nowait(_STOP)
        try:
            await asyncio.wait_for(asyncio.shield(task), self.timeout)
        except TimeoutError:
            await self._cancel()  # a session that will not close cleanly

    async def _cancel(self) -> None:
        """Cancel the owner task: it still leaves the client itself, as it unwinds."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # the owner task ----------------------------------------------------------------------

    async def _own(self) -> None:
        import anyio

        try:
            async with contextlib.AsyncExitStack() as stack:
                client = await self._opener(stack, self._on_message)
                tools = await list_tools(client)
                if not self._ready.done():
                    self._ready.set_result(tools)
                async with anyio.create_task_group() as group:
                    if _listens(client):
                        group.start_soon(self._listen, client)
                    while True:
                        item = await self._inbox.get()
                        if item is _STOP:
                            group.cancel_scope.cancel()
                            break
                        if item is _RELIST:
                            group.start_soon(self._relist, client)
                        elif isinstance(item, _Call):
                            group.start_soon(self._serve, client, item)
        except BaseException as error:
            failure = _failure(self.label, error)
            if not self._ready.done():
                if isinstance(failure, asyncio.CancelledError):
                    self._ready.cancel()
                else:
                    self._ready.set_exception(failure)
            elif not isinstance(error, asyncio.CancelledError):
                logger.warning("MCP server %r: the session ended: %s", self.label, failure)
            self._fail_waiting(failure)
            if isinstance(error, asyncio.CancelledError):
                raise
        else:
            self._fail_waiting(MCPServerError(f"MCP server {self.label!r} was closed"))

    def _fail_waiting(self, failure: BaseException) -> None:
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if isinstance(item, _Call) and not item.future.done():
                item.future.set_exception(failure)

    async def _serve(self, client: Client, call: _Call) -> None:
        import anyio
        from opentelemetry import context as otel

        future = call.future
        if future.done():
            return  # the run gave up before the call was sent
        with anyio.CancelScope() as scope:

            def stop_call(done: asyncio.Future[CallToolResult]) -> None:
                if done.cancelled():  # the run was cancelled or its deadline passed
                    scope.cancel()

            future.add_done_callback(stop_call)
            # The call is sent from this task, so it takes the run's trace context (the SDK
            # puts the current one in the request's _meta as W3C traceparent).
            token = otel.attach(call.trace)
            try:
                result = await client.call_tool(
                    call.name, call.arguments, read_timeout_seconds=self.timeout
                )
            except Exception as error:
                if _closed(error) and not self._broken:
                    # The server is gone (a crash, a dropped stream): end this session so
                    # the next call opens a new one.
                    self._broken = True
                    self._inbox.put_nowait(_STOP)
                if not future.done():
                    future.set_exception(_failure(self.label, error, tool=call.name))
            else:
                if not future.done():
                    future.set_result(result)
            finally:
                otel.detach(token)
                future.remove_done_callback(stop_call)
                if not future.done():  # the session is stopping
                    future.set_exception(MCPServerError(f"MCP server {self.label!r} was closed"))

    async def _on_message(self, message: Any) -> None:
        changed = getattr(message, "method", None) == "notifications/tools/list_changed"
        if changed and not self._relisting:
            self._relisting = True
            self._inbox.put_nowait(_RELIST)

    async def _listen(self, client: Client) -> None:
        """On a 2026-07-28 session, change notifications come only on a listen stream; they
        reach ``_on_message`` like those of earlier sessions."""
        try:
            async with client.listen(tools_list_changed=True) as events:
                async for _ in events:
                    pass
        except Exception as error:
            logger.info("MCP server %r: not following tool changes: %s", self.label, error)

    async def _relist(self, client: Client) -> None:
        import anyio

        self._relisting = False
        try:
            with anyio.fail_after(self.timeout):
                tools = await list_tools(client, refresh=True)
            self._on_tools(tools)
        except Exception as error:
            logger.warning(
                "MCP server %r: its tools changed, but the new list was not taken: %s",
                self.label,
                _failure(self.label, error),
            )


async def list_tools(client: Client, *, refresh: bool = False) -> list[Tool]:
    """Every page of the server's tool listing."""
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(_PAGE_CAP):
        page = await client.list_tools(cursor=cursor, cache_mode="refresh" if refresh else "use")
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _listens(client: Client) -> bool:
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    tools = client.server_capabilities.tools
    listed = tools is not None and bool(tools.list_changed)
    return listed and client.protocol_version in MODERN_PROTOCOL_VERSIONS


def _closed(error: BaseException) -> bool:
    """Whether ``error`` says the connection itself is gone."""
    from mcp import MCPError

    leaf = _leaf(error)
    if isinstance(leaf, MCPError):
        return leaf.code == -32000 and "closed" in leaf.error.message.lower()
    return isinstance(leaf, ConnectionError | EOFError) or type(leaf).__name__ in {
        "ClosedResourceError",
        "BrokenResourceError",
        "EndOfStream",
    }


def _leaf(error: BaseException) -> BaseException:
    """The first real failure inside (nested) exception groups: a read timeout inside
    ``async with Client`` surfaces as a group of groups."""
    while isinstance(error, BaseExceptionGroup):
        inner = [e for e in error.exceptions if not isinstance(e, asyncio.CancelledError)]
        error = (inner or list(error.exceptions))[0]
    return error


def _failure(label: str, error: BaseException, *, tool: str | None = None) -> BaseException:
    """A short error naming the server (and tool), without stack traces or credentials."""
    from mcp import MCPError

    leaf = _leaf(error)
    if isinstance(leaf, WebAgentsError | asyncio.CancelledError):
        return leaf
    what = f"{tool!r} on MCP server {label!r}" if tool else f"MCP server {label!r}"
    if isinstance(leaf, MCPError):
        if leaf.code == -32001 or "timed out" in str(leaf).lower():
            return MCPTimeout(f"{what} did not answer in time")
        if tool is not None and leaf.code != -32000:
            return MCPCallError(f"{what} was refused: {_short(leaf.error.message)}")
        return MCPServerError(f"{what} failed: {_short(leaf.error.message)}")
    if isinstance(leaf, TimeoutError):
        return MCPTimeout(f"{what} did not answer in time")
    if isinstance(leaf, FileNotFoundError | PermissionError):
        return MCPServerError(f"{what} could not be started: {type(leaf).__name__}")
    return MCPServerError(f"{what} failed: {type(leaf).__name__}")


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
