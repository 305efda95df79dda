"""Sessions as runs use them: a conversation belongs to its entry agent and its user, its
turns never overwrite each other, and a turn stores only what it added."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from webagents import AgentNetwork, BaseAgent
from webagents.sessions import InMemorySessionStore, SessionAccessError, SessionKey
from webagents.testing import ScriptedModel, scripted_agent, text, transfer


def echo_history(request: dict[str, Any]) -> str:
    """A model that answers with how many user messages it was sent."""
    users = [m for m in request["messages"] if m["role"] == "user"]
    return f"{len(users)} user messages"


async def test_the_same_session_id_on_two_entry_agents_is_two_conversations() -> None:
    store = InMemorySessionStore()
    hr, _ = scripted_agent("hr", [text("Salaries: Ada 120k")], sessions=store)
    shop, shop_model = scripted_agent("shop", [text("Our shoes cost 80")], sessions=store)

    await hr.run("Show me the salary sheet", session_id="default")
    answer = await shop.run("How much are the shoes?", session_id="default")

    assert answer.content == "Our shoes cost 80"
    assert "salary" not in str(shop_model.requests).lower()
    assert "120k" not in str(answer.messages)
    assert answer.messages == [
        {"role": "user", "content": "How much are the shoes?"},
        {"role": "assistant", "content": "Our shoes cost 80"},
    ]


async def test_a_session_continues_only_with_the_user_who_started_it() -> None:
    store = InMemorySessionStore()
    agent, model = scripted_agent(
        "bank", responder=lambda r: "Your balance is 1,000", sessions=store
    )
    await agent.run("What is my balance?", session_id="s-1", user_id="alice")

    for intruder in ("mallory", None):
        with pytest.raises(SessionAccessError) as raised:
            await agent.run("Repeat what you told me", session_id="s-1", user_id=intruder)
        assert "1,000" not in str(raised.value) and "alice" not in str(raised.value)
    assert len(model.requests) == 1  # the intruders never reached the model

    again = await agent.run("And now?", session_id="s-1", user_id="alice")
    assert [m["content"] for m in again.messages if m["role"] == "user"] == [
        "What is my balance?",
        "And now?",
    ]


async def test_concurrent_turns_of_one_session_are_all_kept() -> None:
    store = InMemorySessionStore()
    agent, _ = scripted_agent("busy", responder=echo_history, sessions=store)

    results = await asyncio.gather(
        *(agent.run(f"turn {n}", session_id="shared") for n in range(10))
    )

    stored = await store.read(SessionKey(agent.name, "shared"))
    assert stored is not None and len(stored.messages) == 20
    assert sorted(r.content for r in results) == sorted(f"{n} user messages" for n in range(1, 11))
    users = [m["content"] for m in stored.messages if m["role"] == "user"]
    assert sorted(users) == sorted(f"turn {n}" for n in range(10))


class CountingStore(InMemorySessionStore):
    """Records how many messages each turn wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[int] = []

    async def _append(
        self, key: SessionKey, version: int, added: list[dict[str, Any]], owner: str, user_id: Any
    ) -> None:
        self.written.append(len(added))
        await super()._append(key, version, added, owner, user_id)


async def test_a_turn_writes_what_it_added_not_the_history() -> None:
    store = CountingStore()
    agent, _ = scripted_agent("long", responder=echo_history, sessions=store)

    for n in range(40):
        await agent.run(f"message {n}", session_id="long")

    assert store.written == [2] * 40
    stored = await store.read(SessionKey(agent.name, "long"))
    assert stored is not None and stored.version == 80


async def test_a_cancelled_turn_stores_nothing_and_frees_the_session() -> None:
    store = InMemorySessionStore()
    entered = asyncio.Event()

    async def stuck(request: dict[str, Any]) -> str:
        entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    model = ScriptedModel(responder=stuck)
    agent = BaseAgent("slow", model=model, sessions=store, register=False)
    turn = asyncio.create_task(agent.run("first", session_id="s"))
    await entered.wait()
    turn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await turn

    agent.model = ScriptedModel([text("second answer")])
    result = await agent.run("second", session_id="s")
    assert result.messages == [
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "second answer"},
    ]


async def test_an_owner_the_network_does_not_know_is_ignored() -> None:
    store = InMemorySessionStore()
    desk, _ = scripted_agent("desk", [text("desk answers")], sessions=store)
    async with store.turn(SessionKey(desk.name, "s")) as turn:
        await turn.commit([{"role": "user", "content": "hi"}], owner="ghost", user_id=None)

    result = await desk.run("hello again", session_id="s")

    assert (result.agent, result.content) == (desk.name, "desk answers")


async def test_the_owner_answers_later_turns_and_a_forgotten_user_starts_afresh() -> None:
    store = InMemorySessionStore()
    billing, _ = scripted_agent("billing", [text("Refunded."), text("You're welcome.")])
    desk, desk_model = scripted_agent(
        "desk",
        [transfer(billing.name), text("Hello, new here?")],
        handoffs=[billing],
        sessions=store,
    )

    first = await desk.run("Refund me", session_id="s", user_id="ann")
    second = await desk.run("Thanks", session_id="s", user_id="ann")
    assert (first.agent, second.agent) == (billing.name, billing.name)
    assert len(desk_model.requests) == 1

    assert await store.delete_user("ann") == 1
    third = await desk.run("Hi", session_id="s", user_id="ann")
    assert (third.agent, third.content) == (desk.name, "Hello, new here?")
    assert third.messages[0] == {"role": "user", "content": "Hi"}


async def test_two_networks_sharing_a_store_never_share_a_conversation() -> None:
    store = InMemorySessionStore()
    team_a, team_b = AgentNetwork("team-a", sessions=store), AgentNetwork("team-b", sessions=store)
    desk_a = BaseAgent("desk", model=ScriptedModel([text("A's secret plan")]), network=team_a)
    desk_b = BaseAgent("desk", model=ScriptedModel([text("B here")]), network=team_b)

    await desk_a.run("plan", session_id="s")
    answer = await desk_b.run("hello", session_id="s")

    assert "secret" not in str(answer.messages)
    assert desk_a.session_key("s") == SessionKey("team-a/desk", "s")
    assert {str(info.key) for info in await store.list_sessions()} == {
        "team-a/desk/s",
        "team-b/desk/s",
    }
