"""``Team``: agents of one network, a start agent, and runs that go through it."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from webagents.agents.agent import BaseAgent, Messages
from webagents.agents.network import AgentNetwork, RemoteAgent, default_network
from webagents.agents.targets import HandoffTarget
from webagents.errors import AgentConfigError

if TYPE_CHECKING:
    from webagents.agents.result import RunResult
    from webagents.events import RunEvent

__all__ = ["EdgeOptions", "Team"]

_Member: TypeAlias = BaseAgent | RemoteAgent | str
_EDGE_FIELDS = tuple(f.name for f in dataclasses.fields(HandoffTarget) if f.name != "agent")


@dataclass(frozen=True, slots=True)
class EdgeOptions:
    """``HandoffTarget`` options given by keyword for several edges at once, checked."""

    given: dict[str, Any]

    @classmethod
    def check(cls, team: str, options: Mapping[str, Any]) -> EdgeOptions:
        unknown = sorted(set(options) - set(_EDGE_FIELDS))
        if unknown:
            raise AgentConfigError(
                f"team {team!r}: unknown handoff option {unknown[0]!r}; the options of an "
                f"edge are {', '.join(_EDGE_FIELDS)}"
            )
        HandoffTarget("check", **options)  # the values, checked as the edge will check them
        return cls(dict(options))

    def edge(
        self, target: _Member | HandoffTarget, member: BaseAgent | RemoteAgent
    ) -> _Member | HandoffTarget:
        """What ``add_handoff`` takes for ``target``: a ``HandoffTarget`` brings its own
        options, a plain target gets these (if any)."""
        if isinstance(target, HandoffTarget):
            return dataclasses.replace(target, agent=member)
        return HandoffTarget(member, **self.given) if self.given else member


class Team:
    """Agents that hand a conversation to one another, run like one agent.

    ``network`` is the team's own ``AgentNetwork`` (never the default one), so two teams in a
    process never see each other's agents; ``agents`` holds its members by name, in the order
    they were declared; ``start`` is the agent every run (and every new session) begins
    with. ``run``, ``run_streaming`` and ``run_sync`` are the start agent's: a session
    continues with whichever member owns it, in the network's session store. Build one with
    ``TeamBuilder`` or ``load_team``; ``create_app(team)`` serves it.
    """

    def __init__(
        self,
        name: str,
        network: AgentNetwork,
        start: BaseAgent,
        agents: Mapping[str, BaseAgent | RemoteAgent] | None = None,
        *,
        source: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise AgentConfigError(f"a team needs a non-empty name, got {name!r}")
        if not isinstance(start, BaseAgent):
            raise AgentConfigError(
                f"team {name!r}: the start agent must be a local BaseAgent, got {start!r}"
            )
        if network.get(start.name) is not start:
            raise AgentConfigError(
                f"team {name!r}: the start agent {start.name!r} is not in the team's network "
                f"{network.name!r}; build it with network=<the team's network>"
            )
        self.name = name
        self.network = network
        self.start = start
        members = dict(agents) if agents is not None else {}
        if not members:
            members = {start.name: start}
            members.update({a.name: a for a in network.local_agents() if a is not start})
            members.update({a.name: a for a in network.remote_agents()})
        self.agents: dict[str, BaseAgent | RemoteAgent] = members
        #: The team file it was loaded from, when it was.
        self.source = source

    def get(self, name: str) -> BaseAgent | RemoteAgent:
        """The member named ``name``; ``UnknownAgentError`` with close names otherwise."""
        return self.network.resolve(name, self.agents)

    def edges(self) -> list[tuple[str, str]]:
        """Every declared handoff edge ``(source, target)``, in member order."""
        return [
            (agent.name, target)
            for agent in self.agents.values()
            if isinstance(agent, BaseAgent)
            for target in agent.target_names()
        ]

    def add(self, agent: BaseAgent) -> BaseAgent:
        """A new member (built without ``network=``, or on the team's network); returns it.
        It is reachable once an edge leads to it (``add_handoff``)."""
        if not isinstance(agent, BaseAgent):
            raise AgentConfigError(f"team {self.name!r}: add() takes a BaseAgent, got {agent!r}")
        earlier = self.agents.get(agent.name)
        if earlier is agent:
            return agent
        if earlier is not None:
            raise AgentConfigError(
                f"team {self.name!r} already has a member named {agent.name!r}; give the new "
                f"agent another name"
            )
        _check_network(self.name, agent, self.network)
        _join(agent, self.network)
        self.agents[agent.name] = agent
        return agent

    def add_handoff(
        self,
        source: BaseAgent | str,
        targets: _Member | HandoffTarget | Iterable[_Member | HandoffTarget],
        *,
        both_ways: bool = False,
        **options: Any,
    ) -> None:
        """Let ``source`` hand off to each of ``targets`` (members, or their names) from its
        next model call on; ``both_ways=True`` also lets each target hand back to ``source``
        (a plain edge). ``options`` are ``HandoffTarget``'s for each edge from ``source``
        (``description``, ``instructions``, ``history``, ``on_handoff``, ``carry_state``,
        ``scope``); a target given as a ``HandoffTarget`` brings its own."""
        agent = self._local(source, "source")
        edge_options = EdgeOptions.check(self.name, options)
        for target in _as_list(targets):
            member = self._member(target.agent if isinstance(target, HandoffTarget) else target)
            agent.add_handoff(edge_options.edge(target, member))
            if both_ways:
                self._local(member, "target (both_ways=True)").add_handoff(agent)

    def _member(self, item: BaseAgent | RemoteAgent | str) -> BaseAgent | RemoteAgent:
        name = item if isinstance(item, str) else item.name
        found = self.agents.get(name)
        if found is None:
            raise AgentConfigError(
                f"team {self.name!r}: {name!r} is not a member; "
                + _suggest(name, self.agents, "add it to the team first")
            )
        if not isinstance(item, str) and found is not item:
            raise AgentConfigError(
                f"team {self.name!r}: a different agent named {name!r} is already a member; "
                f"give one of them another name"
            )
        return found

    def _local(self, item: BaseAgent | RemoteAgent | str, role: str) -> BaseAgent:
        member = self._member(item)
        if not isinstance(member, BaseAgent):
            raise AgentConfigError(
                f"team {self.name!r}: {member.name!r} is a remote agent and cannot be a "
                f"handoff {role}: its handoffs are configured where it is served"
            )
        return member

    def run(
        self,
        messages: Messages,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> Coroutine[Any, Any, RunResult]:
        """``await team.run(...)``: the start agent's ``run`` (see ``BaseAgent.run``)."""
        return self.start.run(messages, session_id=session_id, user_id=user_id, context=context)

    def run_streaming(
        self,
        messages: Messages,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[RunEvent]:
        """The start agent's ``run_streaming``: typed events, each naming its agent."""
        return self.start.run_streaming(
            messages, session_id=session_id, user_id=user_id, context=context
        )

    def run_sync(
        self,
        messages: Messages,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """``run`` for scripts: starts its own event loop."""
        return self.start.run_sync(
            messages, session_id=session_id, user_id=user_id, context=context
        )

    async def aclose(self) -> None:
        """Close the team's agents (their skills and model connections) and its remote
        client; the network is empty of local agents after."""
        await self.network.aclose()

    async def __aenter__(self) -> Team:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"Team({self.name!r}, start={self.start.name!r}, agents={list(self.agents)})"


def _as_list(
    targets: _Member | HandoffTarget | Iterable[_Member | HandoffTarget],
) -> list[_Member | HandoffTarget]:
    if isinstance(targets, BaseAgent | RemoteAgent | str | HandoffTarget):
        return [targets]
    return list(targets)


def _suggest(name: str, names: Iterable[str], otherwise: str) -> str:
    """``did you mean 'x'?`` for a close name, else ``otherwise``."""
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return otherwise


def _check_network(team: str, agent: BaseAgent, network: AgentNetwork) -> None:
    if agent.network is not network and agent.network is not default_network():
        raise AgentConfigError(
            f"team {team!r}: agent {agent.name!r} belongs to agent network "
            f"{agent.network.name!r}; build it with network=builder.network (or without "
            f"network=) so it joins the team's own network"
        )


def _join(agent: BaseAgent, network: AgentNetwork) -> None:
    """Move ``agent`` from the default network into the team's: it resolves names and keeps
    its sessions there from now on."""
    old = agent.network
    if old is not network:
        old.discard(agent)
        if agent.sessions is old.sessions:
            agent.sessions = network.sessions
        agent.network = network
        agent._tools_cache = {}  # cached against the old network's version
    network.add(agent)
