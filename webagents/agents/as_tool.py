"""An agent offered to another agent's model as a consult tool: ``expert.as_tool()``.

The one-line form of a hand-written consult tool (a skill whose ``@tool`` asks an expert
through ``NLISkill.query_agent``): the consulting agent keeps the conversation and gets the
expert's answer as a tool result; nothing is handed off. Consultations count towards the run
chain's NLI nesting bound, so agents consulting each other in a cycle stop cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from webagents.agents.skills.decorators import tool

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent

__all__ = ["agent_tool", "consult_tool_name"]

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")
CONSULT_PREFIX = "consult_"

ConsultTool = Callable[[str], Coroutine[Any, Any, str]]


def consult_tool_name(agent_name: str) -> str:
    """The default tool name for consulting ``agent_name``: ``consult_<name>``, made safe
    for model APIs (``^[a-zA-Z0-9_-]{1,64}$``)."""
    safe = _UNSAFE.sub("_", agent_name).strip("_") or "agent"
    return (CONSULT_PREFIX + safe)[:64]


def agent_tool(
    agent: BaseAgent, *, name: str | None = None, description: str | None = None
) -> ConsultTool:
    """A plain function tool with one parameter, ``question: str``, that runs ``agent`` on
    the question and returns its answer text.

    ``name`` defaults to ``consult_<agent name>``; ``description`` to the agent's own
    description. A consultation that fails (the agent's model down, the nesting bound
    reached) returns a one-line error the calling model can read; the details go to the log.
    """
    from webagents.agents.skills.nli import (
        DEFAULT_MAX_DEPTH,
        NestingLimitError,
        describe_failure,
        nested_query,
    )

    tool_name = name if name is not None else consult_tool_name(agent.name)
    summary = description or agent.description or f"Ask the agent {agent.name}."

    async def consult(question: str) -> str:
        try:
            with nested_query(agent.name, DEFAULT_MAX_DEPTH):
                result = await agent.run(question)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            text = describe_failure(agent.name, error)
            expected = isinstance(error, NestingLimitError)
            logger.warning("consulting failed: %s", text, exc_info=None if expected else error)
            return f"Error: {text}"
        return result.content

    consult.__name__ = consult.__qualname__ = tool_name
    # The docstring is where the schema takes the parameter's description from.
    consult.__doc__ = (
        f"{summary}\n\nArgs:\n    question: The question for {agent.name}, complete in "
        f"itself: it does not see this conversation."
    )
    return tool(name=tool_name, description=summary)(consult)
