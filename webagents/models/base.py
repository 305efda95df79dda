"""The Model protocol: what a provider implements so agents can talk to its LLM."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Model",
    "ModelRequest",
    "ModelResponse",
    "ToolCall",
    "Usage",
    "with_unique_call_ids",
]


@dataclass(slots=True)
class Usage:
    """Token counts, summed over every model call of a run."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    requests: int = 0

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.total_tokens += other.total_tokens
        self.requests += other.requests

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call requested by the model; ``arguments`` is its JSON text, unparsed."""

    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class ModelResponse:
    """One assistant turn: text, tool calls, or both."""

    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None

    def to_message(self) -> dict[str, Any]:
        """The assistant message in OpenAI chat format, for the transcript."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        return message


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """What the run loop sends: OpenAI-format messages (system prompt first) and tool schemas.

    The tool list and the system message may be shared between requests: read, never modify.
    """

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    agent: str
    settings: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Model(Protocol):
    """A chat model. Implement both methods to add a provider.

    ``stream`` yields text deltas as ``str`` and, last, exactly one ``ModelResponse`` holding
    the whole turn (full content, tool calls, usage).
    """

    name: str

    async def complete(self, request: ModelRequest) -> ModelResponse: ...

    def stream(self, request: ModelRequest) -> AsyncIterator[str | ModelResponse]: ...


def with_unique_call_ids(response: ModelResponse, used: set[str]) -> ModelResponse:
    """``response`` with every tool call id present and not in ``used``; adds them to ``used``.

    Tool results are matched to calls by id, so a missing id or one seen before in the
    transcript (servers that number calls ``call_0`` on every turn, or send none) would pair
    a result with the wrong call. Good ids are kept; the others get fresh ``call_<hex>`` ids.
    The response itself is returned when no id changes.
    """
    calls: list[ToolCall] = []
    for call in response.tool_calls:
        if not call.id or call.id in used:
            call = replace(call, id=_fresh_call_id(used))
        used.add(call.id)
        calls.append(call)
    if calls == response.tool_calls:
        return response
    return replace(response, tool_calls=calls)


def _fresh_call_id(used: set[str]) -> str:
    while True:
        candidate = "call_" + os.urandom(12).hex()
        if candidate not in used:
            return candidate
