"""Typed run events. Every event names the agent it concerns and carries the ``run_id`` and a
``timestamp`` (seconds since the epoch); ``type`` is its wire name."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
    "TextWithdrawn",
    "ToolCallEvent",
    "ToolResultEvent",
]

EventType: TypeAlias = Literal[
    "agent.started",
    "text.delta",
    "text.withdrawn",
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

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data, ``type`` first."""
        return {"type": self.type, **asdict(self)}  # type: ignore[call-overload]


def _run_id() -> Any:
    # Set by the run that emits the event; not compared, so tests can write expected events.
    return field(default="", kw_only=True, compare=False)


def _timestamp() -> Any:
    return field(default=0.0, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class AgentStarted(_Event):
    """An agent begins handling the run (the start agent, and each handoff target)."""

    type: ClassVar[EventType] = "agent.started"
    agent: str
    run_id: str = _run_id()
    timestamp: float = _timestamp()


@dataclass(frozen=True, slots=True)
class TextDelta(_Event):
    """A piece of the answer, streamed as the model produces it."""

    type: ClassVar[EventType] = "text.delta"
    agent: str
    text: str
    run_id: str = _run_id()
    timestamp: float = _timestamp()


@dataclass(frozen=True, slots=True)
class TextWithdrawn(_Event):
    """Text ``agent`` streamed since its latest ``agent.started`` is no longer the answer:
    its handoff failed and was rolled back, or an ``after_llm_call`` hook replaced the
    model's answer. A client discards that text and shows ``replacement`` when given."""

    type: ClassVar[EventType] = "text.withdrawn"
    agent: str
    reason: str
    replacement: str | None = None
    run_id: str = _run_id()
    timestamp: float = _timestamp()


@dataclass(frozen=True, slots=True)
class ToolCallEvent(_Event):
    """The model asked for a tool call (arguments are the model's JSON text)."""

    type: ClassVar[EventType] = "tool.call"
    agent: str
    call_id: str
    name: str
    arguments: str
    run_id: str = _run_id()
    timestamp: float = _timestamp()


@dataclass(frozen=True, slots=True)
class ToolResultEvent(_Event):
    """A tool call finished; ``is_error`` when the arguments were bad or the tool raised."""

    type: ClassVar[EventType] = "tool.result"
    agent: str
    call_id: str
    name: str
    output: str
    is_error: bool = False
    run_id: str = _run_id()
    timestamp: float = _timestamp()


@dataclass(frozen=True, slots=True)
class HandoffTransfer(_Event):
    """The conversation moves from ``from_agent`` to ``to_agent``."""

    type: ClassVar[EventType] = "handoff.transfer"
    agent: str
    from_agent: str
    to_agent: str
    reason: str
    trigger: Literal["condition", "llm"]
    run_id: str = _run_id()
    timestamp: float = _timestamp()


@dataclass(frozen=True, slots=True)
class HandoffFailed(_Event):
    """A handoff did not happen: unknown target, veto, bounds, remote down or target raising."""

    type: ClassVar[EventType] = "handoff.failed"
    agent: str
    from_agent: str
    to_agent: str
    reason: str
    error: str
    run_id: str = _run_id()
    timestamp: float = _timestamp()


@dataclass(frozen=True, slots=True)
class HandoffComplete(_Event):
    """At the end of a run with handoffs: the chain of agents and who answered."""

    type: ClassVar[EventType] = "handoff.complete"
    agent: str
    chain: tuple[str, ...]
    final_agent: str
    run_id: str = _run_id()
    timestamp: float = _timestamp()


@dataclass(frozen=True, slots=True)
class AgentCompleted(_Event):
    """An agent produced its answer."""

    type: ClassVar[EventType] = "agent.completed"
    agent: str
    content: str
    run_id: str = _run_id()
    timestamp: float = _timestamp()


@dataclass(frozen=True, slots=True)
class ErrorEvent(_Event):
    """The run stopped on an error; the exception is raised after this event."""

    type: ClassVar[EventType] = "error"
    agent: str
    message: str
    error_type: str
    run_id: str = _run_id()
    timestamp: float = _timestamp()


RunEvent: TypeAlias = (
    AgentStarted
    | TextDelta
    | TextWithdrawn
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
    TextWithdrawn,
    ToolCallEvent,
    ToolResultEvent,
    HandoffTransfer,
    HandoffFailed,
    HandoffComplete,
    AgentCompleted,
    ErrorEvent,
)
