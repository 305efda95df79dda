"""The session store of the served agents (the conversations named by ``X-Session-Id``).

``sessions=`` (a ``SessionStore`` or a spec such as ``sqlite:///path.db`` or
``redis://host:6379/0``) is used by every served agent. Without it, an agent keeps a store it
or its network was given in code; an agent on the library's default store uses
``WEBAGENTS_SESSIONS`` when that is set, else the SQLite file ``sessions.db`` under
``WEBAGENTS_HOME``, so conversations survive a restart and are shared by the server's
workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from webagents.agents.agent import BaseAgent
from webagents.sessions import ENV_VAR, SessionStore, default_session_store, open_session_store

__all__ = ["assign_stores"]


def assign_stores(
    agents: Iterable[BaseAgent], sessions: SessionStore[Any] | str | None
) -> list[SessionStore[Any]]:
    """Give each served agent its store; returns the stores opened here (the server closes
    them when it shuts down)."""
    opened: list[SessionStore[Any]] = []
    if isinstance(sessions, str):
        sessions = open_session_store(sessions)
        opened.append(sessions)
    elif sessions is not None and not isinstance(sessions, SessionStore):
        raise TypeError(
            f"create_app(sessions=...) takes a SessionStore or a spec string "
            f"('sqlite:///path.db', 'redis://host:6379/0', 'memory'), got "
            f"{type(sessions).__name__}"
        )
    if sessions is not None:
        for agent in agents:
            agent.sessions = sessions
        return opened
    if os.environ.get(ENV_VAR, "").strip():
        return opened  # the library default is the store the environment names
    library_default = default_session_store()
    server_default: SessionStore[Any] | None = None
    for agent in agents:
        if agent.sessions is library_default:
            if server_default is None:
                server_default = open_session_store("sqlite://")
                opened.append(server_default)
            agent.sessions = server_default
    return opened
