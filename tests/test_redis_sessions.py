"""What the Redis session store adds to the store contract (tests/test_session_stores.py):
sessions shared by processes, leases that outlive a turn and expire after a crash, loads that
read only what changed, and a clear error when the server is down. Against a real
redis-server (the ``redis_url`` fixture); other processes are real subprocesses."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import Redis

import webagents.sessions
from webagents.errors import WebAgentsError
from webagents.sessions import SessionKey, default_session_store, open_session_store
from webagents.sessions.redis import (
    RedisSessionStore,
    SessionStoreError,
    SessionStoreUnavailableError,
)
from webagents.testing.redis_server import RedisServer, _free_port

KEY = SessionKey("desk", "s-1")
LEASE = "webagents:session:desk:s-1:lease"
PATIENCE = 30  # seconds before a test that hangs fails instead of stalling the suite


def said(*texts: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text} for text in texts]


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisSessionStore]:
    made = RedisSessionStore(redis_url)
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture
async def other(redis_url: str) -> AsyncIterator[RedisSessionStore]:
    """A second store with connections of its own, as another server process has."""
    made = RedisSessionStore(redis_url)
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The (start, end) of every LRANGE any client sends, pipelines included."""
    calls: list[tuple[int, int]] = []
    lrange = Redis.lrange

    def recording(self: Redis, name: Any, start: int, end: int) -> Any:
        calls.append((start, end))
        return lrange(self, name, start, end)

    monkeypatch.setattr(Redis, "lrange", recording)
    return calls


async def take_turn(store: RedisSessionStore, *texts: str, key: SessionKey = KEY) -> int:
    """One turn adding ``texts``; the version it started from."""
    async with store.turn(key) as turn:
        await turn.commit(said(*texts), owner=key.agent, user_id=None)
        return turn.session.version if turn.session is not None else 0


async def test_two_processes_continue_one_conversation(
    store: RedisSessionStore, other: RedisSessionStore
) -> None:
    await take_turn(store, "one")
    async with other.turn(KEY) as turn:
        assert turn.session is not None and turn.session.messages == said("one")
        await turn.commit(said("two"), owner="billing", user_id=None)
    async with store.turn(KEY) as turn:  # its cache holds "one"; "two" came from elsewhere
        assert turn.session is not None
        assert turn.session.messages == said("one", "two")
        assert (turn.session.owner, turn.session.version) == ("billing", 2)


async def test_a_session_deleted_and_started_again_elsewhere_is_read_anew(
    store: RedisSessionStore, other: RedisSessionStore
) -> None:
    await take_turn(store, "old 1", "old 2")
    assert await other.delete(KEY)
    await take_turn(other, "new 1", "new 2", "new 3")

    stored = await store.read(KEY)
    assert stored is not None and stored.messages == said("new 1", "new 2", "new 3")


WORKER = """
import asyncio, sys
from webagents.sessions import SessionKey
from webagents.sessions.redis import RedisSessionStore

async def main(url, name, turns):
    store = RedisSessionStore(url)
    await store.read(SessionKey("desk", "warm-up"))  # connected before the barrier
    print("ready", flush=True)
    sys.stdin.readline()
    for n in range(turns):
        async with store.turn(SessionKey("desk", "shared")) as turn:
            seen = turn.session.version if turn.session is not None else 0
            added = [{"role": "user", "content": f"{name}-{n}", "seen": seen}]
            await turn.commit(added, owner="desk", user_id=None)
    await store.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_concurrent_turns_of_processes_are_applied_one_after_another(
    store: RedisSessionStore, redis_url: str
) -> None:
    workers, turns = 6, 5
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-W", "error", "-c", WORKER, redis_url, f"w{n}", str(turns),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for n in range(workers)
    ]  # fmt: skip
    async with asyncio.timeout(PATIENCE):
        for proc in procs:
            assert proc.stdout is not None
            assert await proc.stdout.readline() == b"ready\n"
        for proc in procs:  # the barrier: every worker starts its turns at once
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        assert [await proc.wait() for proc in procs] == [0] * workers

    stored = await store.read(SessionKey("desk", "shared"))
    assert stored is not None and stored.version == workers * turns
    # Each turn saw exactly the turns before it: none lost, none applied twice.
    assert [message["seen"] for message in stored.messages] == list(range(workers * turns))
    assert sorted(message["content"] for message in stored.messages) == sorted(
        f"w{w}-{n}" for w in range(workers) for n in range(turns)
    )
    for worker in range(workers):  # a process's own turns stay in its order
        own = [m["content"] for m in stored.messages if m["content"].startswith(f"w{worker}-")]
        assert own == [f"w{worker}-{n}" for n in range(turns)]


HOLDER = """
import asyncio, sys
from webagents.sessions import SessionKey
from webagents.sessions.redis import RedisSessionStore

async def main(url):
    store = RedisSessionStore(url, lease=float(sys.argv[2]))
    async with store.turn(SessionKey("desk", "s-1")) as turn:
        await turn.commit([{"role": "user", "content": "before the crash"}], owner="desk",
                          user_id=None)
        print("holding", flush=True)
        sys.stdin.readline()  # never answered: the process is killed holding the session

asyncio.run(main(sys.argv[1]))
"""


async def test_the_lease_of_a_killed_holder_expires_and_lets_the_next_turn_in(
    redis_url: str, redis_server: RedisServer
) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, redis_url, "0.3",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdout is not None
    async with asyncio.timeout(PATIENCE):
        assert await holder.stdout.readline() == b"holding\n"
    assert redis_server.command("EXISTS", LEASE) == 1
    holder.kill()
    await holder.wait()

    store = RedisSessionStore(redis_url, lease=0.3)
    try:
        async with asyncio.timeout(PATIENCE), store.turn(KEY) as turn:
            assert turn.session is not None
            assert turn.session.messages == said("before the crash")
            await turn.commit(said("after"), owner="desk", user_id=None)
    finally:
        await store.aclose()
    assert redis_server.command("EXISTS", LEASE) == 0


async def test_a_turn_longer_than_its_lease_keeps_the_session(
    redis_url: str, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisSessionStore(redis_url, lease=0.15)
    renewed = asyncio.Queue[None]()
    renew = store._renew_script

    async def counting(**kwargs: Any) -> Any:
        result = await renew(**kwargs)
        renewed.put_nowait(None)
        return result

    monkeypatch.setattr(store, "_renew_script", counting)
    try:
        async with store.turn(KEY) as turn:
            token = redis_server.command("GET", LEASE)
            async with asyncio.timeout(PATIENCE):
                for _ in range(6):  # renewed every lease/3: the turn has run for two leases
                    await renewed.get()
            assert redis_server.command("GET", LEASE) == token
            left = redis_server.command("PTTL", LEASE)
            assert isinstance(left, int) and 0 < left <= 150
            await turn.commit(said("long"), owner="desk", user_id=None)
    finally:
        await store.aclose()
    assert redis_server.command("EXISTS", LEASE) == 0


async def test_a_turn_that_lost_its_lease_is_not_stored(
    store: RedisSessionStore, other: RedisSessionStore, redis_server: RedisServer
) -> None:
    await take_turn(store, "one")
    async with store.turn(KEY) as late:
        redis_server.command("DEL", LEASE)  # as if it expired while this process stalled
        async with other.turn(KEY) as holding:
            with pytest.raises(SessionStoreError, match="lost the session to another turn"):
                await late.commit(said("late"), owner="desk", user_id=None)
            await holding.commit(said("two"), owner="desk", user_id=None)
        with pytest.raises(SessionStoreError, match="lost the session to another turn"):
            await late.commit(said("late"), owner="desk", user_id=None)

    stored = await store.read(KEY)
    assert stored is not None and stored.messages == said("one", "two")


async def test_a_write_that_bypassed_the_lease_fails_the_holders_commit(
    store: RedisSessionStore, redis_server: RedisServer
) -> None:
    await take_turn(store, "one")
    async with store.turn(KEY) as turn:
        redis_server.command("RPUSH", "webagents:session:desk:s-1:messages", '"rogue"')
        redis_server.command("HSET", "webagents:session:desk:s-1:meta", "version", 2)
        with pytest.raises(SessionStoreError, match=r"started at version 1 but .* holds version 2"):
            await turn.commit(said("mine"), owner="desk", user_id=None)


async def test_a_cancelled_turn_releases_the_session(
    store: RedisSessionStore, redis_server: RedisServer
) -> None:
    inside = asyncio.Event()

    async def holder() -> None:
        async with store.turn(KEY):
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(holder())
    await inside.wait()
    assert redis_server.command("EXISTS", LEASE) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert redis_server.command("EXISTS", LEASE) == 0


async def test_a_turn_cancelled_at_any_point_ends_and_frees_the_session(
    store: RedisSessionStore, other: RedisSessionStore, redis_server: RedisServer
) -> None:
    """Each step of a turn is a Redis round trip that a cancellation can hit (on Python 3.11
    redis-py's socket writes can even swallow it); whatever step it hits, the turn ends
    cancelled and frees the session."""
    for yields in range(40):
        turn = asyncio.create_task(take_turn(store, f"turn {yields}"))
        for _ in range(yields):
            await asyncio.sleep(0)
        if turn.cancel():  # not done yet: it must end cancelled, not carry on
            async with asyncio.timeout(PATIENCE):
                await asyncio.gather(turn, return_exceptions=True)
            assert turn.cancelled(), f"cancelled after {yields} yields, the turn went on"
        assert redis_server.command("EXISTS", LEASE) == 0, f"held after {yields} yields"

    stored = await other.read(KEY)
    numbers = [int(m["content"].removeprefix("turn ")) for m in stored.messages] if stored else []
    assert numbers == sorted(set(numbers))  # each turn stored all it added, once, or nothing


async def test_a_waiting_turn_cancelled_at_any_point_stops_waiting(
    store: RedisSessionStore, other: RedisSessionStore, redis_server: RedisServer
) -> None:
    async with other.turn(KEY) as holding:
        for yields in range(40):
            waiter = asyncio.create_task(take_turn(store, "never"))
            for _ in range(yields):
                await asyncio.sleep(0)
            waiter.cancel()
            async with asyncio.timeout(PATIENCE):  # a swallowed cancellation waits forever
                await asyncio.gather(waiter, return_exceptions=True)
            assert waiter.cancelled()
        await holding.commit(said("held"), owner="desk", user_id=None)
    assert redis_server.command("EXISTS", LEASE) == 0
    stored = await store.read(KEY)
    assert stored is not None and stored.messages == said("held")


async def test_a_turn_reads_only_what_other_processes_added_since_its_last(
    store: RedisSessionStore, other: RedisSessionStore, fetched: list[tuple[int, int]]
) -> None:
    per_length = []
    for length in (10, 1000):
        key = SessionKey("desk", f"long-{length}")
        await take_turn(other, *[f"m{n}" for n in range(length)], key=key)
        fetched.clear()
        await take_turn(store, "first here", key=key)  # a new process reads everything once
        assert fetched == [(0, length - 1)]

        fetched.clear()
        await take_turn(store, "again", key=key)  # served the last turn: reads nothing
        mine = fetched[:]
        await take_turn(other, "elsewhere", key=key)
        fetched.clear()
        version = await take_turn(store, "back", key=key)  # reads the one message it missed
        per_length.append((mine, fetched[:], version))

    assert per_length == [([], [(12, 12)], 13), ([], [(1002, 1002)], 1003)]


async def test_a_loaded_session_is_the_callers_own(store: RedisSessionStore) -> None:
    await take_turn(store, "one")
    first = await store.read(KEY)
    assert first is not None
    first.messages.append({"role": "user", "content": "not stored"})
    first.messages.clear()
    again = await store.read(KEY)
    assert again is not None and again.messages == said("one")


async def test_the_message_cache_is_bounded(redis_url: str, fetched: list[tuple[int, int]]) -> None:
    store = RedisSessionStore(redis_url, cache_sessions=3)
    keys = [SessionKey("desk", f"s{n}") for n in range(5)]
    for key in keys:
        await take_turn(store, "hello", key=key)
    fetched.clear()
    for key in reversed(keys):
        assert (await store.read(key)) is not None
    await store.aclose()
    # the three used last are cached; the two oldest were dropped and are read in full
    assert fetched == [(0, 0), (0, 0)]


async def test_a_turn_may_add_many_messages_at_once(store: RedisSessionStore) -> None:
    many = [f"m{n}" for n in range(2500)]
    await take_turn(store, *many)
    fresh = RedisSessionStore(store.server)  # no cache: everything comes from the server
    stored = await fresh.read(KEY)
    await fresh.aclose()
    assert stored is not None and stored.messages == said(*many)


async def test_delete_leaves_no_key_behind(
    store: RedisSessionStore, redis_server: RedisServer
) -> None:
    async with store.turn(KEY) as turn:
        await turn.commit(said("hi"), owner="desk", user_id="ann")
    async with store.turn(SessionKey("hr", "s-2")) as turn:
        await turn.commit(said("hi"), owner="hr", user_id="ann")
    assert await store.delete(KEY)
    assert await store.delete_user("ann") == 1
    assert redis_server.command("KEYS", "*") == []


async def test_a_session_started_without_a_user_can_be_claimed_and_listed_by_it(
    store: RedisSessionStore,
) -> None:
    await take_turn(store, "anonymous")
    async with store.turn(KEY) as turn:
        await turn.commit(said("signed in"), owner="desk", user_id="ann")
    assert [info.key for info in await store.list_sessions(user_id="ann")] == [KEY]
    assert [info.key for info in await store.list_sessions(agent="desk", user_id="bob")] == []


async def test_keys_with_separators_stay_apart(store: RedisSessionStore) -> None:
    tricky = [SessionKey("a:b", "c"), SessionKey("a", "b:c"), SessionKey("a b/%3A", "é:")]
    for key in tricky:
        await take_turn(store, str(key), key=key)
    for key in tricky:
        stored = await store.read(key)
        assert stored is not None and stored.messages == said(str(key))
    assert {info.key for info in await store.list_sessions()} == set(tricky)
    assert [info.key for info in await store.list_sessions(agent="a:b")] == [tricky[0]]


async def test_prefixes_keep_applications_apart(redis_url: str) -> None:
    shop, hr = RedisSessionStore(redis_url, prefix="shop"), RedisSessionStore(redis_url)
    try:
        await take_turn(shop, "shop talk")
        assert await hr.read(KEY) is None
        assert await hr.list_sessions() == []
        assert [info.key for info in await shop.list_sessions()] == [KEY]
    finally:
        await shop.aclose()
        await hr.aclose()


async def test_a_given_client_stays_open_and_a_store_works_again_after_aclose(
    redis_url: str,
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        store = RedisSessionStore(client=client)
        assert store.server == redis_url
        await take_turn(store, "one")
        await store.aclose()
        assert await client.ping()
    finally:
        await client.aclose()

    own = RedisSessionStore(redis_url)
    await take_turn(own, "two")
    await own.aclose()
    await take_turn(own, "three")
    await own.aclose()
    stored = await own.read(KEY)
    await own.aclose()
    assert stored is not None and stored.messages == said("one", "two", "three")


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(webagents.sessions, "_default", None)
    yield


async def test_webagents_sessions_picks_the_redis_store(
    redis_url: str, store: RedisSessionStore, monkeypatch: pytest.MonkeyPatch, fresh_default: None
) -> None:
    monkeypatch.setenv("WEBAGENTS_SESSIONS", redis_url)
    chosen = default_session_store()
    try:
        assert isinstance(chosen, RedisSessionStore)
        await take_turn(chosen, "through the environment")
    finally:
        await chosen.aclose()
    stored = await store.read(KEY)
    assert stored is not None and stored.messages == said("through the environment")


async def test_a_unix_socket_url_reaches_the_same_server(
    redis_server: RedisServer, redis_url: str, store: RedisSessionStore
) -> None:
    over_socket = open_session_store(f"unix://{redis_server.unix_socket}?db=0")
    try:
        assert isinstance(over_socket, RedisSessionStore)
        await take_turn(over_socket, "over the socket")
    finally:
        await over_socket.aclose()
    stored = await store.read(KEY)
    assert stored is not None and stored.messages == said("over the socket")


async def test_a_server_that_is_down_is_a_clear_error_without_the_password() -> None:
    port = _free_port()  # nothing listens there
    store = RedisSessionStore(f"redis://:s3cret-pw@127.0.0.1:{port}/2")
    try:
        failures = []
        for attempt in (store.read(KEY), store.list_sessions(), store.delete(KEY)):
            with pytest.raises(SessionStoreUnavailableError) as caught:
                await attempt
            failures.append(caught.value)
        with pytest.raises(SessionStoreUnavailableError) as caught:
            async with store.turn(KEY):
                pass
        failures.append(caught.value)
    finally:
        await store.aclose()

    for error in failures:
        assert isinstance(error, WebAgentsError) and isinstance(error, ConnectionError)
        text = "".join(traceback.format_exception(error))
        assert f"redis://127.0.0.1:{port}/2" in str(error)
        assert "s3cret" not in text
        assert "redis-server" in str(error)


def test_bad_settings_are_clear_errors() -> None:
    from webagents.errors import AgentConfigError

    with pytest.raises(AgentConfigError, match="lease=0"):
        RedisSessionStore("redis://localhost/0", lease=0)
    with pytest.raises(AgentConfigError, match="cache_sessions=0"):
        RedisSessionStore("redis://localhost/0", cache_sessions=0)
    with pytest.raises(AgentConfigError, match="prefix=''"):
        RedisSessionStore("redis://localhost/0", prefix="")
    with pytest.raises(AgentConfigError, match="needs a Redis URL") as caught:
        RedisSessionStore("http://user:pw@localhost/0")
    assert "pw" not in str(caught.value)
    with pytest.raises(AgentConfigError, match="a number such as /0, not /sessions") as caught:
        RedisSessionStore("redis://:pw@localhost/sessions")
    assert "pw" not in str(caught.value)


def test_importing_webagents_does_not_import_redis() -> None:
    probe = "import sys, webagents, webagents.sessions; print('redis' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
