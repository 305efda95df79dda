"""``SQLiteSessionStore``: conversations in one SQLite file (``sessions.db`` under
``WEBAGENTS_HOME`` by default) that survive a restart and are shared by the processes of one
machine.

Turns of one session exclude each other through a lease row (a holder token and an expiry)
taken in a write transaction and renewed while the turn runs, so turns wait for each other
across tasks, threads and processes, and a crashed process holds a session for at most
``lease`` seconds. A turn writes only the messages it added. Each store also keeps the decoded
messages of its recently used sessions, so a turn reads only what other processes added since:
neither the write nor the read of a turn grows with the length of the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from webagents._threads import in_worker
from webagents.errors import AgentConfigError
from webagents.sessions.base import (
    Session,
    SessionInfo,
    SessionKey,
    SessionStore,
    SessionStoreError,
    count_option,
)
from webagents.sqlite import SQLiteFile

__all__ = ["SQLiteSessionStore"]

logger = logging.getLogger(__name__)

# A session's generation is new each time it is created, so a cache of a conversation that
# was deleted and started again (by any process) is never taken for a prefix of the new one.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    agent TEXT NOT NULL,
    session_id TEXT NOT NULL,
    owner TEXT,
    user_id TEXT,
    version INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    generation TEXT NOT NULL,
    PRIMARY KEY (agent, session_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_agent ON sessions (agent, updated_at);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, updated_at);
CREATE INDEX IF NOT EXISTS sessions_by_time ON sessions (updated_at);
CREATE TABLE IF NOT EXISTS messages (
    agent TEXT NOT NULL,
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (agent, session_id, seq)
);
CREATE TABLE IF NOT EXISTS leases (
    agent TEXT NOT NULL,
    session_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (agent, session_id)
) WITHOUT ROWID;
"""

_FIRST_WAIT, _LONGEST_WAIT = 0.005, 0.1  # seconds between tries at a held lease


@dataclass(slots=True)
class _Lease:
    token: str
    renewer: asyncio.Task[None]


@dataclass(slots=True)
class _Cached:
    generation: str
    messages: list[dict[str, Any]]  # the first stored messages, decoded; only ever appended to


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise AgentConfigError(f"SQLiteSessionStore({name}={value!r}) must be a number > 0")
    return float(value)


class SQLiteSessionStore(SessionStore[_Lease]):
    """Sessions in a SQLite file (WAL), safe across tasks, threads and processes.

    ``path`` None means ``sessions.db`` under ``WEBAGENTS_HOME``. ``busy_timeout`` bounds the
    wait for another writer of the file (then :class:`~webagents.sqlite.StoreBusyError`);
    ``lease`` is how long a turn of a crashed process keeps its session (a live turn renews
    it every ``lease / 3``); ``cache_sessions`` how many conversations this store keeps
    decoded in memory. Failures of the file raise :class:`~webagents.sessions.SessionStoreError`
    naming it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        busy_timeout: float = 30.0,
        lease: float = 30.0,
        cache_sessions: int = 1_000,
    ) -> None:
        cache_sessions = count_option("SQLiteSessionStore", "cache_sessions", cache_sessions)
        self.lease = _positive("lease", lease)
        self.cache_sessions = cache_sessions
        self.file = SQLiteFile(
            path,
            schema=_SCHEMA,
            default_name="sessions.db",
            busy_timeout=_positive("busy_timeout", busy_timeout),
            # A turn is a few short transactions: reusing connections keeps each one cheap,
            # and a commit that survives a crash of the process (though maybe not of the
            # machine's power) is what a conversation needs.
            keep_connections=8,
            synchronous="NORMAL",
            error=SessionStoreError,
            busy_error=SessionStoreError,
        )
        self._cache: OrderedDict[SessionKey, _Cached] = OrderedDict()
        self._cache_lock = threading.Lock()
        # Turns of this store waiting for a session, woken when one of its turns ends there
        # (turns of other stores and processes are seen by polling).
        self._waiters: dict[SessionKey, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._waiters_lock = threading.Lock()
        self._background: set[asyncio.Future[None]] = set()

    def __repr__(self) -> str:
        return f"SQLiteSessionStore({self.file.where()!r})"

    # -- holding a session ------------------------------------------------------------------

    async def _lock(self, key: SessionKey) -> _Lease:
        token = f"{os.getpid()}-{uuid.uuid4().hex}"
        if not await self._try_lease(key, token):
            await self._wait_for_lease(key, token)
        renewer = asyncio.create_task(self._renew(key, token), name=f"lease of session {key}")
        return _Lease(token, renewer)

    async def _unlock(self, key: SessionKey, lease: _Lease) -> None:
        lease.renewer.cancel()
        # Shielded: a second cancellation of the turn must not leave its lease behind.
        release = in_worker(self._release_sync, key, lease.token)
        await asyncio.shield(self._track(release))

    async def _wait_for_lease(self, key: SessionKey, token: str) -> None:
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        woken = waiter[1]
        with self._waiters_lock:
            self._waiters.setdefault(key, set()).add(waiter)
        try:
            delay = _FIRST_WAIT
            while True:
                try:
                    async with asyncio.timeout(delay):
                        await woken.wait()
                    delay = _FIRST_WAIT
                except TimeoutError:
                    delay = min(delay * 2, _LONGEST_WAIT)
                woken.clear()
                if await self._try_lease(key, token):
                    return
        finally:
            with self._waiters_lock:
                waiting = self._waiters[key]
                waiting.discard(waiter)
                if not waiting:
                    del self._waiters[key]

    def _wake(self, key: SessionKey) -> None:
        with self._waiters_lock:
            waiting = list(self._waiters.get(key, ()))
        for loop, woken in waiting:
            with contextlib.suppress(RuntimeError):  # that waiter's event loop has closed
                loop.call_soon_threadsafe(woken.set)

    async def _try_lease(self, key: SessionKey, token: str) -> bool:
        attempt = in_worker(self._take_sync, key, token)
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            # The try runs on in its thread and may take the lease after all: give it back
            # then. Tracked, so that aclose() waits for it.
            self._track(asyncio.create_task(self._give_back(attempt, key, token)))
            raise

    async def _give_back(self, attempt: asyncio.Future[bool], key: SessionKey, token: str) -> None:
        try:
            took = await attempt
        except Exception:
            return  # nothing was taken, and the waiter that wanted it was cancelled
        if took:
            await in_worker(self._release_sync, key, token)

    async def _renew(self, key: SessionKey, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                held = await in_worker(self._renew_sync, key, token)
            except Exception:
                logger.warning(
                    "could not renew the lease on session %s in %s; retrying",
                    key,
                    self.file.where(),
                    exc_info=True,
                )
                continue
            if not held:
                logger.warning(
                    "the lease on session %s in %s expired while its turn ran (was the event "
                    "loop blocked for %ss?); the turn will not be stored if another one was",
                    key,
                    self.file.where(),
                    self.lease,
                )
                return

    def _track(self, task: asyncio.Future[None]) -> asyncio.Future[None]:
        self._background.add(task)
        task.add_done_callback(self._settled)
        return task

    def _settled(self, task: asyncio.Future[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.warning(
                "could not give back a session lease in %s (it expires after %ss): %s",
                self.file.where(),
                self.lease,
                error,
            )

    def _take_sync(self, key: SessionKey, token: str) -> bool:
        with self.file.writing() as conn:
            now = time.time()  # once the file is ours: the wait for it is not part of the lease
            taken = conn.execute(
                "INSERT INTO leases (agent, session_id, holder, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (agent, session_id) DO UPDATE SET holder = excluded.holder, "
                "expires_at = excluded.expires_at WHERE leases.expires_at <= ?",
                (key.agent, key.session_id, token, now + self.lease, now),
            )
            return taken.rowcount == 1

    def _renew_sync(self, key: SessionKey, token: str) -> bool:
        with self.file.writing() as conn:
            renewed = conn.execute(
                "UPDATE leases SET expires_at = ? WHERE agent = ? AND session_id = ? "
                "AND holder = ?",
                (time.time() + self.lease, key.agent, key.session_id, token),
            )
            return renewed.rowcount == 1

    def _release_sync(self, key: SessionKey, token: str) -> None:
        with self.file.writing() as conn:
            conn.execute(
                "DELETE FROM leases WHERE agent = ? AND session_id = ? AND holder = ?",
                (key.agent, key.session_id, token),
            )
        self._wake(key)

    # -- reading and appending --------------------------------------------------------------

    async def _load(self, key: SessionKey) -> Session | None:
        return await in_worker(self._load_sync, key)

    def _load_sync(self, key: SessionKey) -> Session | None:
        with self._cache_lock:
            cached = self._cache.get(key)
            known = (cached.generation, len(cached.messages)) if cached else (None, 0)
        with self.file.reading() as conn:
            conn.execute("BEGIN")  # the session row and its messages from one snapshot
            row = conn.execute(
                "SELECT owner, user_id, version, generation FROM sessions "
                "WHERE agent = ? AND session_id = ?",
                (key.agent, key.session_id),
            ).fetchone()
            if row is None:
                conn.execute("COMMIT")
                self._forget(key)
                return None
            owner, user_id, version, generation = row
            start = known[1] if known[0] == generation and known[1] <= version else 0
            texts = conn.execute(
                "SELECT json FROM messages WHERE agent = ? AND session_id = ? "
                "AND seq >= ? AND seq < ? ORDER BY seq",
                (key.agent, key.session_id, start, version),
            ).fetchall()
            conn.execute("COMMIT")
        if len(texts) != version - start:
            raise SessionStoreError(
                f"{self.file.path}: session {key} should hold {version} messages but "
                f"{version - start - len(texts)} are missing; the file was changed outside "
                f"webagents; delete the session or restore the file"
            )
        tail = [json.loads(text) for (text,) in texts]
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is None or entry.generation != generation or len(entry.messages) < start:
                # Within a generation messages are only appended, so the prefix read before
                # is still the stored one even if another thread replaced the entry since.
                prefix = cached.messages[:start] if cached is not None else []
                entry = self._cache[key] = _Cached(generation, prefix)
            if len(entry.messages) < version:
                entry.messages.extend(tail[len(entry.messages) - start :])
            messages = entry.messages[:version]  # the caller's own list
            self._touch(key)
        return Session(key, messages, owner, user_id, version)

    async def _append(
        self,
        key: SessionKey,
        version: int,
        added: list[dict[str, Any]],
        owner: str,
        user_id: str | None,
    ) -> None:
        await in_worker(self._append_sync, key, version, added, owner, user_id)

    def _append_sync(
        self,
        key: SessionKey,
        version: int,
        added: list[dict[str, Any]],
        owner: str,
        user_id: str | None,
    ) -> None:
        texts = [_encode(key, n, message) for n, message in enumerate(added)]
        names = (key.agent, key.session_id)
        with self.file.writing() as conn:
            found = conn.execute(
                "SELECT version, generation FROM sessions WHERE agent = ? AND session_id = ?",
                names,
            ).fetchone()
            if found is None:
                # New, or deleted while the turn ran ("forget me"): what the turn added starts
                # a new conversation, as in the memory store.
                start, generation = 0, uuid.uuid4().hex
                conn.execute("DELETE FROM messages WHERE agent = ? AND session_id = ?", names)
            elif found[0] != version:
                raise SessionStoreError(
                    f"session {key} in {self.file.path} changed while a turn held it (the turn "
                    f"started at message {version}, the session now has {found[0]}): the "
                    f"turn's lease expired, so another turn went ahead; this turn was not "
                    f"stored. Raise lease= (now {self.lease}s) if turns block the event loop"
                )
            else:
                start, generation = version, found[1]
            conn.executemany(
                "INSERT INTO messages (agent, session_id, seq, json) VALUES (?, ?, ?, ?)",
                [(*names, start + n, text) for n, text in enumerate(texts)],
            )
            # Never older than the newest session, so "newest first" holds on a clock step.
            conn.execute(
                "INSERT INTO sessions (agent, session_id, owner, user_id, version, updated_at, "
                "generation) VALUES (?, ?, ?, ?, ?, MAX(?, COALESCE((SELECT MAX(updated_at) "
                "FROM sessions), 0) + 0.000001), ?) ON CONFLICT (agent, session_id) DO UPDATE "
                "SET owner = excluded.owner, user_id = excluded.user_id, "
                "version = excluded.version, updated_at = excluded.updated_at",
                (*names, owner, user_id, start + len(texts), time.time(), generation),
            )
        stored = [json.loads(text) for text in texts]  # as any process will read them back
        with self._cache_lock:
            entry = self._cache.get(key)
            if start == 0:
                self._cache[key] = _Cached(generation, stored)
            elif (
                entry is not None
                and entry.generation == generation
                and len(entry.messages) == start
            ):
                entry.messages.extend(stored)
            else:
                self._cache.pop(key, None)
                return
            self._touch(key)

    def _touch(self, key: SessionKey) -> None:
        """Mark ``key`` most recently used and keep the cache within bounds (lock held)."""
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_sessions:
            self._cache.popitem(last=False)

    def _forget(self, *keys: SessionKey) -> None:
        with self._cache_lock:
            for key in keys:
                self._cache.pop(key, None)

    # -- listing and deleting ---------------------------------------------------------------

    async def list_sessions(
        self, *, agent: str | None = None, user_id: str | None = None
    ) -> list[SessionInfo]:
        return await in_worker(self._list_sync, agent, user_id)

    def _list_sync(self, agent: str | None, user_id: str | None) -> list[SessionInfo]:
        wanted = [(c, v) for c, v in (("agent", agent), ("user_id", user_id)) if v is not None]
        where = " AND ".join(f"{column} = ?" for column, _ in wanted)
        with self.file.reading() as conn:
            rows = conn.execute(
                "SELECT agent, session_id, owner, user_id, version, updated_at FROM sessions"
                + (f" WHERE {where}" if where else "")
                + " ORDER BY updated_at DESC",
                [value for _, value in wanted],
            ).fetchall()
        return [
            SessionInfo(SessionKey(a, s), owner, user, version, updated)
            for a, s, owner, user, version, updated in rows
        ]

    async def delete(self, key: SessionKey) -> bool:
        where = ("agent = ? AND session_id = ?", (key.agent, key.session_id))
        return await in_worker(self._delete_sync, *where) == 1

    async def delete_user(self, user_id: str) -> int:
        return await in_worker(self._delete_sync, "user_id = ?", (user_id,))

    def _delete_sync(self, where: str, args: tuple[str, ...]) -> int:
        """Delete the sessions ``where`` selects, with their messages, in one transaction;
        returns how many there were. A lease that is still live is left to the turn holding
        it, which removes it when it ends: taking it away would let a second turn run beside
        that one."""
        with self.file.writing() as conn:
            now = time.time()
            keys = [
                SessionKey(agent, session_id)
                for agent, session_id in conn.execute(
                    f"SELECT agent, session_id FROM sessions WHERE {where}", args
                )
            ]
            for key in keys:
                names = (key.agent, key.session_id)
                conn.execute("DELETE FROM messages WHERE agent = ? AND session_id = ?", names)
                conn.execute(
                    "DELETE FROM leases WHERE agent = ? AND session_id = ? AND expires_at <= ?",
                    (*names, now),
                )
            conn.execute(f"DELETE FROM sessions WHERE {where}", args)
        self._forget(*keys)
        return len(keys)

    async def aclose(self) -> None:
        """Wait for leases being given back, drop the cache and close the idle connections;
        the store opens the file again when used again."""
        loop = asyncio.get_running_loop()
        pending = [task for task in list(self._background) if task.get_loop() is loop]
        await asyncio.gather(*pending, return_exceptions=True)
        with self._cache_lock:
            self._cache.clear()
        self.file.close()


def _encode(key: SessionKey, n: int, message: dict[str, Any]) -> str:
    try:
        return json.dumps(message, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"message {n} that a turn of session {key} added cannot be stored as JSON "
            f"({error}); messages must hold only JSON values (str, numbers, lists, dicts)"
        ) from error
