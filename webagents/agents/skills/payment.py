"""``PaymentSkill``: user balances kept in a ledger, a SQLite file or a PostgreSQL database.

Amounts are ``Decimal`` values stored as integer micro-units (millionths), so sums are exact.
The rules both ledgers follow are in ``ledger_rules``; the PostgreSQL ledger, used when
``config["db"]`` is a ``postgresql://`` URL, is in ``ledger_postgres``. This module holds the
skill, its config and the SQLite ledger, ``Ledger``.

In the SQLite ledger, every write runs in one ``BEGIN IMMEDIATE`` transaction on a connection of
its own: SQLite's write lock serialises writers across threads and processes, the busy timeout
makes a writer wait for that lock instead of failing, and a balance read inside the transaction
cannot be raced by another charge. WAL mode lets readers proceed while a write is in progress.

Idempotency keys belong to one user: the same key from two users names two operations.
Whatever goes wrong with the file itself is a ``PaymentError`` naming it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from webagents._threads import in_worker
from webagents.agents.skills.base import Skill
from webagents.agents.skills.decorators import tool
from webagents.agents.skills.ledger_rules import (
    STATEMENT_COLUMNS,
    Kind,
    LedgerBackend,
    Money,
    PaymentError,
    balance_after,
    check_limit,
    check_name,
    checked_post,
    from_micros,
    is_anonymous,
    no_charge,
    refund_micros,
    replayed_balance,
    statement_entries,
    to_micros,
)
from webagents.sqlite import SQLiteFile

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent

__all__ = [
    "Kind",
    "Ledger",
    "LedgerBackend",
    "Money",
    "PaymentConfig",
    "PaymentError",
    "PaymentSkill",
    "ledger_for",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    user_id TEXT PRIMARY KEY,
    balance_micros INTEGER NOT NULL CHECK (balance_micros >= 0)
);
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('charge', 'credit', 'refund')),
    amount_micros INTEGER NOT NULL CHECK (amount_micros > 0),
    description TEXT NOT NULL,
    idempotency_key TEXT,
    created_at TEXT NOT NULL,
    refunds INTEGER NULL REFERENCES transactions(id),
    balance_after_micros INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS transactions_user_key
    ON transactions(user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS transactions_key ON transactions(idempotency_key);
CREATE INDEX IF NOT EXISTS transactions_refunds ON transactions(refunds);
CREATE INDEX IF NOT EXISTS transactions_user ON transactions(user_id, id);
"""


class Ledger:
    """The SQL of the ledger: synchronous, thread-safe, one connection per operation.

    A connection per operation shares nothing between threads and leaves nothing open to leak.
    The lock only makes this process's writers queue in Python rather than poll SQLite's busy
    handler; other processes are kept out by SQLite's own write lock.
    """

    def __init__(self, path: str | os.PathLike[str] | None, *, busy_timeout: float = 30.0) -> None:
        self.file = SQLiteFile(
            path,
            schema=_SCHEMA,
            default_name="ledger.db",
            busy_timeout=busy_timeout,
            busy_error=PaymentError,
            error=PaymentError,
        )

    @property
    def path(self) -> Path:
        return self.file.path

    @property
    def busy_timeout(self) -> float:
        return self.file.busy_timeout

    def where(self) -> str:
        return self.file.where()

    def open(self) -> None:
        """Create the directory and file, switch to WAL and create the schema; idempotent."""
        self.file.open()

    @staticmethod
    def _balance(conn: sqlite3.Connection, user_id: str) -> int:
        row = conn.execute("SELECT balance_micros FROM accounts WHERE user_id = ?", (user_id,))
        found = row.fetchone()
        return int(found[0]) if found else 0

    def post(
        self,
        kind: Kind,
        user_id: str,
        amount: Money | None,
        description: str = "",
        key: str | None = None,
        charge_key: str | None = None,
    ) -> Decimal | None:
        """Record one charge, credit or refund; return the new balance, or None if declined.

        A charge the balance does not cover is declined and leaves no trace, so retrying its
        key later is a fresh attempt. A refund names its charge by ``charge_key``; an amount of
        None refunds what is left of it, and refunds never add up to more than the charge.
        Replaying a user's ``key`` returns the first outcome. Checks and writes share one BEGIN
        IMMEDIATE transaction, so no other writer can slip in between them.
        """
        micros = checked_post(kind, user_id, amount, key, charge_key)
        with self.file.writing() as conn:
            charge_id, left = None, 0
            if kind == "refund":
                charge_id, left = self._refundable(conn, user_id, charge_key)
            if key is not None:
                replayed = self._replay(conn, user_id, key, (kind, charge_id), micros)
                if replayed is not None:
                    return from_micros(replayed)
            if kind == "refund":
                assert charge_key is not None  # checked_post requires it of a refund
                micros = refund_micros(amount, micros, left, charge_key)
            assert micros is not None  # only a refund may leave it out, checked above
            new_balance = balance_after(kind, self._balance(conn, user_id), micros)
            if new_balance is None:
                return None  # nothing written: the transaction commits empty
            conn.execute(
                "INSERT INTO accounts (user_id, balance_micros) VALUES (?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET balance_micros = excluded.balance_micros",
                (user_id, new_balance),
            )
            created_at = datetime.now(UTC).isoformat()
            conn.execute(
                "INSERT INTO transactions (user_id, kind, amount_micros, description, "
                "idempotency_key, created_at, refunds, balance_after_micros) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (user_id, kind, micros, description, key, created_at, charge_id, new_balance),
            )
            return from_micros(new_balance)

    @staticmethod
    def _refundable(conn: sqlite3.Connection, user_id: str, key: str | None) -> tuple[int, int]:
        """The id of the user's charge made with ``key`` and how much of it is unrefunded."""
        row = conn.execute(
            "SELECT c.id, c.amount_micros - COALESCE(SUM(r.amount_micros), 0) "
            "FROM transactions c LEFT JOIN transactions r ON r.refunds = c.id "
            "WHERE c.user_id = ? AND c.idempotency_key = ? AND c.kind = 'charge' GROUP BY c.id",
            (user_id, key),
        ).fetchone()
        if row is None:
            raise no_charge(user_id, key)
        return int(row[0]), int(row[1])

    @staticmethod
    def _replay(
        conn: sqlite3.Connection,
        user_id: str,
        key: str,
        first: tuple[str, int | None],
        micros: int | None,
    ) -> int | None:
        """The balance after the operation ``user_id`` first made with ``key``; None if the
        key is new for this user (see ``replayed_balance``)."""
        row = conn.execute(
            "SELECT kind, refunds, amount_micros, balance_after_micros FROM transactions "
            "WHERE user_id = ? AND idempotency_key = ?",
            (user_id, key),
        ).fetchone()
        return replayed_balance(row, key, first, micros)

    def balance(self, user_id: str) -> Decimal:
        """The balance of ``user_id``; 0 for a user the ledger has never seen."""
        check_name(user_id, "user_id")
        with self.file.reading() as conn:
            return from_micros(self._balance(conn, user_id))

    def statement(self, user_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest ``limit`` transactions of ``user_id``, newest first, amounts as Decimal."""
        check_name(user_id, "user_id")
        check_limit(limit)
        with self.file.reading() as conn:
            rows = conn.execute(
                f"SELECT {STATEMENT_COLUMNS} FROM transactions "
                "WHERE user_id = ? ORDER BY id DESC LIMIT ?",
                (user_id, limit),
            ).fetchall()
        return statement_entries(rows)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*(?=://)")


def _postgres_url(url: str) -> SecretStr:
    """``url`` checked as a PostgreSQL URL, as a secret; errors never echo it (a password)."""
    if not url.startswith(("postgresql://", "postgres://")):
        scheme = _SCHEME.match(url)
        what = f"{scheme[0]!r} URLs are" if scheme else "other database URLs are"
        raise ValueError(f"must be a file path or a postgresql:// URL; {what} not supported")
    if importlib.util.find_spec("psycopg") is None:
        raise ValueError(
            "a postgresql:// ledger needs psycopg 3; install the postgres extra: "
            "pip install 'webagents-net[postgres]'"
        )
    from webagents.agents.skills.ledger_postgres import check_url

    check_url(url)
    return SecretStr(url)


def ledger_for(
    db: str | os.PathLike[str] | SecretStr | None, *, busy_timeout: float = 30.0
) -> LedgerBackend:
    """The ledger ``db`` names: a ``PostgresLedger`` for a ``postgresql://`` URL (plain or a
    ``SecretStr``), else the SQLite ``Ledger`` of that file (None: the default file)."""
    if isinstance(db, SecretStr) or (isinstance(db, str) and "://" in db):
        url = db.get_secret_value() if isinstance(db, SecretStr) else db
        try:
            _postgres_url(url)
        except ValueError as error:
            raise PaymentError(f"db {error}") from None
        from webagents.agents.skills.ledger_postgres import PostgresLedger

        return PostgresLedger(url, busy_timeout=busy_timeout)
    return Ledger(db, busy_timeout=busy_timeout)


class PaymentConfig(BaseModel):
    """``PaymentSkill`` config; unknown keys are errors, so a misspelt key is not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The ledger: a file (None: ``ledger.db`` under ``$WEBAGENTS_HOME``, read on first use),
    #: or a ``postgresql://`` URL, kept as a ``SecretStr`` since it may carry a password.
    db: Path | SecretStr | None = None
    #: Seconds a write waits for another writer before failing with a PaymentError.
    busy_timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False, strict=True)

    @field_validator("db", mode="before")
    @classmethod
    def _a_file_path_or_postgres_url(cls, value: object) -> object:
        # The value is not echoed: a database URL may carry a password.
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str) and "://" in value:
            return _postgres_url(value)
        if isinstance(value, str) and value.strip() in ("", ":memory:"):
            raise ValueError(
                "must be a file path (each operation opens its own connection, so an "
                "in-memory database would be empty every time), e.g. 'ledger.db'"
            )
        if value is not None and not isinstance(value, str | os.PathLike):
            raise ValueError(f"must be a file path (a str or Path), got {type(value).__name__}")
        return None if value is None else Path(value)


class PaymentSkill(Skill):
    """User balances: charge, credit and refund from code; the model may only read a balance.

    Moving money is deliberately not a tool: a model's actions can be steered by any text that
    reaches it (a user, a web page, another agent), so only code that has decided a charge is
    due moves money, and the model gets the read-only ``check_balance``.

    Config (``PaymentConfig``, checked at construction): ``db``, the ledger file (default
    ``ledger.db`` in ``$WEBAGENTS_HOME``, itself defaulting to ``~/.webagents``, read on first
    use) or a ``postgresql://`` URL (``PostgresLedger``, for several machines);
    ``busy_timeout``, the seconds a write waits for another writer (default 30). The async
    methods run the blocking database work in a thread, so the event loop keeps serving other
    runs meanwhile.
    """

    config_model: ClassVar[type[Any] | None] = PaymentConfig
    settings: PaymentConfig
    _ledger: LedgerBackend | None = None

    @property
    def ledger(self) -> LedgerBackend:
        """The ledger, made on first use, so the skill also works without an agent.

        Two threads racing here may build two ledger objects for one database; that is
        harmless, since the database's locks, not this object, keep the ledger consistent.
        """
        if self._ledger is None:
            self._ledger = ledger_for(self.settings.db, busy_timeout=self.settings.busy_timeout)
        return self._ledger

    async def initialize(self, agent: BaseAgent) -> None:
        """Create the ledger (file and schema, or the database's tables) before the first run."""
        await in_worker(self.ledger.open)

    async def cleanup(self) -> None:
        """Forget the ledger; no connection outlives an operation, so there is nothing to close."""
        self._ledger = None

    async def charge_user(
        self,
        user_id: str | None,
        amount: Money,
        description: str = "",
        idempotency_key: str | None = None,
    ) -> bool:
        """Charge ``amount``; False, with nothing recorded, if the balance does not cover it
        or there is no one to charge (``user_id`` None or empty: a run without a user).

        Retrying with the same ``idempotency_key`` charges at most once; see ``Ledger.post``.
        A bad amount raises even for an anonymous caller, so the bug shows in every test.
        """
        if is_anonymous(user_id):
            to_micros(amount)
            check_name(idempotency_key, "idempotency_key", optional=True)
            return False
        assert user_id is not None  # for mypy: is_anonymous(None) is True
        ledger = self.ledger
        new_balance = await in_worker(
            ledger.post, "charge", user_id, amount, description, idempotency_key
        )
        return new_balance is not None

    async def credit(
        self, user_id: str, amount: Money, description: str = "", idempotency_key: str | None = None
    ) -> Decimal:
        """Add ``amount`` and return the new balance."""
        ledger = self.ledger
        new_balance = await in_worker(
            ledger.post, "credit", user_id, amount, description, idempotency_key
        )
        return new_balance or Decimal(0)  # never None: only a charge is declined

    async def refund(
        self,
        user_id: str,
        *,
        charge_key: str,
        amount: Money | None = None,
        description: str = "",
        idempotency_key: str | None = None,
    ) -> Decimal:
        """Refund ``amount`` (default: all that is left) of the charge made with ``charge_key``.

        Returns the new balance; refunding more than is left of the charge raises PaymentError.
        """
        ledger = self.ledger
        new_balance = await in_worker(
            ledger.post, "refund", user_id, amount, description, idempotency_key, charge_key
        )
        return new_balance or Decimal(0)  # never None: only a charge is declined

    async def get_balance(self, user_id: str) -> Decimal:
        """The balance of ``user_id``; 0 for unknown users."""
        return await in_worker(self.ledger.balance, user_id)

    async def transactions(self, user_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest transactions of ``user_id``, newest first, for statements."""
        return await in_worker(self.ledger.statement, user_id, limit)

    @tool
    async def check_balance(self) -> str:
        """Tell the user you are talking to how much money is on their account."""
        user_id = self.get_context().peer_user_id
        if user_id is None or is_anonymous(user_id):
            return "No user is signed in to this conversation, so there is no balance to show."
        balance = await self.get_balance(user_id)
        return f"The balance of user {user_id} is {balance:f}."
