"""Per-edge handoff options of a source agent (RadarOS's per-target ``onHandoff``, Gnosari's
``can_transfer_to`` instructions), as a skill the source carries::

    front = BaseAgent(
        "front-desk",
        model=...,
        handoffs=[billing, support],
        skills={"edges": HandoffEdges({
            "billing": Edge(instructions="Check for duplicate charges first.", on_handoff=log),
        })},
    )

Team files give their ``can_transfer_to: [{agent, instructions}]`` items this way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from webagents.agents.skills.base import Skill
from webagents.agents.skills.decorators import hook
from webagents.context import Context
from webagents.errors import AgentConfigError, HandoffError, HookError

__all__ = ["Edge", "HandoffEdges"]


@dataclass(frozen=True, slots=True)
class Edge:
    """Options of the handoff to one target.

    ``instructions`` reach the target in its handoff context (under ``"instructions"``, as
    delimited data beside the conversation), unless another ``before_handoff`` hook set that
    key first. ``on_handoff(context)`` (sync or async) runs before the transfer, with the
    ``handoff_*`` keys set: it may log, fill ``context["handoff_context"]``, or raise
    ``HandoffError`` to veto the transfer; any other exception is a ``HookError`` naming it.
    """

    instructions: str | None = None
    on_handoff: Callable[[Context], Any] | None = None


class HandoffEdges(Skill):
    """The ``before_handoff`` hook that applies an ``Edge`` per target name."""

    def __init__(self, edges: Mapping[str, Edge]) -> None:
        super().__init__()
        checked: dict[str, Edge] = {}
        for target, edge in dict(edges).items():
            if not isinstance(target, str) or not target or not isinstance(edge, Edge):
                raise AgentConfigError(
                    f"HandoffEdges takes {{target name: Edge(...)}}, got {target!r}: {edge!r}"
                )
            if edge.on_handoff is not None and not callable(edge.on_handoff):
                raise AgentConfigError(
                    f"HandoffEdges: on_handoff for {target!r} must be a function of the "
                    f"context, got {edge.on_handoff!r}"
                )
            checked[target] = edge
        self.edges = checked

    # Early (priority 5): your own before_handoff hooks see what the edge added.
    @hook("before_handoff", priority=5)
    async def apply_edge(self, context: Context) -> Context:
        edge = self.edges.get(str(context.get("handoff_agent")))
        if edge is None:
            return context
        handoff_context = context.get("handoff_context")
        if edge.instructions and isinstance(handoff_context, dict):
            handoff_context.setdefault("instructions", edge.instructions)
        if edge.on_handoff is not None:
            try:
                result = edge.on_handoff(context)
                if inspect.isawaitable(result):
                    await result
            except HandoffError:
                raise  # a veto
            except Exception as error:
                name = getattr(edge.on_handoff, "__qualname__", repr(edge.on_handoff))
                where = f"on_handoff {name} (edge to {context.get('handoff_agent')!r})"
                raise HookError(where, "before_handoff", error) from error
        return context
