"""Session stores: each conversation's messages and the agent that currently owns it."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["InMemorySessionStore", "SessionState", "SessionStore", "default_session_store"]


@dataclass(slots=True)
class SessionState:
    messages: list[dict[str, Any]] = field(default_factory=list)
    active_agent: str | None = None


@runtime_checkable
class SessionStore(Protocol):
    """Where sessions live. Implementations must return copies the caller may mutate."""

    async def load(self, session_id: str) -> SessionState | None: ...

    async def save(self, session_id: str, state: SessionState) -> None: ...


class InMemorySessionStore:
    """Sessions in this process's memory: the library default."""

    def __init__(self) -> None:
        self._sessions: dict[str, SessionState] = {}

    async def load(self, session_id: str) -> SessionState | None:
        state = self._sessions.get(session_id)
        if state is None:
            return None
        return SessionState(copy.deepcopy(state.messages), state.active_agent)

    async def save(self, session_id: str, state: SessionState) -> None:
        self._sessions[session_id] = SessionState(copy.deepcopy(state.messages), state.active_agent)

    def __len__(self) -> int:
        return len(self._sessions)


_DEFAULT: InMemorySessionStore | None = None


def default_session_store() -> InMemorySessionStore:
    """The process-wide in-memory store used by agents not given one."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = InMemorySessionStore()
    return _DEFAULT
