"""``RunResult`` and ``HandoffRecord``: what a run returns."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from webagents.events import RunEvent
from webagents.models.base import Usage

__all__ = ["HandoffRecord", "RunResult"]


@dataclass(frozen=True, slots=True)
class HandoffRecord:
    """One handoff attempt and how it ended; ``trigger`` says who decided. What was handed
    over (Gnosari's escalation data): ``context``, the handoff context the target was given,
    and ``history_length``, how many messages of the conversation it was given (both empty
    when the handoff failed before the target was reached)."""

    from_agent: str
    to_agent: str
    reason: str
    trigger: Literal["condition", "llm"]
    metadata: dict[str, Any]
    success: bool
    error: str | None
    duration_ms: float
    context: dict[str, Any] = field(default_factory=dict)
    history_length: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class RunResult:
    """The outcome of ``agent.run``: the answer, who gave it, and how the run got there."""

    content: str
    agent: str
    handoff_chain: list[str]
    handoffs: list[HandoffRecord]
    messages: list[dict[str, Any]]
    usage: Usage
    events: list[RunEvent] = field(repr=False, compare=False)
    run_id: str = ""
    session_id: str | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    #: True when the answer is a summary an agent gave through its ``complete`` tool.
    completed: bool = False

    def to_chat_completion(self) -> dict[str, Any]:
        """The answer as an OpenAI ``chat.completion`` object."""
        return {
            "id": f"chatcmpl-{self.run_id}",
            "object": "chat.completion",
            "created": self.created,
            "model": self.agent,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.content},
                    "finish_reason": "stop",
                }
            ],
            "usage": self.usage.to_dict(),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: the CLI's ``--json`` and the server's logs use it."""
        return {
            "content": self.content,
            "agent": self.agent,
            "handoff_chain": list(self.handoff_chain),
            "handoffs": [record.to_dict() for record in self.handoffs],
            "messages": self.messages,
            "usage": self.usage.to_dict(),
            "events": [event.to_dict() for event in self.events],
            "run_id": self.run_id,
            "session_id": self.session_id,
            "completed": self.completed,
        }
