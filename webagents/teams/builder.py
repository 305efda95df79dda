"""``TeamBuilder``: start with an agent, declare who may hand off to whom, build a ``Team``.

Modelled on Microsoft Agent Framework's handoff builder
(``StartHandoffWith(triage).WithHandoff(triage, [math, history])``)::

    team = (
        TeamBuilder("tutors", complete_tool=True)
        .start_with(triage)
        .handoff(triage, [math, history], both_ways=True)  # and each may hand back
        .handoff(math, history, instructions="The student asked about dates, not sums.")
        .build()
    )
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from webagents.agents.agent import BaseAgent
from webagents.agents.network import AgentNetwork, RemoteAgent
from webagents.agents.targets import HandoffTarget
from webagents.errors import AgentConfigError
from webagents.teams.team import (
    EdgeOptions,
    Team,
    _as_list,
    _check_network,
    _join,
    _suggest,
)

if TYPE_CHECKING:
    from webagents.agents.sessions import SessionStore

__all__ = ["TeamBuilder"]

_Target = BaseAgent | RemoteAgent | str


class TeamBuilder:
    """Collects a team's members and handoff edges; ``build()`` makes the ``Team``.

    Agents are ``BaseAgent`` objects; once added (by ``start_with``, ``add`` or as a handoff
    source or target), a name stands for the agent. The team gets its own ``AgentNetwork``
    (``network``, named after the team, with ``sessions`` as its session store): build
    agents with ``network=builder.network``, or without ``network=`` at all, and ``build()``
    moves them from the default network into the team's. An agent of another explicit
    network is an error: it already belongs to someone else's team or server.
    ``both_ways=True`` adds each back edge (target -> source) without naming it.
    ``cycles`` (``"forbid"`` or ``"allow"``) and ``complete_tool`` set every local member's
    ``handoff_cycles`` and ``complete_tool`` at ``build()``; None leaves each agent's own.
    """

    def __init__(
        self,
        name: str,
        *,
        sessions: SessionStore[Any] | None = None,
        cycles: Literal["forbid", "allow"] | None = None,
        complete_tool: bool | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise AgentConfigError(f"a team needs a non-empty name, got {name!r}")
        if cycles not in (None, "forbid", "allow"):
            raise AgentConfigError(
                f"team {name!r}: cycles={cycles!r} must be 'forbid' (never the same handoff "
                f"twice in a run), 'allow' (until max_handoffs) or None (each agent's own)"
            )
        if complete_tool is not None and not isinstance(complete_tool, bool):
            raise AgentConfigError(
                f"team {name!r}: complete_tool must be True, False or None, got {complete_tool!r}"
            )
        self.name = name
        self.network = AgentNetwork(name, sessions=sessions)
        self.cycles = cycles
        self.complete_tool = complete_tool
        self._members: dict[str, BaseAgent | RemoteAgent] = {}
        self._start: BaseAgent | None = None
        self._edges: list[tuple[str, list[str | HandoffTarget], bool, EdgeOptions]] = []

    def start_with(self, agent: BaseAgent) -> TeamBuilder:
        """The agent every run begins with (the first member)."""
        if not isinstance(agent, BaseAgent):
            raise AgentConfigError(
                f"team {self.name!r}: start_with() takes a BaseAgent, got {agent!r}"
            )
        self._start = self._add(agent)  # type: ignore[assignment]
        return self

    def add(self, *agents: BaseAgent | RemoteAgent) -> TeamBuilder:
        """Members that are not (yet) a handoff source or target."""
        for agent in agents:
            self._add(agent)
        return self

    def remote(
        self,
        name: str,
        url: str,
        *,
        description: str = "",
        api_key: str | None = None,
        timeout: float | None = None,
        protocol: str = "chat",
    ) -> TeamBuilder:
        """A member served elsewhere, at ``url`` (``.../agents/<name>``), with its own key;
        ``protocol="a2a"`` for an A2A agent (``url``: its base URL or its card's URL)."""
        remote = self.network.register_remote(
            name, url, description=description, api_key=api_key, timeout=timeout, protocol=protocol
        )
        self._members[name] = remote
        return self

    def handoff(
        self,
        source: BaseAgent | str,
        targets: _Target | HandoffTarget | Iterable[_Target | HandoffTarget],
        *,
        both_ways: bool = False,
        **options: Any,
    ) -> TeamBuilder:
        """``source`` may hand the conversation to each of ``targets``; with
        ``both_ways=True`` each target may also hand it back to ``source`` (a plain edge).
        ``options`` are ``HandoffTarget``'s (``description``, ``instructions``, ``history``,
        ``on_handoff``, ``carry_state``, ``scope``) for each edge from ``source``; a target
        given as a ``HandoffTarget`` brings its own."""
        source_name = self._add(source).name
        edge_options = EdgeOptions.check(self.name, options)
        items: list[str | HandoffTarget] = []
        for target in _as_list(targets):
            if isinstance(target, HandoffTarget):
                items.append(dataclasses.replace(target, agent=self._add(target.agent)))
            else:
                items.append(self._add(target).name)
        if not items:
            raise AgentConfigError(
                f"team {self.name!r}: handoff({source_name!r}, ...) names no targets"
            )
        self._edges.append((source_name, items, both_ways, edge_options))
        return self

    def _add(self, item: _Target) -> BaseAgent | RemoteAgent:
        if isinstance(item, str):
            found = self._members.get(item)
            if found is None:
                raise AgentConfigError(
                    f"team {self.name!r}: no member named {item!r}; "
                    + _suggest(item, self._members, "pass the agent object the first time")
                )
            return found
        if not isinstance(item, BaseAgent | RemoteAgent):
            raise AgentConfigError(
                f"team {self.name!r}: members are BaseAgent objects (or their names once "
                f"added), got {item!r}"
            )
        earlier = self._members.get(item.name)
        if earlier is not None and earlier is not item:
            raise AgentConfigError(
                f"team {self.name!r} already has a different agent named {item.name!r}; "
                f"give one of them another name"
            )
        if isinstance(item, BaseAgent):
            _check_network(self.name, item, self.network)
        elif self.network.get(item.name) is not item:
            # Registered here too, so the team's agents find it by name (sessions it owns).
            item = self.network.register_remote(
                item.name,
                item.url,
                description=item.description,
                api_key=item.api_key,
                timeout=item.timeout,
                signing_key=item.signing_key,
                fallbacks=item.fallbacks,
                protocol=item.protocol,
            )
        self._members[item.name] = item
        return item

    def build(self) -> Team:
        """The team: members joined to the team's network, every edge a transfer tool, its
        handoff graph checked (``webagents.teams.graph``): what cannot work raises
        ``TeamGraphError``, what looks wrong is logged as a warning."""
        if self._start is None:
            raise AgentConfigError(
                f"team {self.name!r} has no start agent; call .start_with(agent) before .build()"
            )
        for member in self._members.values():
            if isinstance(member, BaseAgent):
                _join(member, self.network)
                if self.cycles is not None:
                    member.handoff_cycles = self.cycles
                if self.complete_tool is not None:
                    member.complete_tool = self.complete_tool
        members = {self._start.name: self._start, **self._members}
        team = Team(self.name, self.network, self._start, members)
        for source, targets, both_ways, options in self._edges:
            team.add_handoff(source, targets, both_ways=both_ways, **options.given)
        from webagents.teams.graph import validate_team

        validate_team(team)  # errors raise TeamGraphError; warnings go to the log
        return team
