"""PaymentSkill: an exact, atomic, idempotent ledger.

The ledger tests run on both backends through the ``backend`` fixture: a SQLite file in
tmp_path, and a fresh database of a real PostgreSQL server (the ``postgres_server`` fixture)
per test. What only one backend has (a file and its directory; a server, its roles and
schemas) is tested on that backend alone.
"""

import asyncio
import itertools
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from webagents.agents.skills.payment import Ledger, PaymentError, PaymentSkill, ledger_for
from webagents.context import Context, current_context
from webagents.errors import AgentConfigError
from webagents.testing.postgres_server import PostgresServer

REPO = Path(__file__).resolve().parents[1]
_DATABASES = itertools.count(1)


class Backend:
    """One ledger backend as the tests see it: ``db`` is what ``config["db"]`` is."""

    name: str
    db: str
    #: the names of the accounts and transactions tables
    tables: tuple[str, str]

    def fresh(self, name: str) -> str:
        """The ``db`` of another ledger, empty and not yet opened."""
        raise NotImplementedError

    def query(self, statement: str) -> list[tuple[Any, ...]]:
        """Run one SQL statement on the ledger, as another client would; its rows."""
        raise NotImplementedError

    def holding_write_lock(self) -> AbstractContextManager[None]:
        """Another writer holding the ledger's write lock, as a second process would."""
        raise NotImplementedError


class SQLiteBackend(Backend):
    name, tables = "sqlite", ("accounts", "transactions")

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.db = str(directory / "ledger.db")

    def fresh(self, name: str) -> str:
        return str(self.directory / f"{name}.db")

    def query(self, statement: str) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.db, isolation_level=None)) as conn:
            return conn.execute(statement).fetchall()

    @contextmanager
    def holding_write_lock(self) -> Iterator[None]:
        blocker = _hold_write_lock(self.db)
        try:
            yield
        finally:
            blocker.close()  # from the event loop, which must still be running


class PostgresBackend(Backend):
    name, tables = "postgres", ("webagents_accounts", "webagents_transactions")

    def __init__(self, server: PostgresServer, url: str) -> None:
        import psycopg

        self.psycopg = psycopg
        self.server = server
        self.db = url

    def fresh(self, name: str) -> str:
        """A schema of its own in this database, named by the URL's search_path."""
        self.query(f"CREATE SCHEMA {name}")
        return f"{self.db}?options={quote(f'-csearch_path={name}')}"

    def query(self, statement: str) -> list[tuple[Any, ...]]:
        with self.psycopg.connect(self.db, autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    @contextmanager
    def holding_write_lock(self) -> Iterator[None]:
        """EXCLUSIVE mode blocks every writer of the ledger and lets readers through."""
        with self.psycopg.connect(self.db) as conn:
            conn.execute("LOCK TABLE webagents_accounts IN EXCLUSIVE MODE")
            yield


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield SQLiteBackend(tmp_path)
        return
    pytest.importorskip("psycopg", reason="install the postgres extra")
    server = request.getfixturevalue("postgres_server")  # one per session
    name = f"payment_{next(_DATABASES)}"
    yield PostgresBackend(server, server.create_database(name))
    server.drop_database(name)


@pytest.fixture
def db(backend: Backend) -> str:
    return backend.db


@pytest.fixture
def skill(db: str) -> PaymentSkill:
    return PaymentSkill({"db": db})


async def test_credit_then_charge(skill: PaymentSkill) -> None:
    assert await skill.get_balance("u1") == 0
    assert await skill.credit("u1", Decimal("10.50"), "top-up") == Decimal("10.5")
    assert await skill.charge_user(user_id="u1", amount="2.25", description="search") is True
    assert await skill.get_balance("u1") == Decimal("8.25")
    assert await skill.get_balance("someone-else") == 0


async def test_insufficient_funds_returns_false_and_records_nothing(skill: PaymentSkill) -> None:
    await skill.credit("u1", 5)
    assert await skill.charge_user(user_id="u1", amount=6, description="too much") is False
    assert await skill.charge_user(user_id="nobody", amount=1, description="no account") is False
    assert await skill.get_balance("u1") == 5
    assert [t["kind"] for t in await skill.transactions("u1")] == ["credit"]
    assert await skill.transactions("nobody") == []


async def test_idempotent_charge_charges_once(skill: PaymentSkill) -> None:
    await skill.credit("u1", 10)
    for _ in range(3):
        assert await skill.charge_user(
            user_id="u1", amount="4", description="call", idempotency_key="k1"
        )
    assert await skill.get_balance("u1") == 6
    assert len(await skill.transactions("u1")) == 2


async def test_idempotent_charge_under_concurrency(skill: PaymentSkill) -> None:
    await skill.credit("u1", 10)
    results = await asyncio.gather(
        *(skill.charge_user(user_id="u1", amount=3, idempotency_key="same") for _ in range(50))
    )
    assert all(results)
    assert await skill.get_balance("u1") == 7


async def test_declined_charge_key_can_be_retried_after_credit(skill: PaymentSkill) -> None:
    assert await skill.charge_user(user_id="u1", amount=3, idempotency_key="k") is False
    await skill.credit("u1", 3)
    assert await skill.charge_user(user_id="u1", amount=3, idempotency_key="k") is True
    assert await skill.get_balance("u1") == 0


async def test_idempotent_credit_returns_first_balance(skill: PaymentSkill) -> None:
    assert await skill.credit("u1", 5, idempotency_key="c1") == 5
    assert await skill.credit("u1", 2) == 7
    assert await skill.credit("u1", 5, idempotency_key="c1") == 5  # the first outcome
    assert await skill.get_balance("u1") == 7


async def test_key_reused_for_a_different_operation_raises(skill: PaymentSkill) -> None:
    await skill.credit("u1", 10)
    assert await skill.charge_user(user_id="u1", amount="1", idempotency_key="k1")
    with pytest.raises(ValueError, match="idempotency key 'k1' was already used"):
        await skill.charge_user(user_id="u1", amount="2", idempotency_key="k1")
    with pytest.raises(PaymentError, match="new key"):
        await skill.credit("u1", "1", idempotency_key="k1")
    assert await skill.get_balance("u1") == 9


# --- idempotency keys belong to one user -------------------------------------------------


async def test_same_key_for_two_users_makes_two_independent_charges(skill: PaymentSkill) -> None:
    await skill.credit("alice", 10)
    await skill.credit("bob", 10)
    assert await skill.charge_user(user_id="alice", amount=3, idempotency_key="order-1")
    assert await skill.charge_user(user_id="bob", amount=4, idempotency_key="order-1")
    for _ in range(2):  # replays: the same outcome, nothing charged twice
        assert await skill.charge_user(user_id="alice", amount=3, idempotency_key="order-1")
        assert await skill.charge_user(user_id="bob", amount=4, idempotency_key="order-1")
    assert (await skill.get_balance("alice"), await skill.get_balance("bob")) == (7, 6)
    assert await skill.credit("alice", 1, idempotency_key="gift") == 8
    assert await skill.credit("bob", 2, idempotency_key="gift") == 8
    assert await skill.credit("bob", 2, idempotency_key="gift") == 8  # bob's first outcome
    assert await skill.refund("bob", charge_key="order-1") == 12  # bob's own charge of 4
    assert await skill.get_balance("alice") == 8
    assert [t["kind"] for t in await skill.transactions("alice")] == ["credit", "charge", "credit"][
        ::-1
    ]


async def test_replayed_decline_is_a_decline_for_that_user_only(skill: PaymentSkill) -> None:
    await skill.credit("rich", 100)
    assert await skill.charge_user(user_id="poor", amount=5, idempotency_key="k") is False
    assert await skill.charge_user(user_id="rich", amount=5, idempotency_key="k") is True
    assert await skill.charge_user(user_id="poor", amount=5, idempotency_key="k") is False
    assert await skill.get_balance("rich") == 95


async def test_key_conflict_error_shows_nothing_of_another_user(skill: PaymentSkill) -> None:
    await skill.credit("alice", 100)
    await skill.credit("bob", 100)
    assert await skill.charge_user(user_id="alice", amount="12.34", idempotency_key="k")
    assert await skill.charge_user(user_id="bob", amount="56.78", idempotency_key="k")
    with pytest.raises(PaymentError, match="idempotency key 'k' was already used") as caught:
        await skill.charge_user(user_id="bob", amount="1", idempotency_key="k")
    message = str(caught.value)
    assert "new key" in message
    assert "alice" not in message and "12.34" not in message
    assert await skill.get_balance("bob") == Decimal("43.22")


# --- amounts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "exact"),
    [
        (0.1, Decimal("0.1")),
        (2.5, Decimal("2.5")),
        (19.99, Decimal("19.99")),
        (3.0, Decimal(3)),
        (0.000001, Decimal("0.000001")),
        (1234567.125, Decimal("1234567.125")),
    ],
)
async def test_a_float_is_the_decimal_it_prints_as(
    skill: PaymentSkill, amount: float, exact: Decimal
) -> None:
    await skill.credit("u1", 10_000_000)
    assert await skill.charge_user(user_id="u1", amount=amount, description="float") is True
    [charge, _credit] = await skill.transactions("u1")
    assert charge["amount"] == exact
    assert await skill.get_balance("u1") == 10_000_000 - exact


async def test_float_amounts_add_up_exactly(skill: PaymentSkill) -> None:
    assert await skill.credit("u1", 0.3) == Decimal("0.3")
    for _ in range(3):
        assert await skill.charge_user(user_id="u1", amount=0.1)
    assert await skill.get_balance("u1") == 0  # 0.3 - 3 * 0.1 in floats is 5.55e-17
    assert await skill.charge_user(user_id="u1", amount=0.1) is False
    assert await skill.credit("u1", 1.5, idempotency_key="c") == Decimal("1.5")
    assert await skill.credit("u1", Decimal("1.5"), idempotency_key="c") == Decimal("1.5")


@pytest.mark.parametrize(
    ("amount", "problem"),
    [
        (float("nan"), "not a number"),
        (Decimal("NaN"), "not a number"),
        (Decimal("sNaN"), "not a number"),
        ("nan", "not a number"),
        ("abc", "not a number"),
        (float("inf"), "infinite"),
        (float("-inf"), "infinite"),
        ("Infinity", "infinite"),
        (Decimal("-Infinity"), "infinite"),
        (0.0, "positive"),
        (-0.0, "positive"),
        (-2.5, "positive"),
        (0, "positive"),
        (-1, "positive"),
        ("-0.01", "positive"),
        (Decimal("-0"), "positive"),
        (0.1 + 0.2, "round it"),  # 0.30000000000000004: a float sum, not a price
        (1e-7, "6 decimal places"),
        (1e300, "too large"),
    ],
)
async def test_bad_amounts_are_payment_errors_that_say_why(
    skill: PaymentSkill, amount: object, problem: str
) -> None:
    await skill.credit("u1", 10)
    attempts = (
        lambda: skill.charge_user(user_id="u1", amount=amount),  # type: ignore[arg-type]
        lambda: skill.credit("u1", amount),  # type: ignore[arg-type]
        lambda: skill.charge_user(user_id=None, amount=amount),  # type: ignore[arg-type]
    )
    for attempt in attempts:
        with pytest.raises(PaymentError, match=problem) as caught:
            await attempt()
        assert str(caught.value).startswith("amount ")
    assert await skill.get_balance("u1") == 10


@pytest.mark.parametrize("amount", [True, False, None, [1], b"1"])
async def test_non_numbers_are_type_errors_naming_the_accepted_types(
    skill: PaymentSkill, amount: object
) -> None:
    with pytest.raises(TypeError, match="int, str, Decimal or float") as caught:
        await skill.charge_user(user_id="u1", amount=amount)  # type: ignore[arg-type]
    assert repr(amount) in str(caught.value)


# --- anonymous callers -------------------------------------------------------------------


@pytest.mark.parametrize("user_id", [None, "", "   "])
async def test_anonymous_caller_is_declined_and_nothing_is_written(
    skill: PaymentSkill, backend: Backend, user_id: str | None
) -> None:
    await skill.credit("u1", 10)
    assert await skill.charge_user(user_id=user_id, amount=1, description="x") is False
    assert await skill.charge_user(user_id=user_id, amount=2.5, idempotency_key="k") is False
    assert backend.query(f"SELECT COUNT(*) FROM {backend.tables[1]}") == [(1,)]
    with pytest.raises(TypeError, match="user_id must be a non-empty str"):
        await skill.credit(user_id, 1)  # type: ignore[arg-type]


async def test_a_declined_charge_leaves_no_trace(skill: PaymentSkill, backend: Backend) -> None:
    assert await skill.charge_user(user_id="newcomer", amount=1, idempotency_key="k") is False
    accounts, transactions = backend.tables
    assert backend.query(f"SELECT * FROM {accounts} WHERE user_id = 'newcomer'") == []
    assert backend.query(f"SELECT * FROM {transactions} WHERE user_id = 'newcomer'") == []


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE {accounts} SET balance_micros = -1",
        "UPDATE {transactions} SET amount_micros = 0",
    ],
)
async def test_the_database_itself_refuses_a_negative_balance_or_a_zero_amount(
    skill: PaymentSkill, backend: Backend, change: str
) -> None:
    """The CHECK constraints: a last line of defence behind the checks in the code."""
    await skill.credit("u1", 1)
    accounts, transactions = backend.tables
    with pytest.raises(Exception, match=r"(?i)check"):
        backend.query(change.format(accounts=accounts, transactions=transactions))
    assert await skill.get_balance("u1") == 1


@pytest.mark.parametrize("amount", [0, -1, "0", "-0.01", Decimal("0"), Decimal("-5")])
async def test_non_positive_rejected(skill: PaymentSkill, amount: object) -> None:
    with pytest.raises(ValueError, match="positive"):
        await skill.credit("u1", amount)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        await skill.charge_user(user_id="u1", amount=amount)  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["0.0000001", Decimal("1.1234567"), "1e-9"])
async def test_more_than_six_decimal_places_rejected(skill: PaymentSkill, amount: object) -> None:
    with pytest.raises(ValueError, match="6 decimal places"):
        await skill.credit("u1", amount)  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["abc", "NaN", "Infinity", Decimal("sNaN")])
async def test_non_numbers_rejected(skill: PaymentSkill, amount: object) -> None:
    with pytest.raises(ValueError):
        await skill.credit("u1", amount)  # type: ignore[arg-type]


async def test_decimals_are_exact(skill: PaymentSkill) -> None:
    await skill.credit("u1", "0.1")
    assert await skill.credit("u1", Decimal("0.2")) == Decimal("0.3")
    assert await skill.credit("u1", "0.000001") == Decimal("0.300001")
    assert await skill.credit("u1", Decimal("1.2000000")) == Decimal("1.500001")  # zeros are fine
    for _ in range(10):
        assert await skill.charge_user(user_id="u1", amount="0.1")
    assert await skill.get_balance("u1") == Decimal("0.500001")
    statement = await skill.transactions("u1", limit=2)
    assert [t["amount"] for t in statement] == [Decimal("0.1"), Decimal("0.1")]
    assert statement[0]["balance_after"] == Decimal("0.500001")


async def test_refund_partial_then_rest_and_over_refund_rejected(skill: PaymentSkill) -> None:
    await skill.credit("u1", 10)
    assert await skill.charge_user(user_id="u1", amount=8, idempotency_key="order-1")
    assert await skill.refund("u1", charge_key="order-1", amount="3") == 5
    with pytest.raises(PaymentError, match=r"cannot refund 5.01 .*at most 5 of it is left"):
        await skill.refund("u1", charge_key="order-1", amount="5.01")
    assert await skill.get_balance("u1") == 5
    assert await skill.refund("u1", charge_key="order-1") == 10  # the rest: 5
    with pytest.raises(PaymentError, match=r"cannot refund the rest .*at most 0"):
        await skill.refund("u1", charge_key="order-1")
    with pytest.raises(PaymentError, match="no charge with idempotency key 'nope'"):
        await skill.refund("u1", charge_key="nope")
    with pytest.raises(PaymentError, match="no charge"):
        await skill.refund("u2", charge_key="order-1")  # another user's charge
    refunds = [t for t in await skill.transactions("u1") if t["kind"] == "refund"]
    charge_id = next(t["id"] for t in await skill.transactions("u1") if t["kind"] == "charge")
    assert {t["refunds"] for t in refunds} == {charge_id}
    assert sum(t["amount"] for t in refunds) == 8


async def test_refund_is_idempotent(skill: PaymentSkill) -> None:
    await skill.credit("u1", 10)
    await skill.charge_user(user_id="u1", amount=6, idempotency_key="order")
    assert await skill.refund("u1", charge_key="order", amount=2, idempotency_key="r1") == 6
    assert await skill.refund("u1", charge_key="order", amount=2, idempotency_key="r1") == 6
    assert await skill.get_balance("u1") == 6
    with pytest.raises(PaymentError):
        await skill.refund("u1", charge_key="order", amount=3, idempotency_key="r1")


async def test_concurrent_charges_never_overdraw(skill: PaymentSkill) -> None:
    await skill.credit("u1", 100)
    results = await asyncio.gather(
        *(
            skill.charge_user(user_id="u1", amount="0.75", idempotency_key=f"c{i}")
            for i in range(200)
        )
    )
    successes = sum(results)
    assert successes == 133  # floor(100 / 0.75)
    balance = await skill.get_balance("u1")
    assert balance == Decimal(100) - successes * Decimal("0.75") == Decimal("0.25")
    assert len(await skill.transactions("u1", limit=1000)) == 1 + successes


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from webagents.agents.skills.payment import PaymentSkill

    async def main(db, tag, n):
        skill = PaymentSkill({"db": db})
        await skill.get_balance("u")  # opens the ledger
        print("ready", flush=True)
        sys.stdin.readline()  # wait until every process is ready
        results = await asyncio.gather(*(
            skill.charge_user(user_id="u", amount="1", idempotency_key=f"{tag}-{i}")
            for i in range(n)
        ))
        print(sum(results), flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


def _spawn(db: str, tag: str, charges: int) -> "subprocess.Popen[str]":
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, db, tag, str(charges)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_processes_charging_one_user_at_once_share_the_ledger(db: str) -> None:
    """Four processes, each with 40 charges in flight, released together by a line on their
    stdin: exactly the 100 charges the balance covers succeed, none is lost or doubled."""
    assert ledger_for(db).post("credit", "u", 100) == 100
    procs = [_spawn(db, tag, 40) for tag in "abcd"]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "ready\n", proc.communicate()
        for proc in procs:  # release all before waiting for any
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert [proc.returncode for proc in procs] == [0] * len(procs), outputs
    assert sum(int(out) for out, _ in outputs) == 100  # 160 attempts, 100 covered
    ledger = ledger_for(db)
    assert ledger.balance("u") == 0
    statement = ledger.statement("u", limit=1000)
    assert len(statement) == 101
    assert [entry["balance_after"] for entry in statement] == list(range(101))  # newest first


async def test_webagents_home_read_at_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBAGENTS_HOME", raising=False)
    skill = PaymentSkill()  # constructed (and the module imported) before the variable is set
    home = tmp_path / "nested" / "home"
    monkeypatch.setenv("WEBAGENTS_HOME", str(home))
    assert await skill.credit("u1", 5) == 5
    assert (home / "ledger.db").is_file()
    assert await PaymentSkill().get_balance("u1") == 5  # a fresh instance finds the same file


async def test_default_home_is_dot_webagents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBAGENTS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    await PaymentSkill().credit("u1", 1)
    assert (tmp_path / ".webagents" / "ledger.db").is_file()


async def test_initialize_creates_schema_and_cleanup_allows_reuse(
    db: str, backend: Backend
) -> None:
    skill = PaymentSkill({"db": db})
    await skill.initialize(None)  # type: ignore[arg-type]
    assert backend.query(f"SELECT COUNT(*) FROM {backend.tables[1]}") == [(0,)]
    await skill.cleanup()
    assert await skill.credit("u1", 1) == 1  # reopened lazily


async def test_check_balance_tool_reads_peer_user(skill: PaymentSkill) -> None:
    await skill.credit("u1", "12.5")
    token = current_context.set(Context(agent_name="a", messages=[], run_id="r", peer_user_id="u1"))
    try:
        assert await skill.check_balance() == "The balance of user u1 is 12.5."
    finally:
        current_context.reset(token)
    for anonymous in (None, ""):
        context = Context(agent_name="a", messages=[], run_id="r", peer_user_id=anonymous)
        token = current_context.set(context)
        try:
            assert "No user is signed in" in await skill.check_balance()
        finally:
            current_context.reset(token)


def test_only_check_balance_is_a_tool() -> None:
    tools = [m.attr for m in PaymentSkill.__webagents_members__ if m.schema is not None]
    assert tools == ["check_balance"]


def test_bad_arguments_name_the_fix(db: str) -> None:
    ledger = ledger_for(db)
    with pytest.raises(TypeError, match="user_id must be a non-empty str"):
        ledger.post("credit", "", 1)
    with pytest.raises(TypeError, match="charge_key must be a non-empty str"):
        ledger.post("refund", "u1", 1)
    with pytest.raises(ValueError, match="positive int"):
        ledger.statement("u1", limit=0)


def test_an_in_memory_sqlite_ledger_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a file"):
        Ledger(":memory:")


def _hold_write_lock(db: str) -> sqlite3.Connection:
    """Another writer, as a second process would be: holds SQLite's write lock until closed."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


async def test_waiting_writer_does_not_block_the_event_loop(db: str, backend: Backend) -> None:
    skill = PaymentSkill({"db": db, "busy_timeout": 30})
    await skill.credit("u1", 5)
    with backend.holding_write_lock():
        task = asyncio.create_task(skill.charge_user(user_id="u1", amount=1))
        await asyncio.sleep(0)  # the charge starts; a blocking call would stall the loop here
        assert not task.done()
    assert await task is True
    assert await skill.get_balance("u1") == 4


async def test_lock_timeout_names_the_fix(db: str, backend: Backend) -> None:
    skill = PaymentSkill({"db": db, "busy_timeout": 0.05})
    await skill.initialize(None)  # type: ignore[arg-type]
    with backend.holding_write_lock(), pytest.raises(PaymentError) as caught:
        await skill.credit("u1", 1)
    assert "stayed locked by another writer for 0.05s" in str(caught.value)
    assert "raise busy_timeout" in str(caught.value)
    assert await skill.get_balance("u1") == 0


# --- the ledger file ---------------------------------------------------------------------


async def test_a_sqlite_file_that_is_not_a_ledger_is_a_payment_error_naming_it(
    tmp_path: Path,
) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"certainly not SQLite " * 20)
    skill = PaymentSkill({"db": str(corrupt)})
    for attempt in (lambda: skill.credit("u1", 1), lambda: skill.get_balance("u1")):
        with pytest.raises(PaymentError, match="not a SQLite database") as caught:
            await attempt()
        assert str(corrupt) in str(caught.value)
        assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


async def test_a_sqlite_ledger_damaged_after_opening_is_a_payment_error_naming_it(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "ledger.db")
    skill = PaymentSkill({"db": db})
    await skill.credit("u1", 1)
    for leftover in Path(db).parent.glob("ledger.db-*"):
        leftover.unlink()
    Path(db).write_bytes(b"overwritten by something else " * 200)
    with pytest.raises(PaymentError, match=f"{db}.*not a SQLite database"):
        await skill.get_balance("u1")
    with pytest.raises(PaymentError, match=f"{db}.*not a SQLite database"):
        await skill.charge_user(user_id="u1", amount=1)


async def test_a_directory_in_place_of_the_ledger_is_a_payment_error(tmp_path: Path) -> None:
    directory = tmp_path / "ledger.db"
    directory.mkdir()
    with pytest.raises(PaymentError, match="is a directory") as caught:
        await PaymentSkill({"db": str(directory)}).initialize(None)  # type: ignore[arg-type]
    assert str(directory) in str(caught.value)


async def test_an_unusable_ledger_directory_is_a_payment_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the ledger's directory should be")
    db = blocker / "ledger.db"
    with pytest.raises(PaymentError, match="cannot create the directory") as caught:
        await PaymentSkill({"db": str(db)}).credit("u1", 1)
    assert str(db) in str(caught.value)


async def test_first_open_behind_a_stuck_writer_names_the_file(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    blocker = _hold_write_lock(str(db))  # a brand-new file, not yet in WAL mode
    try:
        skill = PaymentSkill({"db": str(db), "busy_timeout": 0.05})
        with pytest.raises(PaymentError, match="busy_timeout") as caught:
            await skill.credit("u1", 1)
        assert str(db) in str(caught.value)
    finally:
        blocker.close()
    assert await skill.credit("u1", 1) == 1


OPENER = textwrap.dedent(
    """
    import sys
    from webagents.agents.skills.payment import ledger_for

    tag = sys.argv[1]
    print("ready", flush=True)
    for line in sys.stdin:  # each line is a fresh ledger, sent to every process at once
        try:
            ledger_for(line.strip()).post("credit", tag, 1)
            print("ok", flush=True)
        except Exception as error:
            print(f"{type(error).__name__}: {error}".replace("\\n", " "), flush=True)
    """
)


def test_processes_opening_a_fresh_ledger_at_once_all_succeed(backend: Backend) -> None:
    """Every process creates the schema if it is missing: SQLite refuses the switch to WAL at
    once, without waiting, while another process writes, and PostgreSQL's CREATE TABLE IF NOT
    EXISTS fails when another session creates the same table meanwhile. The race is short, so
    every round is a fresh ledger (a file; a PostgreSQL schema) opened by every process
    together. PostgreSQL's window is wide (a third of the opens fail without the lock)."""
    processes, rounds = 6, 30 if backend.name == "sqlite" else 10
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, f"p{n}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        for n in range(processes)
    ]
    outcomes: list[str] = []
    ledgers = [backend.fresh(f"fresh_{number}") for number in range(rounds)]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
        for db in ledgers:
            for child in children:  # the barrier: each process waits for this line
                assert child.stdin is not None
                child.stdin.write(f"{db}\n")
                child.stdin.flush()
            outcomes += [child.stdout.readline().strip() for child in children if child.stdout]
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=60)
            assert child.stdout is not None
            child.stdout.close()
    assert [o for o in outcomes if o != "ok"] == []
    assert len(outcomes) == processes * rounds
    for db in ledgers:
        ledger = ledger_for(db)
        assert [ledger.balance(f"p{n}") for n in range(processes)] == [1] * processes


# --- config ------------------------------------------------------------------------------


def test_config_is_validated_at_construction(tmp_path: Path) -> None:
    skill = PaymentSkill({"db": tmp_path / "l.db", "busy_timeout": 2})
    assert skill.ledger.path == tmp_path / "l.db"
    assert skill.ledger.busy_timeout == 2.0
    assert PaymentSkill().settings.db is None
    for config, field in [
        ({"busy_timeout": 0}, "busy_timeout"),
        ({"busy_timeout": -1}, "busy_timeout"),
        ({"busy_timeout": float("inf")}, "busy_timeout"),
        ({"busy_timeout": True}, "busy_timeout"),
        ({"busy_timeout": "soon"}, "busy_timeout"),
        ({"db": ""}, "db"),
        ({"db": ":memory:"}, "db"),
        ({"db": 5}, "db"),
        ({"dbb": "x.db"}, "dbb"),
        ({"price": 1}, "price"),
    ]:
        with pytest.raises(AgentConfigError, match="PaymentSkill") as caught:
            PaymentSkill(config)
        assert f"{field}:" in str(caught.value), (config, caught.value)


def test_a_postgresql_url_selects_the_postgres_ledger_and_is_kept_secret() -> None:
    pytest.importorskip("psycopg", reason="install the postgres extra")
    from pydantic import SecretStr

    from webagents.agents.skills.ledger_postgres import PostgresLedger

    for url in (
        "postgresql://pay:hunter2@db.internal:5433/ledger?sslmode=require",
        "postgres://pay:hunter2@db.internal/ledger",
    ):
        skill = PaymentSkill({"db": url, "busy_timeout": 5})
        assert isinstance(skill.settings.db, SecretStr)
        assert skill.settings.db.get_secret_value() == url
        assert "hunter2" not in repr(skill.settings) and "hunter2" not in str(skill.settings)
        ledger = skill.ledger
        assert isinstance(ledger, PostgresLedger) and ledger.busy_timeout == 5
        assert "hunter2" not in repr(ledger) and "hunter2" not in ledger.where()
    assert ledger.where() == "postgres://db.internal/ledger"
    secret = PaymentSkill({"db": SecretStr("postgresql://pay:hunter2@db.internal/ledger")})
    assert isinstance(secret.ledger, PostgresLedger)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://pay:hunter2@db.internal/ledger", "'mysql' URLs are not supported"),
        ("sqlite:///hunter2/ledger.db", "'sqlite' URLs are not supported"),
        ("postgresql://pay:hunter2@db.internal/ledger?bogus=1", "not a valid PostgreSQL URL"),
        ("PostgreSQL://pay:hunter2@db.internal/ledger", "'PostgreSQL' URLs are not supported"),
    ],
)
def test_a_bad_database_url_is_refused_without_echoing_its_secrets(url: str, problem: str) -> None:
    pytest.importorskip("psycopg", reason="install the postgres extra")
    with pytest.raises(AgentConfigError, match="PaymentSkill config is invalid: db") as caught:
        PaymentSkill({"db": url})
    assert problem in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(PaymentError, match=problem) as direct:
        ledger_for(url)
    assert "hunter2" not in str(direct.value)


def test_a_postgresql_url_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "psycopg" else real_find_spec(name, *args),
    )
    with pytest.raises(AgentConfigError, match="needs psycopg") as caught:
        PaymentSkill({"db": "postgresql://pay:hunter2@db.internal/ledger"})
    assert "pip install 'webagents-net[postgres]'" in str(caught.value)
    assert "hunter2" not in str(caught.value)


# --- PostgreSQL: the database and its errors ---------------------------------------------


@pytest.fixture
def postgres(backend: Backend) -> PostgresBackend:
    if not isinstance(backend, PostgresBackend):
        pytest.skip("a test of the PostgreSQL ledger")
    return backend


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize("problem", ["no such database", "a wrong password", "no server"])
async def test_postgres_errors_name_the_database_without_its_password(
    postgres: PostgresBackend, problem: str
) -> None:
    import psycopg

    password, port, closed = postgres.server.password, postgres.server.port, socket_free_port()
    url, shown, reason = {
        "no such database": (
            postgres.server.url_for("no_such_database"),
            f"postgresql://127.0.0.1:{port}/no_such_database",
            'database "no_such_database" does not exist',
        ),
        "a wrong password": (
            postgres.db.replace(password, "not-the-password"),
            postgres.db.replace(f"postgres:{password}@", ""),
            "password authentication failed",
        ),
        "no server": (
            f"postgresql://postgres:{password}@127.0.0.1:{closed}/ledger",
            f"postgresql://127.0.0.1:{closed}/ledger",
            "Connection refused",
        ),
    }[problem]
    skill = PaymentSkill({"db": url})
    for attempt in (
        lambda: skill.initialize(None),  # type: ignore[arg-type]
        lambda: skill.get_balance("u1"),
        lambda: skill.charge_user(user_id="u1", amount=1),
    ):
        with pytest.raises(PaymentError, match="cannot connect to the ledger database") as caught:
            await attempt()
        message = str(caught.value)
        assert shown in message and reason in message, message
        assert password not in message and "not-the-password" not in message
        assert isinstance(caught.value.__cause__, psycopg.OperationalError)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_postgres_a_user_without_the_privilege_to_create_the_tables(
    postgres: PostgresBackend,
) -> None:
    """Since PostgreSQL 15, only the database owner may create tables in ``public``."""
    postgres.query("CREATE ROLE clerk LOGIN PASSWORD 'clerk-secret'")
    try:
        url = postgres.db.replace(postgres.db.split("@")[0], "postgresql://clerk:clerk-secret")
        with pytest.raises(PaymentError, match="refused a privilege the ledger needs") as caught:
            await PaymentSkill({"db": url}).credit("u1", 1)
        assert "clerk-secret" not in str(caught.value)
        assert "permission denied for schema public" in str(caught.value)

        await PaymentSkill({"db": postgres.db}).credit("u1", 1)  # the owner creates the tables
        with pytest.raises(PaymentError, match="refused a privilege") as caught:
            await PaymentSkill({"db": url}).get_balance("u1")
        assert "permission denied for table webagents_accounts" in str(caught.value)
        for table in postgres.tables:
            postgres.query(f"GRANT SELECT, INSERT, UPDATE ON {table} TO clerk")
        clerk = PaymentSkill({"db": url})
        assert await clerk.charge_user(user_id="u1", amount="0.25", idempotency_key="k")
        assert await clerk.get_balance("u1") == Decimal("0.75")
    finally:
        postgres.query("DROP OWNED BY clerk")
        postgres.query("DROP ROLE clerk")


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_postgres_search_path_puts_the_ledger_in_a_schema_of_its_own(
    postgres: PostgresBackend,
) -> None:
    payments = postgres.fresh("payments")
    assert await PaymentSkill({"db": payments}).credit("u1", 3) == 3
    assert await PaymentSkill({"db": postgres.db}).get_balance("u1") == 0  # public: another one
    tables = postgres.query(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_name LIKE 'webagents_%' ORDER BY 1, 2"
    )
    assert tables == [
        ("payments", "webagents_accounts"),
        ("payments", "webagents_transactions"),
        ("public", "webagents_accounts"),
        ("public", "webagents_transactions"),
    ]
    missing = postgres.fresh("elsewhere").replace("elsewhere", "nowhere")
    with pytest.raises(PaymentError, match="has no schema to create the ledger in") as caught:
        await PaymentSkill({"db": missing}).credit("u1", 1)
    assert postgres.db.split("@")[0] not in str(caught.value)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_postgres_money_is_exact_up_to_the_largest_balance(
    postgres: PostgresBackend,
) -> None:
    """BIGINT micro-units: the largest balance is 9223372036854.775807, to the last digit."""
    skill = PaymentSkill({"db": postgres.db})
    top = Decimal("9223372036854.775807")
    assert await skill.credit("u1", "9223372036854") == Decimal("9223372036854")
    assert await skill.credit("u1", "0.775807") == top
    with pytest.raises(PaymentError, match="would overflow the ledger"):
        await skill.credit("u1", "0.000001")
    assert await skill.charge_user(user_id="u1", amount="9223372036854")
    assert await skill.charge_user(user_id="u1", amount="0.775806")
    assert await skill.get_balance("u1") == Decimal("0.000001")
    assert postgres.query("SELECT balance_micros FROM webagents_accounts") == [(1,)]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_postgres_text_that_postgres_cannot_hold_is_a_payment_error(
    postgres: PostgresBackend,
) -> None:
    skill = PaymentSkill({"db": postgres.db})
    with pytest.raises(PaymentError, match=r"cannot store this operation.*NUL"):
        await skill.credit("ada\x00", 1)
    with pytest.raises(PaymentError, match=r"cannot store this operation.*NUL"):
        await skill.credit("ada", 1, "top-up\x00")
    assert await skill.get_balance("ada") == 0


def socket_free_port() -> int:
    """A 127.0.0.1 port nothing listens on (free a moment ago)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
