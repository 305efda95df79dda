"""Run events: the compact log a run keeps turns back into the same event objects."""

from __future__ import annotations

from dataclasses import astuple

from webagents.events import (
    EVENT_CLASSES,
    EVENT_TYPES,
    AgentCompleted,
    AgentStarted,
    ErrorEvent,
    HandoffComplete,
    HandoffFailed,
    HandoffTransfer,
    RunEvent,
    TextDelta,
    ToolCallEvent,
    ToolResultEvent,
    events_from_log,
)

ONE_OF_EACH: list[RunEvent] = [
    AgentStarted("desk"),
    TextDelta("desk", "Hel"),
    ToolCallEvent("desk", "call_1", "lookup", '{"id": 1}'),
    ToolResultEvent("desk", "call_1", "lookup", "found", False),
    HandoffTransfer("desk", "desk", "billing", "money", "llm"),
    HandoffFailed("desk", "desk", "legal", "law", "unknown agent 'legal'"),
    HandoffComplete("billing", ("desk", "billing"), "billing"),
    AgentCompleted("billing", "Refunded."),
    ErrorEvent("billing", "boom", "ModelError"),
]


def test_every_event_class_has_a_distinct_tag_and_type() -> None:
    assert [cls.tag for cls in EVENT_CLASSES] == list(range(len(EVENT_CLASSES)))
    assert sorted(cls.type for cls in EVENT_CLASSES) == sorted(EVENT_TYPES)
    assert {type(event) for event in ONE_OF_EACH} == set(EVENT_CLASSES)


def test_log_round_trips_every_event() -> None:
    log: list[object] = []
    for event in ONE_OF_EACH:
        log.append(event.tag)
        log.extend(astuple(event))

    assert events_from_log(log) == ONE_OF_EACH


def test_to_dict_puts_the_type_first() -> None:
    data = HandoffTransfer("desk", "desk", "billing", "money", "condition").to_dict()
    assert list(data) == ["type", "agent", "from_agent", "to_agent", "reason", "trigger"]
    assert data["type"] == "handoff.transfer"
