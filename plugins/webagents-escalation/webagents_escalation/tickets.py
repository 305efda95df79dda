"""``TicketQueue``: escalation tickets kept in a SQLite file, safe across threads and processes.

Every operation opens a connection of its own and closes it before returning, so nothing is
shared between threads and nothing is left open. Writes run in one ``BEGIN IMMEDIATE``
transaction: SQLite's write lock serialises writers across processes, the busy timeout makes a
writer wait for that lock instead of failing, and a check made inside the transaction (is this
run already escalated? may this ticket move to that status?) cannot be raced. WAL mode lets
readers go on while a write is in progress.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, get_args

from webagents import WebAgentsError
from webagents.sqlite import SQLiteFile, webagents_home

__all__ = [
    "PRIORITIES",
    "STATUSES",
    "InvalidTransition",
    "Priority",
    "Status",
    "Ticket",
    "TicketError",
    "TicketNotFound",
    "TicketQueue",
    "default_db_path",
]

Priority: TypeAlias = Literal["low", "normal", "high"]
Status: TypeAlias = Literal["open", "assigned", "closed"]
PRIORITIES: Final[tuple[str, ...]] = get_args(Priority)
STATUSES: Final[tuple[str, ...]] = get_args(Status)

# Which status each status may move to. Reassigning an assigned ticket is allowed; a closed
# ticket is final.
_TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "open": frozenset({"assigned", "closed"}),
    "assigned": frozenset({"assigned", "closed"}),
    "closed": frozenset(),
}

# AUTOINCREMENT: ids only ever grow, even after the newest ticket is deleted by hand, so a
# ticket number a customer was told is never given to someone else.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high')),
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'assigned', 'closed')),
    conversation TEXT NOT NULL,
    context TEXT NOT NULL,
    run_id TEXT UNIQUE,
    assignee TEXT,
    resolution TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE INDEX IF NOT EXISTS tickets_customer ON tickets(customer_id, id);
CREATE INDEX IF NOT EXISTS tickets_status ON tickets(status, id);
"""
_COLUMNS: Final = (
    "id, customer_id, reason, priority, status, conversation, context, run_id, assignee, "
    "resolution, created_at, updated_at, closed_at"
)


class TicketError(WebAgentsError, ValueError):
    """A ticket operation broke a rule of the queue."""


class TicketNotFound(TicketError, LookupError):
    """No ticket has the given id."""

    def __init__(self, ticket_id: int) -> None:
        self.ticket_id = ticket_id
        super().__init__(f"there is no ticket #{ticket_id}")


class InvalidTransition(TicketError):
    """A ticket was asked to move to a status it cannot reach from its current one."""

    def __init__(self, ticket_id: int, current: str, wanted: str) -> None:
        self.ticket_id = ticket_id
        self.current = current
        self.wanted = wanted
        allowed = sorted(_TRANSITIONS[current])
        options = ", ".join(allowed) if allowed else "nothing: a closed ticket is final"
        super().__init__(
            f"ticket #{ticket_id} is {current} and cannot become {wanted}; from {current} it "
            f"can become {options}"
        )


@dataclass(frozen=True, slots=True)
class Ticket:
    """One escalation: who, why, how urgent, where it stands, and the conversation so far."""

    id: int
    customer_id: str
    reason: str
    priority: Priority
    status: Status
    conversation: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    assignee: str | None = None
    resolution: str | None = None
    created_at: str = ""
    updated_at: str = ""
    closed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _COLUMNS.split(", ")}

    @classmethod
    def _from_row(cls, row: Sequence[Any]) -> Ticket:
        values = dict(zip(_COLUMNS.split(", "), row, strict=True))
        values["conversation"] = json.loads(values["conversation"])
        values["context"] = json.loads(values["context"])
        return cls(**values)


def default_db_path() -> Path:
    """``tickets.db`` under ``$WEBAGENTS_HOME`` (default ``~/.webagents``), read when called."""
    return webagents_home() / "tickets.db"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{what} must be a non-empty str, got {value!r}")
    return value


def _ticket_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a ticket id is an int, got {value!r}")
    return value


def _check_priority(priority: object) -> Priority:
    if priority not in PRIORITIES:
        raise TicketError(f"priority {priority!r} is not one of {', '.join(PRIORITIES)}")
    return priority  # type: ignore[return-value]


def _json(value: object, what: str) -> str:
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} must be JSON-serialisable: {error}") from error


class TicketQueue:
    """The escalation tickets of a support team, in one SQLite file.

    ``path`` is the file; None means ``tickets.db`` under ``$WEBAGENTS_HOME`` (default
    ``~/.webagents``), resolved on first use. ``busy_timeout`` is the seconds a write waits for
    another writer. Synchronous: from async code, call it through ``asyncio.to_thread``.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, busy_timeout: float = 30.0
    ) -> None:
        self.file = SQLiteFile(
            path,
            schema=_SCHEMA,
            default_name="tickets.db",
            busy_timeout=busy_timeout,
            busy_error=TicketError,
            error=TicketError,
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> TicketQueue:
        """A queue from skill-style config: ``{"db": path, "busy_timeout": seconds}``."""
        config = config or {}
        return cls(config.get("db"), busy_timeout=float(config.get("busy_timeout", 30.0)))

    @property
    def path(self) -> Path:
        """The database file (the default is resolved the first time this is read)."""
        return self.file.path

    @property
    def busy_timeout(self) -> float:
        return self.file.busy_timeout

    def __repr__(self) -> str:
        return f"TicketQueue({self.file.where()!r})"

    def open(self) -> None:
        """Create the directory and file, switch to WAL and create the schema; idempotent."""
        self.file.open()

    @staticmethod
    def _select(conn: sqlite3.Connection, ticket_id: int) -> Ticket | None:
        row = conn.execute(f"SELECT {_COLUMNS} FROM tickets WHERE id = ?", (ticket_id,))
        found = row.fetchone()
        return Ticket._from_row(found) if found is not None else None

    # operations ----------------------------------------------------------------------------

    def open_ticket(
        self,
        customer_id: str,
        reason: str,
        priority: Priority = "normal",
        conversation: Sequence[Mapping[str, Any]] = (),
        context: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
    ) -> Ticket:
        """Open a ticket; with a ``run_id`` already escalated, return that run's ticket."""
        return self.escalate(customer_id, reason, priority, conversation, context, run_id=run_id)[0]

    def escalate(
        self,
        customer_id: str,
        reason: str,
        priority: Priority = "normal",
        conversation: Sequence[Mapping[str, Any]] = (),
        context: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
    ) -> tuple[Ticket, bool]:
        """``open_ticket`` that also says whether the ticket is new (False: the run's
        existing ticket was returned)."""
        _text(customer_id, "customer_id")
        _text(reason, "reason")
        _check_priority(priority)
        if run_id is not None:
            _text(run_id, "run_id")
        transcript = _json([dict(m) for m in conversation], "conversation")
        extra = _json(dict(context or {}), "context")
        with self.file.writing() as conn:
            if run_id is not None:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM tickets WHERE run_id = ?", (run_id,)
                ).fetchone()
                if row is not None:
                    existing = Ticket._from_row(row)
                    if existing.customer_id != customer_id:
                        raise TicketError(
                            f"run {run_id!r} was escalated for customer "
                            f"{existing.customer_id!r} (ticket #{existing.id}), not "
                            f"{customer_id!r}; a run belongs to one customer"
                        )
                    return existing, False
            now = _now()
            cursor = conn.execute(
                "INSERT INTO tickets (customer_id, reason, priority, status, conversation, "
                "context, run_id, created_at, updated_at) "
                "VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?)",
                (customer_id, reason, priority, transcript, extra, run_id, now, now),
            )
            ticket_id = cursor.lastrowid
            assert ticket_id is not None
            ticket = self._select(conn, ticket_id)
            assert ticket is not None
            return ticket, True

    def get(self, ticket_id: int) -> Ticket | None:
        """The ticket with this id, or None."""
        _ticket_id(ticket_id)
        with self.file.reading() as conn:
            return self._select(conn, ticket_id)

    def list(
        self, status: Status | None = None, customer_id: str | None = None
    ) -> builtins.list[Ticket]:
        """Tickets, oldest first, optionally only those with ``status`` / of ``customer_id``."""
        where: builtins.list[str] = []
        params: builtins.list[str] = []
        if status is not None:
            if status not in STATUSES:
                raise TicketError(f"status {status!r} is not one of {', '.join(STATUSES)}")
            where.append("status = ?")
            params.append(status)
        if customer_id is not None:
            where.append("customer_id = ?")
            params.append(customer_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self.file.reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM tickets{clause} ORDER BY id", params
            ).fetchall()
        return [Ticket._from_row(row) for row in rows]

    def assign(self, ticket_id: int, agent: str) -> Ticket:
        """Give the ticket to a human ``agent`` (open -> assigned, or reassign)."""
        _ticket_id(ticket_id)
        _text(agent, "agent")
        return self._move(ticket_id, "assigned", assignee=agent)

    def close(self, ticket_id: int, resolution: str) -> Ticket:
        """Close the ticket with what was done about it; a closed ticket is final."""
        _ticket_id(ticket_id)
        _text(resolution, "resolution")
        return self._move(ticket_id, "closed", resolution=resolution)

    def _move(self, ticket_id: int, status: Status, **values: str) -> Ticket:
        with self.file.writing() as conn:
            ticket = self._select(conn, ticket_id)
            if ticket is None:
                raise TicketNotFound(ticket_id)
            if status not in _TRANSITIONS[ticket.status]:
                raise InvalidTransition(ticket_id, ticket.status, status)
            now = _now()
            changes = {**values, "status": status, "updated_at": now}
            if status == "closed":
                changes["closed_at"] = now
            assignments = ", ".join(f"{name} = ?" for name in changes)
            conn.execute(
                f"UPDATE tickets SET {assignments} WHERE id = ?", (*changes.values(), ticket_id)
            )
            moved = self._select(conn, ticket_id)
            assert moved is not None
            return moved
