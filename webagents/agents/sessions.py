"""Session stores, where ``webagents.agents`` has always offered them: see
``webagents.sessions``."""

from webagents.sessions import (
    InMemorySessionStore,
    Session,
    SessionAccessError,
    SessionKey,
    SessionStore,
    default_session_store,
)

__all__ = [
    "InMemorySessionStore",
    "Session",
    "SessionAccessError",
    "SessionKey",
    "SessionStore",
    "default_session_store",
]
