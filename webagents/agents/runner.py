"""The run loop: one ``Run`` per call of ``agent.run``; all per-run state lives here.

Each *step* gives the conversation to one agent: on arrival it evaluates its handoff
conditions on the user turn, then alternates model calls and tool calls until the model
answers, a transfer starts, or ``max_turns``. A handoff to a local agent (``handoffs.py``)
is the next step of the same loop, so the chain, bounds and events are one per run and a step
costs the same at any depth of the chain.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import AsyncGenerator, Callable, Mapping
from contextvars import Token
from typing import TYPE_CHECKING, Any, Final, ParamSpec

from webagents.agents import handoffs
from webagents.agents.dispatch import call_user, run_hooks
from webagents.agents.handoffs import Pending, Step
from webagents.agents.registry import RemoteAgent, get_registry
from webagents.agents.result import HandoffRecord, RunResult
from webagents.agents.sessions import SessionState
from webagents.agents.skills.decorators import SCOPES
from webagents.agents.tools import run_tool, tool_message
from webagents.context import Context, current_context
from webagents.errors import AgentConfigError, HookError, InvalidRequestError, MaxTurnsExceeded
from webagents.events import (
    AgentCompleted,
    AgentStarted,
    ErrorEvent,
    HandoffComplete,
    HandoffFailed,
    RunEvent,
    TextDelta,
    ToolCallEvent,
    ToolResultEvent,
)
from webagents.messages import latest_user_text, new_turn, normalise_messages
from webagents.models.base import ModelRequest, ModelResponse, Usage

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent, Messages

__all__ = ["Run"]

P = ParamSpec("P")
_DONE: Final = object()
# Run ids: unique per process start (random prefix) and per run (counter); cheaper than urandom.
_RUN_PREFIX: Final = os.urandom(6).hex()
_run_numbers = itertools.count(1)


class Run:
    """The state of one run. Agents and skills hold none of it, so runs never interfere."""

    __slots__ = (
        "active",
        "chain",
        "context",
        "context_token",
        "edges",
        "entry",
        "log",
        "max_handoffs",
        "queue",
        "records",
        "remote_owner",
        "session_id",
        "started",
        "streaming",
        "transcript",
        "transfers",
        "usage",
    )

    def __init__(
        self,
        entry: BaseAgent,
        active: BaseAgent,
        transcript: list[dict[str, Any]],
        context: Context,
        session_id: str | None,
        streaming: bool,
    ) -> None:
        self.entry = entry
        self.active = active
        self.transcript = transcript
        self.context = context
        self.session_id = session_id
        self.streaming = streaming
        self.max_handoffs = entry.max_handoffs
        self.log: list[Any] = []  # events, compact: see events_from_log
        self.queue: asyncio.Queue[object] | None = None
        self.usage = Usage()
        self.records: list[HandoffRecord | None] = []  # None: a handoff still in flight
        self.chain: list[str] = [active.name]
        self.edges: set[tuple[str, str]] = set()
        self.transfers = 0
        self.started: list[BaseAgent] | None = None  # agents with connection hooks
        self.context_token: Token[Context | None] | None = None
        self.remote_owner: RemoteAgent | None = None  # a remote agent that took the run over

    @classmethod
    def create(
        cls,
        agent: BaseAgent,
        messages: Messages,
        session_id: str | None,
        user_id: str | None,
        data: Mapping[str, Any] | None,
        scope: str,
        *,
        streaming: bool = False,
    ) -> Run:
        if scope not in SCOPES:
            raise InvalidRequestError(f"run(scope={scope!r}) must be one of {', '.join(SCOPES)}")
        transcript = normalise_messages(messages)
        context = Context(
            agent_name=agent.name,
            messages=transcript,
            run_id=f"{_RUN_PREFIX}{next(_run_numbers):012x}",
            peer_user_id=user_id,
            session_id=session_id,
            scope=scope,
            agent=agent,
            data=dict(data) if data else None,
        )
        return cls(agent, agent, transcript, context, session_id, streaming)

    async def resume_session(self, session_id: str) -> None:
        """Continue a stored conversation: its history first, and its owner answers."""
        stored = await self.entry.sessions.load(session_id)
        if stored is None:
            return
        incoming = self.transcript
        self.transcript = stored.messages + new_turn(incoming, bool(stored.messages))
        owner = _session_owner(self.entry, stored.active_agent)
        if isinstance(owner, RemoteAgent):
            self.remote_owner = owner
        else:
            self.active = owner
        self.chain[0] = owner.name

    @property
    def owner_name(self) -> str:
        """Who owns the conversation now: a remote agent that took it over, or the active one."""
        return self.remote_owner.name if self.remote_owner is not None else self.active.name

    async def ask_remote_owner(self, remote: RemoteAgent) -> str | None:
        """A later turn of a session that a remote agent owns goes to that agent; if it cannot
        answer, ownership returns to the entry agent, which answers itself."""
        from webagents.agents.skills.nli import query_remote

        self.emit(AgentStarted, remote.name)
        try:
            answer = await query_remote(remote, self.transcript)
        except Exception as failure:  # the owner being down is a failed hand-over, not a crash
            self.remote_owner = None
            self.chain[0] = self.entry.name
            error = f"{remote.name} failed: {type(failure).__name__}: {failure}"
            self.emit(
                HandoffFailed, self.entry.name, self.entry.name, remote.name, "session owner", error
            )
            return None
        self.transcript.append({"role": "assistant", "content": answer})
        self.emit(AgentCompleted, remote.name, answer)
        return answer

    # events --------------------------------------------------------------------------------

    def emit(self, kind: Callable[P, RunEvent], *fields: P.args, **named: P.kwargs) -> None:
        """Record an event ``kind(*fields)``: as plain values in the log, and as an object
        only for a stream that is waiting for it. Fields are positional, in field order."""
        if named:
            raise TypeError("Run.emit takes event fields positionally, in field order")
        log = self.log
        log.append(kind.tag)  # type: ignore[attr-defined]
        log.extend(fields)
        if self.queue is not None:
            self.queue.put_nowait(kind(*fields, **named))

    async def hooks(self, agent: BaseAgent, event: str) -> None:
        entries = agent.capabilities.hooks.get(event)
        if entries:
            context = await run_hooks(entries, self.context)
            if context is not self.context:
                self.context = context
                self.expose_context()

    # running -------------------------------------------------------------------------------

    def expose_context(self) -> None:
        """Make the run's Context what ``Skill.get_context()`` returns in this task. Only runs
        that involve skills need it (plain function tools receive the context as an argument)."""
        token = current_context.set(self.context)
        if self.context_token is None:
            self.context_token = token

    async def execute(self) -> RunResult:
        try:
            if self.session_id is not None:
                await self.resume_session(self.session_id)
            answer = None
            if self.remote_owner is not None:
                answer = await self.ask_remote_owner(self.remote_owner)
            content = answer if answer is not None else await self.drive()
            owner = self.owner_name
            if len(self.chain) > 1:
                self.emit(HandoffComplete, owner, tuple(self.chain), owner)
            if self.session_id is not None:
                state = SessionState(self.transcript, _owner_key(self.remote_owner) or owner)
                await self.entry.sessions.save(self.session_id, state)
        except Exception as error:
            self.emit(ErrorEvent, self.context.agent_name, str(error), type(error).__name__)
            raise
        finally:
            try:
                for agent in reversed(self.started or ()):
                    if "finalize_connection" in agent.capabilities.hooks:
                        await self.hooks(agent, "finalize_connection")
            finally:
                if self.context_token is not None:
                    current_context.reset(self.context_token)
        return RunResult(
            content=content,
            agent=owner,
            handoff_chain=self.chain,
            handoffs=[record for record in self.records if record is not None],
            messages=self.transcript,
            usage=self.usage,
            event_log=self.log,
            run_id=self.context.run_id,
            session_id=self.session_id,
        )

    async def stream(self) -> AsyncGenerator[RunEvent, None]:
        queue: asyncio.Queue[object] = asyncio.Queue()
        self.queue = queue

        async def produce() -> RunResult:
            try:
                return await self.execute()
            finally:
                queue.put_nowait(_DONE)

        task = asyncio.create_task(produce())
        try:
            while (item := await queue.get()) is not _DONE:
                yield item  # type: ignore[misc]
            await task
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def drive(self) -> str:
        """Run agents until one answers. A handoff to a local agent is a step of this loop,
        not a nested call, so every step costs the same however long the chain is."""
        step = Step(self.active, self.transcript, None, first=True)
        pending: list[Pending] = []
        while True:
            outcome: str | Pending | None
            try:
                self.take_over(step)
                outcome = None if step.turns is not None else await self.arrive(step)
                if outcome is None:
                    turns = step.agent.max_turns if step.turns is None else step.turns
                    outcome = await self.model_loop(step, turns)
            except HookError:
                raise  # a bug in user code propagates, naming Skill.method
            except Exception as failure:
                if not pending:
                    raise
                handed = pending.pop()  # the target raised: a failed handoff, not a crash
                outcome = await handoffs.fail_handoff(self, handed, failure)
                if outcome is None:
                    step = Step(
                        handed.source,
                        handed.view,
                        handed.source_context,
                        turns=handed.resume_turns,
                    )
                    continue
            if isinstance(outcome, Pending):
                assert outcome.target is not None and outcome.target_view is not None
                pending.append(outcome)
                step = Step(outcome.target, outcome.target_view, outcome.payload)
                continue
            answer = outcome
            while pending:  # each handoff on the way here succeeded: finish them, innermost first
                finished = await handoffs.finish_handoff(self, pending.pop(), answer, None)
                answer = finished if finished is not None else answer
            return answer

    def take_over(self, step: Step) -> None:
        """``step.agent`` becomes the active agent, seeing ``step.view``."""
        self.active = step.agent
        self.context.switch_to(step.agent, step.view)
        if step.agent.skills and self.context_token is None:
            self.expose_context()

    async def arrive(self, step: Step) -> str | Pending | None:
        """An agent receives the conversation: start-up, hooks, then its handoff conditions.
        Returns an outcome when a condition handed the run on, else None."""
        agent, view = step.agent, step.view
        if agent.skills:
            await agent.ensure_initialized()
        self.emit(AgentStarted, agent.name)
        hooks = agent.capabilities.hooks
        if "on_connection" in hooks or "finalize_connection" in hooks:
            started = self.started if self.started is not None else []
            self.started = started
            if agent not in started:
                started.append(agent)
                if "on_connection" in hooks:
                    await self.hooks(agent, "on_connection")
        if step.first and "on_message" in hooks:
            await self.hooks(agent, "on_message")
        if not agent.capabilities.conditions:
            return None
        decision = await handoffs.evaluate_conditions(self, agent, latest_user_text(view))
        if decision is None:  # a refused hit is still evaluated and reported (bounds)
            return None
        return await handoffs.start_handoff(
            self, agent, view, decision, step.handoff_context, agent.max_turns
        )

    async def model_loop(self, step: Step, turns: int) -> str | Pending:
        """Model calls and tool calls until the agent answers or hands the run on."""
        agent, view, handoff_context = step.agent, step.view, step.handoff_context
        model = agent.model
        if model is None:
            raise AgentConfigError(
                f"agent {agent.name!r} has no model and no handoff condition answered; "
                f"pass BaseAgent(model='openai/<name>') or a Model object"
            )
        hooks = agent.capabilities.hooks
        for turn in range(turns):
            if "before_llm_call" in hooks:
                await self.hooks(agent, "before_llm_call")
            if agent.capabilities.prompts or handoff_context:
                messages = await self.prompted_messages(agent, view, handoff_context)
            else:
                system = agent.system_message
                messages = [system, *view] if system is not None else list(view)
            tools = self.offered_tools(agent)
            request = ModelRequest(messages, tools, agent.name, agent.model_settings)
            if self.streaming:
                response = await self.stream_model(agent, request)
            else:
                response = await model.complete(request)
            self.usage.add(response.usage)
            if "after_llm_call" in hooks:
                self.context["llm_response"] = response
                await self.hooks(agent, "after_llm_call")
                replaced = self.context.get("llm_response")
                if isinstance(replaced, ModelResponse):  # a hook may substitute the response
                    response = replaced
            self.append(view, response.to_message())
            calls = response.tool_calls
            if not calls:
                content = response.content or ""
                self.emit(AgentCompleted, agent.name, content)
                return content
            transfer = next((c for c in calls if agent.target_for_tool(c.name) is not None), None)
            if transfer is not None:
                outcome = await handoffs.transfer_call(
                    self, agent, view, calls, transfer, handoff_context, turns - turn - 1
                )
                if outcome is not None:
                    return outcome
                continue
            for call in calls:
                self.emit(ToolCallEvent, agent.name, call.id, call.name, call.arguments)
                output, is_error = await run_tool(self, agent, call)
                self.append(view, tool_message(call, output))
                self.emit(ToolResultEvent, agent.name, call.id, call.name, output, is_error)
        raise MaxTurnsExceeded(agent.name, agent.max_turns)

    def append(self, view: list[dict[str, Any]], message: dict[str, Any]) -> None:
        view.append(message)
        if view is not self.transcript:
            self.transcript.append(message)

    async def stream_model(self, agent: BaseAgent, request: ModelRequest) -> ModelResponse:
        assert agent.model is not None
        response: ModelResponse | None = None
        async for item in agent.model.stream(request):
            if isinstance(item, str):
                if item:
                    self.emit(TextDelta, agent.name, item)
            else:
                response = item
        if response is None:
            raise AgentConfigError(
                f"model {agent.model.name!r} ended its stream without a ModelResponse; "
                f"a Model's stream() must yield one last"
            )
        return response

    async def prompted_messages(
        self,
        agent: BaseAgent,
        view: list[dict[str, Any]],
        handoff_context: Mapping[str, Any] | None,
    ) -> list[dict[str, Any]]:
        parts = [agent.instructions] if agent.instructions else []
        for entry in agent.capabilities.prompts:
            args = (self.context,) if entry.takes_context else ()
            text = await call_user(entry.where, "prompt", entry.call, *args)
            if text:
                parts.append(str(text))
        if handoff_context:
            parts.append(
                "Context handed over with this conversation:\n"
                + json.dumps(handoff_context, default=str, ensure_ascii=False)
            )
        if not parts:
            return list(view)
        return [{"role": "system", "content": "\n\n".join(parts)}, *view]

    def offered_tools(self, agent: BaseAgent) -> list[dict[str, Any]]:
        """The agent's tools for this caller, and transfers while the bounds allow them.
        The lists are shared between runs: models must not modify a request."""
        scope = self.context.scope
        if not agent.handoff_targets or self.transfers >= self.max_handoffs:
            return agent.capabilities.tool_schemas[scope]
        tools = agent.tools_with_transfers(scope)
        if self.edges:  # a transfer this run already made is never offered again
            name = agent.name
            return [
                tool
                for tool in tools
                if (name, agent.target_for_tool(tool["function"]["name"])) not in self.edges
            ]
        return tools


def _session_owner(entry: BaseAgent, owner: str | None) -> BaseAgent | RemoteAgent:
    if owner is None or owner == entry.name:
        return entry
    found = get_registry().get(owner)  # a name, or the URL of an unregistered remote agent
    return found if found is not None else entry


def _owner_key(remote: RemoteAgent | None) -> str | None:
    """How a session names a remote owner: its registered name, else its URL."""
    if remote is None:
        return None
    return remote.name if get_registry().get(remote.name) == remote else remote.url
