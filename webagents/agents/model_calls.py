"""The run's side of a model call: what the model is sent (system prompt, view, handed-over
context, the tools offered), the call itself (streamed when the run streams), its tool-call
ids made unique, its usage counted, and an ``after_llm_call`` hook's replacement."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from webagents import tracing
from webagents.agents.dispatch import call_user
from webagents.errors import AgentConfigError
from webagents.events import TextDelta, TextWithdrawn
from webagents.messages import context_message
from webagents.models.base import ModelRequest, ModelResponse, with_unique_call_ids
from webagents.transcript import Transcript, all_messages, joined, stored_part

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.agents.runner import Run
    from webagents.agents.steps import Step

__all__ = ["call_model", "offered_tools", "request_messages"]


async def call_model(run: Run, agent: BaseAgent, messages: list[dict[str, Any]]) -> ModelResponse:
    """One model call (streamed when the run streams), its ids checked and its usage
    counted; an ``after_llm_call`` hook may replace the response."""
    assert agent.model is not None
    request = ModelRequest(messages, offered_tools(run, agent), agent.name, agent.model_settings)
    reply = stream_model(run, agent, request) if run.streaming else agent.model.complete(request)
    if run.trace is not None:  # awaited inside its span
        reply = tracing.traced_model_call(run, agent, request, reply)
    response = await reply
    if response.tool_calls:
        if run.call_ids is None:
            run.call_ids = _call_ids(all_messages(run.transcript))
        response = with_unique_call_ids(response, run.call_ids)
    run.usage.add(response.usage)
    if "after_llm_call" not in agent.capabilities.hooks:
        return response
    run.context["llm_response"] = response
    await run.hooks(agent, "after_llm_call")
    replaced = run.context.get("llm_response")
    if not isinstance(replaced, ModelResponse) or replaced is response:
        return response
    if run.streaming and response.content and replaced.content != response.content:
        run.emit(
            TextWithdrawn,
            agent=agent.name,
            reason="an after_llm_call hook replaced the answer",
            replacement=replaced.content,
        )
    return replaced


async def stream_model(run: Run, agent: BaseAgent, request: ModelRequest) -> ModelResponse:
    assert agent.model is not None
    response: ModelResponse | None = None
    streamed = False
    async for item in agent.model.stream(request):
        if isinstance(item, str):
            if item:
                streamed = True
                run.emit(TextDelta, agent=agent.name, text=item)
        else:
            response = item
    if response is None:
        raise AgentConfigError(
            f"model {agent.model.name!r} ended its stream without a ModelResponse; "
            f"a Model's stream() must yield one last"
        )
    if response.content and not streamed:
        # A model that answers in one piece still reaches a stream's reader as text.
        run.emit(TextDelta, agent=agent.name, text=response.content)
    return response


async def request_messages(run: Run, step: Step) -> list[dict[str, Any]]:
    """What the model reads: the system prompt (instructions and ``@prompt`` text), then
    the view, with context handed over shown as data where the handoff happened."""
    agent, view = step.agent, step.view
    if agent.capabilities.prompts:
        system = await prompted_system(run, agent)
    else:
        system = agent.system_message
    if step.handoff_context:
        at, view = step.context_at, joined(view)
        view = [*view[:at], context_message(step.handoff_context), *view[at:]]
    elif type(view) is Transcript and view.stored:  # a session turn: the history, read in place
        history, added = stored_part(view), list.__iter__(view)  # iter(view) would join them
        return [system, *history, *added] if system is not None else [*history, *added]
    return [system, *view] if system is not None else list(view)


async def prompted_system(run: Run, agent: BaseAgent) -> dict[str, Any] | None:
    parts = [agent.instructions] if agent.instructions else []
    for entry in agent.capabilities.prompts:
        args = (run.context,) if entry.takes_context else ()
        text = await call_user(entry.where, "prompt", entry.call, *args)
        if text:
            parts.append(str(text))
    return {"role": "system", "content": "\n\n".join(parts)} if parts else None


def offered_tools(run: Run, agent: BaseAgent) -> list[dict[str, Any]]:
    """The agent's tools for this caller, and transfers while the bounds allow them.
    The lists are shared between runs: models must not modify a request."""
    scope = run.context.scope
    book = run.book
    if not agent.handoff_targets or book.exhausted:
        return agent.own_tools(scope)
    tools = agent.tools_with_transfers(scope)
    if book.edges and not book.allow_cycles:  # a transfer this run made is not offered again
        name = agent.name
        return [
            tool
            for tool in tools
            if not book.taken(name, agent.target_for_tool(tool["function"]["name"]))
        ]
    return tools


def _call_ids(transcript: Iterable[dict[str, Any]]) -> set[str]:
    return {
        str(call.get("id"))
        for message in transcript
        for call in message.get("tool_calls") or ()
        if isinstance(call, Mapping)
    }
