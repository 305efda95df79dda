"""PaymentSkill: an exact, atomic, idempotent SQLite ledger, against real files in tmp_path."""

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import pytest

from webagents.agents.skills.payment import Ledger, PaymentError, PaymentSkill
from webagents.context import Context, current_context
from webagents.errors import AgentConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "ledger.db")


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
    skill: PaymentSkill, db: str, user_id: str | None
) -> None:
    await skill.credit("u1", 10)
    assert await skill.charge_user(user_id=user_id, amount=1, description="x") is False
    assert await skill.charge_user(user_id=user_id, amount=2.5, idempotency_key="k") is False
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM transactions").fetchone() == (1,)
    with pytest.raises(TypeError, match="user_id must be a non-empty str"):
        await skill.credit(user_id, 1)  # type: ignore[arg-type]


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


def test_two_processes_share_the_ledger(db: str) -> None:
    assert Ledger(db).post("credit", "u", 100) == 100
    with _spawn(db, "a", 80) as first, _spawn(db, "b", 80) as second:
        procs = (first, second)
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "ready\n", proc.communicate()
        for proc in procs:  # release both before waiting for either
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert sum(int(out) for out, _ in outputs) == 100  # 160 attempts, 100 covered
    ledger = Ledger(db)
    assert ledger.balance("u") == 0
    assert len(ledger.statement("u", limit=1000)) == 101


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


async def test_initialize_creates_schema_and_cleanup_allows_reuse(db: str) -> None:
    skill = PaymentSkill({"db": db})
    await skill.initialize(None)  # type: ignore[arg-type]
    assert Path(db).is_file()
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
    ledger = Ledger(db)
    with pytest.raises(TypeError, match="user_id must be a non-empty str"):
        ledger.post("credit", "", 1)
    with pytest.raises(ValueError, match="positive int"):
        ledger.statement("u1", limit=0)
    with pytest.raises(ValueError, match="needs a file"):
        Ledger(":memory:")


def _hold_write_lock(db: str) -> sqlite3.Connection:
    """Another writer, as a second process would be: holds SQLite's write lock until closed."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


async def test_waiting_writer_does_not_block_the_event_loop(db: str) -> None:
    skill = PaymentSkill({"db": db, "busy_timeout": 30})
    await skill.credit("u1", 5)
    blocker = _hold_write_lock(db)
    try:
        task = asyncio.create_task(skill.charge_user(user_id="u1", amount=1))
        await asyncio.sleep(0)  # the charge starts; a blocking call would stall the loop here
        assert not task.done()
    finally:
        blocker.close()  # releases the lock from the event loop, which must still be running
    assert await task is True
    assert await skill.get_balance("u1") == 4


async def test_lock_timeout_names_the_fix(db: str) -> None:
    skill = PaymentSkill({"db": db, "busy_timeout": 0.05})
    await skill.initialize(None)  # type: ignore[arg-type]
    blocker = _hold_write_lock(db)
    try:
        with pytest.raises(PaymentError, match=r"busy_timeout"):
            await skill.credit("u1", 1)
    finally:
        blocker.close()
    assert await skill.get_balance("u1") == 0


# --- the ledger file ---------------------------------------------------------------------


async def test_a_file_that_is_not_a_ledger_is_a_payment_error_naming_it(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"certainly not SQLite " * 20)
    skill = PaymentSkill({"db": str(corrupt)})
    for attempt in (lambda: skill.credit("u1", 1), lambda: skill.get_balance("u1")):
        with pytest.raises(PaymentError, match="not a SQLite database") as caught:
            await attempt()
        assert str(corrupt) in str(caught.value)
        assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


async def test_a_ledger_damaged_after_opening_is_a_payment_error_naming_it(db: str) -> None:
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
    from webagents.agents.skills.payment import Ledger

    tag = sys.argv[1]
    print("ready", flush=True)
    for line in sys.stdin:  # each line is a fresh ledger, sent to every process at once
        try:
            Ledger(line.strip()).post("credit", tag, 1)
            print("ok", flush=True)
        except Exception as error:
            print(f"{type(error).__name__}: {error}".replace("\\n", " "), flush=True)
    """
)


def test_processes_opening_a_fresh_ledger_at_once_all_succeed(tmp_path: Path) -> None:
    """SQLite refuses the switch to WAL at once, without waiting, while another process writes;
    the race is short, so every round is a fresh file opened by every process together."""
    processes, rounds = 6, 30
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
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
        for number in range(rounds):
            db = tmp_path / f"fresh-{number}.db"
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
    for number in range(rounds):
        ledger = Ledger(tmp_path / f"fresh-{number}.db")
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


def test_a_database_url_is_refused_without_echoing_its_secrets() -> None:
    with pytest.raises(AgentConfigError, match="PaymentSkill config is invalid: db") as caught:
        PaymentSkill({"db": "postgresql://pay:hunter2@db.internal/ledger?sslkey=x"})
    assert "hunter2" not in str(caught.value) and "sslkey" not in str(caught.value)
