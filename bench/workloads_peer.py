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
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from _harness import (
    cli,
    cold_import,
    concurrent_runs,
    measure,
    measure_paired,
    median_difference_us,
    median_us,
)
from agents import Agent, Runner, SQLiteSession, Usage, function_tool, set_tracing_disabled
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


# (g) session turns ---------------------------------------------------------------------------

SESSION_SMALL = 10  # items in the short session; the long one holds --size

TimedOp = Callable[[], Awaitable[float]]


class CountingModel(FakeModel):
    """The fake model, remembering how many input items its last call carried."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def get_response(  # type: ignore[override]
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        self.sent = len(input) if isinstance(input, list) else 1
        return await super().get_response(system_instructions, input, *args, **kwargs)


def _conversation(turn: list[Any], size: int) -> list[Any]:
    """``size`` items: the items of one stored turn over and over, each a fresh dict with its
    own id where the turn's items have one (ids are unique in a real conversation)."""
    items = []
    for i in range(size):
        item = dict(turn[i % len(turn)])
        if "id" in item:
            item["id"] = f"{item['id']}_{i}"
        items.append(item)
    return items


def _check(model: CountingModel, sends: int) -> None:
    if model.sent != sends:
        raise AssertionError(f"the model was sent {model.sent} items, not {sends}")


def session_turn(agent: Agent[Any], session: SQLiteSession, size: int) -> TimedOp:
    """Seconds of one turn on ``session`` (``size`` items); the turn's two items (the user
    message and the answer) are then popped, not timed, so the session keeps its size."""
    model = agent.model
    assert isinstance(model, CountingModel)

    async def turn() -> float:
        started = time.perf_counter()
        await Runner.run(agent, QUESTION, session=session)
        elapsed = time.perf_counter() - started
        _check(model, size + 1)  # the history and the question
        for _ in range(2):
            await session.pop_item()
        return elapsed

    return turn


def without_session(agent: Agent[Any], history: list[Any]) -> TimedOp:
    """Seconds of the same agent answering ``history`` and the question given as its input."""
    model = agent.model
    assert isinstance(model, CountingModel)

    async def answer() -> float:
        started = time.perf_counter()
        await Runner.run(agent, [*history, {"role": "user", "content": QUESTION}])
        elapsed = time.perf_counter() - started
        _check(model, len(history) + 1)
        return elapsed

    return answer


async def session(size: int = 10_000, rounds: int = 11, round_s: float = 0.1) -> dict[str, Any]:
    """(g) one turn (a user message, a one-turn answer) on a ``SQLiteSession`` (in a temporary
    file) holding 10 items and on one holding ``size``. ``session_turn_us``: (turn with
    ``session=`` on a session of N items) - (the same agent given the same N items and the
    question as its input, without a session), the median of the differences of each timed
    turn and the baseline run just after it."""
    if size <= SESSION_SMALL:
        raise ValueError(f"the long session must hold more than {SESSION_SMALL} items")
    sizes = (SESSION_SMALL, size)
    agent = Agent(name=_names(1)[0], instructions=INSTRUCTIONS, model=CountingModel())
    with tempfile.TemporaryDirectory(prefix="bench-sessions-") as folder:
        path = Path(folder) / "sessions.db"
        seed = SQLiteSession("seed", path)
        sessions = {n: SQLiteSession(f"s{n}", path) for n in sizes}
        try:
            result = await Runner.run(agent, QUESTION, session=seed)
            turn = await seed.get_items()  # what one turn stores: the question, the answer
            if len(turn) != 2 or result.final_output != ANSWER:
                raise AssertionError(f"a first session turn stored {turn}")
            pairs: dict[str, tuple[TimedOp, TimedOp]] = {}
            for n, stored in sessions.items():
                history = _conversation(turn, n)
                await stored.add_items(history)
                pairs[f"sqlite {n}"] = (
                    session_turn(agent, stored, n),
                    without_session(agent, history),
                )
            samples = await measure_paired(pairs, rounds=rounds, round_s=round_s)
            for n, stored in sessions.items():
                if len(await stored.get_items()) != n:
                    raise AssertionError(f"the session of {n} items did not keep its size")
        finally:
            for stored in (seed, *sessions.values()):
                stored.close()

    return {
        "workload": "session",
        "sizes": list(sizes),
        "session_turn_us": {
            "sqlite": {str(n): median_difference_us(samples[f"sqlite {n}"]) for n in sizes}
        },
        "session_us": {"sqlite": {str(n): median_us(samples[f"sqlite {n}"][0]) for n in sizes}},
        "without_session_us": {str(n): median_us(samples[f"sqlite {n}"][1]) for n in sizes},
        "rounds": rounds,
    }


WORKLOADS = {
    "handoff": handoff,
    "run": run,
    "tool": tool,
    "concurrent": concurrent,
    "import": import_time,
    "http": http,
    "session": session,
}

if __name__ == "__main__":
    cli(WORKLOADS)
