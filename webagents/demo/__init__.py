"""The customer-service demo (``webagents demo``, ``make demo``): a front desk that hands
customers to billing, technical support and sales.

Offline, a stand-in LLM (``offline_llm``) answers behind a real OpenAI-compatible HTTP server
(``FakeOpenAIServer``), no key needed. With ``OPENAI_API_KEY`` set, every agent uses
``OPENAI_MODEL`` (default ``openai/gpt-4o-mini``); ``OPENAI_BASE_URL`` points it at any
OpenAI-compatible server. It lives in the package so that an installed ``webagents demo``
runs it; ``examples/customer_service.py`` runs the same code from a checkout.

What it shows:

* ``front-desk`` routes two ways. A *condition* (``RoutingSkill.about_billing``) sends anything
  about invoices, refunds or charges to ``billing`` before the model is even asked. Everything
  else is the *model's* choice: ``handoffs=[billing, technical_support, sales]`` gives it one
  ``transfer_to_<name>`` tool per department.
* A ``before_handoff`` hook looks the customer up and passes ``handoff_context`` (name, tier,
  topic) to the department; it also vetoes transfers for accounts on hold (``HandoffError``).
* An ``after_handoff`` hook replaces a failed handoff with a polite answer (a fallback).
* Departments answer with their own tools, and keep the conversation: the next message in the
  same session goes straight to them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from webagents import BaseAgent, Context, HandoffError, Skill, handoff, hook, tool
from webagents.agents import InMemorySessionStore
from webagents.demo.offline import offline_llm
from webagents.events import (
    AgentCompleted,
    AgentStarted,
    ErrorEvent,
    HandoffComplete,
    HandoffFailed,
    HandoffTransfer,
    RunEvent,
    TextDelta,
    ToolCallEvent,
    ToolResultEvent,
)
from webagents.models import Model, OpenAIModel
from webagents.testing import FakeOpenAIServer

# --- the business: a small in-memory back office ---------------------------------------------

CUSTOMERS: dict[str, dict[str, Any]] = {
    "u-100": {"name": "Ada", "tier": "gold", "status": "active"},
    "u-200": {"name": "Grace", "tier": "standard", "status": "active"},
    "u-300": {"name": "Linus", "tier": "standard", "status": "on hold", "overdue": "120.00 USD"},
}

INVOICES: dict[str, dict[str, Any]] = {
    "INV-1001": {"customer": "u-100", "month": "2025-02", "amount": "49.00 USD", "charges": 1},
    "INV-1002": {"customer": "u-100", "month": "2025-03", "amount": "49.00 USD", "charges": 2},
    "INV-0977": {"customer": "u-300", "month": "2025-01", "amount": "120.00 USD", "charges": 0},
}

SERVICES: dict[str, dict[str, str]] = {
    "api": {"status": "operational"},
    "dashboard": {
        "status": "degraded",
        "incident": "INC-2291: some dashboard pages fail to load; a fix is rolling out",
    },
    "email": {"status": "operational"},
    "storage": {"status": "operational"},
}

PRICE_PER_SEAT = {"basic": 10, "pro": 25, "enterprise": 45}  # USD per seat and month

# Words that make a message a billing matter (used by the condition and the topic detector).
TOPICS: dict[str, re.Pattern[str]] = {
    "billing": re.compile(r"\b(invoice|refund|charge|billing|payment|owe)\w*", re.IGNORECASE),
    "technical": re.compile(r"\b(error|outage|down|crash|login|slow|bug)\w*", re.IGNORECASE),
    "sales": re.compile(r"\b(quote|price|pricing|plan|upgrade|seat)\w*", re.IGNORECASE),
}


def customer(user_id: str | None) -> dict[str, Any]:
    return CUSTOMERS.get(user_id or "", {"name": "there", "tier": "guest", "status": "active"})


def detect_topic(text: str) -> str:
    return next((topic for topic, words in TOPICS.items() if words.search(text)), "general")


def latest_user_message(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


# --- skills: what each department can do ------------------------------------------------------


class BillingSkill(Skill):
    @tool
    def lookup_invoice(self, invoice_id: str) -> dict[str, Any]:
        """Look up an invoice: its month, amount, status and how often it was charged.

        Args:
            invoice_id: The invoice number, e.g. INV-1001.
        """
        invoice_id = invoice_id.strip().upper()
        invoice = INVOICES.get(invoice_id)
        # Tools see the run's context: customers only get to see their own invoices.
        if invoice is None or invoice["customer"] != self.get_context().peer_user_id:
            return {"invoice_id": invoice_id, "error": "no such invoice on your account"}
        charges, amount = invoice["charges"], invoice["amount"]
        found = {"invoice_id": invoice_id, "month": invoice["month"], "amount": amount}
        if charges == 0:
            found["status"] = "unpaid, overdue"
        elif charges == 1:
            found["status"] = "paid"
        else:
            found["status"] = f"paid, but charged {charges} times"
            found["refund"] = (
                f"{charges - 1} x {amount} goes back to the card on file within 5 business days"
            )
        return found


class TechnicalSupportSkill(Skill):
    @tool
    def check_service_status(
        self, service: Literal["api", "dashboard", "email", "storage"]
    ) -> dict[str, str]:
        """Check the current status of one of our services and any open incident.

        Args:
            service: The service the customer has trouble with.
        """
        return {"service": service, **SERVICES[service]}


class SalesSkill(Skill):
    @tool
    def quote(self, plan: Literal["basic", "pro", "enterprise"], seats: int) -> dict[str, Any]:
        """Price a plan for a number of seats (monthly, 10% off from 25 seats).

        Args:
            plan: The plan the customer asks about.
            seats: How many users need a seat.
        """
        if seats < 1:
            raise ValueError("seats must be at least 1")
        total = PRICE_PER_SEAT[plan] * seats * (0.9 if seats >= 25 else 1.0)
        return {
            "plan": plan,
            "seats": seats,
            "price_per_seat": f"{PRICE_PER_SEAT[plan]:.2f} USD",
            "monthly_total": f"{total:.2f} USD",
        }


class RoutingSkill(Skill):
    """The front desk's routing rules, customer context and fallback."""

    @handoff("billing", metadata={"department": "billing"})
    def about_billing(self, query: str) -> bool:
        """The customer mentions an invoice, a refund, a charge or a payment."""
        return TOPICS["billing"].search(query) is not None

    @hook("before_handoff")
    def add_customer_context(self, context: Context) -> Context:
        """Tell the department who is asking, and stop transfers an account may not make."""
        who = customer(context.peer_user_id)
        target = context["handoff_agent"]
        if who["status"] == "on hold" and target != "billing":
            raise HandoffError(
                f"your account is on hold until the overdue balance of {who['overdue']} is paid"
            )
        context["handoff_context"] = {
            "customer_id": context.peer_user_id,
            "customer_name": who["name"],
            "tier": who["tier"],
            "topic": detect_topic(latest_user_message(context.messages)),
        }
        return context

    @hook("after_handoff")
    def fallback_answer(self, context: Context) -> Context:
        """If the transfer failed, answer politely instead of leaving the customer hanging."""
        result = context["handoff_result"]
        if result["success"]:
            return context
        who = customer(context.peer_user_id)
        department = str(context["handoff_agent"]).replace("-", " ")
        error = str(result["error"] or "")
        if error.startswith("vetoed: "):
            because = error.removeprefix("vetoed: ")
            answer = (
                f"I'm sorry, {who['name']}: I can't connect you with our {department} team "
                f"right now, because {because}. Our billing team can settle that with you "
                f"today: just ask about your invoice and I'll put you through."
            )
        else:
            answer = (
                f"I'm sorry, {who['name']}: our {department} team is unavailable right now. "
                f"I've noted your request, and a colleague will get back to you shortly."
            )
        context["handoff_result"] = {
            "success": True,
            "response": answer,
            "agent": context.agent_name,
            "error": None,
            "fallback": True,
        }
        return context


# --- the agents -------------------------------------------------------------------------------


def build_agents(model: str | Model) -> dict[str, BaseAgent]:
    """The four agents, all on ``model``; the front desk keeps sessions in memory."""
    billing = BaseAgent(
        "billing",
        "You are the billing specialist of Acme Cloud. Look invoices up with lookup_invoice "
        "before answering, explain charges and refunds plainly, and keep answers short.",
        model=model,
        description="Invoices, charges, refunds and payments.",
        skills={"billing": BillingSkill()},
    )
    technical_support = BaseAgent(
        "technical-support",
        "You are technical support at Acme Cloud. Check the affected service with "
        "check_service_status, then explain what is going on and what the customer can do.",
        model=model,
        description="Fixes technical problems: errors, outages, login trouble and the status "
        "of our services (API, dashboard, email, storage).",
        skills={"support": TechnicalSupportSkill()},
    )
    sales = BaseAgent(
        "sales",
        "You are sales at Acme Cloud. Price what the customer asks for with the quote tool "
        "and present the numbers clearly.",
        model=model,
        description="Plans and pricing: quotes for the basic, pro and enterprise plans, "
        "upgrades and extra seats.",
        skills={"sales": SalesSkill()},
    )
    front_desk = BaseAgent(
        "front-desk",
        "You are the front desk of Acme Cloud. Do not solve problems yourself: transfer the "
        "customer to technical-support for technical problems and to sales for plans, prices "
        "and upgrades. If it is unclear what they need, ask one short question.",
        model=model,
        description="Welcomes customers and routes them to the right department.",
        skills={"routing": RoutingSkill()},
        handoffs=[billing, technical_support, sales],
        sessions=InMemorySessionStore(),
    )
    return {agent.name: agent for agent in (front_desk, billing, technical_support, sales)}


# --- running the demo -------------------------------------------------------------------------

# (user id, session, messages): one conversation per route, one ending in the fallback.
CONVERSATIONS: list[tuple[str, str, list[str]]] = [
    (
        "u-100",
        "ada",
        [
            "Hi, I was charged twice for invoice INV-1002. Can I get a refund?",
            "Thanks! Could you also check invoice INV-1001?",
        ],
    ),
    ("u-200", "grace-support", ["The dashboard keeps showing errors and won't load."]),
    ("u-200", "grace-sales", ["We'd like a quote for the pro plan with 12 seats."]),
    (
        "u-300",
        "linus",
        [
            "I want to upgrade to the enterprise plan for 40 seats.",
            "OK. What do I owe on invoice INV-0977?",
        ],
    ),
]


@dataclass
class Turn:
    """One customer message and what happened to it, gathered from the streamed events."""

    user_id: str
    session_id: str
    message: str
    events: list[RunEvent] = field(default_factory=list)

    @property
    def answer(self) -> str:
        done = [e for e in self.events if isinstance(e, AgentCompleted)]
        return done[-1].content if done else ""

    @property
    def agent(self) -> str:
        """Who answered."""
        done = [e for e in self.events if isinstance(e, AgentCompleted)]
        return done[-1].agent if done else ""

    @property
    def chain(self) -> list[str]:
        for event in self.events:
            if isinstance(event, HandoffComplete):
                return list(event.chain)
        started = [e.agent for e in self.events if isinstance(e, AgentStarted)]
        return started[:1]

    @property
    def handoffs(self) -> list[HandoffTransfer | HandoffFailed]:
        return [e for e in self.events if isinstance(e, HandoffTransfer | HandoffFailed)]

    @property
    def tool_calls(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(agent, tool, arguments) of every tool call, transfers included."""
        return [
            (e.agent, e.name, json.loads(e.arguments or "{}"))
            for e in self.events
            if isinstance(e, ToolCallEvent)
        ]


def _call(event: ToolCallEvent) -> str:
    try:
        arguments = json.loads(event.arguments or "{}")
    except ValueError:
        return f"{event.name}({event.arguments})"
    return f"{event.name}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})"


def _short(text: str, limit: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(event: RunEvent) -> str | None:
    """One readable line for an event (None for events not worth a line)."""
    if isinstance(event, HandoffTransfer):
        return (
            f"  → handoff {event.from_agent} → {event.to_agent} "
            f"({event.trigger}: {_short(event.reason, 70)})"
        )
    if isinstance(event, HandoffFailed):
        return f"  ✗ handoff {event.from_agent} → {event.to_agent} failed: {event.error}"
    if isinstance(event, ToolCallEvent) and not event.name.startswith("transfer_to_"):
        return f"  ⚙ {event.agent} calls {_call(event)}"
    if isinstance(event, ToolResultEvent) and not event.name.startswith("transfer_to_"):
        return f"    ↳ {_short(event.output)}"
    if isinstance(event, HandoffComplete):
        return f"  ✓ chain: {' → '.join(event.chain)}; answered by {event.final_agent}"
    if isinstance(event, ErrorEvent):
        return f"  ! {event.error_type}: {event.message}"
    return None


async def converse(front_desk: BaseAgent, user_id: str, session_id: str, message: str) -> Turn:
    """Send one message and print the run as it streams."""
    turn = Turn(user_id, session_id, message)
    speaking: str | None = None  # the agent whose streamed answer is being printed
    who = customer(user_id)
    print(f"\n{who['name']} ({user_id}, {who['tier']}) [{session_id}]: {message}")
    stream = front_desk.run_streaming(message, session_id=session_id, user_id=user_id)
    async for event in stream:
        turn.events.append(event)
        if isinstance(event, TextDelta):
            if speaking != event.agent:
                print(f"  {event.agent}: ", end="")
                speaking = event.agent
            print(event.text, end="", flush=True)
            continue
        if isinstance(event, AgentCompleted):
            if speaking == event.agent:
                print()
            else:  # an answer that was not streamed, e.g. a hook's fallback
                print(f"  {event.agent}: {event.content}")
            speaking = None
            continue
        line = describe(event)
        if line is not None:
            if speaking is not None:
                print()
                speaking = None
            print(line)
    if not any(isinstance(event, HandoffComplete) for event in turn.events):
        print(f"  ✓ answered by {turn.agent}")
    return turn


async def run_demo(model: str | Model) -> list[Turn]:
    agents = build_agents(model)
    front_desk = agents["front-desk"]
    turns: list[Turn] = []
    try:
        for user_id, session_id, messages in CONVERSATIONS:
            for message in messages:
                turns.append(await converse(front_desk, user_id, session_id, message))
    finally:
        for agent in agents.values():
            await agent.close()
    return turns


def main(*, offline: bool = False) -> list[Turn]:
    """Run the demo: on ``OPENAI_MODEL`` (default gpt-4o-mini) when ``OPENAI_API_KEY`` is set
    and not ``offline``, else on the offline stand-in LLM. Returns every turn, for tests and
    further use."""
    if os.environ.get("OPENAI_API_KEY") and not offline:
        model = os.environ.get("OPENAI_MODEL", "openai/gpt-4o-mini")
        print(f"Customer service demo on {model}")
        return asyncio.run(run_demo(model))
    with FakeOpenAIServer(responder=offline_llm) as server:
        print(f"Customer service demo, offline: a stand-in LLM serves {server.url}")
        if not offline:
            print("(set OPENAI_API_KEY to use a real model)")
        offline_model = OpenAIModel("offline-llm", api_key="offline", base_url=server.url)
        return asyncio.run(run_demo(offline_model))


def chat(*, user_id: str = "u-100", offline: bool = False) -> None:
    """Chat with the demo team in the terminal (``webagents demo --chat``) as customer
    ``user_id`` (u-100 Ada, u-200 Grace, u-300 Linus, whose account is on hold); offline
    unless ``OPENAI_API_KEY`` is set and not ``offline``."""
    if os.environ.get("OPENAI_API_KEY") and not offline:
        _chat(os.environ.get("OPENAI_MODEL", "openai/gpt-4o-mini"), user_id)
        return
    with FakeOpenAIServer(responder=offline_llm) as server:
        _chat(OpenAIModel("offline-llm", api_key="offline", base_url=server.url), user_id)


def _chat(model: str | Model, user_id: str) -> None:
    from webagents.cli_run import Loaded
    from webagents.repl import start_chat

    agents = build_agents(model)
    desk = agents["front-desk"]
    who = customer(user_id)
    print(f"You are {who['name']} ({user_id}, {who['tier']}); ask about invoices, outages, plans.")
    start_chat(Loaded(desk, desk, list(agents.values())), session_id=None, user_id=user_id)
