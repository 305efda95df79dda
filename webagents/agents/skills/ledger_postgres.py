"""``PostgresLedger``: the payment ledger in a PostgreSQL database, shared by several machines.

``PaymentSkill`` uses it when ``config["db"]`` is a ``postgresql://`` (or ``postgres://``) URL;
it needs psycopg 3 (the ``postgres`` extra). It follows the rules in ``ledger_rules``, as the
SQLite ``Ledger`` does; only the storage differs:

- **Exact money.** Amounts and balances are BIGINT micro-units. CHECK constraints are a last
  line of defence: no balance below 0, no amount of 0, can be stored.
- **One user at a time, every user in parallel.** A write is one READ COMMITTED transaction
  that first locks the user's account row (``INSERT ... ON CONFLICT DO NOTHING`` creates it,
  ``SELECT ... FOR UPDATE`` locks it). The operations of one user therefore run one after
  the other, from any number of threads, processes and machines, while other users' run in
  parallel. Each statement after the lock sees every committed operation of that user, so a
  balance check, a replayed key or the rest of a charge to refund cannot be raced. A
  transaction locks one row, so two cannot deadlock, and nothing needs retrying (no
  SERIALIZABLE isolation). A write waits at most ``busy_timeout`` seconds for that lock
  (``lock_timeout``), then fails with a ``PaymentError``.
- **One connection per operation, no pool.** Nothing is shared between threads or inherited by
  a forked process, the skill has nothing to close, and after a server restart the next
  operation simply connects again. The price is a connection setup per operation (a few
  milliseconds, small beside the model call a charge pays for). No session state is used,
  so PgBouncer in transaction mode may stand in front when connections must be pooled.
- **The schema is created on first use** by whichever process comes first, under a
  transaction-level advisory lock: ``CREATE TABLE IF NOT EXISTS`` alone is not safe against
  concurrent creators in PostgreSQL. The tables, ``webagents_accounts`` and
  ``webagents_transactions``, are prefixed because the database may be shared; the URL's
  ``search_path`` (``?options=-csearch_path%3Dpayments``) puts them in a schema of their own.
- **Errors** of the database (cannot connect, locked too long, missing privilege, read-only)
  are ``PaymentError``s naming it by its URL without the password (``redact_url``); the
  password never appears, not even when a server message would quote it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict

from webagents._urls import redact_url
from webagents.agents.skills.ledger_rules import (
    STATEMENT_COLUMNS,
    Kind,
    Money,
    PaymentError,
    balance_after,
    check_limit,
    check_name,
    checked_post,
    from_micros,
    no_charge,
    refund_micros,
    replayed_balance,
    statement_entries,
)

__all__ = ["SCHEMES", "PostgresLedger", "check_url"]

SCHEMES = ("postgresql://", "postgres://")
_CONNECT_TIMEOUT = 10  # seconds, unless the URL or PGCONNECT_TIMEOUT says otherwise
# Any fixed 64-bit number: it names the lock that queues the processes creating the schema.
_SCHEMA_LOCK = 0x7765626167656E74  # "webagent"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS webagents_accounts (
    user_id TEXT PRIMARY KEY,
    balance_micros BIGINT NOT NULL CHECK (balance_micros >= 0)
);
CREATE TABLE IF NOT EXISTS webagents_transactions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES webagents_accounts (user_id),
    kind TEXT NOT NULL CHECK (kind IN ('charge', 'credit', 'refund')),
    amount_micros BIGINT NOT NULL CHECK (amount_micros > 0),
    description TEXT NOT NULL,
    idempotency_key TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    refunds BIGINT NULL REFERENCES webagents_transactions (id),
    balance_after_micros BIGINT NOT NULL CHECK (balance_after_micros >= 0)
);
CREATE INDEX IF NOT EXISTS webagents_transactions_refunds ON webagents_transactions (refunds);
CREATE INDEX IF NOT EXISTS webagents_transactions_user ON webagents_transactions (user_id, id);
CREATE UNIQUE INDEX IF NOT EXISTS webagents_transactions_user_key
    ON webagents_transactions (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
"""
# Created last, in the same transaction as the rest: if it exists, the whole schema does.
_LAST_OBJECT = "webagents_transactions_user_key"

Connection = psycopg.Connection[tuple[Any, ...]]


def _passwords(url: str) -> list[str]:
    """The password of ``url`` as written and decoded, to be kept out of every message."""
    found: set[str] = set()
    try:
        written = urlsplit(url).password
    except ValueError:
        written = None
    if written:
        found |= {written, unquote(written)}
    try:
        decoded = conninfo_to_dict(url).get("password")
    except psycopg.Error:
        decoded = None
    if isinstance(decoded, str) and decoded:
        found.add(decoded)
    return sorted(found, key=len, reverse=True)


def _scrubbed(text: str, url: str) -> str:
    """``text`` on one line, without the password of ``url``."""
    text = " ".join(text.split())
    for password in _passwords(url):
        text = text.replace(password, "***")
    return text


def check_url(url: str) -> None:
    """Raise ValueError, showing no secret, unless ``url`` is a PostgreSQL URL libpq parses."""
    if not url.startswith(SCHEMES):
        raise ValueError("must start with postgresql:// or postgres://")
    try:
        conninfo_to_dict(url)
    except psycopg.Error as error:
        raise ValueError(
            f"is not a valid PostgreSQL URL ({_scrubbed(str(error), url)}); see "
            "https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS"
        ) from None


class PostgresLedger:
    """The ledger's SQL for PostgreSQL: synchronous, thread-safe, one connection per operation.

    ``url`` is a ``postgresql://`` URL (user, password, host, port, database, and any libpq
    parameter as a query, e.g. ``sslmode=require``); ``busy_timeout`` is how many seconds a
    write waits for another one to release the user's row.
    """

    def __init__(self, url: str, *, busy_timeout: float = 30.0) -> None:
        try:
            check_url(url)
        except ValueError as error:
            raise PaymentError(f"ledger database {redact_url(url)}: {error}") from None
        self._url = url
        self.busy_timeout = float(busy_timeout)
        given = conninfo_to_dict(url)
        self._defaults: dict[str, Any] = {}
        if "connect_timeout" not in given and "PGCONNECT_TIMEOUT" not in os.environ:
            self._defaults["connect_timeout"] = _CONNECT_TIMEOUT
        if "application_name" not in given and "PGAPPNAME" not in os.environ:
            self._defaults["application_name"] = "webagents-ledger"
        lock_timeout = max(1, round(self.busy_timeout * 1000))  # ms; 0 would mean "forever"
        self._begin = sql.SQL("BEGIN; SET LOCAL lock_timeout = {}").format(lock_timeout)
        self._lock = threading.Lock()
        self._ready = False

    def where(self) -> str:
        return redact_url(self._url)

    def __repr__(self) -> str:
        return f"PostgresLedger({self.where()!r})"

    # --- connections and errors -----------------------------------------------------------

    def _failure(self, error: psycopg.Error) -> PaymentError | None:
        """The PaymentError for a failure of the database, naming it and the way out; None
        for an error the SQL itself made (a bug, left as it is)."""
        shown = f"ledger database {self.where()}"
        cause = _scrubbed(str(error), self._url)
        if isinstance(error, errors.LockNotAvailable):
            return PaymentError(
                f"{shown} stayed locked by another writer for {self.busy_timeout}s ({cause}); "
                "raise busy_timeout or find the stuck transaction"
            )
        if isinstance(error, errors.InsufficientPrivilege):
            fix = (
                "refused a privilege the ledger needs: CREATE on the schema to create its "
                "tables on first use, then SELECT, INSERT and UPDATE on webagents_accounts "
                "and webagents_transactions"
            )
        elif isinstance(error, errors.InvalidSchemaName):
            fix = "has no schema to create the ledger in; create the one search_path names"
        elif isinstance(error, errors.UndefinedTable):
            fix = "lost the ledger's tables after this process opened it; restore them"
        elif isinstance(error, psycopg.DataError):  # e.g. a NUL character in a text
            fix = "cannot store this operation"
        elif isinstance(error, errors.ReadOnlySqlTransaction):
            fix = "is read-only (a standby?); point db at the primary server"
        elif isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            fix = "failed; if a write was in flight, retry it with the same idempotency key"
        elif isinstance(error, psycopg.InternalError):
            fix = "cannot be used"
        else:
            return None
        return PaymentError(f"{shown} {fix} ({cause})")

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection of this operation alone (autocommit: transactions are begun here),
        closed at the end; database failures become PaymentErrors."""
        try:
            conn = psycopg.connect(self._url, autocommit=True, **self._defaults)
        except psycopg.Error as error:
            raise PaymentError(
                f"cannot connect to the ledger database {self.where()} "
                f"({_scrubbed(str(error), self._url)}); check that the server is up and the "
                "URL's host, port, database, user and password"
            ) from error
        try:
            with conn:  # on an exception: rolled back (if still possible), then closed
                yield conn
        except psycopg.Error as error:
            failure = self._failure(error)
            if failure is None:
                raise
            raise failure from error

    @contextmanager
    def _transaction(self, conn: Connection) -> Iterator[None]:
        """One transaction that waits for a lock at most ``busy_timeout``: committed on
        success (unless the body rolled it back), rolled back on any exception."""
        conn.execute(self._begin)
        yield
        conn.commit()  # nothing is sent when the body rolled back already

    def open(self) -> None:
        """Create the schema unless it exists; idempotent, safe in many processes at once."""
        with self._lock:
            if self._ready:
                return
            with self._connection() as conn:
                if not self._has_schema(conn):
                    with self._transaction(conn):
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                        if not self._has_schema(conn):  # the lock's last holder created it
                            conn.execute(_SCHEMA)
            self._ready = True

    @staticmethod
    def _has_schema(conn: Connection) -> bool:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (_LAST_OBJECT,)).fetchone()
        return bool(row and row[0])

    # --- the ledger -----------------------------------------------------------------------

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

        The same contract as ``Ledger.post``. Everything after the lock on the user's account
        row is one transaction, so no other operation of this user slips in between.
        """
        micros = checked_post(kind, user_id, amount, key, charge_key)
        self.open()
        with self._connection() as conn, self._transaction(conn):
            balance = self._lock_account(conn, user_id)
            charge_id, left = None, 0
            if kind == "refund":
                charge_id, left = self._refundable(conn, user_id, charge_key)
            if key is not None:
                row = conn.execute(
                    "SELECT kind, refunds, amount_micros, balance_after_micros "
                    "FROM webagents_transactions WHERE user_id = %s AND idempotency_key = %s",
                    (user_id, key),
                ).fetchone()
                replayed = replayed_balance(row, key, (kind, charge_id), micros)
                if replayed is not None:
                    return from_micros(replayed)
            if kind == "refund":
                assert charge_key is not None  # checked_post requires it of a refund
                micros = refund_micros(amount, micros, left, charge_key)
            assert micros is not None  # only a refund may leave it out, checked above
            new_balance = balance_after(kind, balance, micros)
            if new_balance is None:
                conn.rollback()  # a declined charge leaves no trace, not even a new account
                return None
            conn.execute(
                "UPDATE webagents_accounts SET balance_micros = %s WHERE user_id = %s",
                (new_balance, user_id),
            )
            conn.execute(
                "INSERT INTO webagents_transactions (user_id, kind, amount_micros, description, "
                "idempotency_key, refunds, balance_after_micros) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (user_id, kind, micros, description, key, charge_id, new_balance),
            )
            return from_micros(new_balance)

    @staticmethod
    def _lock_account(conn: Connection, user_id: str) -> int:
        """Lock the account row of ``user_id`` (created at 0 if new) and return its balance.

        A concurrent first operation of the same user makes the INSERT wait for it to end; the
        SELECT then waits for the row lock of any other writer of this user, and reads the
        balance that writer committed.
        """
        conn.execute(
            "INSERT INTO webagents_accounts (user_id, balance_micros) VALUES (%s, 0) "
            "ON CONFLICT (user_id) DO NOTHING",
            (user_id,),
        )
        row = conn.execute(
            "SELECT balance_micros FROM webagents_accounts WHERE user_id = %s FOR UPDATE",
            (user_id,),
        ).fetchone()
        assert row is not None  # inserted above, and accounts are never deleted
        return int(row[0])

    @staticmethod
    def _refundable(conn: Connection, user_id: str, key: str | None) -> tuple[int, int]:
        """The id of the user's charge made with ``key`` and how much of it is unrefunded."""
        row = conn.execute(
            "SELECT c.id, c.amount_micros - COALESCE(SUM(r.amount_micros), 0) "
            "FROM webagents_transactions c "
            "LEFT JOIN webagents_transactions r ON r.refunds = c.id "
            "WHERE c.user_id = %s AND c.idempotency_key = %s AND c.kind = 'charge' "
            "GROUP BY c.id",
            (user_id, key),
        ).fetchone()
        if row is None:
            raise no_charge(user_id, key)
        return int(row[0]), int(row[1])

    def balance(self, user_id: str) -> Decimal:
        """The balance of ``user_id``; 0 for a user the ledger has never seen."""
        check_name(user_id, "user_id")
        self.open()
        with self._connection() as conn:
            row = conn.execute(
                "SELECT balance_micros FROM webagents_accounts WHERE user_id = %s", (user_id,)
            ).fetchone()
        return from_micros(int(row[0]) if row else 0)

    def statement(self, user_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest ``limit`` transactions of ``user_id``, newest first, amounts as Decimal
        and ``created_at`` as ISO 8601 text in UTC, as the SQLite ledger gives them."""
        check_name(user_id, "user_id")
        check_limit(limit)
        self.open()
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {STATEMENT_COLUMNS} FROM webagents_transactions "
                "WHERE user_id = %s ORDER BY id DESC LIMIT %s",
                (user_id, limit),
            ).fetchall()
        return statement_entries(
            (*row[:5], row[5].astimezone(UTC).isoformat(), *row[6:]) for row in rows
        )
