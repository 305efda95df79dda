"""Routing strategies: skills whose dynamic ``@handoff()`` router picks one of a set of agents.

``RoundRobin``, ``LeastBusy``, ``CapabilityMatch`` and ``FallbackChain`` (LlmTornado's four).
Attach one to the agent that routes, alone or as a team's start agent::

    desk = BaseAgent("desk", skills={"route": RoundRobin(["a", "b", "c"])})

What the strategies observe, and how (all of it through the routing agent's own hooks, so a
strategy sees exactly the handoffs its router decided):

- a routed handoff is **in flight** from the moment the router chose it (inside the router,
  with no ``await`` between the choice and the count, so concurrent runs never pick on a
  stale count) until that handoff's ``after_handoff`` hook, which runs when the target's part
  of the run ends: it answered (after any agents it handed on to), or it failed, was vetoed
  or refused. A run that ends otherwise (cancelled, a bug raising) releases what it still
  holds in its ``finalize_connection`` hook, which runs on every way out of a run;
- a routed handoff **failed** when its transfer began (the ``before_handoff`` hooks ran to
  ours, which runs last: no earlier hook vetoed it) and ``handoff_result`` says
  ``success: False``: the target raised, its model failed, a remote target was unreachable
  or answered an error. Refusals (bounds, unknown names), vetoes and cancelled runs are no
  failure of the target.

The handoffs a run holds open are listed in the run's ``Context``; the skill keeps only the
counters a strategy is about, one per candidate, which never grow with the number of runs.
"""

from __future__ import annotations

import difflib
import itertools
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from webagents.agents.agent import BaseAgent
from webagents.agents.network import RemoteAgent, is_url
from webagents.agents.skills.base import Skill
from webagents.agents.skills.decorators import Scope, handoff, hook
from webagents.errors import AgentConfigError, UnknownAgentError
from webagents.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from webagents.context import Context

__all__ = [
    "SKILL_NAMES",
    "CapabilityMatch",
    "FallbackChain",
    "LeastBusy",
    "RoundRobin",
    "Strategy",
    "register_skills",
]

Candidate = BaseAgent | RemoteAgent | str
#: The candidates, or a team file's ``config:`` mapping: ``{agents: [...], <option>: ...}``.
Agents = Iterable[Candidate] | Mapping[str, Any]

#: ``before_handoff``: ours runs after every other hook, so reaching it means no veto.
_LAST = 1_000_000
#: ``after_handoff``: ours runs before the others, which may replace the result (a fallback).
_FIRST = -1_000_000


class Strategy(Skill):
    """A router over ``agents`` (agents, remote agents or their names), in the given order.

    Bad configuration fails here (no candidates, duplicates, a URL instead of a name); names
    that cannot be resolved fail when the routing agent starts (its first run), naming the
    agent and close names.
    """

    def __init__(self, agents: Agents, *, scope: Scope = "all") -> None:
        super().__init__({}, scope=scope)
        agents, _ = _from_config(type(self), agents, {})
        single = isinstance(agents, str | BaseAgent | RemoteAgent | Mapping)
        if single or not isinstance(agents, Iterable):
            raise AgentConfigError(
                f"{type(self).__name__} takes a list of agents or agent names, got {agents!r}; "
                f"write {type(self).__name__}([a, b])"
            )
        names: list[str] = []
        given: dict[str, BaseAgent | RemoteAgent] = {}
        for candidate in agents:
            name = self._candidate_name(candidate)
            if name in names:
                raise AgentConfigError(
                    f"{type(self).__name__}: agent {name!r} is listed twice; list each "
                    f"candidate once"
                )
            names.append(name)
            if not isinstance(candidate, str):
                given[name] = candidate
        if not names:
            raise AgentConfigError(
                f"{type(self).__name__} needs at least one candidate agent, got none"
            )
        self.candidates: tuple[str, ...] = tuple(names)
        self._given = given

    def _candidate_name(self, candidate: object) -> str:
        if isinstance(candidate, BaseAgent | RemoteAgent):
            return candidate.name
        if isinstance(candidate, str) and is_url(candidate):
            raise AgentConfigError(
                f"{type(self).__name__}: candidates are agents or names, not URLs; register "
                f"the remote agent (network.register_remote(name, url)) and pass it or its name"
            )
        if isinstance(candidate, str) and candidate.strip():
            return candidate
        raise AgentConfigError(
            f"{type(self).__name__}: a candidate must be an agent, a RemoteAgent or a "
            f"non-empty agent name, got {candidate!r}"
        )

    async def initialize(self, agent: BaseAgent) -> None:
        self.check_candidates(agent)

    def check_candidates(self, agent: BaseAgent) -> None:
        """Every candidate resolves from ``agent`` (its handoffs, then its network) to the
        agent given, and none is ``agent`` itself. Run when ``agent`` starts; call it earlier
        (once the candidates exist) to fail sooner."""
        owner = f"{type(self).__name__} on agent {agent.name!r}"
        known = list(dict.fromkeys([*agent.target_names(), *agent.network.names()]))
        for name in self.candidates:
            if name == agent.name:
                raise AgentConfigError(
                    f"{owner}: {name!r} cannot route to itself; remove it from the candidates"
                )
            try:
                found = agent.find_target(name)
            except UnknownAgentError:
                raise AgentConfigError(
                    f"{owner}: {UnknownAgentError(name, known)} (not among its handoffs nor "
                    f"in network {agent.network.name!r}); add it to the network or fix the name"
                ) from None
            wanted = self._given.get(name)
            if wanted is not None and found is not wanted:
                raise AgentConfigError(
                    f"{owner}: the agent {name!r} it was given is not the one {agent.name!r} "
                    f"finds by that name; add it to network {agent.network.name!r} or to "
                    f"{agent.name!r}'s handoffs"
                )

    def _find(self, name: str) -> BaseAgent | RemoteAgent | None:
        agent = self.agent
        if agent is None:
            return self._given.get(name)
        try:
            return agent.find_target(name)
        except UnknownAgentError:
            return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.candidates)!r})"


class RoundRobin(Strategy):
    """Each routed run goes to the next candidate in turn, across concurrent runs."""

    def __init__(self, agents: Agents, *, scope: Scope = "all") -> None:
        super().__init__(agents, scope=scope)
        # next() on a count is atomic: runs in other threads' loops never share a turn.
        self._turns = itertools.count()

    @handoff()
    def route(self, query: str) -> str:
        """Round-robin: the next agent in turn."""
        return self.candidates[next(self._turns) % len(self.candidates)]


class _Tracked(Strategy):
    """A strategy that counts the runs it routed to each candidate until they end, and how
    often each candidate's transfers failed in a row (see the module text)."""

    def __init__(self, agents: Agents, *, scope: Scope = "all") -> None:
        super().__init__(agents, scope=scope)
        self._lock = threading.Lock()  # runs of other threads (run_sync) may share the skill
        self._in_flight = dict.fromkeys(self.candidates, 0)
        self._failures = dict.fromkeys(self.candidates, 0)
        self._key = f"webagents.strategy.{id(self):x}"  # this skill's entry in a run's Context

    def in_flight(self) -> dict[str, int]:
        """Routed runs each candidate is taking part in now."""
        with self._lock:
            return dict(self._in_flight)

    def failures(self) -> dict[str, int]:
        """Routed transfers to each candidate that failed in a row (0 after a success)."""
        with self._lock:
            return dict(self._failures)

    def _hold(self, context: Context, name: str) -> None:
        """Remember in the run's Context that it holds ``name`` (counted by the caller,
        under the lock, with the choice)."""
        held: list[list[Any]] = context.setdefault(self._key, [])
        held.append([name, False])  # [target, its transfer began]

    def _held(self, context: Context, name: object, *, pop: bool) -> list[Any] | None:
        held: list[list[Any]] = context.get(self._key) or []
        for index in range(len(held) - 1, -1, -1):  # the latest first: a run may route twice
            if held[index][0] == name:
                return held.pop(index) if pop else held[index]
        return None

    def _release(self, name: str, outcome: bool | None) -> None:
        with self._lock:
            self._in_flight[name] -= 1
            if outcome is True:
                self._failures[name] = 0
            elif outcome is False:
                self._failures[name] += 1

    @hook("before_handoff", priority=_LAST)
    def transfer_begins(self, context: Context) -> None:
        entry = self._held(context, context.get("handoff_agent"), pop=False)
        if entry is not None:
            entry[1] = True

    @hook("after_handoff", priority=_FIRST)
    def transfer_ends(self, context: Context) -> None:
        entry = self._held(context, context.get("handoff_agent"), pop=True)
        if entry is None:
            return  # a handoff this strategy did not route (the model's transfer, say)
        result = context.get("handoff_result")
        success = isinstance(result, Mapping) and bool(result.get("success"))
        self._release(entry[0], success if entry[1] else None)

    @hook("finalize_connection")
    def run_ends(self, context: Context) -> None:
        # Cancelled or raising runs never reach after_handoff: release what they hold.
        held: list[list[Any]] | None = context.get(self._key)
        while held:
            self._release(held.pop()[0], None)


class LeastBusy(_Tracked):
    """Each routed run goes to the candidate with the fewest routed runs in flight; ties go
    to the earlier candidate."""

    @handoff()
    def route(self, query: str, context: Context) -> str:
        """Least busy: the agent with the fewest runs in flight."""
        with self._lock:
            name = min(self.candidates, key=self._in_flight.__getitem__)
            self._in_flight[name] += 1
        self._hold(context, name)
        return name


class FallbackChain(_Tracked):
    """Each routed run goes to the first available candidate, in order. A candidate is
    unavailable when its last ``failures`` routed transfers failed (one in ``retry_every``
    routings tries it again, so it can recover) or when it is a remote agent whose circuit
    breaker is open. With none available, the router hands off to nobody and the routing
    agent answers itself."""

    def __init__(
        self,
        agents: Agents,
        *,
        failures: int = 1,
        retry_every: int = 10,
        scope: Scope = "all",
    ) -> None:
        agents, options = _from_config(
            type(self), agents, {"failures": failures, "retry_every": retry_every}
        )
        failures, retry_every = options["failures"], options["retry_every"]
        super().__init__(agents, scope=scope)
        for label, value in (("failures", failures), ("retry_every", retry_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AgentConfigError(
                    f"FallbackChain({label}={value!r}): {label} must be an int >= 1"
                )
        self.failure_limit = failures
        self.retry_every = retry_every
        self._skips = dict.fromkeys(self.candidates, 0)

    def available(self, name: str) -> bool:
        """Whether ``name`` may be routed to now (without counting a skip)."""
        return self._reason_to_skip(name) is None

    def _reason_to_skip(self, name: str) -> str | None:
        if self._failures[name] >= self.failure_limit:
            return "failing"
        target = self._find(name)
        if target is None:
            return "unknown"
        agent = self.agent
        if isinstance(target, RemoteAgent) and agent is not None:
            state = agent.network.remote_client.breaker_state(target)
            return "circuit open" if state == "open" else None
        return None

    @handoff()
    def route(self, query: str, context: Context) -> str | None:
        """Fallback chain: the first available agent."""
        with self._lock:
            chosen = None
            for name in self.candidates:
                reason = self._reason_to_skip(name)
                if reason == "failing":
                    self._skips[name] += 1
                    if self._skips[name] >= self.retry_every:  # time to try it again
                        self._skips[name] = 0
                        reason = None
                if reason is None:
                    chosen = name
                    self._in_flight[name] += 1
                    break
        if chosen is not None:
            self._hold(context, chosen)
        return chosen


class CapabilityMatch(Strategy):
    """Each routed run goes to the candidate whose name, description, tags and tool names
    best match the user's latest message (``webagents.agents.skills.discovery.rank_agents``:
    deterministic word matching, plurals and simple inflections folded). Ties go to the
    earlier candidate. When nothing matches, ``default`` (an agent name) takes the run, or,
    without one, nobody: the routing agent answers itself.

    ``tags`` adds words per candidate (``{"billing": ["invoice", "refund"]}``) to those in
    the agent's ``metadata["tags"]``.
    """

    def __init__(
        self,
        agents: Agents,
        *,
        tags: Mapping[str, Sequence[str]] | None = None,
        default: str | None = None,
        scope: Scope = "all",
    ) -> None:
        agents, options = _from_config(type(self), agents, {"tags": tags, "default": default})
        tags, default = options["tags"], options["default"]
        super().__init__(agents, scope=scope)
        if tags is not None and not isinstance(tags, Mapping):
            raise AgentConfigError(
                f"CapabilityMatch(tags={tags!r}) maps agent names to lists of words"
            )
        extra = dict(tags or {})
        unknown = [name for name in extra if name not in self.candidates]
        if unknown:
            raise AgentConfigError(
                f"CapabilityMatch(tags=...): {unknown[0]!r} is not a candidate "
                f"({', '.join(self.candidates)})"
            )
        for name, words in extra.items():
            if isinstance(words, str) or not all(isinstance(w, str) for w in words):
                raise AgentConfigError(
                    f"CapabilityMatch(tags=...): the tags of {name!r} must be a list of "
                    f"strings, got {words!r}"
                )
        self.tags: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in extra.items()}
        if default is not None and (not isinstance(default, str) or not default.strip()):
            raise AgentConfigError(
                f"CapabilityMatch(default={default!r}) must be an agent name or None"
            )
        self.default = default

    def check_candidates(self, agent: BaseAgent) -> None:
        super().check_candidates(agent)
        if self.default is not None and self.default not in self.candidates:
            try:
                agent.find_target(self.default)
            except UnknownAgentError:
                known = list(dict.fromkeys([*agent.target_names(), *agent.network.names()]))
                raise AgentConfigError(
                    f"CapabilityMatch on agent {agent.name!r}: default: "
                    f"{UnknownAgentError(self.default, known)}"
                ) from None

    def card(self, name: str) -> dict[str, Any]:
        """What ``name`` is scored on."""
        target = self._find(name)
        card: dict[str, Any] = {"name": name, "description": "", "tools": [], "tags": []}
        if isinstance(target, BaseAgent):
            own = target.card()
            card.update(description=own["description"], tools=own["tools"])
            card["tags"] = [str(tag) for tag in target.metadata.get("tags") or ()]
        elif isinstance(target, RemoteAgent):
            card["description"] = target.description
        card["tags"] = [*card["tags"], *self.tags.get(name, ())]
        return card

    def scores(self, text: str) -> dict[str, float]:
        """Each candidate's score for ``text`` in [0, 1], in candidate order."""
        from webagents.agents.skills.discovery import rank_agents  # pydantic: not at import

        cards = [self.card(name) for name in self.candidates]
        ranked = {entry["name"]: entry["score"] for entry in rank_agents(text, cards, len(cards))}
        return {name: float(ranked.get(name, 0.0)) for name in self.candidates}

    @handoff()
    def route(self, query: str) -> str | None:
        """Capability match: the agent whose description, tags and tools fit the message."""
        scores = self.scores(query)
        best = max(self.candidates, key=scores.__getitem__)  # the first of equals
        return best if scores[best] > 0 else self.default


def _from_config(
    cls: type, agents: Agents, options: dict[str, Any]
) -> tuple[Iterable[Candidate], dict[str, Any]]:
    """The candidates and options, from the arguments or from a team file's one ``config``
    mapping (``{agents: [a, b], failures: 2}``), whose keys are checked by name."""
    if not isinstance(agents, Mapping):
        return agents, options
    keys = ("agents", *options)
    for key in agents:
        if key not in keys:
            close = difflib.get_close_matches(str(key), keys, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise AgentConfigError(
                f"{cls.__name__} config: unknown key {key!r}{hint} Keys: {', '.join(keys)}"
            )
    if "agents" not in agents:
        raise AgentConfigError(
            f"{cls.__name__} config needs 'agents': the names of the agents to route among"
        )
    given = {key: value for key, value in agents.items() if key != "agents"}
    return agents["agents"], {**options, **given}


#: The names a team file's ``skills:`` gives the strategies once registered:
#: ``skills: [{name: round-robin, config: {agents: [a, b]}}]``.
SKILL_NAMES: dict[str, type[Strategy]] = {
    "round-robin": RoundRobin,
    "least-busy": LeastBusy,
    "capability": CapabilityMatch,
    "fallback": FallbackChain,
}


@hookimpl
def register_skills(register: Callable[..., Any]) -> None:
    """Register the strategies under ``SKILL_NAMES`` (a plugin hook: register this module
    with a plugin registry)."""
    for name, skill in SKILL_NAMES.items():
        register(skill, name=name)
