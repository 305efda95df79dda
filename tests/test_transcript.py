"""A session turn reads the stored history in place (``webagents.transcript``): the model is
sent all of it, everything that reads the conversation sees all of it, and what the turn
stores and returns is exactly what happened, handoffs and their failures included."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from webagents import Skill
from webagents.agents.skills.decorators import handoff, hook
from webagents.context import Context
from webagents.sessions import InMemorySessionStore, SessionKey
from webagents.testing import error, scripted_agent, text, tool_call, transfer
from webagents.transcript import Transcript


def contents(messages: list[dict[str, Any]]) -> list[Any]:
    return [m.get("content") for m in messages]


async def stored(store: InMemorySessionStore, agent: str, session: str) -> list[dict[str, Any]]:
    found = await store.read(SessionKey(agent, session))
    assert found is not None
    return found.messages


async def test_a_plain_turn_leaves_the_stored_history_unjoined_until_it_is_read() -> None:
    store = InMemorySessionStore()
    agent, model = scripted_agent("plain", [text("a1"), text("a2")], sessions=store)
    await agent.run("q1", session_id="s")

    second = await agent.run("q2", session_id="s")

    run_list = second._messages
    assert type(run_list) is Transcript and run_list.stored == 2
    assert run_list.history is store._sessions[SessionKey(agent.name, "s")].messages
    assert list.__len__(run_list) == 2  # only what this turn added was allocated
    assert contents(model.requests[-1]["messages"][1:]) == ["q1", "a1", "q2"]
    assert contents(second.messages) == ["q1", "a1", "q2", "a2"]


async def test_a_result_read_after_later_turns_is_still_its_own_conversation() -> None:
    store = InMemorySessionStore()
    agent, _ = scripted_agent("later", [text("a1"), text("a2"), text("a3")], sessions=store)
    await agent.run("q1", session_id="s")
    second = await agent.run("q2", session_id="s")  # its history is the store's live list
    await agent.run("q3", session_id="s")

    assert contents(second.messages) == ["q1", "a1", "q2", "a2"]
    assert second.messages == [*(await stored(store, agent.name, "s"))[:4]]
    assert contents(await stored(store, agent.name, "s")) == ["q1", "a1", "q2", "a2", "q3", "a3"]


class Redactor(Skill):
    """Sees the whole conversation and, on later turns, replaces its first message."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    @hook("before_llm_call")
    async def redact(self, context: Context) -> Context:
        self.seen.append(len(context.messages))
        if len(context.messages) > 1:
            context.messages[0] = {"role": "user", "content": "[redacted]"}
        return context


async def test_hooks_see_and_edit_the_whole_conversation_but_not_the_store() -> None:
    store = InMemorySessionStore()
    redactor = Redactor()
    agent, model = scripted_agent(
        "redacting", [text("a1"), text("a2")], sessions=store, skills={"r": redactor}
    )
    await agent.run("card 4242", session_id="s")

    await agent.run("q2", session_id="s")

    assert redactor.seen == [1, 3]
    assert contents(model.requests[-1]["messages"][1:]) == ["[redacted]", "a1", "q2"]
    # the edit replaced an item of the run's list, not of the store's
    assert contents(await stored(store, agent.name, "s"))[:2] == ["card 4242", "a1"]


async def test_a_failed_handoff_in_a_session_turn_stores_exactly_what_happened() -> None:
    store = InMemorySessionStore()
    broken, _ = scripted_agent("broken-expert", [error(500, "down")])
    desk, desk_model = scripted_agent(
        "desk-with-history",
        [text("hello"), transfer(broken.name, "expert needed"), text("I will answer myself")],
        handoffs=[broken],
        sessions=store,
    )
    await desk.run("hi", session_id="s")

    result = await desk.run("a hard question", session_id="s")

    assert result.content == "I will answer myself"
    assert [r.success for r in result.handoffs] == [False]
    saved = await stored(store, desk.name, "s")
    assert saved == result.messages
    assert contents(saved)[:3] == ["hi", "hello", "a hard question"]
    assert saved[-1]["content"] == "I will answer myself"
    assert contents(desk_model.requests[-1]["messages"][1:4]) == ["hi", "hello", "a hard question"]


async def test_tool_call_ids_stay_unique_across_the_stored_history() -> None:
    def lookup() -> str:
        return "found"

    store = InMemorySessionStore()
    agent, _ = scripted_agent(
        "ids-over-turns",
        [
            tool_call("lookup", id="call_0"),
            text("first"),
            tool_call("lookup", id="call_0"),
            text("second"),
        ],
        tools=[lookup],
        sessions=store,
    )
    await agent.run("one", session_id="s")

    second = await agent.run("two", session_id="s")

    ids = [c["id"] for m in second.messages for c in m.get("tool_calls") or ()]
    answered = [m["tool_call_id"] for m in second.messages if m.get("role") == "tool"]
    assert len(ids) == 2 and len(set(ids)) == 2 and ids == answered


class RefundRouter(Skill):
    @handoff("billing-on-session")
    def refunds(self, query: str) -> bool:
        """Refunds go to billing"""
        return "refund" in query


async def test_a_condition_sees_the_turn_on_a_session_and_hands_off() -> None:
    store = InMemorySessionStore()
    billing, _ = scripted_agent("billing-on-session", [text("refund done")])
    desk, _ = scripted_agent(
        "desk-conditions",
        [text("hello")],
        handoffs=[billing],
        sessions=store,
        skills={"router": RefundRouter()},
    )
    await desk.run("hi", session_id="s")

    result = await desk.run("I want a refund", session_id="s")

    assert result.agent == billing.name and result.content == "refund done"
    assert contents(result.messages) == ["hi", "hello", "I want a refund", "refund done"]


async def test_copies_of_a_session_result_hold_the_whole_conversation() -> None:
    store = InMemorySessionStore()
    agent, _ = scripted_agent("copied", [text("a1"), text("a2"), text("a3")], sessions=store)
    await agent.run("q1", session_id="s")
    second = await agent.run("q2", session_id="s")
    third = await agent.run("q3", session_id="s")

    as_dict = dataclasses.asdict(second)  # walks the fields, not the messages property
    assert contents(as_dict["_messages"]) == ["q1", "a1", "q2", "a2"]
    assert contents(copy.deepcopy(third).messages) == ["q1", "a1", "q2", "a2", "q3", "a3"]
