"""The tools the run loop answers itself, as a model is offered them: one
``transfer_to_<name>`` per handoff target, and ``complete`` for agents built with
``complete_tool=True``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from webagents._names import COMPLETE_TOOL, transfer_tool_name

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.agents.network import RemoteAgent

__all__ = ["COMPLETE_SCHEMA", "transfer_schema"]


def transfer_schema(agent: BaseAgent, target: BaseAgent | RemoteAgent | str) -> dict[str, Any]:
    """``agent``'s tool for handing the conversation to ``target``: its description is the
    edge's override, else the target's own (a name is looked up in ``agent``'s network)."""
    name = target if isinstance(target, str) else target.name
    edge = agent.edge(name)
    if edge is not None and edge.description is not None:
        description = edge.description
    elif isinstance(target, str):
        found = agent.network.get(target)
        description = found.description if found is not None else ""
    else:
        description = target.description
    summary = f"Hand the conversation over to {name}"
    return {
        "type": "function",
        "function": {
            "name": transfer_tool_name(name),
            "description": f"{summary}: {description}" if description else summary + ".",
            "parameters": {
                "type": "object",
                "properties": {
                    "reason": {
                        "type": "string",
                        "description": f"Why {name} should take over the conversation.",
                    }
                },
                "required": [],
                "additionalProperties": False,
            },
        },
    }


COMPLETE_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": COMPLETE_TOOL,
        "description": "Finish: the request is resolved and nothing more is needed. Ends the "
        "conversation's current task with your summary as the answer to the user.",
        "parameters": {
            "type": "object",
            "properties": {
                "summary": {
                    "type": "string",
                    "description": "What was done, as the final answer to the user.",
                }
            },
            "required": ["summary"],
            "additionalProperties": False,
        },
    },
}
