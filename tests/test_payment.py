"""PaymentSkill: an exact, atomic, idempotent SQLite ledger, against real files in tmp_path."""

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from webagents.agents.skills.payment import Ledger, PaymentError, PaymentSkill
from webagents.context import Context, current_context

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
    await skill.credit("u2", 10)
    assert await skill.charge_user(user_id="u1", amount="1", idempotency_key="k1")
    with pytest.raises(ValueError, match="idempotency key 'k1' was already used"):
        await skill.charge_user(user_id="u1", amount="2", idempotency_key="k1")
    with pytest.raises(PaymentError, match="new key"):
        await skill.charge_user(user_id="u2", amount="1", idempotency_key="k1")
    with pytest.raises(PaymentError):
        await skill.credit("u1", "1", idempotency_key="k1")
    assert await skill.get_balance("u1") == 9
    assert await skill.get_balance("u2") == 10


async def test_float_rejected(skill: PaymentSkill) -> None:
    with pytest.raises(TypeError, match="Decimal or a str"):
        await skill.credit("u1", 0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Decimal or a str"):
        await skill.charge_user(user_id="u1", amount=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await skill.credit("u1", True)


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
    token = current_context.set(Context(agent_name="a", messages=[], run_id="r"))
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
