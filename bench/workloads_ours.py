"""webagents' side of the benchmark (runs in the project's virtualenv).

Same workloads, same fake model behaviour and same result keys as ``workloads_peer.py``:
``python bench/workloads_ours.py WORKLOAD [--size N] [--rounds R] [--round-ms MS] [--url URL]``
prints one JSON line. ``bench/run.py`` runs both sides and compares them.

The fake model answers from the request's shape alone, so one instance serves every agent
and every concurrent run: a transfer to the agent's handoff target when one is offered, else
a call of its first tool unless a tool result just came back, else a text answer. Each call
yields to the event loop once, as a network call would, and builds a fresh response.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import uuid
from collections.abc import AsyncIterator
from typing import Any

from _harness import (
    cli,
    cold_import,
    concurrent_runs,
    measure,
    median_us,
)

from webagents import BaseAgent
from webagents._names import TRANSFER_PREFIX
from webagents.models.base import ModelRequest, ModelResponse, ToolCall, Usage

INSTRUCTIONS = "You are a helpful assistant."
QUESTION = "hello"
ANSWER = "done"
TOOL_ARGUMENTS = '{"a": 2, "b": 3}'


class FakeModel:
    """A minimal in-process model: no bookkeeping, one yield to the event loop per call."""

    name = "bench-fake"

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        await asyncio.sleep(0)
        tools = request.tools
        if tools:
            last = tools[-1]["function"]["name"]
            if last.startswith(TRANSFER_PREFIX):  # transfer tools come after the agent's own
                return self._call(last, "{}")
            if request.messages[-1]["role"] != "tool":
                return self._call(tools[0]["function"]["name"], TOOL_ARGUMENTS)
        return ModelResponse(ANSWER, [], Usage(requests=1), "stop")

    def _call(self, name: str, arguments: str) -> ModelResponse:
        call = ToolCall(f"call_{next(self._ids)}", name, arguments)
        return ModelResponse(None, [call], Usage(requests=1), "tool_calls")

    async def stream(self, request: ModelRequest) -> AsyncIterator[str | ModelResponse]:
        yield await self.complete(request)


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _names(count: int) -> list[str]:
    prefix = f"bench_{uuid.uuid4().hex[:8]}"  # agents register by name: keep ours unique
    return [f"{prefix}_agent{i}" for i in range(count)]


def chain(size: int, model: FakeModel) -> list[BaseAgent]:
    """``size`` agents, each offering a transfer to the next; the last one answers."""
    names = _names(size)
    agents = [BaseAgent(names[-1], INSTRUCTIONS, model=model)]
    for name in reversed(names[:-1]):
        agents.insert(
            0,
            BaseAgent(name, INSTRUCTIONS, model=model, handoffs=[agents[0]], max_handoffs=size),
        )
    return agents


async def _check_chain(agents: list[BaseAgent]) -> None:
    result = await agents[0].run(QUESTION)
    expected = [agent.name for agent in agents]
    if result.handoff_chain != expected or result.content != ANSWER:
        raise AssertionError(f"chain went {result.handoff_chain}, answered {result.content!r}")


async def handoff(size: int = 10, rounds: int = 15, round_s: float = 0.1) -> dict[str, Any]:
    """(a) a chain of ``size`` agents, each transferring to the next by the model's choice.
    ``handoff_us`` is the cost a handoff adds: (chain run - one-agent run) / handoffs."""
    if size < 2:
        raise ValueError("a handoff chain needs at least 2 agents")
    model = FakeModel()
    agents = chain(size, model)
    await _check_chain(agents)
    first, last = agents[0], agents[-1]
    samples = await measure(
        {"chain": lambda: first.run(QUESTION), "single": lambda: last.run(QUESTION)},
        rounds=rounds,
        round_s=round_s,
    )
    handoffs = size - 1
    per_round = [
        (c - s) / handoffs for c, s in zip(samples["chain"], samples["single"], strict=True)
    ]
    return {
        "workload": "handoff",
        "handoff_us": median_us(per_round),
        "chain_us": median_us(samples["chain"]),
        "single_run_us": median_us(samples["single"]),
        "handoffs": handoffs,
        "rounds": rounds,
    }


async def run(rounds: int = 15, round_s: float = 0.1) -> dict[str, Any]:
    """(b) one agent answering in one turn."""
    agent = BaseAgent(_names(1)[0], INSTRUCTIONS, model=FakeModel())
    result = await agent.run(QUESTION)
    if result.content != ANSWER or result.usage.requests != 1:
        raise AssertionError(f"one-turn run answered {result.content!r}")
    samples = await measure({"run": lambda: agent.run(QUESTION)}, rounds=rounds, round_s=round_s)
    return {"workload": "run", "run_us": median_us(samples["run"]), "rounds": rounds}


async def tool(rounds: int = 15, round_s: float = 0.1) -> dict[str, Any]:
    """(c) one tool call, then an answer. ``tool_us`` is the cost the round trip adds:
    (run with the tool call - one-turn run of the same agent without tools)."""
    model = FakeModel()
    tool_name, plain_name = _names(2)
    with_tool = BaseAgent(tool_name, INSTRUCTIONS, model=model, tools=[add])
    plain = BaseAgent(plain_name, INSTRUCTIONS, model=model)
    result = await with_tool.run(QUESTION)
    roles = [message["role"] for message in result.messages]
    if roles != ["user", "assistant", "tool", "assistant"] or result.messages[2]["content"] != "5":
        raise AssertionError(f"tool run went {result.messages}")
    samples = await measure(
        {"tool": lambda: with_tool.run(QUESTION), "plain": lambda: plain.run(QUESTION)},
        rounds=rounds,
        round_s=round_s,
    )
    per_round = [t - p for t, p in zip(samples["tool"], samples["plain"], strict=True)]
    return {
        "workload": "tool",
        "tool_us": median_us(per_round),
        "tool_run_us": median_us(samples["tool"]),
        "single_run_us": median_us(samples["plain"]),
        "rounds": rounds,
    }


async def concurrent(size: int = 1000, rounds: int = 3, round_s: float = 0.1) -> dict[str, Any]:
    """(d) ``size`` concurrent runs of one 3-agent chain (shared agent objects): wall time
    per run and this process's peak RSS. Run each size in a fresh process."""
    model = FakeModel()
    agents = chain(3, model)
    await _check_chain(agents)
    first = agents[0]
    return await concurrent_runs(
        lambda: first.run(QUESTION),
        lambda result: len(result.handoff_chain) == 3,
        size=size,
        rounds=rounds,
        round_s=round_s,
    )


def import_time(rounds: int = 7) -> dict[str, Any]:
    """(e) ``import webagents`` in fresh interpreters: seconds and RSS."""
    return {"workload": "import", **cold_import("import webagents", rounds)}


async def http(url: str | None = None, rounds: int = 15, round_s: float = 0.05) -> dict[str, Any]:
    """(f) one agent turn over real HTTP (``OpenAIModel``) against the bare ``openai`` client
    sending the same request to the same server. Without ``url``, starts a FakeOpenAIServer."""
    import openai

    from webagents.models import OpenAIModel
    from webagents.testing import FakeOpenAIServer

    server = FakeOpenAIServer().start() if url is None else None
    base_url = server.url if server is not None else url
    model_name = "fake-model"
    client = openai.AsyncOpenAI(api_key="test", base_url=base_url)
    agent = BaseAgent(
        _names(1)[0],
        INSTRUCTIONS,
        model=OpenAIModel(model_name, api_key="test", base_url=base_url),
    )
    messages: Any = [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": QUESTION},
    ]

    async def bare() -> object:
        return await client.chat.completions.create(model=model_name, messages=messages)

    try:
        completion = await bare()
        result = await agent.run(QUESTION)
        if result.content != completion.choices[0].message.content:
            raise AssertionError(f"agent said {result.content!r}, bare client {completion!r}")
        if server is not None:
            sent = server.requests[-2:]
            if sent[0] != sent[1]:
                raise AssertionError(f"the agent's request differs from the bare one: {sent}")
        samples = await measure(
            {"bare": bare, "agent": lambda: agent.run(QUESTION)}, rounds=rounds, round_s=round_s
        )
    finally:
        await agent.close()
        await client.close()
        if server is not None:
            server.stop()
    ratios = [a / b for a, b in zip(samples["agent"], samples["bare"], strict=True)]
    return {
        "workload": "http",
        "http_overhead_ratio": statistics.median(ratios),
        "agent_turn_us": median_us(samples["agent"]),
        "bare_client_us": median_us(samples["bare"]),
        "rounds": rounds,
    }


WORKLOADS = {
    "handoff": handoff,
    "run": run,
    "tool": tool,
    "concurrent": concurrent,
    "import": import_time,
    "http": http,
}

if __name__ == "__main__":
    cli(WORKLOADS)
