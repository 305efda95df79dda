"""Agents, the agent registry and run results."""

from webagents.agents.agent import BaseAgent
from webagents.agents.registry import RemoteAgent, get_registry, register_remote
from webagents.agents.result import HandoffRecord, RunResult
from webagents.agents.sessions import InMemorySessionStore, SessionStore

__all__ = [
    "BaseAgent",
    "HandoffRecord",
    "InMemorySessionStore",
    "RemoteAgent",
    "RunResult",
    "SessionStore",
    "get_registry",
    "register_remote",
]
