"""What every session store offers: turns of one session applied one after another, each
appending only what it added, and a way to list, read and delete a user's conversations."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from webagents.errors import AgentConfigError, WebAgentsError

__all__ = [
    "Session",
    "SessionAccessError",
    "SessionInfo",
    "SessionKey",
    "SessionStore",
    "SessionStoreError",
    "SessionTurn",
]

Lease = TypeVar("Lease")


@dataclass(frozen=True, slots=True)
class SessionKey:
    """A conversation: ``session_id`` as given to ``run`` on the ``agent`` it was called on
    (the entry agent). The same id on two entry agents is two conversations."""

    agent: str
    session_id: str

    def __str__(self) -> str:
        return f"{self.agent}/{self.session_id}"


@dataclass(slots=True)
class Session:
    """A stored conversation as a turn starts from it. In a turn, ``messages`` is the stored
    history to read, not to change (a store may share the list with its cache, so a turn
    costs no copy of a long history); ``read`` gives a list of the caller's own. ``owner``
    answers the next turn; ``version`` is how many messages are stored, where the next turn
    appends."""

    key: SessionKey
    messages: list[dict[str, Any]]
    owner: str | None
    user_id: str | None
    version: int


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A stored conversation without its messages, as ``list_sessions`` gives it."""

    key: SessionKey
    owner: str | None
    user_id: str | None
    messages: int
    updated_at: float  # seconds since the epoch


def count_option(store: str, option: str, value: object) -> int:
    """``value`` if it is an int >= 1, else ``AgentConfigError`` naming the store's option."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AgentConfigError(f"{store}({option}={value!r}) must be an int >= 1")
    return value


class SessionStoreError(WebAgentsError):
    """A session store failed: its file or server cannot be used, or a turn found its session
    changed under it (its lease expired and another turn went ahead), so nothing was stored.
    Messages name the file or server, never a password."""


class SessionAccessError(WebAgentsError, PermissionError):
    """The session belongs to another user. The message names the session, never the user
    or anything the conversation holds."""

    def __init__(self, key: SessionKey) -> None:
        self.key = key
        super().__init__(
            f"session {key.session_id!r} of agent {key.agent!r} belongs to another user; "
            f"continue it with the user_id that started it, or start a new session_id"
        )


class SessionTurn:
    """One turn of one session, holding it: other turns of the session wait until this one
    commits or ends. ``session`` is None for a new conversation."""

    __slots__ = ("_store", "committed", "key", "session")

    def __init__(self, store: SessionStore[Any], key: SessionKey, session: Session | None):
        self._store = store
        self.key = key
        self.session = session
        self.committed = False

    async def commit(self, added: list[dict[str, Any]], *, owner: str, user_id: str | None) -> None:
        """Store what the turn added after the stored messages, and who answers next."""
        if self.committed:
            raise RuntimeError(f"turn of session {self.key} was already committed")
        version = self.session.version if self.session is not None else 0
        if self.session is not None and self.session.user_id is not None:
            user_id = self.session.user_id  # a session never changes hands
        await self._store._append(self.key, version, added, owner, user_id)
        self.committed = True


class SessionStore(ABC, Generic[Lease]):
    """A place sessions live. Backends implement the primitives below; ``turn`` is the one
    way a run reads and writes a session.

    ``_lock`` waits until no other turn of ``key`` runs (in this process or, for shared
    stores, any process) and returns what ``_unlock`` needs to let the next one in. A lock a
    crashed process left behind must expire. ``_append`` writes ``added`` after the first
    ``version`` messages and sets owner and user; its cost is what the turn added, never the
    whole history.
    """

    @contextlib.asynccontextmanager
    async def turn(self, key: SessionKey) -> AsyncIterator[SessionTurn]:
        """Hold ``key`` for one turn: ``async with store.turn(key) as turn: ...``."""
        lease = await self._lock(key)
        try:
            yield SessionTurn(self, key, await self._load(key))
        finally:
            await self._unlock(key, lease)

    @abstractmethod
    async def _lock(self, key: SessionKey) -> Lease: ...

    @abstractmethod
    async def _unlock(self, key: SessionKey, lease: Lease) -> None: ...

    @abstractmethod
    async def _load(self, key: SessionKey) -> Session | None: ...

    @abstractmethod
    async def _append(
        self,
        key: SessionKey,
        version: int,
        added: list[dict[str, Any]],
        owner: str,
        user_id: str | None,
    ) -> None: ...

    async def read(self, key: SessionKey) -> Session | None:
        """The stored conversation (without waiting for a turn in progress), or None; its
        ``messages`` are the caller's own."""
        session = await self._load(key)
        if session is not None:
            session.messages = list(session.messages)
        return session

    @abstractmethod
    async def list_sessions(
        self, *, agent: str | None = None, user_id: str | None = None
    ) -> list[SessionInfo]:
        """The stored conversations, newest first, optionally of one entry agent or user."""

    @abstractmethod
    async def delete(self, key: SessionKey) -> bool:
        """Forget a conversation (a user's "forget me"); True if there was one."""

    async def delete_user(self, user_id: str) -> int:
        """Forget every conversation of ``user_id``; returns how many there were."""
        removed = 0
        for info in await self.list_sessions(user_id=user_id):
            removed += await self.delete(info.key)
        return removed

    async def aclose(self) -> None:
        """Release connections; the store may be used again after."""
