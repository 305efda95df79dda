"""End to end through the stock ``openai`` client to a real HTTP server (FakeOpenAIServer)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable

import pytest

from webagents import BaseAgent, MissingAPIKeyError, ModelError, Skill, tool
from webagents.events import HandoffTransfer, TextDelta, ToolCallEvent
from webagents.models import OpenAIModel, resolve_model
from webagents.testing import FakeOpenAIServer, error, text, tool_call, transfer

_ids = itertools.count()


def unique(name: str) -> str:
    return f"{name}-{next(_ids)}"


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
async def model_for() -> AsyncIterator[Callable[[FakeOpenAIServer], OpenAIModel]]:
    models: list[OpenAIModel] = []

    def make(server: FakeOpenAIServer) -> OpenAIModel:
        models.append(OpenAIModel("fake-model", api_key="test", base_url=server.url))
        return models[-1]

    yield make
    for model in models:
        await model.aclose()


class Orders(Skill):
    @tool
    def order_status(self, order_id: str) -> dict[str, str]:
        """Look up an order.

        Args:
            order_id: The order number, e.g. A-1.
        """
        return {"order_id": order_id, "status": "shipped"}


async def test_tool_round_trip_over_http(
    server: FakeOpenAIServer, model_for: Callable[[FakeOpenAIServer], OpenAIModel]
) -> None:
    server.add_replies(tool_call("order_status", {"order_id": "A-1"}), text("It shipped."))
    agent = BaseAgent(
        unique("orders"), "Answer order questions.", model=model_for(server), skills={"o": Orders()}
    )

    result = await agent.run("Where is order A-1?")

    assert result.content == "It shipped."
    first, second = server.requests
    assert first["model"] == "fake-model"
    assert first["messages"][0] == {"role": "system", "content": "Answer order questions."}
    function = first["tools"][0]["function"]
    assert function["name"] == "order_status"
    assert function["parameters"]["properties"]["order_id"]["description"].startswith("The order")
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool"
    assert '"status":"shipped"' in tool_message["content"]
    assert result.usage.requests == 2
    assert result.usage.total_tokens > 0


async def test_streaming_handoff_over_http(
    server: FakeOpenAIServer, model_for: Callable[[FakeOpenAIServer], OpenAIModel]
) -> None:
    specialist = BaseAgent(
        unique("specialist"), "Specialist.", model=model_for(server), description="Knows things"
    )
    desk = BaseAgent(unique("desk"), "Route.", model=model_for(server), handoffs=[specialist])
    server.add_replies(transfer(specialist.name, "needs an expert"), text("Expert answer here."))

    events = [event async for event in desk.run_streaming("A hard question")]

    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert "".join(d.text for d in deltas) == "Expert answer here."
    assert {d.agent for d in deltas} == {specialist.name}
    assert len(deltas) > 1  # really streamed, not one blob
    transfer_events = [e for e in events if isinstance(e, HandoffTransfer)]
    assert [(t.from_agent, t.to_agent, t.reason) for t in transfer_events] == [
        (desk.name, specialist.name, "needs an expert")
    ]
    assert any(isinstance(e, ToolCallEvent) for e in events)
    assert all(request.get("stream") for request in server.requests)
    offered = [t["function"]["name"] for t in server.requests[0]["tools"]]
    assert offered == [f"transfer_to_{specialist.name}"]
    assert "Knows things" in server.requests[0]["tools"][0]["function"]["description"]


async def test_streamed_tool_calls_are_reassembled(
    server: FakeOpenAIServer, model_for: Callable[[FakeOpenAIServer], OpenAIModel]
) -> None:
    server.add_replies(tool_call("order_status", {"order_id": "B-22"}), text("Done."))
    agent = BaseAgent(unique("orders"), model=model_for(server), skills={"o": Orders()})

    events = [event async for event in agent.run_streaming("status of B-22")]

    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    assert [(c.name, c.arguments) for c in calls] == [("order_status", '{"order_id": "B-22"}')]


async def test_http_error_is_a_model_error(
    server: FakeOpenAIServer, model_for: Callable[[FakeOpenAIServer], OpenAIModel]
) -> None:
    server.add_replies(error(400, "bad request from the test"))
    agent = BaseAgent(unique("broken"), model=model_for(server))

    with pytest.raises(ModelError, match="bad request from the test"):
        await agent.run("hello")


async def test_environment_configures_the_client(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    agent = BaseAgent(unique("env"), model="openai/gpt-test")

    async with agent:
        result = await agent.run("ping")

    assert result.content == "echo: ping"
    assert server.requests[0]["model"] == "gpt-test"


async def test_missing_key_is_a_clear_error_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    agent = BaseAgent(unique("keyless"), model="openai/gpt-4o")  # construction needs no key

    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        await agent.run("hello")


def test_run_sync_closes_its_connections(server: FakeOpenAIServer) -> None:
    agent = BaseAgent(unique("sync"), model=OpenAIModel("m", api_key="test", base_url=server.url))
    assert agent.run_sync("one").content == "echo: one"
    assert agent.run_sync("two").content == "echo: two"  # a new loop, a new pool


def test_model_strings_resolve() -> None:
    model = resolve_model("openai/gpt-4o-mini")
    assert isinstance(model, OpenAIModel)
    assert model.name == "gpt-4o-mini"
    assert resolve_model("gpt-4o").name == "gpt-4o"  # a bare name means openai
    with pytest.raises(ValueError, match="unknown model provider 'nope'"):
        resolve_model("nope/model")
