"""What every payment ledger shares: money as exact micro-units, ``PaymentError``, the rules
of charges, credits, refunds and idempotency keys, and ``LedgerBackend``, the interface of a
ledger's storage.

``Ledger`` (SQLite, in ``payment``) and ``PostgresLedger`` (in ``ledger_postgres``) implement
``LedgerBackend``; they differ only in their SQL and in how they lock, and call the functions
here for every decision, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction
from typing import Any, Literal, Protocol, TypeAlias

from webagents.errors import WebAgentsError

__all__ = ["Kind", "LedgerBackend", "Money", "PaymentError"]

Money: TypeAlias = Decimal | int | str | float
Kind: TypeAlias = Literal["charge", "credit", "refund"]
MICROS = 10**6
_MAX_MICROS = 2**63 - 1  # the largest SQLite INTEGER and PostgreSQL BIGINT
_MAX_AMOUNT = Decimal(_MAX_MICROS // MICROS)


class PaymentError(WebAgentsError, ValueError):
    """A ledger rule was broken (a bad amount, a reused idempotency key, an unknown charge, an
    over-refund), or the ledger cannot be used; then the message names the file, or the
    database by its URL without the password."""


def to_micros(amount: Money) -> int:
    """Convert an amount to micro-units, rejecting anything that is not exact and positive.

    A float is taken as the decimal it prints as (``0.1`` is ``Decimal("0.1")``), which is
    what its writer meant; one that prints with more than 6 decimals (``0.1 + 0.2``) is
    refused rather than silently rounded.
    """
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int | str | float):
        raise TypeError(
            f"amount must be an int, str, Decimal or float, got {type(amount).__name__} "
            f"{amount!r}; pass e.g. Decimal('12.50')"
        )
    try:
        value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount)
    except InvalidOperation:
        raise PaymentError(f"amount {amount!r} is not a number; pass e.g. '12.50'") from None
    if value.is_nan():
        raise PaymentError(f"amount {amount!r} is not a number; pass e.g. '12.50'")
    if value.is_infinite():
        raise PaymentError(f"amount {amount!r} is infinite; pass a finite amount, e.g. '12.50'")
    if value <= 0:
        raise PaymentError(f"amount {amount!r} is not positive; amounts must be above 0")
    if value > _MAX_AMOUNT:
        raise PaymentError(f"amount {value} is too large; the ledger holds at most {_MAX_AMOUNT}")
    # adjusted() < -6 is below 0.000001: rejected before Fraction builds a huge denominator
    if value.adjusted() < -6 or (micros := Fraction(value) * MICROS).denominator != 1:
        if isinstance(amount, float):
            example = "round(amount, 2)"
        elif isinstance(amount, Decimal):
            example = "amount.quantize(Decimal('0.01'))"
        else:
            example = "Decimal(amount).quantize(Decimal('0.01'))"
        raise PaymentError(
            f"amount {amount!r} has more than 6 decimal places; round it first, e.g. {example}"
        )
    return int(micros)


def from_micros(micros: int) -> Decimal:
    """The exact Decimal for a count of micro-units (``300000`` -> ``Decimal('0.3')``)."""
    with localcontext() as ctx:
        ctx.prec = 40  # more digits than any INTEGER has, so the division is exact
        return Decimal(micros) / MICROS


def check_name(value: object, what: str, *, optional: bool = False) -> None:
    if (value is not None or not optional) and (not isinstance(value, str) or not value.strip()):
        raise TypeError(f"{what} must be a non-empty str, got {value!r}")


def is_anonymous(user_id: object) -> bool:
    """No one to charge: ``user_id`` None, empty or blank (a run without a ``user_id``)."""
    return user_id is None or (isinstance(user_id, str) and not user_id.strip())


def checked_post(
    kind: Kind, user_id: str, amount: Money | None, key: str | None, charge_key: str | None
) -> int | None:
    """The arguments of ``LedgerBackend.post`` checked; the amount in micro-units, None for
    a refund of all that is left."""
    if amount is None and kind != "refund":
        raise TypeError(
            f"a {kind} needs an amount (an int, str, Decimal or float), got None; only a "
            f"refund may leave it out"
        )
    micros = None if amount is None else to_micros(amount)
    check_name(user_id, "user_id")
    check_name(key, "idempotency_key", optional=True)
    check_name(charge_key, "charge_key", optional=kind != "refund")
    return micros


def replayed_balance(
    row: Sequence[Any] | None, key: str, first: tuple[str, int | None], micros: int | None
) -> int | None:
    """The balance after the operation a user first made with ``key``, from its row (kind,
    refunds, amount_micros, balance_after_micros) of that user's transactions; None if there
    is no such row, i.e. the key is new for this user.

    Keys are per user: two users' operations never meet here, so neither a conflict nor
    its error can reveal another user's ids or amounts. A key names one operation (kind,
    charge refunded, amount); reusing it for another is a caller bug, so it raises rather
    than guess which of the two was meant.
    """
    if row is None:
        return None
    if tuple(row[:2]) != first or micros not in (None, row[2]):
        raise PaymentError(
            f"idempotency key {key!r} was already used by this user for a {row[0]} of "
            f"{from_micros(row[2])}; a retry must repeat that exact {row[0]}, so give a "
            f"new operation a new key"
        )
    return int(row[3])


def no_charge(user_id: str, key: str | None) -> PaymentError:
    return PaymentError(
        f"user {user_id!r} has no charge with idempotency key {key!r}; pass the "
        f"idempotency_key that was given to charge_user"
    )


def refund_micros(amount: Money | None, micros: int | None, left: int, charge_key: str) -> int:
    """What a refund gives back: ``micros``, or all that is ``left`` when None; never more."""
    wanted, micros = ("the rest", left) if micros is None else (amount, micros)
    if micros > left or micros == 0:
        raise PaymentError(
            f"cannot refund {wanted} of charge {charge_key!r}: at most "
            f"{from_micros(left)} of it is left to refund"
        )
    return micros


def balance_after(kind: Kind, balance: int, micros: int) -> int | None:
    """The balance after the operation; None for a charge the balance does not cover."""
    new_balance = balance - micros if kind == "charge" else balance + micros
    if new_balance < 0:
        return None
    if new_balance > _MAX_MICROS:
        raise PaymentError(f"adding {from_micros(micros)} would overflow the ledger")
    return new_balance


def check_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int, got {limit!r}")


STATEMENT_COLUMNS = (
    "id, kind, amount_micros, description, idempotency_key, created_at, refunds, "
    "balance_after_micros"
)


def statement_entries(rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows of ``STATEMENT_COLUMNS`` as statement entries, amounts as Decimal."""
    names = STATEMENT_COLUMNS.replace("_micros", "").split(", ")
    money = ("amount", "balance_after")
    return [
        {name: from_micros(v) if name in money else v for name, v in zip(names, row, strict=True)}
        for row in rows
    ]


class LedgerBackend(Protocol):
    """What ``PaymentSkill`` needs of a ledger: ``Ledger`` (SQLite) and ``PostgresLedger``.

    Synchronous and thread-safe (the skill calls it from worker threads); each operation is
    atomic, and the balance never goes below 0. Failures of the storage itself are
    ``PaymentError``s naming it as ``where()`` does.
    """

    def where(self) -> str:
        """The ledger as errors show it: a file path, or a URL without its password."""
        ...

    def open(self) -> None:
        """Make the ledger ready (its schema included); idempotent, safe in many processes."""
        ...

    def post(
        self,
        kind: Kind,
        user_id: str,
        amount: Money | None,
        description: str = "",
        key: str | None = None,
        charge_key: str | None = None,
    ) -> Decimal | None:
        """Record one charge, credit or refund; the new balance, or None if declined."""
        ...

    def balance(self, user_id: str) -> Decimal:
        """The balance of ``user_id``; 0 for a user the ledger has never seen."""
        ...

    def statement(self, user_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest ``limit`` transactions of ``user_id``, newest first."""
        ...
