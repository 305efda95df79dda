"""``RunResult`` and ``HandoffRecord``: what a run returns."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from webagents.events import RunEvent
from webagents.models.base import Usage
from webagents.transcript import joined

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


@dataclass(slots=True, init=False)
class RunResult:
    """The outcome of ``agent.run``: the answer, who gave it, and how the run got there.
    ``messages`` is the whole conversation; a session turn's stored history is put in front
    of this turn's messages when it is first read (see ``webagents.transcript``)."""

    content: str
    agent: str
    handoff_chain: list[str]
    handoffs: list[HandoffRecord]
    _messages: list[dict[str, Any]] = field(repr=False)
    usage: Usage
    events: list[RunEvent] = field(repr=False, compare=False)
    run_id: str
    session_id: str | None
    created: int
    #: True when the answer is a summary an agent gave through its ``complete`` tool.
    completed: bool

    def __init__(
        self,
        content: str,
        agent: str,
        handoff_chain: list[str],
        handoffs: list[HandoffRecord],
        messages: list[dict[str, Any]],
        usage: Usage,
        events: list[RunEvent],
        run_id: str = "",
        session_id: str | None = None,
        created: int | None = None,
        completed: bool = False,
    ) -> None:
        self.content, self.agent = content, agent
        self.handoff_chain, self.handoffs = handoff_chain, handoffs
        self._messages, self.usage, self.events = messages, usage, events
        self.run_id, self.session_id, self.completed = run_id, session_id, completed
        self.created = int(time.time()) if created is None else created

    @property
    def messages(self) -> list[dict[str, Any]]:
        return joined(self._messages)

    @messages.setter
    def messages(self, messages: list[dict[str, Any]]) -> None:
        self._messages = messages

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
