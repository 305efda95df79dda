"""Reading the Chat Completions wire format (a completion, or the chunks of a stream).

The ``openai`` SDK builds its response objects without validation, so a body of the wrong
shape surfaces later as an ``AttributeError`` somewhere else, or as an empty answer. Here the
decoded JSON is read as plain data and every unusable shape is a :class:`WireError` saying
what was wrong; the provider turns it into a ``ModelError`` naming model and endpoint.
Servers that are merely loose (a missing ``type``, arguments sent as an object, a tool call
without an id or index) are accepted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from webagents.models.base import ModelResponse, ToolCall, Usage, with_unique_call_ids

__all__ = ["StreamAssembler", "WireError", "parse_completion"]

_SHOWN = 200  # characters of a server's own error text kept in ours


class WireError(Exception):
    """The body does not fit the Chat Completions format; the text completes
    "model 'x' at <endpoint> ..."."""


def shorten(text: str) -> str:
    """One line of at most ``_SHOWN`` characters: error bodies can be whole HTML pages."""
    line = " ".join(text.split())
    return line if len(line) <= _SHOWN else line[: _SHOWN - 3] + "..."


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _error_text(error: object) -> str:
    message = error.get("message") if isinstance(error, dict) else error
    return shorten(message if isinstance(message, str) else json.dumps(message))


def _arguments(value: object, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # some servers send the arguments as an object
        return json.dumps(value)
    raise WireError(f"sent {where} with arguments of type {_kind(value)}")


def _usage(data: object) -> Usage:
    usage = Usage(requests=1)
    if isinstance(data, dict):
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = data.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(usage, key, value)
    return usage


def _text(value: object, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise WireError(f"sent {where} of type {_kind(value)}, not text")


def _finish_reason(choice: dict[str, Any]) -> str | None:
    reason = choice.get("finish_reason")
    return reason if isinstance(reason, str) else None


def _check_not_empty(response: ModelResponse, what: str) -> ModelResponse:
    if not response.content and not response.tool_calls and response.finish_reason is None:
        raise WireError(f"{what} without content, tool calls or a finish reason")
    return response


def parse_completion(data: object) -> ModelResponse:
    """The assistant turn in a decoded ``chat.completion`` body."""
    if not isinstance(data, dict):
        raise WireError(f"answered a JSON {_kind(data)}, not a chat completion object")
    if data.get("error"):  # some proxies answer errors with status 200
        raise WireError(f"answered an error: {_error_text(data['error'])}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise WireError("answered a JSON body without choices")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(message, dict):
        raise WireError("answered a choice without a message")
    calls: list[ToolCall] = []
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise WireError(f"sent tool_calls of type {_kind(raw_calls)}, not a list")
    for number, call in enumerate(raw_calls, 1):
        where = f"tool call #{number}"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(function, dict):
            raise WireError(f"sent {where} without a function")
        if call.get("type", "function") != "function":
            continue  # a kind of tool this framework never offers
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise WireError(f"sent {where} without a function name")
        arguments = _arguments(function.get("arguments"), where) or "{}"
        call_id = call.get("id")
        calls.append(ToolCall(call_id if isinstance(call_id, str) else "", name, arguments))
    content = _text(message.get("content"), "message content")
    response = ModelResponse(content, calls, _usage(data.get("usage")), _finish_reason(choice))
    return with_unique_call_ids(_check_not_empty(response, "answered"), set())


@dataclass(slots=True)
class _CallParts:
    id: str = ""
    name: str = ""
    arguments: str = ""


class StreamAssembler:
    """Collects ``chat.completion.chunk`` objects into one ``ModelResponse``."""

    def __init__(self) -> None:
        self.events = 0
        self._text: list[str] = []
        self._calls: dict[int, _CallParts] = {}
        self._usage = Usage(requests=1)
        self._finish_reason: str | None = None

    def add(self, chunk: object) -> str | None:
        """Take one decoded chunk; returns its text delta, if any."""
        self.events += 1
        if not isinstance(chunk, dict):
            raise WireError(f"sent a stream event holding a JSON {_kind(chunk)}, not an object")
        if chunk.get("usage") is not None:
            self._usage = _usage(chunk["usage"])
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise WireError(f"sent a stream event with choices of type {_kind(choices)}")
        if not choices:
            return None  # e.g. the closing usage chunk
        choice = choices[0]
        if not isinstance(choice, dict):
            raise WireError(f"sent a stream event with a choice of type {_kind(choice)}")
        self._finish_reason = _finish_reason(choice) or self._finish_reason
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise WireError(f"sent a stream event with a delta of type {_kind(delta)}")
        parts = delta.get("tool_calls") or []
        if not isinstance(parts, list):
            raise WireError(f"sent tool_calls of type {_kind(parts)}, not a list")
        for part in parts:
            self._add_call_part(part)
        content = _text(delta.get("content"), "content")
        if content:
            self._text.append(content)
        return content or None

    def _add_call_part(self, part: object) -> None:
        if not isinstance(part, dict):
            raise WireError(f"sent a tool call delta of type {_kind(part)}")
        call_id = part.get("id") if isinstance(part.get("id"), str) else ""
        index = part.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            # No index: a known id continues its call, a new id starts one, no id continues
            # the last call.
            known = [i for i, slot in self._calls.items() if call_id and slot.id == call_id]
            index = known[0] if known else self._next_index() if call_id else self._last_index()
        slot = self._calls.setdefault(index, _CallParts())
        if call_id and slot.id and call_id != slot.id:
            # Some servers reuse one index for several calls; their ids tell them apart.
            slot = self._calls.setdefault(self._next_index(), _CallParts())
        if call_id:
            slot.id = call_id
        function = part.get("function") or {}
        if not isinstance(function, dict):
            raise WireError(f"sent a tool call delta with a function of type {_kind(function)}")
        name = function.get("name")
        if isinstance(name, str) and name != slot.name:  # some servers repeat the whole name
            slot.name += name
        slot.arguments += _arguments(function.get("arguments"), "a tool call delta")

    def _next_index(self) -> int:
        return max(self._calls, default=-1) + 1

    def _last_index(self) -> int:
        return max(self._calls, default=0)

    def response(self) -> ModelResponse:
        """The whole turn, once the stream has ended."""
        calls = []
        for number, (_, slot) in enumerate(sorted(self._calls.items()), 1):
            if not slot.name:
                raise WireError(f"streamed tool call #{number} without a function name")
            calls.append(ToolCall(slot.id, slot.name, slot.arguments or "{}"))
        content = "".join(self._text) or None
        response = ModelResponse(content, calls, self._usage, self._finish_reason)
        return with_unique_call_ids(_check_not_empty(response, "ended its stream"), set())
