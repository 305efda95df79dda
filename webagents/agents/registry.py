"""Where ``RemoteAgent`` used to live; agents are found by name in an ``AgentNetwork``
(``webagents.agents.network``)."""

from webagents.agents.network import RemoteAgent, is_url, remote_from_url

__all__ = ["RemoteAgent", "is_url", "remote_from_url"]
