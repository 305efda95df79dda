"""Speaking A2A (protocol 1.0, JSON-RPC) to a remote agent registered with
``protocol="a2a"``, inside the remote client's attempts: the same deadline, retries, breaker,
keys and redaction as a chat completion call (``webagents.remote.transport`` hands over here).

- The request: ``SendMessage`` (``SendStreamingMessage`` when the run streams and the agent's
  card says it streams), posted to the registered URL. URLs in the remote's answers (its
  card's interfaces included) are never followed.
- The message: the latest user text as a text part; the earlier turns and the handed-over
  context as one data part ``{"webagents": {"history": [...], "handoff_context": {...}}}``.
- The context: a local session's turns share one ``contextId``, derived from the session
  key and the remote agent (``context_id``), so a later turn continues the remote
  conversation without anything stored here; a call outside a session starts a new context.
- The answer (a ``Message``, or a ``Task`` with artifacts and a status message) becomes a
  ``RemoteReply``; its text is data, never instructions. A task that failed, a JSON-RPC
  error or a broken stream is a ``RemoteAgentError`` naming the state or code, never the
  remote's text.

Needs only httpx: the ``a2a-sdk`` is needed to serve agents over A2A, not to call them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
import weakref
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx
from httpx_sse import EventSource

from webagents._urls import redact_url
from webagents.events import RunEvent, TextDelta, TextWithdrawn
from webagents.messages import handoff_context_in, message_text
from webagents.remote.errors import (
    RemoteAgentError,
    RemoteBadResponseError,
    RemoteStreamError,
)
from webagents.remote.reply import RemoteNames, RemoteReply
from webagents.remote.streaming import next_event
from webagents.remote.transport import send_request, transport_failure

if TYPE_CHECKING:
    from webagents.agents.network import RemoteAgent
    from webagents.remote.transport import CallSettings

__all__ = [
    "A2A_VERSION",
    "CARD_PATH",
    "RemoteRpcError",
    "RemoteTaskError",
    "a2a_message",
    "a2a_request",
    "card_url",
    "context_id",
    "read_a2a_reply",
    "read_a2a_stream",
]

A2A_VERSION: Final = "1.0"
CARD_PATH: Final = "/.well-known/agent-card.json"
_FAILED: Final = frozenset(
    {"TASK_STATE_FAILED", "TASK_STATE_REJECTED", "TASK_STATE_CANCELED"}
    | {"failed", "rejected", "canceled"}  # 0.3 servers
)
_ASKING: Final = frozenset(
    {"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED", "input-required", "auth-required"}
)
_DONE: Final = frozenset({"TASK_STATE_COMPLETED", "completed"}) | _FAILED | _ASKING
_STATE: Final = re.compile(r"[A-Za-z_-]{1,40}")
_CONTEXT_NAMESPACE: Final = uuid.UUID("5d0c6a52-8a8e-4a8e-9b0e-2a2a0b0e0a2a")

# Whether an agent's card says it streams, per pooled HTTP client (one per event loop) and
# agent URL: asked once, on the first streamed call.
_STREAMS: weakref.WeakKeyDictionary[httpx.AsyncClient, dict[str, bool]] = (
    weakref.WeakKeyDictionary()
)


class RemoteRpcError(RemoteAgentError):
    """The A2A agent answered a JSON-RPC error; ``rpc_code`` is its code (its message is the
    remote's text and is never shown)."""

    def __init__(self, agent: str, url: str, rpc_code: int | None) -> None:
        shown = f" {rpc_code}" if rpc_code is not None else ""
        super().__init__(agent, url, f"answered with JSON-RPC error{shown}")
        self.rpc_code = rpc_code


class RemoteTaskError(RemoteAgentError):
    """The A2A agent's task ended without an answer (``state``: failed, rejected,
    canceled)."""

    def __init__(self, agent: str, url: str, state: str) -> None:
        super().__init__(agent, url, f"ended its task as {state}")
        self.state = state


def card_url(url: str) -> str:
    """Where the card of the A2A agent at ``url`` is: its path plus the well-known path, any
    query kept after it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + CARD_PATH))


def context_id(session: str | None, remote: RemoteAgent) -> str | None:
    """The A2A ``contextId`` of a local conversation with ``remote``: the same for every turn
    of the session, in every process, and different for each remote agent; None outside a
    session (the remote starts a new context). A digest, so it shows neither the session
    id nor the entry agent."""
    if session is None:
        return None
    seed = "\n".join((session, remote.name, redact_url(remote.url)))
    return str(uuid.uuid5(_CONTEXT_NAMESPACE, hashlib.sha256(seed.encode()).hexdigest()))


def a2a_message(messages: list[dict[str, Any]], context: str | None) -> dict[str, Any]:
    """Our conversation as one A2A user message: the latest user text, and the turns before
    it and the handed-over context as data. System messages stay here."""
    handed: dict[str, Any] = {}
    turns: list[dict[str, str]] = []
    for message in messages:
        data = handoff_context_in(message)
        if data is not None:
            handed.update(data)
            continue
        role = message.get("role")
        text = message_text(message)
        if role in ("user", "assistant") and text:
            turns.append({"role": str(role), "content": text})
    latest = next((i for i in range(len(turns) - 1, -1, -1) if turns[i]["role"] == "user"), None)
    text = turns[latest]["content"] if latest is not None else ""
    history = turns[:latest] if latest is not None else turns
    parts: list[dict[str, Any]] = [{"text": text}]
    extra: dict[str, Any] = {}
    if history:
        extra["history"] = history
    if handed:
        extra["handoff_context"] = handed
    if extra:
        parts.append({"data": {"webagents": extra}, "mediaType": "application/json"})
    body: dict[str, Any] = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": parts}
    if context is not None:
        body["contextId"] = context
    return body


async def a2a_request(
    client: httpx.AsyncClient,
    remote: RemoteAgent,
    messages: list[dict[str, Any]],
    call: CallSettings,
    deadline: float,
    *,
    stream: bool,
) -> httpx.Response:
    """Post the JSON-RPC request (a streamed one when asked and the card says it streams);
    the response (status 200, body unread) is the caller's to close."""
    streams = stream and await _card_streams(client, remote, call, deadline)
    payload = {
        "jsonrpc": "2.0",
        "id": uuid.uuid4().hex,
        "method": "SendStreamingMessage" if streams else "SendMessage",
        "params": {
            "message": a2a_message(messages, context_id(call.session, remote)),
            "configuration": {"acceptedOutputModes": ["text/plain", "application/json"]},
        },
    }
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return await send_request(
        client,
        remote,
        remote.url,
        body,
        call,
        deadline,
        stream=streams,
        extra_headers={"A2A-Version": A2A_VERSION},
    )


async def _card_streams(
    client: httpx.AsyncClient, remote: RemoteAgent, call: CallSettings, deadline: float
) -> bool:
    """Whether the agent's card says it streams (``capabilities.streaming``)."""
    known = _STREAMS.setdefault(client, {})
    if remote.url in known:
        return known[remote.url]
    response = await send_request(client, remote, card_url(remote.url), None, call, deadline)
    card = await _read_json(remote, response, call.timeout, deadline, "sent no agent card")
    capabilities = card.get("capabilities") if isinstance(card, dict) else None
    if not isinstance(capabilities, dict):
        raise RemoteBadResponseError(remote.name, remote.url, "sent no agent card")
    streams = capabilities.get("streaming") is True
    known[remote.url] = streams
    return streams


async def _read_json(
    remote: RemoteAgent, response: httpx.Response, timeout: float, deadline: float, problem: str
) -> Any:
    try:
        async with asyncio.timeout_at(deadline):
            body = await response.aread()
    except (TimeoutError, httpx.HTTPError) as error:
        raise transport_failure(remote, error, timeout, sent=True) from None
    finally:
        await response.aclose()
    try:
        return json.loads(body)
    except ValueError:
        raise RemoteBadResponseError(remote.name, remote.url, problem) from None


async def read_a2a_reply(
    remote: RemoteAgent, response: httpx.Response, timeout: float, deadline: float
) -> RemoteReply:
    """The reply in a ``SendMessage`` response, read by ``deadline``; closes the response."""
    data = await _read_json(remote, response, timeout, deadline, "sent no A2A response")
    return _Answer(remote).final(_result(remote, data))


def _result(remote: RemoteAgent, data: object) -> dict[str, Any]:
    """The ``result`` of a JSON-RPC response; its error as a ``RemoteRpcError``."""
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        raise RemoteBadResponseError(remote.name, remote.url, "sent no A2A response")
    error = data.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        valid = isinstance(code, int) and not isinstance(code, bool)
        raise RemoteRpcError(remote.name, remote.url, code if valid else None)
    result = data.get("result")
    if not isinstance(result, dict):
        raise RemoteBadResponseError(remote.name, remote.url, "sent no A2A response")
    return result


def _kind(result: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """Which object a result or stream event carries: 1.0 wraps it in a field named after
    its kind; 0.3 puts it inline with a ``kind``."""
    for key in ("task", "message", "statusUpdate", "artifactUpdate"):
        value = result.get(key)
        if isinstance(value, dict):
            return key, value
    legacy = {
        "task": "task",
        "message": "message",
        "status-update": "statusUpdate",
        "artifact-update": "artifactUpdate",
    }.get(str(result.get("kind")))
    return (legacy, dict(result)) if legacy is not None else None


def _text(parts: object) -> str:
    if not isinstance(parts, list):
        return ""
    return "".join(
        part["text"]
        for part in parts
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    )


def _state(status: object) -> str:
    state = status.get("state") if isinstance(status, dict) else None
    if isinstance(state, str) and _STATE.fullmatch(state):
        return state
    return "an unknown state"  # the remote's text is shown only when it looks like a state


class _Answer:
    """What the remote said so far: the text of each artifact, the status message's text,
    and who answered (from the ``webagents`` metadata a webagents server adds)."""

    def __init__(self, remote: RemoteAgent) -> None:
        self.remote = remote
        self.names = RemoteNames(remote)
        self.artifacts: dict[str, str] = {}
        self.status_text = ""
        self.agent: str | None = None
        self.chain: tuple[str, ...] | None = None
        self.completed = False

    def speaker(self, metadata: object) -> str:
        extension = metadata.get("webagents") if isinstance(metadata, dict) else None
        if isinstance(extension, dict):
            chain = extension.get("handoff_chain")
            if isinstance(chain, list) and chain and isinstance(chain[0], str):
                self.names.entry = chain[0]  # the chain starts with the server's entry agent
                self.chain = self.names.chain(chain) or self.chain
            self.agent = self.names.local(extension.get("agent")) or self.agent
            if extension.get("completed") is True:
                self.completed = True
        return self.agent or self.remote.name

    def note_status(self, status: dict[str, Any]) -> str:
        """The state of ``status``; a failed one raises."""
        state = _state(status)
        if state in _FAILED:
            raise RemoteTaskError(self.remote.name, self.remote.url, state)
        message = status.get("message")
        if isinstance(message, dict):
            self.speaker(message.get("metadata"))
            self.status_text = _text(message.get("parts")) or self.status_text
        return state

    def final(self, result: dict[str, Any]) -> RemoteReply:
        """The reply for a whole result: a message, or a task that ended."""
        found = _kind(result)
        if found is None:
            raise RemoteBadResponseError(self.remote.name, self.remote.url, "sent no A2A response")
        kind, value = found
        if kind == "message":
            self.speaker(value.get("metadata"))
            self.status_text = _text(value.get("parts"))
        elif kind == "task":
            status = value.get("status")
            state = self.note_status(status if isinstance(status, dict) else {})
            if state not in _DONE:
                raise RemoteBadResponseError(
                    self.remote.name, self.remote.url, f"answered before its task ended ({state})"
                )
            for artifact in value.get("artifacts") or []:
                if isinstance(artifact, dict):
                    self.speaker(artifact.get("metadata"))
                    key = str(artifact.get("artifactId", len(self.artifacts)))
                    self.artifacts[key] = _text(artifact.get("parts"))
        else:
            raise RemoteBadResponseError(self.remote.name, self.remote.url, "sent no A2A response")
        return self.reply()

    def reply(self) -> RemoteReply:
        written = "\n".join(text for text in self.artifacts.values() if text)
        content = written or self.status_text
        chain = self.chain or (self.remote.name,)
        agent = self.agent or chain[-1]
        return RemoteReply(content, agent, chain, via=self.remote, completed=self.completed)


async def read_a2a_stream(
    remote: RemoteAgent, response: httpx.Response, timeout: float, deadline: float
) -> AsyncGenerator[RunEvent | RemoteReply]:
    """Text as the remote's artifacts grow, then the reply. An artifact chunk that replaces
    (not appends to) text already streamed withdraws what no longer stands. The stream ends
    at a final status (completed, or asking for input) or a message; it failing or ending
    before that raises after what was yielded."""
    kind = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind == "application/json":  # the agent answered without streaming: one piece
        reply = await read_a2a_reply(remote, response, timeout, deadline)
        if reply.content:
            yield TextDelta(agent=reply.agent, text=reply.content)
        yield reply
        return
    if kind != "text/event-stream":
        raise RemoteBadResponseError(remote.name, remote.url, "sent no A2A response")
    answer = _Answer(remote)
    events = EventSource(response).aiter_sse()
    try:
        while True:
            sse = await next_event(remote, events, timeout, deadline)
            if sse is None:
                raise RemoteStreamError(remote.name, remote.url, "cut its stream before its answer")
            try:
                result = _result(remote, json.loads(sse.data))
            except RemoteRpcError as error:
                problem = f"failed mid-stream (JSON-RPC error {error.rpc_code})"
                raise RemoteStreamError(remote.name, remote.url, problem) from None
            except (ValueError, RemoteBadResponseError):
                problem = "sent a malformed stream event"
                raise RemoteStreamError(remote.name, remote.url, problem) from None
            found = _kind(result)
            if found is None:
                continue  # a kind this client does not know: skipped, not fatal
            ended = False
            for item in _stream_items(answer, *found):
                if item is None:
                    ended = True
                else:
                    yield item
            if ended:
                break
    except RemoteTaskError as failed:
        raise RemoteStreamError(
            remote.name, remote.url, f"failed mid-stream ({failed.state})"
        ) from None
    finally:
        await events.aclose()
    yield answer.reply()


def _stream_items(answer: _Answer, kind: str, value: dict[str, Any]) -> list[RunEvent | None]:
    """The events one stream event makes; None marks the end of the answer."""
    if kind == "artifactUpdate":
        artifact = value.get("artifact")
        if not isinstance(artifact, dict):
            return []
        agent = answer.speaker(artifact.get("metadata") or value.get("metadata"))
        key = str(artifact.get("artifactId", ""))
        text = _text(artifact.get("parts"))
        before = answer.artifacts.get(key, "")
        if value.get("append") is True:
            answer.artifacts[key] = before + text
            return [TextDelta(agent=agent, text=text)] if text else []
        answer.artifacts[key] = text
        if text.startswith(before):  # the whole artifact again: only what is new shows
            rest = text[len(before) :]
            return [TextDelta(agent=agent, text=rest)] if rest else []
        withdrawn = TextWithdrawn(agent=agent, reason=f"{answer.remote.name} replaced its answer")
        return [withdrawn, TextDelta(agent=agent, text=text)] if text else [withdrawn]
    if kind == "statusUpdate" or kind == "task":
        status = value.get("status")
        state = answer.note_status(status if isinstance(status, dict) else {})
        items: list[RunEvent | None] = []
        if kind == "task":  # a task sent whole (some agents send it again when it ends)
            for artifact in value.get("artifacts") or []:
                if isinstance(artifact, dict):
                    update = {"artifact": artifact, "append": False}
                    items += _stream_items(answer, "artifactUpdate", update)
        if state in _DONE:
            if not answer.artifacts and answer.status_text:
                speaker = answer.agent or answer.remote.name
                return [*items, TextDelta(agent=speaker, text=answer.status_text), None]
            return [*items, None]
        return items
    if kind == "message":
        agent = answer.speaker(value.get("metadata"))
        answer.status_text = _text(value.get("parts"))
        if answer.status_text and not answer.artifacts:
            return [TextDelta(agent=agent, text=answer.status_text), None]
        return [None]
    return []
