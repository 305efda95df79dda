"""``HandoffTarget``: an agent this one may hand the conversation to, with options for that
one edge (RadarOS's per-target ``description`` and ``onHandoff``, Gnosari's
``can_transfer_to`` instructions, the OpenAI Agents SDK's input filter)::

    front = BaseAgent(
        "front-desk",
        model=...,
        handoffs=[
            billing,
            HandoffTarget(
                support,
                description="Crashes, error codes, anything technical",
                instructions="Ask for the error code first.",
                history="last_user",
                on_handoff=log_escalation,
            ),
        ],
    )
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from webagents.agents.skills.decorators import SCOPES
from webagents.errors import AgentConfigError

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.agents.network import RemoteAgent
    from webagents.context import Context

__all__ = ["HISTORY_POLICIES", "CyclePolicy", "HandoffTarget", "HistoryPolicy", "check_cycles"]

HistoryFilter: TypeAlias = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
HistoryPolicy: TypeAlias = "Literal['full', 'conversation', 'last_user'] | HistoryFilter"
HISTORY_POLICIES = ("full", "conversation", "last_user")
# The cycle policy of runs started at an agent: never the same handoff twice, or until
# max_handoffs.
CyclePolicy: TypeAlias = Literal["forbid", "allow"]
_CYCLE_POLICIES = ("forbid", "allow")


@dataclass(frozen=True, slots=True)
class HandoffTarget:
    """A handoff target with options for this edge only.

    - ``description`` replaces the target's own description in the ``transfer_to_<name>``
      tool, which is what the model reads to decide when to hand off.
    - ``instructions`` reach the target in its handoff context (under ``"instructions"``,
      shown to its model as delimited data beside the conversation, never as system text);
      ``before_handoff`` hooks see them there and may change them.
    - ``history`` decides what the target receives of the conversation along this edge
      (``"full"``, ``"conversation"``, ``"last_user"`` or a function of the message list);
      None: the target's own ``handoff_history``.
    - ``on_handoff(context)`` (sync or async) runs before the source's ``before_handoff``
      hooks, with the ``handoff_*`` keys set: it may log, fill ``context["handoff_context"]``,
      or raise ``HandoffError`` to veto the transfer; any other exception is a ``HookError``
      naming it.
    - ``carry_state=False`` starts the target with fresh context keys: only the run's
      identity, the ``context=`` the run was started with and this handoff's keys, none of
      what the source's hooks and tools stored. The source gets its own keys back if the
      handoff fails, and for its ``after_handoff`` hooks.
    - ``scope``: the lowest caller scope this transfer is offered to, as for tools
      (``"all"``, ``"owner"``, ``"admin"``); a run of a lower scope is never offered the
      transfer, and a condition naming the target fails for it.
    """

    agent: BaseAgent | RemoteAgent | str
    description: str | None = None
    instructions: str | None = None
    history: HistoryPolicy | None = None
    on_handoff: Callable[[Context], Any] | None = None
    carry_state: bool = True
    scope: Literal["all", "owner", "admin"] = "all"

    def __post_init__(self) -> None:
        from webagents.agents.agent import BaseAgent
        from webagents.agents.network import RemoteAgent

        agent = self.agent
        if not (isinstance(agent, BaseAgent | RemoteAgent) or (isinstance(agent, str) and agent)):
            raise AgentConfigError(
                f"HandoffTarget(agent=...) takes an agent, an agent name or a URL, got {agent!r}"
            )
        shown = f"HandoffTarget({self.name!r})"
        for field in ("description", "instructions"):
            value = getattr(self, field)
            if value is not None and not isinstance(value, str):
                raise AgentConfigError(f"{shown}: {field} must be text, got {value!r}")
        history = self.history
        if history is not None and not callable(history) and history not in HISTORY_POLICIES:
            raise AgentConfigError(
                f"{shown}: history={history!r} must be one of {HISTORY_POLICIES}, a function "
                f"of the message list, or None for the target's own handoff_history"
            )
        if self.on_handoff is not None and not callable(self.on_handoff):
            raise AgentConfigError(
                f"{shown}: on_handoff must be a function of the context, got {self.on_handoff!r}"
            )
        if not isinstance(self.carry_state, bool):
            raise AgentConfigError(
                f"{shown}: carry_state must be True or False, got {self.carry_state!r}"
            )
        if self.scope not in SCOPES:
            raise AgentConfigError(
                f"{shown}: scope={self.scope!r} must be one of {', '.join(SCOPES)}"
            )

    @property
    def name(self) -> str:
        """The target's name."""
        agent = self.agent
        return agent if isinstance(agent, str) else agent.name

    @property
    def has_options(self) -> bool:
        """Whether anything differs from a plain target."""
        return self != HandoffTarget(self.agent)


def check_cycles(agent: str, policy: object) -> CyclePolicy:
    if policy not in _CYCLE_POLICIES:
        raise AgentConfigError(
            f"agent {agent!r}: handoff_cycles={policy!r} must be 'forbid' (never the same "
            f"handoff twice in a run) or 'allow' (until max_handoffs)"
        )
    return policy  # type: ignore[return-value]
