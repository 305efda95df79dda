"""``BaseAgent``: instructions, a model, skills and handoff targets, validated at construction."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from webagents._names import COMPLETE_TOOL, transfer_tool_name
from webagents.agents.capabilities import Capabilities, ToolEntry, scope_allows
from webagents.agents.loop_tools import COMPLETE_SCHEMA, transfer_schema
from webagents.agents.network import (
    AgentNetwork,
    RemoteAgent,
    default_network,
    is_url,
    remote_from_url,
)
from webagents.agents.sessions import SessionStore
from webagents.agents.skills.base import Skill
from webagents.agents.skills.specs import SkillSpec, skill_from_spec
from webagents.agents.targets import (
    HISTORY_POLICIES,
    CyclePolicy,
    HandoffTarget,
    HistoryPolicy,
    check_cycles,
)
from webagents.errors import AgentConfigError
from webagents.models import Model, resolve_model

if TYPE_CHECKING:
    from webagents.agents.result import RunResult
    from webagents.events import RunEvent
    from webagents.sessions.base import SessionKey

__all__ = ["BaseAgent", "HistoryPolicy", "Messages"]

Messages: TypeAlias = "str | Sequence[Mapping[str, Any]]"
Target: TypeAlias = "BaseAgent | RemoteAgent | str"


class BaseAgent:
    """An agent: a name, instructions, a model, skills, tools and the agents it may hand off to.

    ``skills`` maps a key to a Skill instance, a plugin's registered skill name, or
    ``{"name": <registered name>, "config": {...}}``;
    ``tools`` takes plain functions; ``handoffs`` lists agents (or names, or URLs) the model may
    transfer the conversation to, each offered as a ``transfer_to_<name>`` tool; a
    ``HandoffTarget`` item gives its edge options (description, instructions, history,
    ``on_handoff``, ``carry_state``, scope).
    ``max_handoffs`` bounds the handoffs of one run started at this agent; ``max_turns`` bounds
    model calls per agent activation. ``handoff_cycles`` is the cycle policy of runs started
    here: ``"forbid"`` (default) never takes the same directed handoff twice in a run,
    ``"allow"`` lets agents hand back and forth until ``max_handoffs``.
    ``handoff_history`` decides what this agent receives when
    a conversation is handed to it: ``"full"`` (default), ``"conversation"`` (user and
    assistant text, no tool traffic), ``"last_user"``, or a function of the message list.
    ``complete_tool=True`` offers the model a ``complete(summary)`` tool that ends the run
    with the summary as its answer and gives a session's next turn back to the agent the
    conversation started with (the task is done; a new request starts over).
    ``network`` is the ``AgentNetwork`` the agent joins and resolves names through (the default
    network when None); ``replace=True`` takes a name another agent holds there;
    ``register=False`` joins no network but still resolves names through ``network``.
    ``sessions`` defaults to the network's session store.
    """

    def __init__(
        self,
        name: str,
        instructions: str = "",
        *,
        model: str | Model | None = None,
        description: str = "",
        skills: Mapping[str, SkillSpec] | None = None,
        tools: Iterable[Callable[..., Any]] | None = None,
        handoffs: Iterable[Target | HandoffTarget] | None = None,
        max_handoffs: int = 5,
        max_turns: int = 10,
        handoff_history: HistoryPolicy = "full",
        handoff_cycles: CyclePolicy = "forbid",
        complete_tool: bool = False,
        sessions: SessionStore[Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        model_settings: Mapping[str, Any] | None = None,
        network: AgentNetwork | None = None,
        replace: bool = False,
        register: bool = True,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise AgentConfigError(f"an agent needs a non-empty name, got {name!r}")
        self.name = name
        self.instructions = instructions
        self.description = description
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.model: Model | None = resolve_model(model) if model is not None else None
        self.model_settings: dict[str, Any] = dict(model_settings or {})
        self.max_handoffs = _check_count("max_handoffs", max_handoffs, minimum=0, agent=name)
        self.max_turns = _check_count("max_turns", max_turns, minimum=1, agent=name)
        if not callable(handoff_history) and handoff_history not in HISTORY_POLICIES:
            raise AgentConfigError(
                f"agent {name!r}: handoff_history={handoff_history!r} must be one of "
                f"{HISTORY_POLICIES} or a function of the message list"
            )
        self.handoff_history = handoff_history
        self.handoff_cycles = check_cycles(name, handoff_cycles)
        if network is not None and not isinstance(network, AgentNetwork):
            raise AgentConfigError(
                f"agent {name!r}: network= takes an AgentNetwork, got {type(network).__name__}"
            )
        self.network: AgentNetwork = network if network is not None else default_network()
        if register:
            self.network._refuse_taken(name, replace)
        self.sessions: SessionStore[Any] = (
            sessions if sessions is not None else self.network.sessions
        )
        self.skills: dict[str, Skill] = self._attach_skills(skills or {})
        self.capabilities = Capabilities.collect(name, self.skills, tools or ())
        self._complete_tool = False
        self.complete_tool = complete_tool
        checked = [self._check_target(target) for target in handoffs or ()]
        self.handoff_targets: tuple[Target, ...] = tuple(edge.agent for edge in checked)
        self._edges: dict[str, HandoffTarget] = {e.name: e for e in checked if e.has_options}
        self._transfer_names = self._check_transfer_names(self.handoff_targets)
        self._tools_cache: dict[str, tuple[int, bool, list[dict[str, Any]]]] = {}
        self._system_message: dict[str, Any] | None = None
        self._startup: asyncio.Task[None] | None = None
        self._started_skills: list[Skill] = []
        if register:
            self.network._put(self, replace=replace, stacklevel=3)

    # construction ------------------------------------------------------------------------

    def _attach_skills(self, skills: Mapping[str, SkillSpec]) -> dict[str, Skill]:
        if not isinstance(skills, Mapping):
            raise AgentConfigError(
                f"agent {self.name!r}: skills= takes a mapping of key -> skill, e.g. "
                f"skills={{'billing': BillingSkill(), 'pay': 'payment'}}; got "
                f"{type(skills).__name__}"
            )
        attached: dict[str, Skill] = {}
        for key, value in skills.items():
            skill = skill_from_spec(self.name, key, value)
            skill._attach(self, key)
            attached[key] = skill
        for key, skill in attached.items():
            missing = [dep for dep in skill.dependencies if dep not in attached]
            if missing:
                raise AgentConfigError(
                    f"agent {self.name!r}: skill {key!r} ({type(skill).__name__}) depends on "
                    f"{missing}, which this agent does not have; add them to skills= "
                    f"(present: {sorted(attached)})"
                )
        return attached

    def _check_target(self, target: Target | HandoffTarget) -> HandoffTarget:
        edge = target if isinstance(target, HandoffTarget) else None
        agent = edge.agent if edge is not None else target
        if isinstance(agent, str) and is_url(agent):
            agent = remote_from_url(agent)
        if isinstance(agent, BaseAgent | RemoteAgent) or (isinstance(agent, str) and agent):
            if edge is None:
                return HandoffTarget(agent)
            return edge if agent is edge.agent else dataclasses.replace(edge, agent=agent)
        raise AgentConfigError(
            f"agent {self.name!r}: handoffs=[...] takes agents, agent names, URLs or "
            f"HandoffTarget(...), got {target!r}"
        )

    def _check_transfer_names(
        self, targets: Sequence[BaseAgent | RemoteAgent | str]
    ) -> dict[str, str]:
        names: dict[str, str] = {}
        for target in targets:
            target_name = target if isinstance(target, str) else target.name
            tool_name = transfer_tool_name(target_name)
            clash = names.get(tool_name) or (
                tool_name if tool_name in self.capabilities.tools else None
            )
            if clash is not None:
                raise AgentConfigError(
                    f"agent {self.name!r}: handoff target {target_name!r} gives tool "
                    f"{tool_name!r}, which is already taken by {clash!r}; rename one"
                )
            names[tool_name] = target_name
        return names

    def add_handoff(self, target: Target | HandoffTarget) -> None:
        """Let the model transfer to ``target`` too, from this agent's next model call on
        (a team wired after its agents were built, a back edge). Adding a target already
        listed (the same agent, or its name) changes nothing, unless it comes as a
        ``HandoffTarget``, whose options then replace the edge's; another target whose
        ``transfer_to_<name>`` tool clashes is an ``AgentConfigError``."""
        edge = self._check_target(target)
        checked, name = edge.agent, edge.name
        edges = dict(self._edges)
        if isinstance(target, HandoffTarget):
            edges.pop(name, None)
            if edge.has_options:
                edges[name] = edge
        targets = self.handoff_targets
        known = any(  # a name and the agent it names are one target
            existing is checked
            or (_name_of(existing) == name and str in (type(existing), type(checked)))
            for existing in targets
        )
        if not known:
            targets = (*targets, checked)
        names = self._check_transfer_names(targets)
        # Swapped together, so a run between two model calls sees the old tables or the new.
        self.handoff_targets, self._transfer_names, self._edges = targets, names, edges
        self._tools_cache = {}

    def offer_tools(self, source: str, tools: Iterable[ToolEntry], *, fix: str = "") -> None:
        """Offer ``tools`` as the set ``source`` contributes (an MCP server's tools, known only
        once it is connected), replacing the set ``source`` offered before; an empty list
        withdraws them. Called by a skill's ``initialize`` or later; runs already started
        read the old tables or the new ones, never a mix. A name that another source,
        a transfer tool or ``complete`` already takes is an ``AgentConfigError`` naming
        both; ``fix`` says how the contributor renames its tools."""
        entries = list(tools)
        capabilities = self.capabilities.with_tools(self.name, source, entries, fix=fix)
        for entry in entries:
            target = self._transfer_names.get(entry.name)
            if target is not None or (self._complete_tool and entry.name == COMPLETE_TOOL):
                taken = f"the handoff to {target!r}" if target is not None else "complete_tool"
                raise AgentConfigError(
                    f"agent {self.name!r}: tool {entry.name!r} of {entry.where} is already "
                    f"taken by {taken}; {fix or 'rename it'}"
                )
        # One assignment swaps every table a run reads; the cache is rebuilt from it.
        self.capabilities = capabilities
        self._tools_cache = {}

    @property
    def complete_tool(self) -> bool:
        """Whether the model is offered ``complete(summary)`` (see the class docstring)."""
        return self._complete_tool

    @complete_tool.setter
    def complete_tool(self, offered: bool) -> None:
        if not isinstance(offered, bool):
            raise AgentConfigError(
                f"agent {self.name!r}: complete_tool must be True or False, got {offered!r}"
            )
        own = self.capabilities.tools.get(COMPLETE_TOOL)
        if offered and own is not None:
            raise AgentConfigError(
                f"agent {self.name!r}: complete_tool=True offers a tool named "
                f"{COMPLETE_TOOL!r}, which {own.where} already is; rename it with "
                f"@tool(name=...)"
            )
        self._complete_tool = offered

    # lookup --------------------------------------------------------------------------------

    def target_for_tool(self, tool_name: str, scope: str | None = None) -> str | None:
        """The handoff target behind a ``transfer_to_<name>`` tool, or None; with ``scope``,
        only if a caller of that scope is offered the transfer."""
        target = self._transfer_names.get(tool_name)
        if target is None or scope is None or not self._edges:
            return target
        edge = self._edges.get(target)
        return target if edge is None or scope_allows(scope, edge.scope) else None

    def edge(self, target: str) -> HandoffTarget | None:
        """The options of this agent's handoff edge to ``target``, if it has any."""
        return self._edges.get(target) if self._edges else None

    def find_target(self, name: str) -> BaseAgent | RemoteAgent:
        """Resolve a handoff target: this agent's own targets (by name, or by the URL the
        developer wrote), then names in its network. An unregistered URL is an unknown agent."""
        for target in self.handoff_targets:
            if isinstance(target, BaseAgent) and target.name == name:
                return target
            if isinstance(target, RemoteAgent) and name in (target.name, target.url):
                return target
        return self.network.resolve(name, self.target_names())

    def target_names(self) -> list[str]:
        """The names of this agent's declared handoff targets."""
        return [t if isinstance(t, str) else t.name for t in self.handoff_targets]

    @property
    def system_message(self) -> dict[str, Any] | None:
        """The system message of requests without dynamic prompts, shared between requests
        (models must not modify it); follows changes to ``instructions``."""
        cached = self._system_message
        if cached is None or cached["content"] is not self.instructions:
            if not self.instructions:
                return None
            cached = self._system_message = {"role": "system", "content": self.instructions}
        return cached

    def own_tools(self, scope: str) -> list[dict[str, Any]]:
        """The tools offered to a ``scope`` caller, ``complete`` included when offered,
        without transfers. Shared: never modify the list."""
        tools = self.capabilities.tool_schemas[scope]
        return [*tools, COMPLETE_SCHEMA] if self._complete_tool else tools

    def tools_with_transfers(self, scope: str) -> list[dict[str, Any]]:
        """The tools offered to a ``scope`` caller plus one ``transfer_to_<name>`` tool per
        handoff target that scope may use, rebuilt only when the network changes (a target
        named by a string takes its description from the network's agent). Shared: never
        modify the list."""
        version, complete = self.network.version, self._complete_tool
        cached = self._tools_cache.get(scope)
        if cached is not None and cached[0] == version and cached[1] == complete:
            return cached[2]
        transfers = [
            transfer_schema(self, target)
            for target in self.handoff_targets
            if self.target_for_tool(transfer_tool_name(_name_of(target)), scope) is not None
        ]
        tools = [*self.own_tools(scope), *transfers]
        self._tools_cache[scope] = (version, complete, tools)
        return tools

    def card(self) -> dict[str, Any]:
        """What other agents, discovery and the server's agent card show."""
        return {
            "name": self.name,
            "description": self.description,
            "tools": [
                {"name": entry.name, "description": entry.schema.description}
                for entry in self.capabilities.tools.values()
                if entry.scope == "all"
            ],
            "handoffs": self.target_names(),
            "price": self.metadata.get("price"),
            "metadata": self.metadata,
        }

    def session_key(self, session_id: str) -> SessionKey:
        """How this agent's conversation ``session_id`` is named in a session store: by the
        agent's name, prefixed ``<network>/`` for an agent of an explicit network, so two
        teams sharing a store never share a conversation (give such networks distinct,
        stable names)."""
        from webagents.agents.network import default_network
        from webagents.sessions.base import SessionKey

        network = self.network
        if network is default_network():
            return SessionKey(self.name, session_id)
        return SessionKey(f"{network.name}/{self.name}", session_id)

    def as_tool(
        self, name: str | None = None, description: str | None = None
    ) -> Callable[[str], Coroutine[Any, Any, str]]:
        """This agent as a tool another agent's model may consult, taking ``question: str``
        and returning this agent's answer: ``BaseAgent("desk", tools=[expert.as_tool()])``.
        ``name`` defaults to ``consult_<name>``, ``description`` to this agent's."""
        from webagents.agents.as_tool import agent_tool

        return agent_tool(self, name=name, description=description)

    # lifecycle -----------------------------------------------------------------------------

    async def ensure_initialized(self) -> None:
        """Run every skill's ``initialize(agent)`` once, before the first run.

        The start-up runs in a task of its own that every waiting run shields: cancelling a
        run that waits for it (a client disconnecting) stops that run alone, never the
        start-up, the other runs waiting for it, or later runs. A failed start-up fails the
        runs waiting for it and is tried again by the next run.
        """
        task = self._startup
        if task is not None and task.done():
            if not task.cancelled() and task.exception() is None:
                return
            task = None  # failed or cancelled (its loop closed): start again
        loop = asyncio.get_running_loop()
        if task is None or task.get_loop() is not loop:
            task = self._startup = loop.create_task(
                self._start_skills(), name=f"webagents: start {self.name}"
            )
            task.add_done_callback(_retrieve_failure)
        await asyncio.shield(task)

    async def _start_skills(self) -> None:
        for skill in self.skills.values():
            if skill not in self._started_skills:
                await skill.initialize(self)
                self._started_skills.append(skill)

    async def close(self) -> None:
        """Leave the network (the agent is no longer found by name), run ``cleanup()`` of every
        skill that started, once, and close the model's connections on this event loop; the
        agent can run again after."""
        self.network.discard(self)
        aclose = getattr(self.model, "aclose", None)
        if aclose is not None:
            await aclose()
        task, self._startup = self._startup, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        started, self._started_skills = self._started_skills, []
        for skill in reversed(started):
            await skill.cleanup()

    async def __aenter__(self) -> BaseAgent:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # running -------------------------------------------------------------------------------

    def run(
        self,
        messages: Messages,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        scope: str = "all",
    ) -> Coroutine[Any, Any, RunResult]:
        """Answer ``messages`` (a string or OpenAI-format messages), handing off as needed:
        ``result = await agent.run(...)``. Malformed arguments raise before the await."""
        from webagents.agents.runner import Run

        return Run.create(self, messages, session_id, user_id, context, scope).execute()

    async def run_streaming(
        self,
        messages: Messages,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        scope: str = "all",
    ) -> AsyncIterator[RunEvent]:
        """Yield typed events as the run goes; each names its agent."""
        from webagents.agents.runner import Run

        run = Run.create(self, messages, session_id, user_id, context, scope, streaming=True)
        # Closing this generator (break + aclosing, aclose) closes the run's stream at once,
        # which cancels the run task instead of leaving it to garbage collection.
        async with contextlib.aclosing(run.stream()) as events:
            async for event in events:
                yield event

    def run_sync(
        self,
        messages: Messages,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        scope: str = "all",
    ) -> RunResult:
        """``run`` for scripts: starts an event loop (not from inside a running one)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                f"agent {self.name!r}: run_sync() starts its own event loop and cannot run "
                f"inside one that is running (a notebook, an async function); "
                f"use `await agent.run(...)` there"
            )
        from webagents.models.openai_provider import close_loop_clients

        async def run_and_close() -> RunResult:
            try:
                return await self.run(
                    messages, session_id=session_id, user_id=user_id, context=context, scope=scope
                )
            finally:
                await close_loop_clients()  # the loop ends here; so do its connections

        return asyncio.run(run_and_close())

    def __repr__(self) -> str:
        return f"BaseAgent({self.name!r})"


def _retrieve_failure(task: asyncio.Task[None]) -> None:
    """A start-up whose waiters were all cancelled still has its failure retrieved (the next
    run starts again), so asyncio never reports it as "never retrieved"."""
    if not task.cancelled():
        task.exception()


def _name_of(target: Target) -> str:
    return target if isinstance(target, str) else target.name


def _check_count(field: str, value: object, *, minimum: int, agent: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AgentConfigError(
            f"agent {agent!r}: {field} must be an int >= {minimum}, got {value!r}"
        )
    return value
