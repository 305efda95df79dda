"""Reading a remote agent's streamed answer (SSE ``chat.completion.chunk``s, parsed by
httpx-sse) into local run events and a final ``RemoteReply``.

Each text chunk becomes a ``TextDelta`` named by the agent speaking (local names, see
``webagents.remote.reply``); each ``webagents.event`` chunk the run event it carries; the last
chunk names who answered and the remote handoff chain. ``data: [DONE]`` ends a good stream.
Anything else after the stream began is a ``RemoteStreamError`` (the stream cut, a malformed
chunk, an ``{"error": ...}`` chunk) or a ``RemoteTimeoutError`` (the deadline passed), raised
after what was already yielded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import httpx
from httpx_sse import EventSource, SSEError

from webagents.events import AgentCompleted, AgentStarted, RunEvent, TextDelta, TextWithdrawn
from webagents.models.base import Usage
from webagents.remote.errors import (
    RemoteAgentError,
    RemoteBadResponseError,
    RemoteStreamError,
    RemoteTimeoutError,
)
from webagents.remote.reply import (
    RemoteNames,
    RemoteReply,
    event_from_wire,
    reply_from_completion,
    usage_from,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from httpx_sse import ServerSentEvent

    from webagents.agents.network import RemoteAgent

__all__ = ["next_event", "read_failure", "read_stream"]

_NOT_CHAT = "sent no chat completion"

# An error chunk's code or type is shown only when it looks like one (``server_error``):
# the rest of the chunk is the remote's text and is never quoted.
_CODE = re.compile(r"[A-Za-z0-9_.-]{1,40}")


class _Answer:
    """The text still standing (withdrawn text dropped) and what the stream said last."""

    def __init__(self) -> None:
        self.pieces: list[tuple[str, str]] = []  # (agent, text)
        self.started: dict[str, int] = {}  # agent -> len(pieces) at its latest agent.started
        self.completed: str | None = None
        self.agent: str | None = None
        self.chain: tuple[str, ...] | None = None
        self.usage = Usage()
        self.task_completed = False  # the final chunk said an agent called complete

    def event(self, event: RunEvent) -> None:
        if isinstance(event, AgentStarted):
            self.started[event.agent] = len(self.pieces)
        elif isinstance(event, TextWithdrawn):
            since = self.started.get(event.agent, 0)
            kept = [piece for piece in self.pieces[since:] if piece[0] != event.agent]
            self.pieces[since:] = kept
            if event.replacement:
                self.pieces.append((event.agent, event.replacement))
        elif isinstance(event, AgentCompleted):
            self.completed = event.content

    def reply(self, remote: RemoteAgent) -> RemoteReply:
        content = self.completed
        if content is None:
            content = "".join(text for _, text in self.pieces)
        chain = self.chain or (remote.name,)
        agent = self.agent or chain[-1]
        done = self.task_completed
        return RemoteReply(content, agent, chain, self.usage, via=remote, completed=done)


async def read_stream(
    remote: RemoteAgent, response: httpx.Response, timeout: float, deadline: float
) -> AsyncGenerator[RunEvent | RemoteReply]:
    """Events and text of ``response`` (status 200), then the reply; each read ends by
    ``deadline`` (the event loop's clock) at the latest, while the caller's own work between
    items is never interrupted."""

    if remote.protocol == "a2a":
        from webagents.a2a.calls import read_a2a_stream

        async with contextlib.aclosing(read_a2a_stream(remote, response, timeout, deadline)) as a2a:
            async for item in a2a:
                yield item
        return

    def broken(problem: str) -> RemoteStreamError:
        return RemoteStreamError(remote.name, remote.url, problem)

    kind = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind == "application/json":  # the server answered without streaming: one piece
        try:
            async with asyncio.timeout_at(deadline):
                body = await response.aread()
            reply = reply_from_completion(remote, json.loads(body))
        except ValueError:
            raise RemoteBadResponseError(remote.name, remote.url, _NOT_CHAT) from None
        except (TimeoutError, httpx.HTTPError) as error:
            raise read_failure(remote, error, timeout) from None
        if reply.content:
            yield TextDelta(agent=reply.agent, text=reply.content)
        yield reply
        return
    if kind != "text/event-stream":
        raise RemoteBadResponseError(remote.name, remote.url, _NOT_CHAT)
    names = RemoteNames(remote)
    answer = _Answer()
    events = EventSource(response).aiter_sse()
    try:
        while True:
            sse = await next_event(remote, events, timeout, deadline, not_sse=_NOT_CHAT)
            if sse is None:
                raise broken("cut its stream mid-answer (no [DONE])")
            if sse.data == "[DONE]":
                break
            try:
                chunk: Any = json.loads(sse.data)
            except ValueError:
                chunk = None
            if not isinstance(chunk, dict):
                raise broken("sent a malformed stream chunk")
            if chunk.get("error") is not None:
                raise broken(f"failed mid-stream{_code(chunk['error'])}")
            for item in _items(chunk, names, answer, remote):
                yield item
    finally:
        await events.aclose()
    yield answer.reply(remote)


def _items(
    chunk: dict[str, Any], names: RemoteNames, answer: _Answer, remote: RemoteAgent
) -> list[RunEvent]:
    """What one chunk says, noted in ``answer``."""
    extension = chunk.get("webagents")
    extension = extension if isinstance(extension, dict) else {}
    if "event" in extension:
        event = event_from_wire(extension["event"], names)
        if event is None:
            return []  # a kind this client does not know: skipped, not fatal
        answer.event(event)
        return [event]
    if chunk.get("usage"):
        answer.usage = usage_from(chunk["usage"])
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return []
    choice = choices[0]
    speaker = names.local(extension.get("agent"))
    if choice.get("finish_reason") is not None:
        answer.agent = speaker or answer.agent
        answer.chain = names.chain(extension.get("handoff_chain")) or answer.chain
        answer.task_completed = extension.get("completed") is True
    delta = choice.get("delta")
    text = delta.get("content") if isinstance(delta, dict) else None
    if not isinstance(text, str) or not text:
        return []
    speaker = speaker or remote.name
    answer.pieces.append((speaker, text))
    return [TextDelta(agent=speaker, text=text)]


def _code(error: object) -> str:
    if isinstance(error, dict):
        for key in ("code", "type"):
            value = error.get(key)
            if isinstance(value, str) and _CODE.fullmatch(value):
                return f" ({value})"
    return ""


async def next_event(
    remote: RemoteAgent,
    events: AsyncIterator[ServerSentEvent],
    timeout: float,
    deadline: float,
    *,
    not_sse: str | None = None,
) -> ServerSentEvent | None:
    """The stream's next event by ``deadline`` (None when it ended); a failure to read is a
    remote agent error (``read_failure``)."""
    try:
        async with asyncio.timeout_at(deadline):
            return await anext(events, None)
    except (TimeoutError, httpx.HTTPError, SSEError) as error:
        raise read_failure(remote, error, timeout, not_sse=not_sse) from None


def read_failure(
    remote: RemoteAgent, error: BaseException, timeout: float, *, not_sse: str | None = None
) -> RemoteAgentError:
    """A failure while reading the body, after the status came: the deadline, a body that
    is not an event stream (``not_sse`` says what it should have been), or the stream
    breaking (only the exception's type is shown: httpx texts may quote the URL)."""
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        return RemoteTimeoutError(
            remote.name, remote.url, f"timed out after {timeout:g}s", timed_out=True
        )
    if not_sse is not None and isinstance(error, SSEError):
        return RemoteBadResponseError(remote.name, remote.url, not_sse)
    return RemoteStreamError(
        remote.name, remote.url, f"cut its stream mid-answer ({type(error).__name__})"
    )
