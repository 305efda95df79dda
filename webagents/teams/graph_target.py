"""What ``webagents graph TARGET`` checks: the team a team file or a Python target names.
A module's agents are read as a team: the agents given, and those their handoffs reach."""

from __future__ import annotations

from collections.abc import Mapping

from webagents.agents.agent import BaseAgent
from webagents.agents.network import RemoteAgent
from webagents.teams.graph import (
    GraphReport,
    Member,
    TeamGraphError,
    _target_name,
    check_graph,
    edges,
)

__all__ = ["load_graph"]


def load_graph(target: str) -> GraphReport:
    """Load a team file (``.yaml``/``.yml``) or a Python target (``module:attribute``, a file;
    see ``webagents serve``) and check its graph. A team file whose graph has errors still
    gives its report (from the ``TeamGraphError`` its loading raised)."""
    if target.endswith((".yaml", ".yml")):
        from webagents.teams import load_team

        try:
            team = load_team(target)
        except ValueError as error:  # the graph's errors, maybe as the file's error's cause
            for raised in (error, error.__cause__):
                if isinstance(raised, TeamGraphError):
                    return raised.report
            raise
        return check_graph(team.start, team.agents)
    from webagents.server.loading import TargetError, load_target

    loaded = load_target(target)
    start: object = getattr(loaded, "start", None)
    members: Mapping[str, Member] | None = getattr(loaded, "agents", None)
    if isinstance(start, BaseAgent) and isinstance(members, Mapping):
        return check_graph(start, members)
    found = _members(loaded)
    first = next((agent for agent in found if isinstance(agent, BaseAgent)), None)
    if first is None:
        raise TargetError(
            f"TARGET {target!r} names no agent (got {type(loaded).__name__}); name an agent, "
            f"a list or mapping of agents, an AgentNetwork or a team"
        )
    return check_graph(first, _closure(found))


def _members(loaded: object) -> list[Member]:
    from webagents.agents.network import AgentNetwork

    if isinstance(loaded, AgentNetwork):
        return [*loaded.local_agents(), *loaded.remote_agents()]
    if isinstance(loaded, Mapping):
        loaded = list(loaded.values())
    if isinstance(loaded, list | tuple):
        return [item for item in loaded if isinstance(item, BaseAgent | RemoteAgent)]
    return [loaded] if isinstance(loaded, BaseAgent | RemoteAgent) else []


def _closure(found: list[Member]) -> dict[str, Member]:
    """The agents given, and the agents they hand off to that their code or network names:
    a module's agents read as a team."""
    agents: dict[str, Member] = {}
    queue = list(found)
    while queue:
        agent = queue.pop(0)
        if agent.name in agents:
            continue
        agents[agent.name] = agent
        if isinstance(agent, BaseAgent):
            for edge in edges({agent.name: agent}):
                own = next(
                    (t for t in agent.handoff_targets if _target_name(t) == edge.target), None
                )
                target = own if not isinstance(own, str | None) else agent.network.get(edge.target)
                if target is not None:
                    queue.append(target)
    return agents
