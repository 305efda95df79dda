"""``EscalationSkill``: the model opens and checks tickets; handoffs to the human desk carry
the escalation data (why, from whom, the customer's open tickets, a conversation summary)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

from webagents import AgentConfigError, Context, Skill, hook, tool
from webagents.messages import message_text
from webagents_escalation.tickets import PRIORITIES, Priority, Ticket, TicketQueue

if TYPE_CHECKING:
    from webagents import BaseAgent

__all__ = ["EscalationSkill", "conversation_summary"]

_SUMMARY_MESSAGES: Final = 8
_SUMMARY_CHARS: Final = 300


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

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        scope: Literal["all", "owner", "admin"] = "all",
        dependencies: list[str] | None = None,
    ) -> None:
        super().__init__(config, scope=scope, dependencies=dependencies)
        self.priority_keywords = _keywords(self.config.get("priority_keywords"))
        self.handoff_targets = _targets(self.config.get("handoff_target"))
        self.queue = TicketQueue.from_config(self.config)

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


def _keywords(value: object) -> list[tuple[re.Pattern[str], Priority]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise AgentConfigError(
            f"EscalationSkill config 'priority_keywords' maps a keyword to a priority, e.g. "
            f'{{"urgent": "high"}}; got {value!r}'
        )
    compiled: list[tuple[re.Pattern[str], Priority]] = []
    for keyword, priority in value.items():
        if not isinstance(keyword, str) or not keyword.strip() or priority not in PRIORITIES:
            raise AgentConfigError(
                f"EscalationSkill config 'priority_keywords': {keyword!r}: {priority!r} must "
                f"map a non-empty keyword to one of {', '.join(PRIORITIES)}"
            )
        pattern = re.compile(rf"(?<!\w){re.escape(keyword.strip())}(?!\w)", re.IGNORECASE)
        compiled.append((pattern, priority))
    return compiled


def _targets(value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not all(
        isinstance(n, str) and n.strip() for n in names
    ):
        raise AgentConfigError(
            f"EscalationSkill config 'handoff_target' is the human desk agent's name (or a list "
            f"of names); got {value!r}"
        )
    return frozenset(names)
