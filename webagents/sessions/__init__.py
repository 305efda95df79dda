"""Session stores: each conversation's messages, the agent answering its next turn and the
user it belongs to. ``WEBAGENTS_SESSIONS`` picks the store wherever none is passed in code:
``memory`` (the default), ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``
(``sqlite://`` alone: ``sessions.db`` under ``WEBAGENTS_HOME``), ``redis://host:port/db``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from webagents.errors import AgentConfigError
from webagents.sessions.base import (
    Session,
    SessionAccessError,
    SessionInfo,
    SessionKey,
    SessionStore,
    SessionStoreError,
    SessionTurn,
)
from webagents.sessions.memory import InMemorySessionStore

if TYPE_CHECKING:
    from webagents.sessions.redis import RedisSessionStore
    from webagents.sessions.sqlite import SQLiteSessionStore

__all__ = [
    "InMemorySessionStore",
    "RedisSessionStore",
    "SQLiteSessionStore",
    "Session",
    "SessionAccessError",
    "SessionInfo",
    "SessionKey",
    "SessionStore",
    "SessionStoreError",
    "SessionTurn",
    "default_session_store",
    "open_session_store",
]

ENV_VAR = "WEBAGENTS_SESSIONS"
_default: SessionStore[Any] | None = None


def open_session_store(spec: str) -> SessionStore[Any]:
    """The store ``spec`` names: ``memory``, ``sqlite:///path`` or ``redis://host:port/db``."""
    from webagents._urls import redact_url

    if spec == "memory":
        return InMemorySessionStore()
    if spec.startswith("sqlite://"):
        from webagents.sessions.sqlite import SQLiteSessionStore

        # As SQLAlchemy reads it: sqlite:///relative.db, sqlite:////absolute.db; no path is
        # sessions.db under WEBAGENTS_HOME.
        path = spec.removeprefix("sqlite://").removeprefix("/")
        return SQLiteSessionStore(path or None)
    if spec.startswith(("redis://", "rediss://", "unix://")):
        from webagents.sessions.redis import RedisSessionStore

        return RedisSessionStore(spec)
    shown = redact_url(spec) if "://" in spec else spec
    raise AgentConfigError(
        f"unknown session store {shown!r} (from {ENV_VAR} or open_session_store); use "
        f"'memory', 'sqlite:///path/to/sessions.db' or 'redis://host:6379/0'"
    )


def default_session_store() -> SessionStore[Any]:
    """The store of agents and networks given none: ``WEBAGENTS_SESSIONS`` when set, read on
    first use, else a bounded in-memory store. One per process."""
    global _default
    if _default is None:
        spec = os.environ.get(ENV_VAR, "").strip()
        _default = open_session_store(spec) if spec else InMemorySessionStore()
    return _default


def __getattr__(name: str) -> Any:
    if name == "SQLiteSessionStore":
        from webagents.sessions.sqlite import SQLiteSessionStore

        return SQLiteSessionStore
    if name == "RedisSessionStore":
        from webagents.sessions.redis import RedisSessionStore

        return RedisSessionStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
