"""``InMemorySessionStore``: conversations in this process's memory, for development and
tests. Bounded: past ``max_sessions`` the least recently used conversation is dropped, and a
conversation untouched for ``ttl`` seconds is gone. Lost when the process ends; not shared
between processes (use SQLite or Redis for that)."""

from __future__ import annotations

import asyncio
import copy
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from webagents.errors import AgentConfigError
from webagents.sessions.base import (
    Session,
    SessionInfo,
    SessionKey,
    SessionStore,
    count_option,
)

__all__ = ["InMemorySessionStore"]


@dataclass(slots=True)
class _Stored:
    messages: list[dict[str, Any]] = field(default_factory=list)
    owner: str | None = None
    user_id: str | None = None
    touched: float = 0.0  # the store's clock at the last turn, for the TTL
    updated_at: float = 0.0  # time.time() of the last turn, for listings


class InMemorySessionStore(SessionStore[asyncio.Lock]):
    """Sessions in a dict, least recently used first. Turns of one session wait for each other
    on an ``asyncio.Lock`` (one event loop; for several threads or processes use SQLite)."""

    def __init__(
        self,
        *,
        max_sessions: int = 10_000,
        ttl: float | None = 24 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        max_sessions = count_option("InMemorySessionStore", "max_sessions", max_sessions)
        if ttl is not None and not ttl > 0:
            raise AgentConfigError(f"InMemorySessionStore(ttl={ttl!r}) must be > 0 or None")
        self.max_sessions = max_sessions
        self.ttl = ttl
        self._clock = clock  # seconds, for the TTL: tests pass their own
        self._sessions: OrderedDict[SessionKey, _Stored] = OrderedDict()
        self._locks: dict[SessionKey, tuple[asyncio.Lock, int]] = {}  # lock, turns holding/waiting

    def __len__(self) -> int:
        self._expire()
        return len(self._sessions)

    async def _lock(self, key: SessionKey) -> asyncio.Lock:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._release_lock(key)
            raise
        return lock

    async def _unlock(self, key: SessionKey, lease: asyncio.Lock) -> None:
        lease.release()
        self._release_lock(key)

    def _release_lock(self, key: SessionKey) -> None:
        lock, users = self._locks[key]
        if users == 1:
            del self._locks[key]  # no turn waits: nothing kept per idle session
        else:
            self._locks[key] = (lock, users - 1)

    def _get(self, key: SessionKey) -> _Stored | None:
        self._expire()
        return self._sessions.get(key)

    async def _load(self, key: SessionKey) -> Session | None:
        stored = self._get(key)
        if stored is None:
            return None
        # The stored list itself: a turn only reads it, and only a turn holding the session
        # changes it (``read`` copies it for other callers).
        messages = stored.messages
        return Session(key, messages, stored.owner, stored.user_id, len(messages))

    async def _append(
        self,
        key: SessionKey,
        version: int,
        added: list[dict[str, Any]],
        owner: str,
        user_id: str | None,
    ) -> None:
        stored = self._get(key)
        if stored is None:
            stored = self._sessions[key] = _Stored()
        # Only what the turn added is copied: a hook changing a message later changes no store.
        del stored.messages[version:]
        stored.messages.extend(copy.deepcopy(added))
        stored.owner, stored.user_id = owner, user_id
        stored.touched, stored.updated_at = self._clock(), time.time()
        self._sessions.move_to_end(key)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)

    def _expire(self) -> None:
        if self.ttl is None:
            return
        horizon = self._clock() - self.ttl
        while self._sessions:
            key, oldest = next(iter(self._sessions.items()))
            if oldest.touched >= horizon:
                break
            del self._sessions[key]

    async def list_sessions(
        self, *, agent: str | None = None, user_id: str | None = None
    ) -> list[SessionInfo]:
        self._expire()
        return [
            SessionInfo(key, stored.owner, stored.user_id, len(stored.messages), stored.updated_at)
            for key, stored in reversed(self._sessions.items())
            if (agent is None or key.agent == agent)
            and (user_id is None or stored.user_id == user_id)
        ]

    async def delete(self, key: SessionKey) -> bool:
        return self._sessions.pop(key, None) is not None
