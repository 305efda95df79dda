"""Run events: one class per wire type, each stamped with its run and time."""

from __future__ import annotations

import time

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
    TextWithdrawn,
    ToolCallEvent,
    ToolResultEvent,
)
from webagents.testing import scripted_agent, text, tool_call

ONE_OF_EACH: list[RunEvent] = [
    AgentStarted(agent="desk"),
    TextDelta(agent="desk", text="Hel"),
    TextWithdrawn(agent="desk", reason="replaced", replacement="Hi"),
    ToolCallEvent(agent="desk", call_id="call_1", name="lookup", arguments='{"id": 1}'),
    ToolResultEvent(agent="desk", call_id="call_1", name="lookup", output="found"),
    HandoffTransfer(
        agent="desk", from_agent="desk", to_agent="billing", reason="money", trigger="llm"
    ),
    HandoffFailed(
        agent="desk", from_agent="desk", to_agent="legal", reason="law", error="unknown agent"
    ),
    HandoffComplete(agent="billing", chain=("desk", "billing"), final_agent="billing"),
    AgentCompleted(agent="billing", content="Refunded."),
    ErrorEvent(agent="billing", message="boom", error_type="ModelError"),
]


def test_every_event_class_has_a_distinct_type() -> None:
    assert sorted(cls.type for cls in EVENT_CLASSES) == sorted(EVENT_TYPES)
    assert {type(event) for event in ONE_OF_EACH} == set(EVENT_CLASSES)


def test_to_dict_puts_the_type_first_and_ends_with_run_and_time() -> None:
    event = HandoffTransfer(
        agent="desk",
        from_agent="desk",
        to_agent="billing",
        reason="money",
        trigger="condition",
        run_id="r1",
        timestamp=12.5,
    )
    data = event.to_dict()
    assert list(data) == [
        "type",
        "agent",
        "from_agent",
        "to_agent",
        "reason",
        "trigger",
        "run_id",
        "timestamp",
    ]
    assert (data["type"], data["run_id"], data["timestamp"]) == ("handoff.transfer", "r1", 12.5)


async def test_every_event_of_a_run_carries_its_run_id_and_a_timestamp() -> None:
    def lookup(order: str) -> str:
        return f"{order}: shipped"

    agent, _ = scripted_agent(
        "stamped",
        [tool_call("lookup", {"order": "A1"}), text("It shipped.")],
        tools=[lookup],
        register=False,
    )
    before = time.time()
    result = await agent.run("where is A1?")
    after = time.time()

    assert [e.type for e in result.events] == [
        "agent.started",
        "tool.call",
        "tool.result",
        "agent.completed",
    ]
    assert {e.run_id for e in result.events} == {result.run_id}
    stamps = [e.timestamp for e in result.events]
    assert stamps == sorted(stamps)
    assert before <= stamps[0] and stamps[-1] <= after
