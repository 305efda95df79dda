"""Skill start-up under cancellation: cancelling one run affects that run alone."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from webagents import BaseAgent, Skill
from webagents.agents.skills.payment import Ledger, PaymentSkill
from webagents.testing import ScriptedModel, text


class SlowStart(Skill):
    """A skill whose start-up waits until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.starts = 0
        self.cleanups = 0

    async def initialize(self, agent: BaseAgent) -> None:
        self.starts += 1
        self.entered.set()
        await self.release.wait()

    async def cleanup(self) -> None:
        self.cleanups += 1


def agent_with(skill: Skill, replies: int = 3) -> BaseAgent:
    return BaseAgent(
        "starter",
        model=ScriptedModel([text(f"answer {n}") for n in range(replies)]),
        skills={"slow": skill},
        register=False,
    )


async def test_cancelling_the_run_that_started_initialisation_spares_the_others() -> None:
    skill = SlowStart()
    agent = agent_with(skill)
    first = asyncio.create_task(agent.run("one"))
    await skill.entered.wait()
    bystander = asyncio.create_task(agent.run("two"))
    await asyncio.sleep(0)  # let the bystander reach the start-up and wait on it
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    skill.release.set()

    assert (await bystander).content == "answer 0"
    assert (await agent.run("three")).content == "answer 1"
    assert skill.starts == 1


async def test_cancelling_a_waiting_run_spares_the_initialising_one_and_later_runs() -> None:
    skill = SlowStart()
    agent = agent_with(skill)
    first = asyncio.create_task(agent.run("one"))
    await skill.entered.wait()
    waiter = asyncio.create_task(agent.run("two"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    skill.release.set()

    assert (await first).content == "answer 0"
    assert (await agent.run("three")).content == "answer 1"
    assert skill.starts == 1


async def test_every_run_cancelled_during_start_up_leaves_the_agent_usable() -> None:
    skill = SlowStart()
    agent = agent_with(skill)
    runs = [asyncio.create_task(agent.run(f"q{n}")) for n in range(3)]
    await skill.entered.wait()
    for run in runs:
        run.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
    skill.release.set()

    assert (await agent.run("after")).content == "answer 0"
    assert skill.starts == 1
    await agent.close()
    assert skill.cleanups == 1


async def test_a_failed_start_up_fails_its_waiters_and_is_tried_again() -> None:
    class Flaky(Skill):
        attempts = 0

        async def initialize(self, agent: BaseAgent) -> None:
            type(self).attempts += 1
            if type(self).attempts == 1:
                raise OSError("database not reachable yet")

    agent = agent_with(Flaky())
    results = await asyncio.gather(agent.run("a"), agent.run("b"), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert (await agent.run("c")).content == "answer 0"
    assert Flaky.attempts == 2


async def test_cancelled_runs_during_the_stock_payment_skill_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = threading.Event()
    proceed = threading.Event()
    original_open = Ledger.open

    def held_open(self: Ledger) -> None:  # the real open, held until the test has cancelled
        opened.set()
        proceed.wait(timeout=30)
        original_open(self)

    monkeypatch.setattr(Ledger, "open", held_open)
    payment = PaymentSkill({"db": str(tmp_path / "ledger.db")})
    agent = agent_with(payment)
    first = asyncio.create_task(agent.run("one"))
    second = asyncio.create_task(agent.run("two"))
    await asyncio.to_thread(opened.wait, 30)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    proceed.set()

    assert (await second).content == "answer 0"
    assert (await agent.run("three")).content == "answer 1"
    assert (tmp_path / "ledger.db").exists()
    assert await payment.get_balance("nobody") == 0
