"""Microsoft Agent Framework's handoff sample (seed 004), built in Python with TeamBuilder.

    python examples/teams/homework_builder.py

With OPENAI_API_KEY set it asks a real model; without one, a stand-in model behind a real
OpenAI-compatible HTTP server answers, so the example runs offline. The conversation is one
session: the math tutor keeps it, and hands a history question back to triage.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from typing import Any

from webagents import BaseAgent
from webagents.teams import Team, TeamBuilder
from webagents.testing import FakeOpenAIServer, Reply, transfer

QUESTIONS = ["What is the derivative of x^2?", "Tell me about World War 2"]


def build() -> Team:
    triage = BaseAgent(
        "triage_agent",
        "You determine which agent to use based on the user's homework question. "
        "ALWAYS handoff to another agent.",
        description="Routes messages to the appropriate specialist agent",
        model="openai/gpt-4o-mini",
    )
    math = BaseAgent(
        "math_tutor",
        "You provide help with math problems. Explain your reasoning at each step. "
        "Only respond about math; hand anything else back to triage.",
        description="Specialist agent for math questions",
        model="openai/gpt-4o-mini",
    )
    history = BaseAgent(
        "history_tutor",
        "You provide assistance with historical queries. Only respond about history.",
        description="Specialist agent for historical questions",
        model="openai/gpt-4o-mini",
    )
    return (
        TeamBuilder("homework")
        .start_with(triage)
        .handoff(triage, [math, history], both_ways=True)  # each tutor may hand back
        .build()
    )


def stand_in(body: dict[str, Any]) -> Reply | str:
    """What the offline model answers: each agent, known by its instructions and tools,
    does its part."""
    tools = {tool["function"]["name"] for tool in body.get("tools") or []}
    system = body["messages"][0]["content"]
    question = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    asks_math = "derivative" in question
    if "transfer_to_math_tutor" in tools:  # triage
        return transfer("math_tutor" if asks_math else "history_tutor", "homework topic")
    if "math problems" in system:
        if asks_math:
            return "The derivative of x^2 is 2x (power rule)."
        return transfer("triage_agent", "not a math question")
    return "World War 2 lasted from 1939 to 1945."


@contextlib.contextmanager
def model_endpoint() -> Iterator[None]:
    if os.environ.get("OPENAI_API_KEY"):
        yield
        return
    with FakeOpenAIServer(responder=stand_in) as server:
        os.environ.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="offline")
        try:
            yield
        finally:
            del os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"]


async def main() -> list[tuple[str, list[str], str]]:
    turns = []
    async with build() as team:
        for question in QUESTIONS:
            result = await team.run(question, session_id="student-1")
            print(f"Q: {question}\n{result.agent}: {result.content}")
            turns.append((result.agent, result.handoff_chain, result.content))
    return turns


if __name__ == "__main__":
    with model_endpoint():
        asyncio.run(main())
