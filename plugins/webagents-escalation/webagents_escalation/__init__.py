"""webagents-escalation: human escalation for webagents agents, into a SQLite ticket queue.

Installed, it registers the skill ``"escalation"`` through the ``webagents`` entry point group,
so ``BaseAgent(skills={"escalation": "escalation"})`` and team files can name it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from webagents import hookimpl
from webagents_escalation.skill import EscalationConfig, EscalationSkill, conversation_summary
from webagents_escalation.tickets import (
    PRIORITIES,
    STATUSES,
    InvalidTransition,
    Priority,
    Status,
    Ticket,
    TicketError,
    TicketNotFound,
    TicketQueue,
    default_db_path,
)

__version__ = "0.1.0"

__all__ = [
    "PRIORITIES",
    "STATUSES",
    "EscalationConfig",
    "EscalationSkill",
    "InvalidTransition",
    "Priority",
    "Status",
    "Ticket",
    "TicketError",
    "TicketNotFound",
    "TicketQueue",
    "conversation_summary",
    "default_db_path",
    "register_skills",
]


@hookimpl
def register_skills(register: Callable[..., Any]) -> None:
    """Provide ``EscalationSkill`` under the name ``"escalation"``."""
    register(EscalationSkill, name="escalation")
