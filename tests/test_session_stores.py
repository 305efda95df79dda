"""The contract every session store keeps, run against each backend: turns of one session
wait for each other and append only what they added; sessions can be listed, read and deleted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from webagents.sessions import InMemorySessionStore, SessionKey, SessionStore

StoreFactory = Callable[[], SessionStore[Any]]
BACKENDS = ["memory", "sqlite", "redis"]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Stores of one backend; every store a test makes shares that backend's data, as two
    processes using the same file or server would."""
    backend = request.param
    if backend == "memory":
        shared = InMemorySessionStore()
        return lambda: shared
    if backend == "sqlite":
        from webagents.sessions.sqlite import SQLiteSessionStore

        path = tmp_path / "sessions.db"
        return lambda: SQLiteSessionStore(path)
    from webagents.sessions.redis import RedisSessionStore

    url = request.getfixturevalue("redis_url")  # an empty database of a test server
    return lambda: RedisSessionStore(url)


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[SessionStore[Any]]:
    made = make_store()
    try:
        yield made
    finally:
        await made.aclose()


def said(*texts: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text} for text in texts]


KEY = SessionKey("desk", "s-1")


async def test_a_new_session_starts_empty_and_a_turn_stores_what_it_added(
    store: SessionStore[Any],
) -> None:
    async with store.turn(KEY) as turn:
        assert turn.session is None
        await turn.commit(said("hello", "world"), owner="desk", user_id="u-1")

    stored = await store.read(KEY)
    assert stored is not None
    assert (stored.messages, stored.owner, stored.user_id, stored.version) == (
        said("hello", "world"),
        "desk",
        "u-1",
        2,
    )


async def test_later_turns_append_and_may_change_the_owner(store: SessionStore[Any]) -> None:
    async with store.turn(KEY) as turn:
        await turn.commit(said("one"), owner="desk", user_id=None)
    async with store.turn(KEY) as turn:
        assert turn.session is not None and turn.session.version == 1
        await turn.commit(said("two", "three"), owner="billing", user_id=None)

    stored = await store.read(KEY)
    assert stored is not None
    assert stored.messages == said("one", "two", "three")
    assert (stored.owner, stored.version) == ("billing", 3)


async def test_what_read_returns_is_the_callers_own(store: SessionStore[Any]) -> None:
    async with store.turn(KEY) as turn:
        await turn.commit(said("one"), owner="desk", user_id=None)
    first = await store.read(KEY)
    assert first is not None
    first.messages.append({"role": "user", "content": "not stored"})
    async with store.turn(KEY) as turn:
        await turn.commit(said("two"), owner="desk", user_id=None)

    again = await store.read(KEY)
    assert again is not None and again.messages == said("one", "two")
    assert first.messages == [*said("one"), {"role": "user", "content": "not stored"}]


async def test_the_user_a_session_started_with_stays(store: SessionStore[Any]) -> None:
    async with store.turn(KEY) as turn:
        await turn.commit(said("mine"), owner="desk", user_id="u-1")
    async with store.turn(KEY) as turn:
        await turn.commit(said("again"), owner="desk", user_id="u-2")

    stored = await store.read(KEY)
    assert stored is not None and stored.user_id == "u-1"


async def test_a_turn_commits_once(store: SessionStore[Any]) -> None:
    async with store.turn(KEY) as turn:
        await turn.commit(said("once"), owner="desk", user_id=None)
        with pytest.raises(RuntimeError, match="already committed"):
            await turn.commit(said("twice"), owner="desk", user_id=None)


async def test_turns_of_one_session_wait_for_each_other(make_store: StoreFactory) -> None:
    first_store, second_store = make_store(), make_store()
    first_inside = asyncio.Event()
    second_inside = asyncio.Event()
    seen_by_second: list[list[dict[str, Any]]] = []

    async def first() -> None:
        async with first_store.turn(KEY) as turn:
            first_inside.set()
            await asyncio.sleep(0)  # let the second turn try to start
            assert not second_inside.is_set()
            await turn.commit(said("first"), owner="desk", user_id=None)

    async def second() -> None:
        await first_inside.wait()
        async with second_store.turn(KEY) as turn:
            second_inside.set()
            assert turn.session is not None
            seen_by_second.append(list(turn.session.messages))
            await turn.commit(said("second"), owner="desk", user_id=None)

    await asyncio.gather(first(), second())

    assert seen_by_second == [said("first")]
    stored = await first_store.read(KEY)
    assert stored is not None and stored.messages == said("first", "second")
    await first_store.aclose()
    await second_store.aclose()


async def test_a_turn_that_ends_without_committing_lets_the_next_one_in(
    store: SessionStore[Any],
) -> None:
    with pytest.raises(ValueError, match="model down"):
        async with store.turn(KEY):
            raise ValueError("model down")
    async with store.turn(KEY) as turn:
        assert turn.session is None
        await turn.commit(said("after"), owner="desk", user_id=None)


async def test_a_cancelled_waiting_turn_leaves_no_trace(store: SessionStore[Any]) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with store.turn(KEY) as turn:
            entered.set()
            await release.wait()
            await turn.commit(said("held"), owner="desk", user_id=None)

    async def waiter() -> None:
        async with store.turn(KEY) as turn:
            await turn.commit(said("never"), owner="desk", user_id=None)

    holding = asyncio.create_task(holder())
    await entered.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await holding

    async with store.turn(KEY) as turn:
        assert turn.session is not None and turn.session.messages == said("held")


async def test_sessions_of_two_entry_agents_are_two_conversations(
    store: SessionStore[Any],
) -> None:
    for agent in ("shop", "hr"):
        async with store.turn(SessionKey(agent, "default")) as turn:
            assert turn.session is None
            await turn.commit(said(f"{agent} talk"), owner=agent, user_id=None)

    shop = await store.read(SessionKey("shop", "default"))
    assert shop is not None and shop.messages == said("shop talk")


async def test_sessions_can_be_listed_read_and_deleted(store: SessionStore[Any]) -> None:
    for agent, session_id, user in (
        ("desk", "a", "u-1"),
        ("desk", "b", "u-2"),
        ("hr", "c", "u-1"),
    ):
        async with store.turn(SessionKey(agent, session_id)) as turn:
            await turn.commit(said("hi", "there"), owner=agent, user_id=user)

    everything = await store.list_sessions()
    assert {str(info.key) for info in everything} == {"desk/a", "desk/b", "hr/c"}
    assert [str(i.key) for i in everything] == ["hr/c", "desk/b", "desk/a"]  # newest first
    assert {str(i.key) for i in await store.list_sessions(agent="desk")} == {"desk/a", "desk/b"}
    mine = await store.list_sessions(user_id="u-1")
    assert {str(i.key) for i in mine} == {"desk/a", "hr/c"}
    assert all(info.messages == 2 and info.updated_at > 0 for info in mine)

    assert await store.delete_user("u-1") == 2
    assert await store.read(SessionKey("desk", "a")) is None
    assert await store.delete(SessionKey("desk", "b")) is True
    assert await store.delete(SessionKey("desk", "b")) is False
    assert await store.list_sessions() == []


async def test_idle_sessions_hold_no_lock_state() -> None:
    store = InMemorySessionStore()
    for n in range(100):
        async with store.turn(SessionKey("desk", f"s{n}")) as turn:
            await turn.commit(said("x"), owner="desk", user_id=None)
    assert store._locks == {}


async def test_the_memory_store_is_bounded_by_size() -> None:
    store = InMemorySessionStore(max_sessions=3)
    for n in range(5):
        async with store.turn(SessionKey("desk", f"s{n}")) as turn:
            await turn.commit(said(f"turn {n}"), owner="desk", user_id=None)
    # s1 is used again, so s2 is now the least recently used of those kept
    async with store.turn(SessionKey("desk", "s2")) as turn:
        await turn.commit(said("again"), owner="desk", user_id=None)
    async with store.turn(SessionKey("desk", "s5")) as turn:
        await turn.commit(said("new"), owner="desk", user_id=None)

    kept = {info.key.session_id for info in await store.list_sessions()}
    assert kept == {"s4", "s2", "s5"}
    assert len(store) == 3


async def test_the_memory_store_forgets_sessions_past_their_ttl() -> None:
    now = [1000.0]
    store = InMemorySessionStore(ttl=60, clock=lambda: now[0])
    async with store.turn(KEY) as turn:
        await turn.commit(said("hello"), owner="desk", user_id=None)
    now[0] += 59
    assert await store.read(KEY) is not None
    now[0] += 2
    assert await store.read(KEY) is None
    assert len(store) == 0
