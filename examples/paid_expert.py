"""Paid expert: a front desk that charges users before handing them to a premium tax expert.

## Run it

Offline, with scripted models and a ledger in a temporary directory (no key needed)::

    python examples/paid_expert.py
    python examples/paid_expert.py --ledger /tmp/ledger.db   # keep the ledger to inspect it

## What it shows

* The seed's payment-aware handoff: a ``before_handoff`` hook charges the user with
  ``PaymentSkill.charge_user`` and raises ``HandoffError`` when the charge is declined, which
  vetoes the handoff. The front desk then answers on its own.
* The price is a float in the expert's metadata (``{"price": 2.5}``), as users write prices;
  the ledger stores it as the exact decimal it prints as.
* A visitor who is not signed in (no ``user_id``) is declined, not a crash.
* Each charge carries an idempotency key made from the run id, so a retried hook never
  charges twice; top-ups carry one too, so re-running against a kept ledger does not credit
  the same top-up again.
* A free agent (no price) is handed to without a charge.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from webagents import BaseAgent, Context, HandoffError, PaymentSkill, Skill, hook
from webagents.testing import ScriptedModel, text, transfer

EXPERT, FAQ, FRONT = "tax-expert", "opening-hours", "front-desk"
TOP_UPS = {"ada": "5.00", "bob": "1.00"}
# (user, question); None is a visitor who is not signed in
CONVERSATIONS: list[tuple[str | None, str]] = [
    ("ada", "Can I deduct my home office from my taxes?"),
    ("ada", "And what about tax on my crypto gains?"),
    ("ada", "One more tax question: is my e-bike deductible?"),  # 5.00 covers two answers
    ("bob", "Do I owe tax on a gift from my aunt?"),
    (None, "Quick tax question about my pension?"),
    ("bob", "When are you open?"),
]
FREE_OVERVIEW = "I can't connect you to our tax expert, but here is a free overview: ..."


class PaidHandoffSkill(Skill):
    """The seed's payment-aware handoff: premium agents are paid for before they take over."""

    def __init__(self, payment: PaymentSkill) -> None:
        super().__init__()
        self.payment = payment

    @hook("before_handoff")
    async def check_payment(self, context: Context) -> Context:
        """Ensure payment for premium agents"""
        target = context["handoff_agent"]
        cost = self.get_agent_cost(target)
        if cost is not None and not await self.payment.charge_user(
            user_id=context.peer_user_id,
            amount=cost,
            description=f"Consultation with {target}",
            idempotency_key=f"handoff:{context.run_id}:{target}",
        ):
            raise HandoffError("Payment required for premium agent")
        return context

    def get_agent_cost(self, target: str) -> float | None:
        """The price in the target agent's metadata; None for a free agent."""
        assert self.agent is not None  # hooks run on the agent the skill is attached to
        agent = self.agent.find_target(target)
        price: float | None = getattr(agent, "metadata", {}).get("price")
        return price


def front_desk(request: dict[str, Any]) -> Any:
    """The front desk's stand-in model: tax questions go to the expert, the rest to the FAQ;
    after a failed handoff (a tool message saying so), it answers itself."""
    messages = request["messages"]
    if messages[-1]["role"] == "tool":
        return text(FREE_OVERVIEW)
    question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    if "tax" in question.lower():
        return transfer(EXPERT, "a tax question")
    return transfer(FAQ, "a general question")


@dataclass(frozen=True)
class Turn:
    user: str | None
    question: str
    agent: str
    answer: str
    handoff_succeeded: bool
    balance: Decimal | None  # after the turn; None for a visitor


async def run(ledger: Path) -> tuple[list[Turn], PaymentSkill]:
    payment = PaymentSkill({"db": ledger})
    expert = BaseAgent(
        EXPERT,
        "You answer tax questions.",
        model=ScriptedModel(responder=lambda request: text("Yes, within limits: ...")),
        metadata={"price": 2.5},
    )
    faq = BaseAgent(
        FAQ,
        "You know our opening hours.",
        model=ScriptedModel(responder=lambda request: text("9 to 5, Monday to Friday.")),
    )
    desk = BaseAgent(
        FRONT,
        "You welcome customers and find them the right expert.",
        model=ScriptedModel(responder=front_desk),
        skills={"paid": PaidHandoffSkill(payment)},
        handoffs=[expert, faq],
    )
    for name, amount in TOP_UPS.items():
        await payment.credit(name, amount, "top-up", idempotency_key=f"top-up:{name}")
    turns = []
    for user, question in CONVERSATIONS:
        result = await desk.run(question, user_id=user)
        balance = await payment.get_balance(user) if user else None
        succeeded = all(record.success for record in result.handoffs)
        turns.append(Turn(user, question, result.agent, result.content, succeeded, balance))
    return turns, payment


def main(ledger: Path | None = None) -> list[Turn]:
    """Run the conversations, print each turn and the statements; the ledger is ``ledger``
    or a file in a temporary directory removed afterwards."""
    with tempfile.TemporaryDirectory() as scratch:
        turns, payment = asyncio.run(run(ledger or Path(scratch) / "ledger.db"))
        for turn in turns:
            who = turn.user or "(visitor)"
            balance = "" if turn.balance is None else f"  [balance {turn.balance:.2f}]"
            print(f"{who}: {turn.question}\n  {turn.agent}: {turn.answer}{balance}")
        for name in TOP_UPS:
            print(f"\nStatement of {name}:")
            for entry in reversed(asyncio.run(payment.transactions(name))):
                print(
                    f"  {entry['kind']:<7} {entry['amount']:>6.2f}  {entry['description']:<30}"
                    f"  balance {entry['balance_after']:.2f}"
                )
    return turns


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, help="keep the ledger in this file")
    main(parser.parse_args().ledger)
