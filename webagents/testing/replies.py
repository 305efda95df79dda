"""Scripted model replies, shared by ``ScriptedModel`` and ``FakeOpenAIServer``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from webagents._names import COMPLETE_TOOL, transfer_tool_name

__all__ = [
    "Reply",
    "ReplyLike",
    "Responder",
    "ScriptedToolCall",
    "as_reply",
    "complete",
    "error",
    "text",
    "tool_call",
    "tool_calls",
    "transfer",
]


@dataclass(frozen=True, slots=True)
class ScriptedToolCall:
    """One tool call the fake model makes; ``arguments`` is JSON text, as on the wire."""

    name: str
    arguments: str = "{}"
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """What the fake model answers to one request.

    A ``status`` other than 200 makes the fake server answer with an OpenAI-shaped error
    (``error`` is its message, ``headers`` e.g. ``Retry-After``); ``ScriptedModel`` raises
    ``ModelError`` instead.
    """

    content: str | None = None
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    status: int = 200
    error: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


ReplyLike: TypeAlias = "str | Reply | Mapping[str, Any]"
Responder: TypeAlias = Callable[[dict[str, Any]], "ReplyLike | Awaitable[ReplyLike]"]


def _arguments_text(arguments: Mapping[str, Any] | str | None) -> str:
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):
        return arguments
    return json.dumps(dict(arguments))


def text(content: str) -> Reply:
    """A plain assistant message."""
    return Reply(content=content)


def tool_call(
    name: str,
    arguments: Mapping[str, Any] | str | None = None,
    *,
    id: str | None = None,
    content: str | None = None,
) -> Reply:
    """One call of tool ``name`` (arguments as a mapping or JSON text)."""
    return Reply(
        content=content,
        tool_calls=(ScriptedToolCall(name, _arguments_text(arguments), id),),
    )


def tool_calls(
    *calls: tuple[str, Mapping[str, Any] | str | None], content: str | None = None
) -> Reply:
    """Several tool calls in one assistant turn: ``tool_calls(("a", {...}), ("b", {...}))``."""
    return Reply(
        content=content,
        tool_calls=tuple(ScriptedToolCall(name, _arguments_text(args)) for name, args in calls),
    )


def transfer(agent_name: str, reason: str | None = None) -> Reply:
    """A call of the ``transfer_to_<agent>`` tool webagents offers for each handoff target."""
    arguments = {"reason": reason} if reason is not None else {}
    return tool_call(transfer_tool_name(agent_name), arguments)


def complete(summary: str) -> Reply:
    """A call of the ``complete`` tool an agent built with ``complete_tool=True`` offers."""
    return tool_call(COMPLETE_TOOL, {"summary": summary})


def error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> Reply:
    """An HTTP error from the model endpoint (e.g. 429 with ``{"Retry-After": "1"}``)."""
    return Reply(status=status, error=message, headers=dict(headers or {}))


def as_reply(item: ReplyLike) -> Reply:
    """Normalise a reply: a string is text; a mapping may hold ``content`` and ``tool_calls``.

    Tool calls in a mapping are ``{"name": ..., "arguments": {...} | "json", "id": ...}``.
    """
    if isinstance(item, Reply):
        return item
    if isinstance(item, str):
        return Reply(content=item)
    if isinstance(item, Mapping):
        unknown = set(item) - {"content", "tool_calls", "status", "error", "headers"}
        if unknown:
            raise ValueError(
                f"scripted reply has unknown keys {sorted(unknown)}; "
                "use content, tool_calls, status, error, headers"
            )
        calls = tuple(
            ScriptedToolCall(c["name"], _arguments_text(c.get("arguments")), c.get("id"))
            for c in item.get("tool_calls", ())
        )
        return Reply(
            content=item.get("content"),
            tool_calls=calls,
            status=int(item.get("status", 200)),
            error=item.get("error"),
            headers=dict(item.get("headers", {})),
        )
    raise TypeError(f"a scripted reply must be str, Reply or mapping, not {type(item).__name__}")
