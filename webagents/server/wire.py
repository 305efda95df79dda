"""The OpenAI Chat Completions wire format as the server speaks it: the request it accepts
(validated once by a pydantic adapter built at import), the ``chat.completion`` it answers
and the ``chat.completion.chunk`` server-sent events of a stream.

Requests: ``messages`` (roles system, user, assistant, tool; content a string or a list of
text parts), ``stream``, ``stream_options.include_usage`` and our own
``stream_options.include_tool_events`` (off by default, so OpenAI clients see no change).
``model`` is ignored (the URL names the agent), as are ``user`` (a caller is who its API key
says) and sampling options (the agent's own settings apply). ``tools``/``functions`` are
refused: the agent uses its own.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired

from pydantic import Discriminator, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from webagents.server.errors import ApiError

if TYPE_CHECKING:
    from webagents.agents.result import RunResult
    from webagents.events import RunEvent
    from webagents.models.base import Usage

__all__ = ["ChatRequest", "ChunkWriter", "completion_body", "parse_chat_request"]


class TextPart(TypedDict):
    type: Literal["text"]
    text: str


Content = str | list[TextPart]


class FunctionCall(TypedDict):
    name: str
    arguments: str


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class SystemMessage(TypedDict):
    role: Literal["system"]
    content: Content
    name: NotRequired[str]


class UserMessage(TypedDict):
    role: Literal["user"]
    content: Content
    name: NotRequired[str]


class AssistantMessage(TypedDict):
    role: Literal["assistant"]
    content: NotRequired[Content | None]
    tool_calls: NotRequired[list[ToolCall]]
    name: NotRequired[str]


class ToolMessage(TypedDict):
    role: Literal["tool"]
    content: Content
    tool_call_id: str


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Discriminator("role")
]


class StreamOptions(TypedDict, total=False):
    include_usage: bool
    include_tool_events: bool  # ours: stream tool.call / tool.result events too


class RequestBody(TypedDict):
    messages: Annotated[list[Message], Field(min_length=1)]
    model: NotRequired[str]
    stream: NotRequired[bool | None]
    stream_options: NotRequired[StreamOptions | None]
    tools: NotRequired[list[Any] | None]
    functions: NotRequired[list[Any] | None]


# Unknown fields are dropped by TypedDict validation: what a run receives is only the above.
_REQUEST: TypeAdapter[RequestBody] = TypeAdapter(RequestBody)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    tool_events: bool = False


def parse_chat_request(body: bytes) -> ChatRequest:
    """The request in ``body``, or ``ApiError``: 400 for what is not a JSON object or asks for
    tools, 422 naming the first invalid field."""
    try:
        data = _REQUEST.validate_json(body)
    except ValidationError as invalid:
        raise _invalid(invalid) from None
    if data.get("tools") or data.get("functions"):
        field = "tools" if data.get("tools") else "functions"
        raise ApiError(
            400,
            f"'{field}' is not accepted: a served agent answers with its own tools; "
            f"remove '{field}' from the request",
            code="tools_not_supported",
            param=field,
        )
    options = data.get("stream_options") or {}
    return ChatRequest(
        messages=data["messages"],  # type: ignore[arg-type]
        stream=bool(data.get("stream")),
        include_usage=bool(options.get("include_usage")),
        tool_events=bool(options.get("include_tool_events")),
    )


def _invalid(invalid: ValidationError) -> ApiError:
    first = invalid.errors(include_url=False, include_input=False)[0]
    kind, loc = first["type"], first["loc"]
    if kind == "json_invalid":
        return ApiError(
            400, f"the request body is not valid JSON: {first['msg']}", code="invalid_json"
        )
    if not loc:
        return ApiError(
            400,
            "the request body must be a JSON object in the OpenAI chat format, "
            'e.g. {"messages": [{"role": "user", "content": "Hello"}]}',
            code="invalid_request",
        )
    param = _param(loc)
    message = f"{param}: {first['msg']}"
    if param.endswith(".content"):
        message = (
            f"{param} must be a string or a list of text parts "
            f'[{{"type": "text", "text": "..."}}]; other parts (images, audio) are not supported'
        )
    return ApiError(422, message, code="invalid_value", param=param)


def _param(loc: tuple[int | str, ...]) -> str:
    """``messages[0].content`` from pydantic's location, without the union members it tried
    (``user``, ``str``, ``list[TextPart]``)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in _FIELDS:
            text += f".{part}" if text else part
    return text or "body"


_FIELDS = frozenset(
    {
        *RequestBody.__annotations__,
        *StreamOptions.__annotations__,
        "role",
        "content",
        "name",
        "tool_calls",
        "tool_call_id",
        "type",
        "text",
        "id",
        "function",
        "arguments",
    }
)


# responses ---------------------------------------------------------------------------------

_COMPACT = (",", ":")


def completion_body(result: RunResult, model: str) -> bytes:
    """The ``chat.completion`` for ``result``, with who answered and the handoff chain in the
    top-level ``webagents`` extension."""
    return json.dumps(
        {
            "id": f"chatcmpl-{result.run_id}",
            "object": "chat.completion",
            "created": result.created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.content},
                    "finish_reason": "stop",
                }
            ],
            "usage": result.usage.to_dict(),
            "webagents": extension(result.agent, result.handoff_chain, result.completed),
        },
        ensure_ascii=False,
        separators=_COMPACT,
    ).encode()


# Streamed: text and tool events are the answer's own business (tool events go out only on
# request); these tell a client who is speaking and where the conversation went.
_STREAMED_EVENTS = frozenset(
    {
        "agent.started",
        "text.withdrawn",
        "handoff.transfer",
        "handoff.failed",
        "handoff.complete",
        "agent.completed",
    }
)
# Only on request (stream_options.include_tool_events): a client that shows tool calls.
_TOOL_EVENTS = frozenset({"tool.call", "tool.result"})
_DROPPED_FIELDS = ("run_id", "timestamp")
_EVENT_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(kind: type) -> tuple[str, ...]:
    """An event class's fields as a stream shows them: ``event.to_dict()`` without the run id
    and timestamp, read directly (``asdict`` deep-copies, the costliest step of a chunk)."""
    names = _EVENT_FIELDS.get(kind)
    if names is None:
        names = _EVENT_FIELDS[kind] = tuple(
            f.name for f in dataclasses.fields(kind) if f.name not in _DROPPED_FIELDS
        )
    return names


def extension(agent: str, chain: list[str], completed: bool) -> dict[str, Any]:
    """The ``webagents`` extension of a finished answer: who answered, the handoff chain,
    and ``completed: true`` when an agent ended the task with its ``complete`` tool (a
    calling agent then starts its session's next turn over at its own entry)."""
    data: dict[str, Any] = {"agent": agent, "handoff_chain": chain}
    if completed:
        data["completed"] = True
    return data


class ChunkWriter:
    """The server-sent events of one streamed run, each a ``data: <chunk>`` line. Every chunk
    shares one prefix (id, created, model), written once. With ``tool_events``, tool calls
    and their results are streamed as events too."""

    __slots__ = ("_head", "_role_sent", "_tool_events")

    def __init__(self, run_id: str, created: int, model: str, *, tool_events: bool = False) -> None:
        self._head = (
            f'data: {{"id":"chatcmpl-{run_id}","object":"chat.completion.chunk",'
            f'"created":{created},"model":{json.dumps(model)},'
        )
        self._role_sent = False
        self._tool_events = tool_events

    def text(self, agent: str, text: str) -> bytes:
        role = "" if self._role_sent else '"role":"assistant",'
        self._role_sent = True
        return (
            f'{self._head}"choices":[{{"index":0,"delta":{{{role}"content":{json.dumps(text)}}},'
            f'"finish_reason":null}}],"webagents":{{"agent":{json.dumps(agent)}}}}}\n\n'
        ).encode()

    def event(self, event: RunEvent) -> bytes | None:
        """The chunk announcing ``event``, or None for an event a stream does not carry."""
        if event.type not in _STREAMED_EVENTS and not (
            self._tool_events and event.type in _TOOL_EVENTS
        ):
            return None
        data = {"type": event.type}
        for name in _fields(type(event)):
            data[name] = getattr(event, name)
        return (
            f'{self._head}"choices":[{{"index":0,"delta":{{}},"finish_reason":null}}],'
            f'"webagents":{{"event":{json.dumps(data, separators=_COMPACT)}}}}}\n\n'
        ).encode()

    def final(self, agent: str, chain: list[str], completed: bool = False) -> bytes:
        tail = json.dumps(extension(agent, chain, completed), separators=_COMPACT)
        return (
            f'{self._head}"choices":[{{"index":0,"delta":{{}},"finish_reason":"stop"}}],'
            f'"webagents":{tail}}}\n\n'
        ).encode()

    def usage(self, usage: Usage) -> bytes:
        usage_json = json.dumps(usage.to_dict(), separators=_COMPACT)
        return f'{self._head}"choices":[],"usage":{usage_json}}}\n\n'.encode()

    @staticmethod
    def error(message: str, *, code: str, kind: str = "server_error") -> bytes:
        body = json.dumps({"error": {"message": message, "type": kind, "code": code}})
        return f"data: {body}\n\n".encode()


DONE = b"data: [DONE]\n\n"
