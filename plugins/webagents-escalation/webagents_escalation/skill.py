"""``EscalationSkill``: the model opens and checks tickets; handoffs to the human desk carry
the escalation data (why, from whom, the customer's open tickets, a conversation summary)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictFloat, field_validator

from webagents import Context, Skill, hook, tool
from webagents.messages import message_text
from webagents_escalation.tickets import PRIORITIES, Priority, Ticket, TicketQueue

if TYPE_CHECKING:
    from webagents import BaseAgent

__all__ = ["EscalationConfig", "EscalationSkill", "conversation_summary"]

_SUMMARY_MESSAGES: Final = 8
_SUMMARY_CHARS: Final = 300


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


NonBlank = Annotated[str, AfterValidator(_non_blank)]


class EscalationConfig(BaseModel):
    """``EscalationSkill``'s config."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    #: The ticket file; None: ``tickets.db`` under ``$WEBAGENTS_HOME``, read on first use.
    db: str | os.PathLike[str] | None = None
    #: Seconds a write waits for another writer.
    busy_timeout: Annotated[StrictFloat, Field(gt=0)] = 30.0
    #: Keyword -> the priority it raises a ticket to, e.g. ``{"urgent": "high"}``.
    priority_keywords: dict[NonBlank, Priority] = Field(default_factory=dict)
    #: The human desk agent's name, or several names.
    handoff_target: NonBlank | list[NonBlank] | None = None

    @field_validator("db", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        if value is None or isinstance(value, str | os.PathLike):
            return value
        raise ValueError(f"the ticket file's path (a str or pathlib.Path); got {value!r}")

    @field_validator("handoff_target", mode="wrap")
    @classmethod
    def _agent_names(cls, value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except ValueError:
            raise ValueError(
                f"the human desk agent's name, or a list of names; got {value!r}"
            ) from None


class EscalationSkill(Skill):
    """Human escalation into a SQLite ticket queue.

    Tools: ``escalate_to_human(reason, priority)`` opens a ticket for the signed-in customer
    (``user_id`` of the run) with the conversation so far; calling it again in the same run
    returns the same ticket. ``ticket_status(ticket_id)`` reports on one of the caller's own
    tickets; anyone else's ticket is "not found".

    Hook: on a handoff to ``handoff_target`` (the human desk), puts
    ``handoff_context["escalation"]`` = ``{reason, from_agent, to_agent, customer_id,
    open_tickets, conversation_summary}``, which reaches the desk agent's system prompt.

    Config: ``db`` (the ticket file; default ``tickets.db`` under ``$WEBAGENTS_HOME``, itself
    defaulting to ``~/.webagents``, read on first use), ``busy_timeout`` (seconds a write waits
    for another writer, default 30), ``priority_keywords`` (``{"urgent": "high"}``: a keyword
    found as a whole word, ignoring case, in the reason or the customer's messages raises the
    ticket to that priority; keywords never lower it), ``handoff_target`` (an agent name, or a
    list of names, that counts as the human desk).
    """

    config_model: ClassVar[type[EscalationConfig]] = EscalationConfig

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        scope: Literal["all", "owner", "admin"] = "all",
        dependencies: list[str] | None = None,
    ) -> None:
        super().__init__(config, scope=scope, dependencies=dependencies)  # validates config
        settings: EscalationConfig = self.settings
        self.priority_keywords = [
            (re.compile(rf"(?<!\w){re.escape(keyword.strip())}(?!\w)", re.IGNORECASE), priority)
            for keyword, priority in settings.priority_keywords.items()
        ]
        targets = settings.handoff_target
        self.handoff_targets = frozenset([targets] if isinstance(targets, str) else targets or ())
        self.queue = TicketQueue(settings.db, busy_timeout=settings.busy_timeout)

    async def initialize(self, agent: BaseAgent) -> None:
        """Create the ticket file and schema before the agent's first run."""
        await asyncio.to_thread(self.queue.open)

    def priority_for(
        self, requested: Priority, reason: str, conversation: Sequence[Mapping[str, Any]] = ()
    ) -> Priority:
        """The ticket's priority: ``requested``, raised by any configured keyword found in
        the reason or in the customer's messages."""
        texts = [reason, *(message_text(m) for m in conversation if m.get("role") == "user")]
        rank = PRIORITIES.index(requested)
        for pattern, priority in self.priority_keywords:
            if PRIORITIES.index(priority) > rank and any(pattern.search(t) for t in texts):
                rank = PRIORITIES.index(priority)
        result: Priority = PRIORITIES[rank]  # type: ignore[assignment]
        return result

    @tool
    async def escalate_to_human(
        self, reason: str, priority: Literal["low", "normal", "high"] = "normal"
    ) -> str:
        """Hand this conversation to the human support team by opening a support ticket.

        Use it when the customer asks for a person, or when you cannot resolve the problem.

        Args:
            reason: What the customer needs and why a human must help, in one or two sentences.
            priority: How urgent it is: "low", "normal" or "high".
        """
        context = self.get_context()
        customer = context.peer_user_id
        if not customer:
            return (
                "No ticket was opened: the customer is not signed in, so support could not "
                "reach them. Ask them to sign in, or to contact support directly."
            )
        conversation = [dict(m) for m in context.messages]
        effective = self.priority_for(priority, reason, conversation)
        details = {
            "agent": context.agent_name,
            "session_id": context.session_id,
            "run_id": context.run_id,
            "requested_priority": priority,
        }
        ticket, created = await asyncio.to_thread(
            self.queue.escalate,
            customer,
            reason,
            effective,
            conversation,
            details,
            run_id=context.run_id,
        )
        if not created:
            return (
                f"This conversation is already escalated as support ticket #{ticket.id} "
                f"({ticket.status}); no new ticket was opened. A human agent will follow up."
            )
        return (
            f"I've created support ticket #{ticket.id} ({ticket.priority} priority). "
            f"A human agent from our support team will contact you."
        )

    @tool
    async def ticket_status(self, ticket_id: int) -> str:
        """Look up the status of one of the customer's support tickets.

        Args:
            ticket_id: The ticket number, as given when the ticket was opened.
        """
        customer = self.get_context().peer_user_id
        ticket = await asyncio.to_thread(self.queue.get, ticket_id) if customer else None
        if ticket is None or ticket.customer_id != customer:
            return f"Ticket #{ticket_id} was not found among this customer's tickets."
        return _describe(ticket)

    @hook("before_handoff")
    async def attach_escalation(self, context: Context) -> Context:
        """Add ``handoff_context["escalation"]`` when the handoff goes to the human desk."""
        target = context.get("handoff_agent")
        if target not in self.handoff_targets:
            return context
        customer = context.peer_user_id
        tickets = await asyncio.to_thread(self.queue.list, None, customer) if customer else []
        data = {
            "reason": context.get("handoff_reason") or "",
            "from_agent": context.agent_name,
            "to_agent": target,
            "customer_id": customer,
            "open_tickets": [
                {
                    "id": t.id,
                    "status": t.status,
                    "priority": t.priority,
                    "reason": t.reason,
                    "created_at": t.created_at,
                }
                for t in tickets
                if t.status != "closed"
            ],
            "conversation_summary": conversation_summary(context.messages),
        }
        carried = context.get("handoff_context")
        handoff_context = dict(carried) if isinstance(carried, Mapping) else {}
        earlier = handoff_context.get("escalation")
        if isinstance(earlier, Mapping):  # keys another hook already set are kept
            data = {**data, **earlier}
        handoff_context["escalation"] = data
        context["handoff_context"] = handoff_context
        return context


def conversation_summary(
    messages: Sequence[Mapping[str, Any]],
    *,
    max_messages: int = _SUMMARY_MESSAGES,
    max_chars: int = _SUMMARY_CHARS,
) -> str:
    """The last ``max_messages`` user and assistant texts, one line each, each cut to
    ``max_chars``; tool traffic and system prompts are left out."""
    lines = []
    for message in messages:
        role = message.get("role")
        text = " ".join(message_text(message).split())
        if role not in ("user", "assistant") or not text:
            continue
        if len(text) > max_chars:
            text = text[: max_chars - 1] + "…"
        lines.append(f"{'customer' if role == 'user' else 'assistant'}: {text}")
    shown = lines[-max_messages:] if max_messages > 0 else []
    if len(lines) > len(shown):
        shown.insert(0, f"({len(lines) - len(shown)} earlier messages not shown)")
    return "\n".join(shown)


def _describe(ticket: Ticket) -> str:
    head = f"Ticket #{ticket.id} ({ticket.priority} priority, opened {ticket.created_at[:10]})"
    if ticket.status == "open":
        return f"{head} is open and waiting for a support agent. Reason: {ticket.reason}"
    if ticket.status == "assigned":
        return f"{head} is assigned: a support agent is working on it. Reason: {ticket.reason}"
    return f"{head} is closed. Resolution: {ticket.resolution}"
