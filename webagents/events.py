"""Typed run events. Every event names the agent it concerns; ``type`` is its wire name."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Final, Literal, TypeAlias

__all__ = [
    "EVENT_CLASSES",
    "EVENT_TYPES",
    "AgentCompleted",
    "AgentStarted",
    "ErrorEvent",
    "EventType",
    "HandoffComplete",
    "HandoffFailed",
    "HandoffTransfer",
    "RunEvent",
    "TextDelta",
    "ToolCallEvent",
    "ToolResultEvent",
    "events_from_log",
]

EventType: TypeAlias = Literal[
    "agent.started",
    "text.delta",
    "tool.call",
    "tool.result",
    "handoff.transfer",
    "handoff.failed",
    "handoff.complete",
    "agent.completed",
    "error",
]
EVENT_TYPES: Final[tuple[str, ...]] = EventType.__args__  # type: ignore[attr-defined]


class _Event:
    __slots__ = ()
    type: ClassVar[EventType]
    tag: ClassVar[int]  # position in EVENT_CLASSES: how a run's compact log names the class

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data, ``type`` first."""
        return {"type": self.type, **asdict(self)}  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class AgentStarted(_Event):
    """An agent begins handling the run (the start agent, and each handoff target)."""

    type: ClassVar[EventType] = "agent.started"
    agent: str


@dataclass(frozen=True, slots=True)
class TextDelta(_Event):
    """A piece of the answer, streamed as the model produces it."""

    type: ClassVar[EventType] = "text.delta"
    agent: str
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallEvent(_Event):
    """The model asked for a tool call (arguments are the model's JSON text)."""

    type: ClassVar[EventType] = "tool.call"
    agent: str
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolResultEvent(_Event):
    """A tool call finished; ``is_error`` when the arguments were bad or the tool raised."""

    type: ClassVar[EventType] = "tool.result"
    agent: str
    call_id: str
    name: str
    output: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class HandoffTransfer(_Event):
    """The conversation moves from ``from_agent`` to ``to_agent``."""

    type: ClassVar[EventType] = "handoff.transfer"
    agent: str
    from_agent: str
    to_agent: str
    reason: str
    trigger: Literal["condition", "llm"]


@dataclass(frozen=True, slots=True)
class HandoffFailed(_Event):
    """A handoff did not happen: unknown target, veto, bounds, remote down or target raising."""

    type: ClassVar[EventType] = "handoff.failed"
    agent: str
    from_agent: str
    to_agent: str
    reason: str
    error: str


@dataclass(frozen=True, slots=True)
class HandoffComplete(_Event):
    """At the end of a run with handoffs: the chain of agents and who answered."""

    type: ClassVar[EventType] = "handoff.complete"
    agent: str
    chain: tuple[str, ...]
    final_agent: str


@dataclass(frozen=True, slots=True)
class AgentCompleted(_Event):
    """An agent produced its answer."""

    type: ClassVar[EventType] = "agent.completed"
    agent: str
    content: str


@dataclass(frozen=True, slots=True)
class ErrorEvent(_Event):
    """The run stopped on an error; the exception is raised after this event."""

    type: ClassVar[EventType] = "error"
    agent: str
    message: str
    error_type: str


RunEvent: TypeAlias = (
    AgentStarted
    | TextDelta
    | ToolCallEvent
    | ToolResultEvent
    | HandoffTransfer
    | HandoffFailed
    | HandoffComplete
    | AgentCompleted
    | ErrorEvent
)

EVENT_CLASSES: Final[tuple[type[RunEvent], ...]] = (
    AgentStarted,
    TextDelta,
    ToolCallEvent,
    ToolResultEvent,
    HandoffTransfer,
    HandoffFailed,
    HandoffComplete,
    AgentCompleted,
    ErrorEvent,
)
for _tag, _class in enumerate(EVENT_CLASSES):
    _class.tag = _tag
del _tag, _class


_FIELD_COUNTS: Final = tuple(len(fields(cls)) for cls in EVENT_CLASSES)


def events_from_log(log: list[Any]) -> list[RunEvent]:
    """Events from a run's compact log: each event's tag, then its fields, flat in one list.

    A run records plain values instead of event objects, so a thousand runs in flight do not
    each keep a dozen more objects for the garbage collector to walk; the objects are made
    when someone reads them.
    """
    events: list[RunEvent] = []
    index, end = 0, len(log)
    while index < end:
        tag = log[index]
        count = _FIELD_COUNTS[tag]
        events.append(EVENT_CLASSES[tag](*log[index + 1 : index + 1 + count]))
        index += 1 + count
    return events
