"""Agents, the agent networks they live in, and run results."""

from webagents.agents.agent import BaseAgent
from webagents.agents.network import (
    AgentNetwork,
    RemoteAgent,
    default_network,
    register_remote,
    use_default_network,
)
from webagents.agents.result import HandoffRecord, RunResult
from webagents.agents.sessions import InMemorySessionStore, SessionStore

__all__ = [
    "AgentNetwork",
    "BaseAgent",
    "HandoffRecord",
    "InMemorySessionStore",
    "RemoteAgent",
    "RunResult",
    "SessionStore",
    "default_network",
    "register_remote",
    "use_default_network",
]
