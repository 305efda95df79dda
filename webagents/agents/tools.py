"""Running one tool call: scope check, hooks, argument validation, the call, its output."""

from __future__ import annotations

import inspect
import json
import logging
from typing import TYPE_CHECKING, Any

from webagents import tracing
from webagents._threads import in_worker
from webagents._urls import shown_name
from webagents.agents.capabilities import ToolEntry, scope_allows
from webagents.agents.model_calls import offered_tools
from webagents.errors import ToolArgumentsError, ToolRetry

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.agents.runner import Run
    from webagents.models.base import ToolCall

__all__ = ["run_tool", "string_argument", "tool_message"]

logger = logging.getLogger("webagents")


def tool_message(call: ToolCall, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": content}


def string_argument(arguments: str, key: str) -> str:
    """The text argument ``key`` of a call the run loop answers itself (a transfer's
    ``reason``, ``complete``'s ``summary``); empty when missing or malformed."""
    if key not in arguments:
        return ""
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return ""
    value = parsed.get(key) if isinstance(parsed, dict) else None
    return value.strip() if isinstance(value, str) else ""


async def run_tool(run: Run, agent: BaseAgent, call: ToolCall) -> tuple[str, bool]:
    """The tool's output (text the model reads) and whether it is an error. Bad arguments, an
    unknown tool and a raising tool are errors the model sees, never a crashed run."""
    entry = agent.capabilities.tools.get(call.name)
    context = run.context
    if entry is None or not scope_allows(context.scope, entry.scope):
        offered = [t["function"]["name"] for t in offered_tools(run, agent)]
        return f"Error: there is no tool {shown_name(call.name)!r}; available: {offered}", True
    hooks = agent.capabilities.hooks
    arguments = call.arguments
    if "before_toolcall" in hooks:
        context["tool_call"] = {"id": call.id, "name": call.name, "arguments": arguments}
        await run.hooks(agent, "before_toolcall")
        arguments = run.context["tool_call"].get("arguments", arguments)
    try:
        kwargs = entry.schema.validate(arguments)
    except ToolArgumentsError as error:
        if run.trace is not None:
            tracing.tool_failed(run, error)
        output, is_error = f"Error: {error}", True
    else:
        if entry.schema.context_param is not None:
            kwargs[entry.schema.context_param] = run.context
        output, is_error = await _invoke(run, agent, entry, kwargs)
    if "after_toolcall" in hooks:
        run.context["tool_result"] = {"name": call.name, "output": output, "is_error": is_error}
        await run.hooks(agent, "after_toolcall")
        output = str(run.context["tool_result"].get("output", output))
    return output, is_error


async def _invoke(
    run: Run, agent: BaseAgent, entry: ToolEntry, kwargs: dict[str, Any]
) -> tuple[str, bool]:
    try:
        if entry.in_thread:
            # the worker gets a copy of this task's context variables, so get_context() works there
            value = await in_worker(entry.call, **kwargs)
        else:
            value = entry.call(**kwargs)
        if inspect.isawaitable(value):
            value = await value
    except ToolRetry as retry:
        if run.trace is not None:
            tracing.tool_failed(run, retry)
        return f"Error: {retry}", True
    except Exception as error:  # the model sees that the tool failed and may recover
        if run.trace is not None:
            tracing.tool_failed(run, error)
        logger.warning(
            "tool %s (%s) of agent %s failed run=%s",
            entry.name,
            entry.where,
            agent.name,
            run.run_id,
            exc_info=error,
        )
        if entry.show_errors:
            return f"Error: tool {entry.name!r} failed: {type(error).__name__}: {error}", True
        return f"Error: tool {entry.name!r} failed.", True
    if isinstance(value, str):
        return value, False
    from pydantic_core import to_json  # deferred: keeps ``import webagents`` light

    return to_json(value, fallback=str).decode(), False
