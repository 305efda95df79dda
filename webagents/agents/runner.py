"""The run loop: one ``Run`` per call of ``agent.run``; all per-run state lives here.

An agent *activation* evaluates its handoff conditions on the user turn, then alternates
model calls and tool calls until the model answers, a transfer succeeds, or ``max_turns``.
Handoffs (``handoffs.py``) activate the target inside the same Run, so the chain, bounds
and events are one per run.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from pydantic_core import to_json

from webagents.agents import handoffs
from webagents.agents.capabilities import scope_allows
from webagents.agents.dispatch import call_user, run_hooks
from webagents.agents.registry import get_registry
from webagents.agents.result import HandoffRecord, RunResult
from webagents.agents.sessions import SessionState
from webagents.agents.skills.decorators import SCOPES
from webagents.agents.skills.schema import ToolArgumentsError
from webagents.context import Context, current_context
from webagents.errors import AgentConfigError, InvalidRequestError, MaxTurnsExceeded
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
from webagents.models.base import ModelRequest, ModelResponse, ToolCall, Usage

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent, Messages

__all__ = ["Run", "latest_user_text"]

_DONE: Final = object()


class Run:
    """The state of one run. Agents and skills hold none of it, so runs never interfere."""

    __slots__ = (
        "active",
        "chain",
        "context",
        "edges",
        "entry",
        "events",
        "max_handoffs",
        "queue",
        "records",
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
        self.events: list[RunEvent] = []
        self.queue: asyncio.Queue[object] | None = None
        self.usage = Usage()
        self.records: list[HandoffRecord] = []
        self.chain: list[str] = [active.name]
        self.edges: set[tuple[str, str]] = set()
        self.transfers = 0
        self.started: list[BaseAgent] = []

    @classmethod
    async def start(
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
        incoming = normalise_messages(messages)
        active = agent
        transcript = incoming
        if session_id is not None:
            stored = await agent.sessions.load(session_id)
            if stored is not None:
                transcript = stored.messages + _new_turn(incoming, bool(stored.messages))
                active = _session_owner(agent, stored.active_agent)
        context = Context(
            agent_name=active.name,
            messages=transcript,
            run_id=secrets.token_hex(12),
            peer_user_id=user_id,
            session_id=session_id,
            scope=scope,
            agent=active,
            data=dict(data) if data else None,
        )
        return cls(agent, active, transcript, context, session_id, streaming)

    # events --------------------------------------------------------------------------------

    def emit(self, event: RunEvent) -> None:
        self.events.append(event)
        if self.queue is not None:
            self.queue.put_nowait(event)

    async def hooks(self, agent: BaseAgent, event: str) -> None:
        entries = agent.capabilities.hooks.get(event)
        if entries:
            context = await run_hooks(entries, self.context)
            if context is not self.context:
                self.context = context
                current_context.set(context)

    # running -------------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        token = current_context.set(self.context)
        try:
            content = await self.activate(self.active, self.transcript, None, first=True)
            if len(self.chain) > 1:
                chain = tuple(self.chain)
                self.emit(HandoffComplete(self.active.name, chain, self.active.name))
            if self.session_id is not None:
                state = SessionState(self.transcript, self.active.name)
                await self.entry.sessions.save(self.session_id, state)
        except Exception as error:
            self.emit(ErrorEvent(self.context.agent_name, str(error), type(error).__name__))
            raise
        finally:
            try:
                for agent in reversed(self.started):
                    await self.hooks(agent, "finalize_connection")
            finally:
                current_context.reset(token)
        return RunResult(
            content=content,
            agent=self.active.name,
            handoff_chain=list(self.chain),
            handoffs=list(self.records),
            messages=self.transcript,
            usage=self.usage,
            events=self.events,
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

    async def activate(
        self,
        agent: BaseAgent,
        view: list[dict[str, Any]],
        handoff_context: Mapping[str, Any] | None,
        *,
        first: bool = False,
    ) -> str:
        """``agent`` takes the conversation; returns the run's answer from here on."""
        self.active = agent
        context = self.context
        context.agent_name = agent.name
        context.agent = agent
        context.messages = view
        await agent.ensure_initialized()
        self.emit(AgentStarted(agent.name))
        if agent not in self.started:
            self.started.append(agent)
            await self.hooks(agent, "on_connection")
        if first:
            await self.hooks(agent, "on_message")
        if agent.capabilities.conditions:  # a refused hit is reported (bounds)
            decision = await handoffs.evaluate_conditions(self, agent, latest_user_text(view))
            if decision is not None:
                answer = await handoffs.hand_off(self, agent, view, decision)
                if answer is not None:
                    return answer
        return await self.model_loop(agent, view, handoff_context)

    async def model_loop(
        self,
        agent: BaseAgent,
        view: list[dict[str, Any]],
        handoff_context: Mapping[str, Any] | None,
    ) -> str:
        model = agent.model
        if model is None:
            raise AgentConfigError(
                f"agent {agent.name!r} has no model and no handoff condition answered; "
                f"pass BaseAgent(model='openai/<name>') or a Model object"
            )
        for _ in range(agent.max_turns):
            await self.hooks(agent, "before_llm_call")
            request = ModelRequest(
                messages=await self.model_messages(agent, view, handoff_context),
                tools=self.offered_tools(agent),
                agent=agent.name,
                settings=agent.model_settings,
            )
            response = await self.call_model(agent, request)
            self.usage.add(response.usage)
            if "after_llm_call" in agent.capabilities.hooks:
                self.context["llm_response"] = response
                await self.hooks(agent, "after_llm_call")
                replaced = self.context.get("llm_response")
                if isinstance(replaced, ModelResponse):  # a hook may substitute the response
                    response = replaced
            self.append(view, response.to_message())
            if not response.tool_calls:
                content = response.content or ""
                self.emit(AgentCompleted(agent.name, content))
                return content
            answer = await self.tool_calls(agent, view, response.tool_calls)
            if answer is not None:
                return answer
        raise MaxTurnsExceeded(agent.name, agent.max_turns)

    def append(self, view: list[dict[str, Any]], message: dict[str, Any]) -> None:
        view.append(message)
        if view is not self.transcript:
            self.transcript.append(message)

    async def call_model(self, agent: BaseAgent, request: ModelRequest) -> ModelResponse:
        assert agent.model is not None
        if not self.streaming:
            return await agent.model.complete(request)
        response: ModelResponse | None = None
        async for item in agent.model.stream(request):
            if isinstance(item, str):
                if item:
                    self.emit(TextDelta(agent.name, item))
            else:
                response = item
        if response is None:
            raise AgentConfigError(
                f"model {agent.model.name!r} ended its stream without a ModelResponse; "
                f"a Model's stream() must yield one last"
            )
        return response

    async def model_messages(
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
        tools = agent.capabilities.tool_schemas[self.context.scope]
        if not agent.handoff_targets or self.transfers >= self.max_handoffs:
            return list(tools)
        transfers = agent.transfer_tools()
        if self.edges:  # a transfer this run already made is never offered again
            transfers = tuple(
                t
                for t in transfers
                if (agent.name, agent.target_for_tool(t["function"]["name"])) not in self.edges
            )
        return [*tools, *transfers]

    async def tool_calls(
        self, agent: BaseAgent, view: list[dict[str, Any]], calls: Sequence[ToolCall]
    ) -> str | None:
        """Answer every call of one assistant turn; a transfer among them is handed off and
        the other calls are answered without running, so the transcript stays valid."""
        transfer: ToolCall | None = None
        for call in calls:
            if transfer is None and agent.target_for_tool(call.name) is not None:
                transfer = call
        if transfer is not None:
            return await handoffs.transfer_call(self, agent, view, calls, transfer)
        for call in calls:
            self.emit(ToolCallEvent(agent.name, call.id, call.name, call.arguments))
            output, is_error = await self.run_tool(agent, call)
            self.append(view, tool_message(call, output))
            self.emit(ToolResultEvent(agent.name, call.id, call.name, output, is_error))
        return None

    async def run_tool(self, agent: BaseAgent, call: ToolCall) -> tuple[str, bool]:
        entry = agent.capabilities.tools.get(call.name)
        context = self.context
        if entry is None or not scope_allows(context.scope, entry.scope):
            offered = [t["function"]["name"] for t in self.offered_tools(agent)]
            return f"Error: there is no tool {call.name!r}; available: {offered}", True
        hooks = agent.capabilities.hooks
        arguments = call.arguments
        if "before_toolcall" in hooks:
            context["tool_call"] = {"id": call.id, "name": call.name, "arguments": arguments}
            await self.hooks(agent, "before_toolcall")
            arguments = self.context["tool_call"].get("arguments", arguments)
        try:
            kwargs = entry.schema.validate(arguments)
        except ToolArgumentsError as error:
            output, is_error = f"Error: {error}", True
        else:
            if entry.schema.context_param is not None:
                kwargs[entry.schema.context_param] = context
            output, is_error = await _invoke(entry.name, entry.call, kwargs)
        if "after_toolcall" in hooks:
            self.context["tool_result"] = {
                "name": call.name,
                "output": output,
                "is_error": is_error,
            }
            await self.hooks(agent, "after_toolcall")
            output = str(self.context["tool_result"].get("output", output))
        return output, is_error


async def _invoke(name: str, func: Any, kwargs: dict[str, Any]) -> tuple[str, bool]:
    try:
        value = func(**kwargs)
        if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
            value = await value
    except asyncio.CancelledError:
        raise
    except Exception as error:  # the model sees the failure and may recover
        return f"Error: tool {name!r} failed: {type(error).__name__}: {error}", True
    if isinstance(value, str):
        return value, False
    return to_json(value, fallback=str).decode(), False


def tool_message(call: ToolCall, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": content}


def normalise_messages(messages: Messages) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    result = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message:
            raise InvalidRequestError(
                f"message {index} must be a mapping with a 'role' (OpenAI chat format), "
                f"got {message!r}"
            )
        result.append(dict(message))
    if not result:
        raise InvalidRequestError("run() needs at least one message")
    return result


def latest_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the newest user message (text parts joined), or "" if there is none."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(part.get("text", ""))
                    for part in content
                    if isinstance(part, Mapping) and part.get("type") == "text"
                )
            return ""
    return ""


def _new_turn(incoming: list[dict[str, Any]], has_history: bool) -> list[dict[str, Any]]:
    """With stored history, the request's messages after its last assistant message are new
    (clients that resend the whole conversation then add nothing twice)."""
    if not has_history:
        return incoming
    for index in range(len(incoming) - 1, -1, -1):
        if incoming[index].get("role") == "assistant":
            return incoming[index + 1 :]
    return incoming


def _session_owner(entry: BaseAgent, owner: str | None) -> BaseAgent:
    from webagents.agents.agent import BaseAgent

    if owner is None or owner == entry.name:
        return entry
    found = get_registry().get(owner)
    return found if isinstance(found, BaseAgent) else entry
