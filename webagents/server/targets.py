"""What ``create_app`` serves: a list of agents, a mapping name -> agent, an ``AgentNetwork``
(its local agents) or anything with a ``network`` attribute that is one (a team)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from webagents.agents.agent import BaseAgent
from webagents.agents.network import AgentNetwork

__all__ = ["Served", "served_agents"]

_ACCEPTED = (
    "a list of BaseAgent, a mapping name -> BaseAgent, an AgentNetwork, "
    "or an object with a 'network' attribute that is an AgentNetwork (a team)"
)


@dataclass(frozen=True, slots=True)
class Served:
    """The agents by the name their URL uses, and the networks they live in (closed when the
    server shuts down)."""

    agents: dict[str, BaseAgent]
    networks: list[AgentNetwork]


def served_agents(target: object) -> Served:
    network = getattr(target, "network", None)
    if not isinstance(target, AgentNetwork | BaseAgent) and isinstance(network, AgentNetwork):
        target = network  # a team: serve its network
    if isinstance(target, AgentNetwork):
        agents = {agent.name: agent for agent in target.local_agents()}
        if not agents:
            raise TypeError(
                f"create_app: agent network {target.name!r} has no local agents to serve; "
                f"build agents with BaseAgent(..., network=net) first"
            )
        return Served(agents, [target])
    if isinstance(target, BaseAgent):
        target = [target]
    if isinstance(target, Mapping):
        agents = {}
        for name, agent in target.items():
            if not isinstance(name, str) or not name or "/" in name:
                raise TypeError(
                    f"create_app: served names must be non-empty strings without '/', got {name!r}"
                )
            agents[name] = _agent(agent, f"[{name!r}]")
    elif isinstance(target, list | tuple):
        agents = {}
        for index, item in enumerate(target):
            agent = _agent(item, f"[{index}]")
            if agent.name in agents and agents[agent.name] is not agent:
                raise TypeError(
                    f"create_app: two agents are named {agent.name!r}; pass a mapping "
                    f"name -> agent to serve them under different names"
                )
            agents[agent.name] = agent
    else:
        raise TypeError(f"create_app() serves {_ACCEPTED}; got {type(target).__name__}")
    if not agents:
        raise TypeError(f"create_app() needs at least one agent to serve ({_ACCEPTED})")
    networks: list[AgentNetwork] = []
    for agent in agents.values():
        if all(agent.network is not seen for seen in networks):
            networks.append(agent.network)
    return Served(agents, networks)


def _agent(item: Any, where: str) -> BaseAgent:
    if not isinstance(item, BaseAgent):
        raise TypeError(
            f"create_app: item {where} is a {type(item).__name__}, not a BaseAgent "
            f"(remote agents are served by their own server)"
        )
    return item


def agent_path(name: str) -> str:
    return f"/agents/{quote(name, safe='')}"
