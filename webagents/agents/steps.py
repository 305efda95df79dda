"""The run loop's vocabulary: a step, a handoff in flight, what a step ends with, and the
handoff bookkeeping one run keeps (chain, taken edges, budget, records, rollback marks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Mapping

    from webagents.agents.agent import BaseAgent
    from webagents.agents.result import HandoffRecord
    from webagents.context import Context

__all__ = [
    "CARRY_ON",
    "Answered",
    "CarryOn",
    "Decision",
    "HandedOff",
    "HandoffBook",
    "Mark",
    "Outcome",
    "Pending",
    "Step",
]

Trigger: TypeAlias = Literal["condition", "llm"]


@dataclass(slots=True)
class Step:
    """One agent's turn with the conversation: ``view`` is what it sees. ``handoff_context``
    was handed over with it and is shown to its model as data at ``context_at`` in the view.
    ``turns`` set means the agent resumes its model loop with that many model calls left
    (after a failed handoff) instead of arriving anew."""

    agent: BaseAgent
    view: list[dict[str, Any]]
    handoff_context: Mapping[str, Any] | None = None
    context_at: int = 0
    first: bool = False
    turns: int | None = None
    trace: Any = None  # the agent's activation span (webagents.tracing), when traced


@dataclass(frozen=True, slots=True)
class Decision:
    """Who should take over and why, as a condition or the model decided it."""

    target: str
    reason: str
    metadata: dict[str, Any]
    trigger: Trigger


class Mark(NamedTuple):
    """How far the run had got when a handoff began: undoing the handoff cuts back to here.
    (The cyclic garbage collector untracks exact tuples of ints, not instances of a tuple
    subclass like this one: a mark is one of the objects each collection walks while its
    handoff is in flight.)"""

    record: int
    transcript: int
    chain: int


@dataclass(slots=True)
class Pending:
    """A handoff to a local agent in flight. The target takes the next step; the handoff is
    finished (record, after-hooks) when the target answers, or undone when it raises, and
    then ``resume`` is the source's step again."""

    resume: Step
    name: str
    reason: str
    metadata: dict[str, Any]
    trigger: Trigger
    transfer_message: dict[str, Any] | None
    started: float
    own_keys: tuple[Any, ...] | None  # this handoff's context keys, kept for its after-hooks
    mark: Mark
    duration_ms: float | None = None
    target_step: Step | None = None
    handed_context: dict[str, Any] | None = None  # what the target was given, for the record
    history_length: int = 0  # how many messages of the conversation it was given
    source_context: Context | None = None  # the source's own, while the target starts fresh
    trace: Any = None  # the spans it holds open (webagents.tracing), when traced

    @property
    def source(self) -> BaseAgent:
        return self.resume.agent


@dataclass(frozen=True, slots=True)
class Answered:
    """The step ended with the run's answer."""

    text: str


@dataclass(frozen=True, slots=True)
class HandedOff:
    """The step handed the run to a local agent, which takes the next step."""

    handoff: Pending


class CarryOn:
    """The agent goes on by itself: no condition named another agent, or a handoff failed
    and no after-hook answered in its place."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "CARRY_ON"


CARRY_ON: Final = CarryOn()
Outcome: TypeAlias = Answered | HandedOff | CarryOn


class HandoffBook:
    """The handoffs of one run: the chain of agents, the directed edges taken (a ping-pong
    guard, unless the run allows cycles), the budget, and the records in the order the
    handoffs began."""

    __slots__ = ("allow_cycles", "chain", "edges", "limit", "records", "used")

    def __init__(self, first: str, limit: int, allow_cycles: bool = False) -> None:
        self.chain: list[str] = [first]
        self.edges: set[tuple[str, str]] = set()
        self.allow_cycles = allow_cycles
        self.limit = limit
        self.used = 0
        self.records: list[HandoffRecord | None] = []  # None: a handoff still in flight

    def refusal(self, source: str, target: str) -> str | None:
        """Why the bounds forbid ``source -> target`` now, or None."""
        chain = " -> ".join(self.chain)
        if self.used >= self.limit:
            return f"max_handoffs ({self.limit}) reached; chain: {chain}"
        if not self.allow_cycles and (source, target) in self.edges:
            return f"ping-pong: {source} -> {target} already happened in this run; chain: {chain}"
        return None

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit

    def taken(self, source: str, target: str | None) -> bool:
        """Whether the cycle policy forbids ``source -> target`` because the run took it."""
        return not self.allow_cycles and (source, target) in self.edges

    def open_record(self) -> int:
        """Reserve the record of a handoff that begins now, before those its target makes."""
        self.records.append(None)
        return len(self.records) - 1

    def transfer(self, source: str, target: str) -> None:
        self.used += 1
        self.edges.add((source, target))
        self.chain.append(target)

    def close_record(self, index: int, record: HandoffRecord) -> None:
        self.records[index] = record

    def roll_back(self, mark: Mark) -> list[str]:
        """Forget what happened after ``mark`` (a failed target's own handoffs); returns the
        agents that lost their part of the run."""
        dropped = self.chain[mark.chain :]
        del self.chain[mark.chain :]
        del self.records[mark.record + 1 :]
        return dropped

    def finished(self) -> list[HandoffRecord]:
        return [record for record in self.records if record is not None]
