"""Running an agent for one HTTP request: the body read up to a limit, the run cancelled when
its client goes away, its answer as a ``chat.completion`` or as server-sent chunks, and a
failed run turned into an honest status without a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from webagents.errors import InvalidRequestError, ModelError
from webagents.events import TextDelta
from webagents.server.errors import ApiError, error_body, error_type
from webagents.server.wire import DONE, ChunkWriter, completion_body
from webagents.sessions.base import SessionAccessError, SessionStoreError

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from webagents.agents.runner import Run

__all__ = ["ClientGone", "DisconnectWatch", "SSEResponse", "answer", "read_body", "run_failure"]

logger = logging.getLogger("webagents.server")

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # proxies (nginx) pass each event on at once
]


class ClientGone(Exception):
    """The client disconnected before its answer was ready; nothing is left to send."""


async def read_body(receive: Receive, limit: int, declared: str | None) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes (a declared
    length over it is refused before reading), so a huge or endless body is never held."""
    too_large = ApiError(
        413,
        f"the request body is larger than the server's limit of {limit} bytes; send a "
        f"shorter conversation (with X-Session-Id, only the new messages)",
        code="body_too_large",
    )
    # isdigit() alone accepts "²", which int() refuses; an unusable length is ignored here
    # (the body is counted as it arrives either way).
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class DisconnectWatch:
    """``async with DisconnectWatch(receive):`` cancels the task inside the block when the
    client disconnects, and turns that cancellation into ``ClientGone``. The body must have
    been read: from then on, the only message ``receive`` can bring is the disconnect."""

    __slots__ = ("_receive", "_task", "_watcher", "gone")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[Any] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.gone = False

    async def __aenter__(self) -> DisconnectWatch:
        self._task = asyncio.current_task()
        self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return self

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        if self._task is not None:
            self._task.cancel()

    async def __aexit__(self, kind: type[BaseException] | None, *rest: object) -> bool:
        # Cancelled synchronously after the block, so it can no longer cancel what follows.
        # The references are dropped: the cancelled watcher's traceback holds this object,
        # and a cycle through it would leave every request's garbage to the cyclic GC.
        watcher, task = self._watcher, self._task
        self._watcher = self._task = None
        assert watcher is not None and task is not None
        watcher.cancel()
        if self.gone:
            if task.cancelling():
                task.uncancel()
            raise ClientGone
        return False


async def answer(run: Run, receive: Receive, model: str) -> Response:
    """The run's ``chat.completion``; a disconnect cancels the run (``ClientGone``)."""
    async with DisconnectWatch(receive):
        try:
            result = await run.execute()
        except Exception as error:
            raise run_failure(error, run) from None
    return Response(completion_body(result, model), media_type="application/json")


class SSEResponse(Response):
    """The run's events as ``chat.completion.chunk`` server-sent events, one ``send`` each,
    then ``data: [DONE]``. The status is sent with the first chunk, so a run refused before
    it begins (a session of another user) still gets its status; a run that fails later
    ends with an error event and no ``[DONE]``. A disconnect cancels the run. With
    ``tool_events`` (asked for by the client) tool calls and results are streamed too."""

    def __init__(
        self, run: Run, model: str, include_usage: bool, *, tool_events: bool = False
    ) -> None:
        self.run = run
        self.model = model
        self.include_usage = include_usage
        self.tool_events = tool_events
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with contextlib.suppress(ClientGone):
            async with DisconnectWatch(receive):
                await self._stream(send)

    async def _stream(self, send: Send) -> None:
        run = self.run
        writer = ChunkWriter(run.run_id, int(time.time()), self.model, tool_events=self.tool_events)
        started = False
        try:
            async with contextlib.aclosing(run.stream()) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        chunk = writer.text(event.agent, event.text)
                    else:
                        maybe = writer.event(event)
                        if maybe is None:
                            continue
                        chunk = maybe
                    if not started:
                        await send(
                            {"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS}
                        )
                        started = True
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except Exception as error:
            failure = run_failure(error, run)
            if not started:
                body = error_body(failure.status, failure.message, code=failure.code)
                headers = [(b"content-type", b"application/json")]
                headers += [(k.lower().encode(), v.encode()) for k, v in failure.headers.items()]
                await send(
                    {"type": "http.response.start", "status": failure.status, "headers": headers}
                )
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(
                {
                    "type": "http.response.body",
                    "body": ChunkWriter.error(
                        failure.message, code=failure.code, kind=error_type(failure.status)
                    ),
                    "more_body": False,
                }
            )
            return
        final = run.result("")
        tail = [writer.final(final.agent, final.handoff_chain, final.completed)]
        if self.include_usage:
            tail.append(writer.usage(final.usage))
        tail.append(DONE)
        if not started:
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        for chunk in tail[:-1]:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": tail[-1], "more_body": False})


def run_failure(error: Exception, run: Run) -> ApiError:
    """What the caller learns of a failed run: an honest status and a line naming the agent
    and the run id; the traceback goes to the ``webagents.server`` log only."""
    agent, run_id = run.entry.name, run.run_id
    if isinstance(error, SessionAccessError):
        return ApiError(
            404,
            f"session {error.key.session_id!r} of agent {agent!r} not found for this caller "
            f"(a session continues only with the API key's user that started it)",
            code="session_not_found",
        )
    if isinstance(error, InvalidRequestError):
        return ApiError(400, str(error), code="invalid_request")
    if isinstance(error, SessionStoreError):
        logger.warning("agent %r, run %s: the session store failed", agent, run_id, exc_info=error)
        return ApiError(
            503,
            f"agent {agent!r} is unavailable: its session store cannot be used right now "
            f"(run {run_id}); try again later",
            code="sessions_unavailable",
            headers={"Retry-After": "1"},
        )
    if isinstance(error, ModelError) and error.status_code == 429:
        logger.warning("agent %r, run %s: the model is rate limited", agent, run_id)
        return ApiError(
            429,
            f"agent {agent!r}: its model is rate limited (run {run_id}); try again later",
            code="model_rate_limited",
        )
    logger.error("agent %r, run %s failed", agent, run_id, exc_info=error)
    return ApiError(
        500,
        f"agent {agent!r} failed to answer (run {run_id}); the server's log has the details",
        code="run_failed",
    )
