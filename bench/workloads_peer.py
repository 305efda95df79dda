"""The OpenAI Agents SDK's side of the benchmark (runs in ``bench/.peer-venv``).

Mirrors ``workloads_ours.py``: same workloads, same fake model behaviour, same result keys.
``bench/.peer-venv/bin/python bench/workloads_peer.py WORKLOAD [--size N] [--rounds R]
[--round-ms MS] [--url URL]`` prints one JSON line. Tracing is disabled, as webagents has
none on this path.

The fake model answers from the request's shape alone, like ours: a transfer to the agent's
handoff target when one is offered, else a call of its first tool unless a tool result just
came back, else a text answer. Each call yields to the event loop once and builds a fresh
response (the SDK's output items are pydantic models; building one costs a few microseconds).
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
from agents import Agent, Runner, Usage, function_tool, set_tracing_disabled
from agents.items import ModelResponse
from agents.models.interface import Model
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

set_tracing_disabled(True)

INSTRUCTIONS = "You are a helpful assistant."
QUESTION = "hello"
ANSWER = "done"
TOOL_ARGUMENTS = '{"a": 2, "b": 3}'


class FakeModel(Model):
    """A minimal in-process model: no bookkeeping, one yield to the event loop per call."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    async def get_response(
        self,
        system_instructions: Any,
        input: Any,
        model_settings: Any,
        tools: Any,
        output_schema: Any,
        handoffs: Any,
        tracing: Any,
        *,
        previous_response_id: Any = None,
        conversation_id: Any = None,
        prompt: Any = None,
    ) -> ModelResponse:
        await asyncio.sleep(0)
        if handoffs:
            return self._call(handoffs[0].tool_name, "{}")
        if tools and not (isinstance(input, list) and _is_tool_output(input[-1])):
            return self._call(tools[0].name, TOOL_ARGUMENTS)
        text = ResponseOutputText(text=ANSWER, type="output_text", annotations=[], logprobs=[])
        message = ResponseOutputMessage(
            id=f"msg_{next(self._ids)}",
            type="message",
            role="assistant",
            status="completed",
            content=[text],
        )
        return ModelResponse(output=[message], usage=Usage(requests=1), response_id=None)

    def _call(self, name: str, arguments: str) -> ModelResponse:
        number = next(self._ids)
        call = ResponseFunctionToolCall(
            arguments=arguments,
            call_id=f"call_{number}",
            name=name,
            type="function_call",
            id=f"fc_{number}",
            status="completed",
        )
        return ModelResponse(output=[call], usage=Usage(requests=1), response_id=None)

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("the benchmark does not stream")
        yield  # an async generator, as the interface expects


def _is_tool_output(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "function_call_output"


@function_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _names(count: int) -> list[str]:
    prefix = f"bench_{uuid.uuid4().hex[:8]}"
    return [f"{prefix}_agent{i}" for i in range(count)]


def chain(size: int, model: FakeModel) -> list[Agent[Any]]:
    """``size`` agents, each offering a transfer to the next; the last one answers."""
    names = _names(size)
    agents: list[Agent[Any]] = [Agent(name=names[-1], instructions=INSTRUCTIONS, model=model)]
    for name in reversed(names[:-1]):
        agents.insert(
            0, Agent(name=name, instructions=INSTRUCTIONS, model=model, handoffs=[agents[0]])
        )
    return agents


def _runner(agent: Agent[Any], max_turns: int = 10) -> Any:
    return lambda: Runner.run(agent, QUESTION, max_turns=max_turns)


async def _check_chain(agents: list[Agent[Any]]) -> None:
    result = await Runner.run(agents[0], QUESTION, max_turns=len(agents) + 2)
    if result.last_agent is not agents[-1] or result.final_output != ANSWER:
        raise AssertionError(f"chain ended at {result.last_agent.name}: {result.final_output!r}")


async def handoff(size: int = 10, rounds: int = 15, round_s: float = 0.1) -> dict[str, Any]:
    """(a) a chain of ``size`` agents, each transferring to the next by the model's choice.
    ``handoff_us`` is the cost a handoff adds: (chain run - one-agent run) / handoffs."""
    if size < 2:
        raise ValueError("a handoff chain needs at least 2 agents")
    agents = chain(size, FakeModel())
    await _check_chain(agents)
    samples = await measure(
        {"chain": _runner(agents[0], size + 2), "single": _runner(agents[-1])},
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
    agent = Agent(name=_names(1)[0], instructions=INSTRUCTIONS, model=FakeModel())
    result = await Runner.run(agent, QUESTION)
    if result.final_output != ANSWER:
        raise AssertionError(f"one-turn run answered {result.final_output!r}")
    samples = await measure({"run": _runner(agent)}, rounds=rounds, round_s=round_s)
    return {"workload": "run", "run_us": median_us(samples["run"]), "rounds": rounds}


async def tool(rounds: int = 15, round_s: float = 0.1) -> dict[str, Any]:
    """(c) one tool call, then an answer. ``tool_us`` is the cost the round trip adds:
    (run with the tool call - one-turn run of the same agent without tools)."""
    model = FakeModel()
    tool_name, plain_name = _names(2)
    with_tool = Agent(name=tool_name, instructions=INSTRUCTIONS, model=model, tools=[add])
    plain = Agent(name=plain_name, instructions=INSTRUCTIONS, model=model)
    result = await Runner.run(with_tool, QUESTION)
    kinds = [item.type for item in result.new_items]
    outputs = [getattr(item, "output", None) for item in result.new_items]
    if kinds != ["tool_call_item", "tool_call_output_item", "message_output_item"] or outputs[
        1
    ] not in (5, "5"):
        raise AssertionError(f"tool run went {kinds} {outputs}")
    samples = await measure(
        {"tool": _runner(with_tool), "plain": _runner(plain)}, rounds=rounds, round_s=round_s
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
    agents = chain(3, FakeModel())
    await _check_chain(agents)
    first, last = agents[0], agents[-1]
    return await concurrent_runs(
        lambda: Runner.run(first, QUESTION),
        lambda result: result.last_agent is last,
        size=size,
        rounds=rounds,
        round_s=round_s,
    )


def import_time(rounds: int = 7) -> dict[str, Any]:
    """(e) ``import agents`` in fresh interpreters: seconds and RSS."""
    return {"workload": "import", **cold_import("import agents", rounds)}


async def http(url: str | None = None, rounds: int = 15, round_s: float = 0.05) -> dict[str, Any]:
    """(f) one agent turn over real HTTP (``OpenAIChatCompletionsModel``) against the bare
    ``openai`` client sending the same messages to the same server (``url`` is required: the
    fake server is webagents', started by ``bench/run.py``)."""
    import openai
    from agents import OpenAIChatCompletionsModel

    if url is None:
        raise ValueError("the peer's http workload needs --url (bench/run.py passes it)")
    model_name = "fake-model"
    client = openai.AsyncOpenAI(api_key="test", base_url=url)
    agent_client = openai.AsyncOpenAI(api_key="test", base_url=url)
    model = OpenAIChatCompletionsModel(model=model_name, openai_client=agent_client)
    agent = Agent(name=_names(1)[0], instructions=INSTRUCTIONS, model=model)
    messages: Any = [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": QUESTION},
    ]

    async def bare() -> object:
        return await client.chat.completions.create(model=model_name, messages=messages)

    try:
        completion = await bare()
        result = await Runner.run(agent, QUESTION)
        if result.final_output != completion.choices[0].message.content:
            raise AssertionError(f"agent said {result.final_output!r}, bare client {completion!r}")
        samples = await measure(
            {"bare": bare, "agent": _runner(agent)}, rounds=rounds, round_s=round_s
        )
    finally:
        await client.close()
        await agent_client.close()
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
