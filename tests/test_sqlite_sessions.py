"""What only the SQLite session store promises: conversations survive a restart, turns of one
session from several real processes and threads are never lost, a crashed holder's lease
expires, a turn reads only what it has not seen, and an unusable file is named."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webagents.errors import AgentConfigError
from webagents.sessions import SessionKey, SessionStoreError, open_session_store
from webagents.sessions.sqlite import SQLiteSessionStore

KEY = SessionKey("desk", "s-1")


def said(*texts: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text} for text in texts]


def python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A child interpreter running ``code`` (``args`` in ``sys.argv[1:]``), with pipes."""
    return subprocess.Popen(
        [sys.executable, "-W", "error", "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finish(child: subprocess.Popen[str]) -> str:
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    return out


def leases(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT agent, session_id FROM leases").fetchall()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteSessionStore]:
    yield SQLiteSessionStore(path)


async def test_a_conversation_continues_in_a_new_process(path: Path) -> None:
    turn = """
import asyncio, sys
from webagents.sessions import SessionKey
from webagents.sessions.sqlite import SQLiteSessionStore

async def main():
    store = SQLiteSessionStore(sys.argv[1])
    async with store.turn(SessionKey("desk", "s-1")) as turn:
        seen = turn.session.messages if turn.session else []
        print([m["content"] for m in seen], turn.session and turn.session.owner)
        text = sys.argv[2]
        await turn.commit([{"role": "user", "content": text}], owner="billing", user_id="u-1")
    await store.aclose()

asyncio.run(main())
"""
    assert finish(python(turn, str(path), "hello")) == "[] None\n"
    assert finish(python(turn, str(path), "again")) == "['hello'] billing\n"

    stored = await SQLiteSessionStore(path).read(KEY)
    assert stored is not None
    assert (stored.messages, stored.owner, stored.user_id) == (
        said("hello", "again"),
        "billing",
        "u-1",
    )


async def test_turns_from_several_processes_at_once_are_never_lost(path: Path) -> None:
    """Each process runs turns of ONE session from several tasks; all are released together."""
    worker = """
import asyncio, json, os, sys
from webagents.sessions import SessionKey
from webagents.sessions.sqlite import SQLiteSessionStore

async def main():
    store = SQLiteSessionStore(sys.argv[1])
    key = SessionKey("desk", "s-1")
    await store.read(key)  # the file and schema exist before the start line
    print("ready", flush=True)
    sys.stdin.readline()
    seen = []

    async def turns(task):
        for n in range(int(sys.argv[2])):
            async with store.turn(key) as turn:
                version = turn.session.version if turn.session else 0
                messages = turn.session.messages if turn.session else []
                assert len(messages) == version, (len(messages), version)
                text = f"{os.getpid()}-{task}-{n}"
                await turn.commit([{"role": "user", "content": text}], owner="desk", user_id=None)
                seen.append((version, text))

    await asyncio.gather(*(turns(task) for task in range(3)))
    await store.aclose()
    print(json.dumps(seen))

asyncio.run(main())
"""
    processes, turns_each = 4, 6
    children = [python(worker, str(path), str(turns_each)) for _ in range(processes)]
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    for child in children:  # the barrier: every process starts its turns now
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    seen = [tuple(turn) for child in children for turn in json.loads(finish(child))]

    total = processes * 3 * turns_each
    stored = await SQLiteSessionStore(path).read(KEY)
    assert stored is not None and stored.version == len(stored.messages) == total
    # each turn started where the one before it ended, and its message is where it saw the end
    assert sorted(version for version, _ in seen) == list(range(total))
    assert all(stored.messages[version]["content"] == text for version, text in seen)


def test_turns_from_several_threads_on_one_store_are_never_lost(
    store: SQLiteSessionStore,
) -> None:
    threads, turns_each = 4, 10
    start = threading.Barrier(threads)
    seen: list[int] = []
    failures: list[BaseException] = []

    async def turns(name: int) -> None:
        for n in range(turns_each):
            async with store.turn(KEY) as turn:
                version = turn.session.version if turn.session else 0
                seen.append(version)
                await turn.commit(said(f"{name}-{n}"), owner="desk", user_id=None)

    def thread(name: int) -> None:
        try:
            start.wait(timeout=60)
            asyncio.run(turns(name))
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    running = [threading.Thread(target=thread, args=(n,)) for n in range(threads)]
    for each in running:
        each.start()
    for each in running:
        each.join(timeout=120)
    assert failures == [] and not any(each.is_alive() for each in running)
    assert sorted(seen) == list(range(threads * turns_each))


async def test_the_lease_of_a_killed_process_expires(path: Path) -> None:
    holder = """
import asyncio, sys
from webagents.sessions import SessionKey
from webagents.sessions.sqlite import SQLiteSessionStore

class Reporting(SQLiteSessionStore):
    def _renew_sync(self, key, token):
        held = super()._renew_sync(key, token)
        print("renewed" if held else "lost", flush=True)
        return held

async def main():
    store = Reporting(sys.argv[1], lease=1.0)
    async with store.turn(SessionKey("desk", "s-1")) as turn:
        before = [{"role": "user", "content": "before the crash"}]
        await turn.commit(before, owner="desk", user_id=None)
        print("holding", flush=True)
        await asyncio.Event().wait()  # until killed

asyncio.run(main())
"""
    child = python(holder, str(path))
    assert child.stdout is not None
    try:
        assert child.stdout.readline() == "holding\n"
        store = SQLiteSessionStore(path, lease=1.0)
        entered = asyncio.Event()
        history: list[list[dict[str, Any]]] = []

        async def next_turn() -> None:
            async with store.turn(KEY) as turn:
                entered.set()
                assert turn.session is not None
                history.append(turn.session.messages)
                await turn.commit(said("after the crash"), owner="desk", user_id=None)

        waiting = asyncio.create_task(next_turn())
        # Four renewals: the holder has kept its turn for longer than one lease.
        for _ in range(4):
            line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 60)
            assert line == "renewed\n"
        assert not entered.is_set()

        child.kill()  # SIGKILL: nothing runs in the child to give the lease back
        child.wait(timeout=60)
        await asyncio.wait_for(waiting, timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=60)

    assert history == [said("before the crash")]
    stored = await store.read(KEY)
    assert stored is not None and stored.messages == said("before the crash", "after the crash")
    await store.aclose()
    assert leases(path) == []


def counting_rows(store: SQLiteSessionStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-item list counting the rows SQLite hands the store from now on."""
    fetched = [0]
    store.file.close()  # connections kept from before would not count
    connect = store.file._connect

    def count(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> tuple[Any, ...]:
        fetched[0] += 1
        return row

    def counted() -> sqlite3.Connection:
        conn = connect()
        conn.row_factory = count
        return conn

    monkeypatch.setattr(store.file, "_connect", counted)
    return fetched


async def rows_for_a_turn(store: SQLiteSessionStore, key: SessionKey, fetched: list[int]) -> int:
    before = fetched[0]
    async with store.turn(key) as turn:
        await turn.commit(said("one more"), owner="desk", user_id=None)
    return fetched[0] - before


async def test_a_turn_reads_only_what_this_process_has_not_seen(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteSessionStore(path)
    short, long = SessionKey("desk", "short"), SessionKey("desk", "long")
    for key, length in ((short, 10), (long, 3_000)):
        async with store.turn(key) as turn:
            await turn.commit(said(*map(str, range(length))), owner="desk", user_id=None)

    fetched = counting_rows(store, monkeypatch)
    per_turn = await rows_for_a_turn(store, short, fetched)
    assert await rows_for_a_turn(store, long, fetched) == per_turn

    # Turns of another process: the next turn here reads just those messages.
    elsewhere = SQLiteSessionStore(path)
    async with elsewhere.turn(long) as turn:
        await turn.commit(said("x", "y", "z"), owner="desk", user_id=None)
    assert await rows_for_a_turn(store, long, fetched) == per_turn + 3

    # A store that never saw the conversation reads it once, then only what is new.
    fresh = SQLiteSessionStore(path)
    fresh.file.open()  # so that only the turns' rows are counted
    fresh_rows = counting_rows(fresh, monkeypatch)
    assert await rows_for_a_turn(fresh, long, fresh_rows) == per_turn + 3_005
    assert await rows_for_a_turn(fresh, long, fresh_rows) == per_turn

    stored = await fresh.read(long)
    assert stored is not None and stored.version == len(stored.messages) == 3_007
    assert stored.messages[-6:] == said("x", "y", "z", *["one more"] * 3)


async def test_the_cache_is_bounded_and_never_serves_a_deleted_conversation(
    path: Path,
) -> None:
    store = SQLiteSessionStore(path, cache_sessions=3)
    for n in range(5):
        async with store.turn(SessionKey("desk", f"s{n}")) as turn:
            await turn.commit(said(f"turn {n}"), owner="desk", user_id=None)
    assert list(store._cache) == [SessionKey("desk", f"s{n}") for n in (2, 3, 4)]

    # Another process forgets s4 and starts it again, longer: the cache here was of the old one.
    other = SQLiteSessionStore(path)
    assert await other.delete(SessionKey("desk", "s4")) is True
    async with other.turn(SessionKey("desk", "s4")) as turn:
        assert turn.session is None
        await turn.commit(said("new", "talk"), owner="desk", user_id=None)
    stored = await store.read(SessionKey("desk", "s4"))
    assert stored is not None and stored.messages == said("new", "talk")

    returned = await store.read(SessionKey("desk", "s4"))
    assert returned is not None
    returned.messages.append({"role": "user", "content": "mine"})
    again = await store.read(SessionKey("desk", "s4"))
    assert again is not None and again.messages == said("new", "talk")


async def test_a_turn_whose_lease_expired_is_not_stored_over_the_next(path: Path) -> None:
    first, second = SQLiteSessionStore(path), SQLiteSessionStore(path)
    async with first.turn(KEY) as turn:
        await turn.commit(said("start"), owner="desk", user_id=None)

    with pytest.raises(SessionStoreError, match="changed while a turn held it") as caught:
        async with first.turn(KEY) as stalled:
            with sqlite3.connect(path) as conn:  # as if its process had stalled past the lease
                conn.execute("UPDATE leases SET expires_at = 0")
            async with second.turn(KEY) as turn:
                await turn.commit(said("second"), owner="desk", user_id=None)
            await stalled.commit(said("stalled"), owner="desk", user_id=None)
    assert str(path) in str(caught.value)

    stored = await first.read(KEY)
    assert stored is not None and stored.messages == said("start", "second")
    assert leases(path) == []


class Gated(SQLiteSessionStore):
    """Stops in a thread at ``gate`` ("taken": just after taking a lease, "refused": after a
    try at a held one, "loading": before loading) until ``go`` is set."""

    def __init__(self, path: Path, gate: str) -> None:
        super().__init__(path)
        self.gate = gate
        self.reached, self.go = threading.Event(), threading.Event()

    def _stop(self, where: str) -> None:
        if where == self.gate and not self.reached.is_set():
            self.reached.set()
            assert self.go.wait(timeout=60)

    def _take_sync(self, key: SessionKey, token: str) -> bool:
        took = super()._take_sync(key, token)
        self._stop("taken" if took else "refused")
        return took

    def _load_sync(self, key: SessionKey) -> Any:
        self._stop("loading")
        return super()._load_sync(key)


@pytest.mark.parametrize("gate", ["taken", "refused", "loading", "holding"])
async def test_a_cancelled_turn_leaves_no_lease(path: Path, gate: str) -> None:
    """Cancelled just as it took the lease, while waiting for it, while loading, or inside."""
    store, holder = Gated(path, gate), SQLiteSessionStore(path)
    release_holder = asyncio.Event()
    holding = asyncio.Event()

    async def hold() -> None:
        async with holder.turn(KEY):
            holding.set()
            await release_holder.wait()

    held = asyncio.create_task(hold())
    if gate == "refused":
        await holding.wait()
    else:
        release_holder.set()
        await held

    async def turn() -> None:
        async with store.turn(KEY):
            store.reached.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(turn())
    await asyncio.to_thread(store.reached.wait, 60)
    task.cancel()
    store.go.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    release_holder.set()
    await held
    await store.aclose()  # waits for leases being given back
    assert leases(path) == []

    async with SQLiteSessionStore(path).turn(KEY) as turn:
        await turn.commit(said("next"), owner="desk", user_id=None)


async def test_deleting_a_conversation_leaves_nothing_of_it(
    store: SQLiteSessionStore, path: Path
) -> None:
    for key, user in (
        (KEY, "u-1"),
        (SessionKey("hr", "s-2"), "u-1"),
        (SessionKey("hr", "s-3"), "u-2"),
    ):
        async with store.turn(key) as turn:
            await turn.commit(said("private"), owner=key.agent, user_id=user)
    with sqlite3.connect(path) as conn:  # a lease left by a crashed turn of s-2
        conn.execute("INSERT INTO leases VALUES ('hr', 's-2', 'gone', 0)")

    assert await store.delete_user("u-1") == 2
    with sqlite3.connect(path) as conn:
        left = {
            table: conn.execute(f"SELECT agent, session_id FROM {table}").fetchall()
            for table in ("sessions", "messages", "leases")
        }
    assert left == {"sessions": [("hr", "s-3")], "messages": [("hr", "s-3")], "leases": []}


def test_webagents_sessions_picks_the_sqlite_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absolute = open_session_store(f"sqlite:///{tmp_path / 'a.db'}")
    assert isinstance(absolute, SQLiteSessionStore) and absolute.file.path == tmp_path / "a.db"
    assert open_session_store("sqlite:///rel/b.db").file.path == Path("rel/b.db")  # type: ignore[attr-defined]
    monkeypatch.setenv("WEBAGENTS_HOME", str(tmp_path / "home"))
    home = open_session_store("sqlite://")
    assert home.file.path == tmp_path / "home" / "sessions.db"  # type: ignore[attr-defined]

    script = """
import asyncio
from webagents.sessions import SessionKey, default_session_store

async def main():
    store = default_session_store()
    print(type(store).__name__, flush=True)
    async with store.turn(SessionKey("desk", "s-1")) as turn:
        await turn.commit([{"role": "user", "content": "kept"}], owner="desk", user_id=None)

asyncio.run(main())
"""
    db = tmp_path / "env.db"
    out = finish(python(script, env={"WEBAGENTS_SESSIONS": f"sqlite:///{db}"}))
    assert out == "SQLiteSessionStore\n"
    stored = asyncio.run(SQLiteSessionStore(db).read(KEY))
    assert stored is not None and stored.messages == said("kept")


async def test_an_unusable_file_is_named_with_the_fix(tmp_path: Path) -> None:
    directory = tmp_path / "dir.db"
    directory.mkdir()
    with pytest.raises(SessionStoreError, match=f"^{directory} is a directory"):
        async with SQLiteSessionStore(directory).turn(KEY):
            pass

    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"not a database at all " * 10)
    with pytest.raises(SessionStoreError, match=f"^{corrupt} is not a SQLite database"):
        await SQLiteSessionStore(corrupt).list_sessions()

    with pytest.raises(ValueError, match="needs a file path"):
        open_session_store("sqlite:///:memory:")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lease": 0}, r"lease=0\) must be a number > 0"),
        ({"busy_timeout": "soon"}, r"busy_timeout='soon'\) must be a number > 0"),
        ({"cache_sessions": 0}, r"cache_sessions=0\) must be an int >= 1"),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], message: str, path: Path) -> None:
    with pytest.raises(AgentConfigError, match=message):
        SQLiteSessionStore(path, **options)


async def test_a_message_that_is_not_json_is_named(store: SQLiteSessionStore) -> None:
    with pytest.raises(TypeError, match=r"message 1 that a turn of session desk/s-1 added"):
        async with store.turn(KEY) as turn:
            await turn.commit([*said("fine"), {"content": object()}], owner="desk", user_id=None)
    assert await store.read(KEY) is None


async def test_idle_connections_are_kept_until_aclose(path: Path) -> None:
    """Reused connections keep the WAL between operations (the last connection to close
    would checkpoint and remove it, at the cost of a disk flush per operation)."""
    store = SQLiteSessionStore(path)
    async with store.turn(KEY) as turn:
        await turn.commit(said("hello"), owner="desk", user_id=None)
    assert path.with_name("sessions.db-wal").exists()
    with store.file.reading() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    assert 0 < len(store.file._idle) <= store.file.keep_connections

    await store.aclose()
    assert store.file._idle == [] and not path.with_name("sessions.db-wal").exists()
    stored = await store.read(KEY)  # usable again
    assert stored is not None and stored.messages == said("hello")
    await store.aclose()
