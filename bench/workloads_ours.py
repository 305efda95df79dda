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
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
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

from webagents import BaseAgent, RunResult
from webagents._names import TRANSFER_PREFIX
from webagents.agents.runner import Run
from webagents.models.base import ModelRequest, ModelResponse, ToolCall, Usage
from webagents.sessions import InMemorySessionStore, SessionKey, SessionStore
from webagents.sessions.sqlite import SQLiteSessionStore
from webagents.transcript import Transcript

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


async def run_traced(rounds: int = 15, round_s: float = 0.1) -> dict[str, Any]:
    """(b) traced: the one-turn run with an OpenTelemetry SDK tracer provider set and an
    exporter that drops the spans, reported without a target. ``run_us`` is the same run
    timed first in this process, before opentelemetry is imported (tracing off);
    ``tracing_overhead_us`` is what tracing adds to it (``run_traced_us - run_us``)."""
    agent = BaseAgent(_names(1)[0], INSTRUCTIONS, model=FakeModel())
    plain = await measure({"run": lambda: agent.run(QUESTION)}, rounds=rounds, round_s=round_s)
    from opentelemetry import trace  # imported only now: the figure above is tracing off
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Dropping(SpanExporter):
        def __init__(self) -> None:
            self.spans = 0

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            self.spans += len(spans)
            return SpanExportResult.SUCCESS

    exporter = Dropping()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    result = await agent.run(QUESTION)
    if result.content != ANSWER or exporter.spans != 2:  # invoke_agent and chat
        raise AssertionError(f"traced run answered {result.content!r}, {exporter.spans} spans")
    traced = await measure(
        {"run_traced": lambda: agent.run(QUESTION)}, rounds=rounds, round_s=round_s
    )
    run_traced_us, run_us = median_us(traced["run_traced"]), median_us(plain["run"])
    return {
        "workload": "run_traced",
        "run_traced_us": run_traced_us,
        "run_us": run_us,
        "tracing_overhead_us": run_traced_us - run_us,
        "rounds": rounds,
    }


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


HTTP_MODEL = "fake-model"
HTTP_MESSAGES: Any = [
    {"role": "system", "content": INSTRUCTIONS},
    {"role": "user", "content": QUESTION},
]


def _http_pair(base_url: str) -> tuple[BaseAgent, Any, Callable[[], Awaitable[Any]]]:
    """An agent on ``OpenAIModel`` and a bare ``openai`` client (with its call) at
    ``base_url``, meant to send the same request."""
    import openai

    from webagents.models import OpenAIModel

    client = openai.AsyncOpenAI(api_key="test", base_url=base_url)
    model = OpenAIModel(HTTP_MODEL, api_key="test", base_url=base_url)
    agent = BaseAgent(_names(1)[0], INSTRUCTIONS, model=model)

    async def bare() -> Any:
        return await client.chat.completions.create(model=HTTP_MODEL, messages=HTTP_MESSAGES)

    return agent, client, bare


async def _check_same_request() -> None:
    """The agent sends exactly the bare client's request (checked on a FakeOpenAIServer of
    this process, whose request log the separate fake LLM's process does not share)."""
    from webagents.testing import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        agent, client, bare = _http_pair(server.url)
        try:
            completion = await bare()
            result = await agent.run(QUESTION)
        finally:
            await agent.close()
            await client.close()
    if result.content != completion.choices[0].message.content:
        raise AssertionError(f"agent said {result.content!r}, bare client {completion!r}")
    sent = server.requests[-2:]
    if sent[0] != sent[1]:
        raise AssertionError(f"the agent's request differs from the bare one: {sent}")


async def http(url: str | None = None, rounds: int = 15, round_s: float = 0.05) -> dict[str, Any]:
    """(f) one agent turn over real HTTP (``OpenAIModel``) against the bare ``openai`` client
    sending the same request to the same server: ``url`` (``bench/run.py`` passes the fake
    LLM it runs in a process of its own), else a FakeOpenAIServer started here."""
    from webagents.testing import FakeOpenAIServer

    await _check_same_request()
    server = FakeOpenAIServer().start() if url is None else None
    agent, client, bare = _http_pair(server.url if server is not None else str(url))
    try:
        await bare()
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


# (g) session turns ---------------------------------------------------------------------------

SESSION_SMALL = 10  # messages in the short session; the long one holds --size

TimedOp = Callable[[], Awaitable[float]]
_session_ids = itertools.count()  # session ids unique in the process, whoever prepares them


class CountingModel(FakeModel):
    """The fake model, remembering how many messages its last request carried."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.sent = len(request.messages)
        return await super().complete(request)


def _sent(agent: BaseAgent) -> int:
    assert isinstance(agent.model, CountingModel)
    return agent.model.sent


def _conversation(turn: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """``size`` messages: the messages of one stored turn over and over, each a fresh dict."""
    return [dict(turn[i % len(turn)]) for i in range(size)]


class SessionsAt:
    """Sessions of ``agent``'s store holding ``size`` messages, for timing turns on them.

    Sessions are prepared through the store (``size`` messages committed in one turn, which
    also fills a store's cache as the turns of a running conversation do), enough for
    ``turns`` timed turns, each session serving ``quota`` of them; then they are deleted and
    new ones prepared, none of it timed. So a timed turn finds between ``size`` and ``size +
    2 * (quota - 1)`` messages (10 at 10; 10,000 to 10,198 at 10,000), and timed turns follow
    each other as on a server, not between preparations.
    """

    def __init__(
        self, agent: BaseAgent, turn: list[dict[str, Any]], size: int, turns: int = 100
    ) -> None:
        self.agent, self.size, self.turns = agent, size, turns
        self.quota = max(1, size // 100)
        self.history = _conversation(turn, size)
        self.keys: list[SessionKey] = []
        self.done = 0  # timed turns on the current sessions

    async def _prepare(self) -> None:
        store = self.agent.sessions
        for key in self.keys:
            await store.delete(key)
        self.keys = []
        for _ in range(-(-self.turns // self.quota)):
            key = SessionKey(self.agent.name, f"s{self.size}-{next(_session_ids)}")
            async with store.turn(key) as turn:
                await turn.commit(self.history, owner=self.agent.name, user_id=None)
            self.keys.append(key)
        self.done = 0

    async def turn(self) -> float:
        """Seconds of one turn; the model must be sent every stored message."""
        if self.done == len(self.keys) * self.quota:
            await self._prepare()
        key = self.keys[self.done // self.quota]
        stored = self.size + 2 * (self.done % self.quota)
        started = time.perf_counter()
        await self.agent.run(QUESTION, session_id=key.session_id)
        elapsed = time.perf_counter() - started
        if _sent(self.agent) != stored + 2:  # the system message, the history, the question
            raise AssertionError(f"a turn on {stored} messages sent {_sent(self.agent)}")
        self.done += 1
        return elapsed


def without_session(agent: BaseAgent, history: list[dict[str, Any]]) -> Callable[[], Any]:
    """The same agent answering ``history`` and a new user message without a session.

    The run's transcript is built as a session turn builds it (``resume_session``: what is
    new, after the history read in place, see ``webagents.transcript``), so the model is
    sent the same messages at the same cost on both sides. ``run(history + [question])``
    would not do: it checks and copies each of the caller's messages (about 0.5 us each),
    work a session turn does not do, so it costs far more at 10,000 messages; it is
    reported as ``messages_us``.
    """

    def answer() -> Awaitable[RunResult]:
        run = Run.create(agent, QUESTION, None, None, None, "all")
        run.transcript = Transcript(run.transcript, history)
        return run.execute()

    return answer


def timed(agent: BaseAgent, op: Callable[[], Awaitable[object]], sends: int) -> TimedOp:
    """Seconds of one call of ``op``, which must send the model ``sends`` messages."""

    async def call() -> float:
        started = time.perf_counter()
        await op()
        elapsed = time.perf_counter() - started
        if _sent(agent) != sends:
            raise AssertionError(f"the model was sent {_sent(agent)} messages, not {sends}")
        return elapsed

    return call


async def session(
    size: int = 10_000, rounds: int = 11, round_s: float = 0.1, turns: int = 100
) -> dict[str, Any]:
    """(g) one turn (a user message, a one-turn answer) on a session holding 10 messages and
    on one holding ``size``, for each store (memory; SQLite in a temporary file); sessions
    are prepared ``turns`` timed turns at a time (see ``SessionsAt``).

    ``session_turn_us`` is what the session costs the turn: (turn with ``session_id`` on a
    session of N messages) - (the same agent answering the same N messages without a
    session, see ``without_session``), the median of the differences of each timed turn and
    the baseline run just after it.
    """
    if size <= SESSION_SMALL:
        raise ValueError(f"the long session must hold more than {SESSION_SMALL} messages")
    with tempfile.TemporaryDirectory(prefix="bench-sessions-") as folder:
        stores: dict[str, SessionStore[Any]] = {
            "memory": InMemorySessionStore(),
            "sqlite": SQLiteSessionStore(Path(folder) / "sessions.db"),
        }
        try:
            return await _session(stores, (SESSION_SMALL, size), rounds, round_s, turns)
        finally:
            for store in stores.values():
                await store.aclose()


async def _session(
    stores: dict[str, SessionStore[Any]],
    sizes: tuple[int, int],
    rounds: int,
    round_s: float,
    turns: int,
) -> dict[str, Any]:
    agents = {
        kind: BaseAgent(name, INSTRUCTIONS, model=CountingModel(), sessions=store)
        for (kind, store), name in zip(stores.items(), _names(len(stores)), strict=True)
    }
    first = agents["memory"]
    await first.run(QUESTION, session_id="seed")
    seed = await first.sessions.read(SessionKey(first.name, "seed"))
    if seed is None or [m["content"] for m in seed.messages] != [QUESTION, ANSWER]:
        raise AssertionError(f"a first session turn stored {seed}")
    turn = seed.messages  # what one turn stores: the user message and the answer

    pairs: dict[str, tuple[TimedOp, TimedOp]] = {}
    for n in sizes:
        history = _conversation(turn, n)
        alone = timed(first, without_session(first, history), n + 2)
        for kind, agent in agents.items():
            pairs[f"{kind} {n}"] = (SessionsAt(agent, turn, n, turns).turn, alone)
        asked = [*history, turn[0]]
        pairs[f"messages {n}"] = (timed(first, lambda asked=asked: first.run(asked), n + 2), alone)
    samples = await measure_paired(pairs, rounds=rounds, round_s=round_s)

    def median(name: str) -> float:
        return median_us(samples[name][0])

    return {
        "workload": "session",
        "sizes": list(sizes),
        "session_turn_us": {
            kind: {str(n): median_difference_us(samples[f"{kind} {n}"]) for n in sizes}
            for kind in agents
        },
        "session_us": {kind: {str(n): median(f"{kind} {n}") for n in sizes} for kind in agents},
        "without_session_us": {
            str(n): median_us([t for kind in agents for t in samples[f"{kind} {n}"][1]])
            for n in sizes
        },
        "messages_us": {str(n): median(f"messages {n}") for n in sizes},
        "turns_per_session": {str(n): max(1, n // 100) for n in sizes},
        "rounds": rounds,
    }


WORKLOADS = {
    "handoff": handoff,
    "run": run,
    "run_traced": run_traced,
    "tool": tool,
    "concurrent": concurrent,
    "import": import_time,
    "http": http,
    "session": session,
}

if __name__ == "__main__":
    cli(WORKLOADS)
