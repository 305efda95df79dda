"""The run loop: one ``Run`` per call of ``agent.run``; all per-run state lives here.

Each *step* gives the conversation to one agent: on arrival it evaluates its handoff
conditions on the user turn, then alternates model calls and tool calls until the model
answers, a transfer starts, or ``max_turns``. A step ends ``Answered``, ``HandedOff`` (a
local target takes the next step of the same loop, so a step costs the same at any depth of
the chain) or ``CARRY_ON`` (the agent goes on by itself). What a model call sends and how its
response is taken in is ``webagents.agents.model_calls``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from contextvars import Token
from typing import TYPE_CHECKING, Any, Final

from webagents import tracing
from webagents._names import COMPLETE_TOOL
from webagents.agents import handoffs, model_calls, ownership
from webagents.agents.dispatch import run_hooks
from webagents.agents.network import RemoteAgent
from webagents.agents.result import RunResult
from webagents.agents.skills.decorators import SCOPES, HookEvent
from webagents.agents.steps import (
    CARRY_ON,
    Answered,
    HandedOff,
    HandoffBook,
    Outcome,
    Pending,
    Step,
)
from webagents.agents.tools import run_tool, string_argument, tool_message
from webagents.context import Context, current_context
from webagents.errors import (
    AgentConfigError,
    HookError,
    InvalidRequestError,
    MaxTurnsExceeded,
)
from webagents.events import (
    AgentCompleted,
    AgentStarted,
    ErrorEvent,
    HandoffComplete,
    RunEvent,
    TextDelta,
    ToolCallEvent,
    ToolResultEvent,
)
from webagents.messages import latest_user_text, normalise_messages
from webagents.models.base import (
    ToolCall,
    Usage,
)
from webagents.transcript import added_since, joined

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent, Messages

__all__ = ["Run"]

_DONE: Final = object()
# Run ids: unique per process start (random prefix) and per run (counter); cheaper than urandom.
_RUN_PREFIX: Final = os.urandom(6).hex()
_run_numbers = itertools.count(1)


class Run:
    """The state of one run. Agents and skills hold none of it, so runs never interfere."""

    __slots__ = (
        "active",
        "book",
        "call_ids",
        "completed",
        "context",
        "context_token",
        "entry",
        "events",
        "initial_data",
        "queue",
        "remote_owner",
        "remote_speaker",
        "session_id",
        "started",
        "streaming",
        "trace",
        "transcript",
        "usage",
    )

    def __init__(
        self,
        entry: BaseAgent,
        transcript: list[dict[str, Any]],
        context: Context,
        session_id: str | None,
        streaming: bool,
    ) -> None:
        self.entry = entry
        self.active = entry
        self.transcript = transcript
        self.context = context
        self.session_id = session_id
        self.streaming = streaming
        self.events: list[RunEvent] = []
        self.queue: asyncio.Queue[object] | None = None  # set while a stream is read
        self.usage = Usage()
        self.book = HandoffBook(
            entry.name, entry.max_handoffs, allow_cycles=entry.handoff_cycles == "allow"
        )
        self.initial_data: dict[str, Any] | None = None  # run(context=...), for fresh starts
        self.completed = False  # an agent called its complete tool
        self.call_ids: set[str] | None = None  # tool-call ids in the transcript, when needed
        self.started: list[BaseAgent] | None = None  # agents with connection hooks
        self.context_token: Token[Context | None] | None = None
        self.remote_owner: RemoteAgent | None = None  # a remote agent that took the run over
        self.remote_speaker: str | None = None  # who answered on its side ("fe/tax")
        # None: tracing is off for this run (not even a call when opentelemetry is not imported)
        self.trace = tracing.run_trace() if tracing.API in sys.modules else None

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
        run = cls(agent, transcript, context, session_id, streaming)
        if data:
            run.initial_data = dict(data)
        return run

    @property
    def run_id(self) -> str:
        return str(self.context.run_id)

    @property
    def owner_name(self) -> str:
        """Who owns the conversation now: a remote agent that took it over (named by the
        agent that answered on its side), or the active one."""
        if self.remote_owner is not None:
            return self.remote_speaker or self.remote_owner.name
        return self.active.name

    # events and hooks ----------------------------------------------------------------------

    def emit(self, kind: Callable[..., RunEvent], **fields: Any) -> None:
        """Record the event ``kind(**fields)``, stamped with this run's id and the time, and
        hand it to a stream that is being read."""
        event = kind(**fields, run_id=self.run_id, timestamp=time.time())
        self.events.append(event)
        if self.queue is not None:
            self.queue.put_nowait(event)

    async def hooks(self, agent: BaseAgent, event: HookEvent) -> None:
        entries = agent.capabilities.hooks.get(event)
        if entries:
            context = await run_hooks(entries, self.context)
            if context is not self.context:
                self.context = context
                self.expose_context()

    def replace_context(self, context: Context) -> None:
        """Make ``context`` the run's (a handoff target starting fresh, the source resuming)."""
        self.context = context
        if self.context_token is not None:
            self.expose_context()

    def expose_context(self) -> None:
        """Make the run's Context what ``Skill.get_context()`` returns in this task. Only runs
        that involve skills need it (plain function tools receive the context as an argument)."""
        token = current_context.set(self.context)
        if self.context_token is None:
            self.context_token = token

    # the whole run -------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        content = ""
        try:
            if self.session_id is None:
                content = await self.answer()
            else:
                content = await self.answer_in_session(self.session_id)
        except Exception as error:
            self.emit(
                ErrorEvent,
                agent=self.context.agent_name,
                message=str(error),
                error_type=type(error).__name__,
            )
            if isinstance(error, MaxTurnsExceeded):
                error.result = self.result("")  # what the run did before it stopped
            raise
        finally:
            try:
                for agent in reversed(self.started or ()):
                    if "finalize_connection" in agent.capabilities.hooks:
                        await self.hooks(agent, "finalize_connection")
            finally:
                if self.context_token is not None:
                    current_context.reset(self.context_token)
                if self.trace is not None:
                    tracing.run_ended(self)
        return self.result(content)

    async def answer(self) -> str:
        """The run's answer: from a remote agent owning the session, else from the loop."""
        answer = None
        if self.remote_owner is not None:
            answer = await ownership.ask_remote_owner(self, self.remote_owner)
        content = answer if answer is not None else await self.drive()
        if len(self.book.chain) > 1:
            owner = self.owner_name
            self.emit(HandoffComplete, agent=owner, chain=tuple(self.book.chain), final_agent=owner)
        return content

    async def answer_in_session(self, session_id: str) -> str:
        """A turn of a stored conversation: it waits for the session's other turns, starts
        from its history and owner, and appends only what it added."""
        key = self.entry.session_key(session_id)
        async with self.entry.sessions.turn(key) as turn:
            stored = ownership.resume_session(self, turn.session)
            content = await self.answer()
            owner = ownership.owner_key(self.remote_owner, self.entry.network) or self.owner_name
            if self.completed:  # the task is done: a new request starts where this one did
                owner = self.entry.name
            await turn.commit(
                added_since(self.transcript, stored),
                owner=owner,
                user_id=self.context.peer_user_id,
            )
        return content

    def result(self, content: str) -> RunResult:
        return RunResult(
            content=content,
            agent=self.owner_name,
            handoff_chain=self.book.chain,
            handoffs=self.book.finished(),
            messages=self.transcript,
            usage=self.usage,
            events=self.events,
            run_id=self.run_id,
            session_id=self.session_id,
            completed=self.completed,
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

    # the loop ------------------------------------------------------------------------------

    async def drive(self) -> str:
        """Run steps until one answers. A handoff to a local agent is the next step of this
        loop, not a nested call; the handoffs in flight are finished when the answer comes,
        innermost first, or undone when their target raises."""
        step = Step(self.active, self.transcript, first=True)
        in_flight: list[Pending] = []
        while True:
            try:
                if self.trace is None:
                    outcome = await self.take_step(step)
                else:
                    outcome = await tracing.traced_step(self, step, self.take_step(step))
            except HookError:
                raise  # a bug in user code propagates, naming Skill.method
            except Exception as failure:
                if not in_flight:
                    raise
                handoff = in_flight.pop()  # its target raised: a failed handoff, not a crash
                outcome = await handoffs.fail_handoff(self, handoff, failure)
                if outcome is CARRY_ON:
                    step = handoff.resume
                    continue
            if isinstance(outcome, HandedOff):
                assert outcome.handoff.target_step is not None
                in_flight.append(outcome.handoff)
                step = outcome.handoff.target_step
                continue
            assert isinstance(outcome, Answered)
            answer = outcome.text
            while in_flight:
                finished = await handoffs.finish_handoff(self, in_flight.pop(), answer, None)
                assert isinstance(finished, Answered)  # a successful handoff always answers
                answer = finished.text
            return answer

    async def take_step(self, step: Step) -> Outcome:
        """``step.agent`` becomes the active agent: it arrives (unless it resumes after a
        failed handoff), then its model loop runs."""
        self.active = step.agent
        self.context.switch_to(step.agent, step.view)
        if step.agent.skills and self.context_token is None:
            self.expose_context()
        turns = step.turns
        if turns is None:
            outcome = await self.arrive(step)
            if outcome is not CARRY_ON:
                return outcome
            turns = step.agent.max_turns
        return await self.model_loop(step, turns)

    async def arrive(self, step: Step) -> Outcome:
        """An agent receives the conversation: start-up, hooks, then its handoff conditions."""
        agent = step.agent
        if agent.skills:
            await agent.ensure_initialized()
        self.emit(AgentStarted, agent=agent.name)
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
            return CARRY_ON
        view = joined(step.view)  # conditions are user code: they see the whole conversation
        decision = await handoffs.evaluate_conditions(self, agent, latest_user_text(view))
        if decision is None:
            return CARRY_ON
        return await handoffs.start_handoff(self, step, decision, agent.max_turns)

    async def model_loop(self, step: Step, turns: int) -> Outcome:
        """Model calls and tool calls until the agent answers or hands the run on. A failed
        transfer on the last allowed call grants the agent one more call to answer."""
        agent, view = step.agent, step.view
        if agent.model is None:
            raise AgentConfigError(
                f"agent {agent.name!r} has no model and no handoff condition answered; "
                f"pass BaseAgent(model='openai/<name>') or a Model object"
            )
        hooks = agent.capabilities.hooks
        granted = False
        while turns > 0:
            turns -= 1
            if "before_llm_call" in hooks:
                await self.hooks(agent, "before_llm_call")
            messages = await model_calls.request_messages(self, step)
            response = await model_calls.call_model(self, agent, messages)
            self.append(view, response.to_message())
            calls = response.tool_calls
            if not calls:
                content = response.content or ""
                self.emit(AgentCompleted, agent=agent.name, content=content)
                return Answered(content)
            if agent.complete_tool:
                done = next((c for c in calls if c.name == COMPLETE_TOOL), None)
                if done is not None:
                    summary = self.complete(step, calls, done)
                    if summary is not None:
                        return Answered(summary)
                    continue
            scope = self.context.scope
            transfer = next((c for c in calls if agent.target_for_tool(c.name, scope)), None)
            if transfer is not None:
                outcome = await handoffs.transfer_call(self, step, calls, transfer, turns)
                if outcome is not CARRY_ON:
                    return outcome
                if turns == 0 and not granted:  # one call to answer, not an endless retry
                    turns, granted = 1, True
                continue
            for call in calls:
                self.tool_called(agent, call)
                if self.trace is None:
                    output, is_error = await run_tool(self, agent, call)
                else:
                    running = run_tool(self, agent, call)
                    output, is_error = await tracing.traced_tool_call(self, call, running)
                self.tool_answered(agent, view, call, output, is_error)
        raise MaxTurnsExceeded(agent.name, agent.max_turns)

    def complete(self, step: Step, calls: list[ToolCall], done: ToolCall) -> str | None:
        """The model called ``complete``: every call of the turn is answered and the summary
        is the run's answer, or None when it gave no summary (it is told, and goes on)."""
        agent, view = step.agent, step.view
        summary = string_argument(done.arguments, "summary")
        for call in calls:
            self.tool_called(agent, call)
            if call is not done:
                text = "Not run: complete was called in the same turn."
            elif summary:
                text = "Completed."
            else:
                text = "Error: complete needs a summary of what was done (a non-empty string)."
            self.tool_answered(agent, view, call, text, call is not done or not summary)
        if not summary:
            return None
        self.append(view, {"role": "assistant", "content": summary})
        if self.streaming:
            self.emit(TextDelta, agent=agent.name, text=summary)
        self.emit(AgentCompleted, agent=agent.name, content=summary)
        self.completed = True
        return summary

    def tool_called(self, agent: BaseAgent, call: ToolCall) -> None:
        self.emit(
            ToolCallEvent,
            agent=agent.name,
            call_id=call.id,
            name=call.name,
            arguments=call.arguments,
        )

    def tool_answered(
        self,
        agent: BaseAgent,
        view: list[dict[str, Any]],
        call: ToolCall,
        output: str,
        is_error: bool,
    ) -> None:
        """Answer ``call`` in the transcript and report it."""
        self.append(view, tool_message(call, output))
        self.emit(
            ToolResultEvent,
            agent=agent.name,
            call_id=call.id,
            name=call.name,
            output=output,
            is_error=is_error,
        )

    def append(self, view: list[dict[str, Any]], message: dict[str, Any]) -> None:
        view.append(message)
        if view is not self.transcript:
            self.transcript.append(message)
