"""Running one tool call: scope check, hooks, argument validation, the call, its output."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from webagents.agents.capabilities import scope_allows
from webagents.errors import ToolArgumentsError

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.agents.runner import Run
    from webagents.models.base import ToolCall

__all__ = ["run_tool", "tool_message"]


def tool_message(call: ToolCall, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": content}


async def run_tool(run: Run, agent: BaseAgent, call: ToolCall) -> tuple[str, bool]:
    """The tool's output (text the model reads) and whether it is an error. Bad arguments, an
    unknown tool and a raising tool are errors the model sees, never a crashed run."""
    entry = agent.capabilities.tools.get(call.name)
    context = run.context
    if entry is None or not scope_allows(context.scope, entry.scope):
        offered = [t["function"]["name"] for t in run.offered_tools(agent)]
        return f"Error: there is no tool {call.name!r}; available: {offered}", True
    hooks = agent.capabilities.hooks
    arguments = call.arguments
    if "before_toolcall" in hooks:
        context["tool_call"] = {"id": call.id, "name": call.name, "arguments": arguments}
        await run.hooks(agent, "before_toolcall")
        arguments = run.context["tool_call"].get("arguments", arguments)
    try:
        kwargs = entry.schema.validate(arguments)
    except ToolArgumentsError as error:
        output, is_error = f"Error: {error}", True
    else:
        if entry.schema.context_param is not None:
            kwargs[entry.schema.context_param] = run.context
        output, is_error = await _invoke(entry.name, entry.call, kwargs)
    if "after_toolcall" in hooks:
        run.context["tool_result"] = {"name": call.name, "output": output, "is_error": is_error}
        await run.hooks(agent, "after_toolcall")
        output = str(run.context["tool_result"].get("output", output))
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
    from pydantic_core import to_json  # deferred: keeps ``import webagents`` light

    return to_json(value, fallback=str).decode(), False
