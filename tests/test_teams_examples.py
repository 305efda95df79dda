"""The seed teams in examples/teams/ run against the fake LLM over real HTTP
(``OPENAI_BASE_URL`` points the team's ``openai/...`` models at ``FakeOpenAIServer``)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webagents import BaseAgent
from webagents.messages import handoff_context_in
from webagents.teams import Team, load_team
from webagents.testing import FakeOpenAIServer, Reply, complete, transfer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "teams"


class ByAgent:
    """Answers each request with the next reply scripted for the agent whose instructions
    are the request's system message, and remembers which agent asked."""

    def __init__(self, team: Team, script: dict[str, list[Reply | str]]) -> None:
        self.instructions = {
            agent.instructions: name
            for name, agent in team.agents.items()
            if isinstance(agent, BaseAgent)
        }
        self.script = {name: deque(replies) for name, replies in script.items()}
        self.asked: list[tuple[str, list[dict[str, Any]]]] = []

    def __call__(self, body: dict[str, Any]) -> Reply | str:
        name = self.instructions[body["messages"][0]["content"]]
        self.asked.append((name, body["messages"]))
        return self.script[name].popleft()


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        yield server


async def test_gnosari_customer_support_team(fake_llm: FakeOpenAIServer) -> None:
    async with load_team(EXAMPLES / "customer_support.yaml") as team:
        llm = ByAgent(
            team,
            {
                "FrontDesk": [transfer("TechnicalSupport", "the app crashes")],
                "TechnicalSupport": [transfer("SeniorEngineer", "kernel panic")],
                "SeniorEngineer": ["Update the driver to 2.1; the crash is fixed there."],
            },
        )
        fake_llm.set_responder(llm)
        result = await team.run("My app crashes with a kernel panic")
        assert result.handoff_chain == ["FrontDesk", "TechnicalSupport", "SeniorEngineer"]
        assert result.content == "Update the driver to 2.1; the crash is fixed there."
        assert [r.reason for r in result.handoffs] == ["the app crashes", "kernel panic"]
        assert {r["model"] for r in fake_llm.requests} == {"gpt-4o", "gpt-4o-mini"}
        assert team.agents["SeniorEngineer"].card()["price"] == 0.25  # type: ignore[union-attr]


async def test_gnosari_billing_edge_carries_its_instructions(fake_llm: FakeOpenAIServer) -> None:
    async with load_team(EXAMPLES / "customer_support.yaml") as team:
        llm = ByAgent(team, {"FrontDesk": [transfer("Billing")], "Billing": ["Refunded."]})
        fake_llm.set_responder(llm)
        result = await team.run("Charged twice")
        assert result.content == "Refunded."
        billing_view = llm.asked[-1][1]
        shown = [handoff_context_in(m) for m in billing_view]
        assert {
            "instructions": "The customer is signed in; do not ask for their account number."
        } in shown
        # Gnosari's escalation data, on the record: reason, from, to, context, history
        (record,) = result.handoffs
        assert (record.from_agent, record.to_agent) == ("FrontDesk", "Billing")
        assert record.context == {
            "instructions": "The customer is signed in; do not ask for their account number."
        }
        assert record.history_length == 3  # the question, the transfer and its answer


async def test_ms_agent_framework_tutors_hand_back(fake_llm: FakeOpenAIServer) -> None:
    async with load_team(EXAMPLES / "homework_tutors.yaml") as team:
        llm = ByAgent(
            team,
            {
                "triage_agent": [transfer("math_tutor"), transfer("history_tutor")],
                "math_tutor": [
                    "The derivative of x^2 is 2x.",
                    transfer("triage_agent", "a history question"),
                ],
                "history_tutor": ["World War 2 lasted from 1939 to 1945."],
            },
        )
        fake_llm.set_responder(llm)
        first = await team.run("What is the derivative of x^2?", session_id="hw")
        assert (first.agent, first.content) == ("math_tutor", "The derivative of x^2 is 2x.")
        # The specialist keeps the conversation, and hands back to triage for history.
        second = await team.run("Tell me about World War 2", session_id="hw")
        assert second.handoff_chain == ["math_tutor", "triage_agent", "history_tutor"]
        assert second.content == "World War 2 lasted from 1939 to 1945."


async def test_radaros_support_team(fake_llm: FakeOpenAIServer) -> None:
    async with load_team(EXAMPLES / "radaros_support.yaml") as team:
        llm = ByAgent(
            team,
            {
                "front-desk": [transfer("billing", "duplicate charge"), "Hello again! What else?"],
                "billing": [complete("I refunded the duplicate charge of $12.99.")],
            },
        )
        fake_llm.set_responder(llm)
        result = await team.run("I got charged twice for my subscription", session_id="c1")
        assert result.handoff_chain == ["front-desk", "billing"]
        assert result.content == "I refunded the duplicate charge of $12.99."
        assert result.completed
        billing_view = llm.asked[1][1]
        assert not any(m.get("tool_calls") for m in billing_view)  # handoff_history: conversation
        tools = {t["function"]["name"]: t["function"] for t in fake_llm.requests[0]["tools"]}
        assert tools["transfer_to_billing"]["description"].endswith("Billing, invoices, payments")
        assert "complete" not in tools  # the front desk only routes
        assert team.start.max_handoffs == 3 and team.start.handoff_cycles == "allow"
        # billing completed the issue: the customer's next message starts at the front desk
        later = await team.run("One more question", session_id="c1")
        assert (later.agent, later.content) == ("front-desk", "Hello again! What else?")


def test_the_builder_example_runs_offline_as_a_script() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "homework_builder.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "Q: What is the derivative of x^2?",
        "math_tutor: The derivative of x^2 is 2x (power rule).",
        "Q: Tell me about World War 2",
        "history_tutor: World War 2 lasted from 1939 to 1945.",
    ]
