"""End to end through the stock ``openai`` client to a real HTTP server (FakeOpenAIServer)."""

from __future__ import annotations

import itertools
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from webagents import BaseAgent, MissingAPIKeyError, ModelError, Skill, tool
from webagents.errors import AgentConfigError
from webagents.events import HandoffTransfer, TextDelta, ToolCallEvent
from webagents.models import ModelRequest, ModelResponse, OpenAIModel, ToolCall, resolve_model
from webagents.models.base import with_unique_call_ids
from webagents.testing import FakeOpenAIServer, error, text, tool_call, transfer
from webagents.testing.fake_server import RawReply

_ids = itertools.count()
KEY = "sk-proj-SECRETSECRET0123456789"
REQUEST = ModelRequest(messages=[{"role": "user", "content": "hi"}], tools=[], agent="tester")

ModelFor = Callable[..., OpenAIModel]


def unique(name: str) -> str:
    return f"{name}-{next(_ids)}"


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
async def model_for() -> AsyncIterator[ModelFor]:
    models: list[OpenAIModel] = []

    def make(server: FakeOpenAIServer, **options: Any) -> OpenAIModel:
        options.setdefault("api_key", "test")
        models.append(OpenAIModel("fake-model", base_url=server.url, **options))
        return models[-1]

    yield make
    for model in models:
        await model.aclose()


async def call(model: OpenAIModel, streaming: bool) -> ModelResponse:
    """One model call, through ``stream`` or ``complete``."""
    if not streaming:
        return await model.complete(REQUEST)
    items = [item async for item in model.stream(REQUEST)]
    assert isinstance(items[-1], ModelResponse)
    return items[-1]


def assert_names_model_and_endpoint(failure: ModelError, server: FakeOpenAIServer) -> None:
    message = str(failure)
    assert "'fake-model'" in message
    assert server.url in message
    assert failure.model == "fake-model"
    assert failure.endpoint == server.url
    assert KEY not in message and "SECRET" not in message
    assert "Traceback" not in message


class Orders(Skill):
    @tool
    def order_status(self, order_id: str) -> dict[str, str]:
        """Look up an order.

        Args:
            order_id: The order number, e.g. A-1.
        """
        return {"order_id": order_id, "status": "shipped"}


async def test_tool_round_trip_over_http(server: FakeOpenAIServer, model_for: ModelFor) -> None:
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


async def test_streaming_handoff_over_http(server: FakeOpenAIServer, model_for: ModelFor) -> None:
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
    server: FakeOpenAIServer, model_for: ModelFor
) -> None:
    server.add_replies(tool_call("order_status", {"order_id": "B-22"}), text("Done."))
    agent = BaseAgent(unique("orders"), model=model_for(server), skills={"o": Orders()})

    events = [event async for event in agent.run_streaming("status of B-22")]

    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    assert [(c.name, c.arguments) for c in calls] == [("order_status", '{"order_id": "B-22"}')]


async def test_http_error_is_a_model_error(server: FakeOpenAIServer, model_for: ModelFor) -> None:
    server.add_replies(error(400, "bad request from the test"))
    agent = BaseAgent(unique("broken"), model=model_for(server, api_key=KEY))

    with pytest.raises(ModelError, match="bad request from the test") as caught:
        await agent.run("hello")

    assert (caught.value.status_code, caught.value.retryable) == (400, False)
    assert_names_model_and_endpoint(caught.value, server)


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


# --- Unusable answers and HTTP failures: one ModelError naming model and endpoint ------------

CHUNK = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake-model"}


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {**CHUNK, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


UNUSABLE: dict[str, tuple[RawReply, bool, str]] = {  # reply, streamed?, what the error says
    "html": (RawReply.html(), False, "answered an HTML page with status 200, not JSON"),
    "html-stream": (RawReply.html(), True, "an HTML page with status 200, not server-sent events"),
    "json-for-stream": (RawReply('{"choices": []}'), True, "answered application/json with"),
    "broken-json": (RawReply('{"id": "x", "choi'), False, "answered malformed JSON"),
    "no-choices": (RawReply('{"id": "x"}'), False, "answered a JSON body without choices"),
    "empty-choices": (RawReply('{"choices": []}'), False, "answered a JSON body without choices"),
    "json-list": (RawReply("[1, 2]"), False, "answered a JSON list, not a chat completion"),
    "error-body-200": (RawReply('{"error": {"message": "quota"}}'), False, "an error: quota"),
    "null-message": (RawReply('{"choices": [{"message": null}]}'), False, "without a message"),
    "malformed-sse": (RawReply.events('{"choices": [', done=True), True, "malformed stream event"),
    "empty-stream": (RawReply.events(done=True), True, "ended its stream without content"),
    "no-events": (RawReply.events(), True, "ended its stream without content, tool calls"),
    "role-only": (RawReply.events(chunk({"role": "assistant"})), True, "ended its stream without"),
    "sse-list": (RawReply.events("[1]", done=True), True, "holding a JSON list"),
    "sse-error": (
        RawReply.events({"error": {"message": "overloaded"}}),
        True,
        "failed: overloaded",
    ),
    "nameless-call": (
        RawReply.events(chunk({"tool_calls": [{"index": 0, "id": "c1"}]}, "tool_calls")),
        True,
        "streamed tool call #1 without a function name",
    ),
}


@pytest.mark.parametrize("case", UNUSABLE)
async def test_unusable_answers_are_model_errors(
    server: FakeOpenAIServer, model_for: ModelFor, case: str
) -> None:
    reply, streaming, problem = UNUSABLE[case]
    server.add_replies(reply)
    model = model_for(server, api_key=KEY, max_retries=0)

    with pytest.raises(ModelError) as caught:
        await call(model, streaming)

    failure = caught.value
    assert problem in str(failure)
    assert (failure.status_code, failure.retryable) == (None, False)
    assert_names_model_and_endpoint(failure, server)


HTTP_ERRORS: dict[str, tuple[Any, int, bool, str]] = {  # reply, status, retryable?, message
    "429": (
        error(429, "Slow down", headers={"Retry-After": "30"}),
        429,
        True,
        "HTTP 429: Slow down",
    ),
    "500": (error(500, "The server had an error"), 500, True, "HTTP 500: The server had an error"),
    "503": (error(503, ""), 503, True, "HTTP 503"),
    "502-html": (RawReply.html("<html><h1>Bad Gateway</h1></html>", 502), 502, True, "HTML error"),
    "408": (error(408, "too slow"), 408, True, "HTTP 408: too slow"),
    "409": (error(409, "locked"), 409, True, "HTTP 409: locked"),
    "400": (error(400, "bad"), 400, False, "HTTP 400: bad"),
    "401": (error(401, f"Incorrect API key provided: {KEY}."), 401, False, "Incorrect API key"),
    "403": (error(403, "forbidden"), 403, False, "HTTP 403: forbidden"),
    "404": (error(404, "The model `x` does not exist"), 404, False, "does not exist"),
    "422": (error(422, "unprocessable"), 422, False, "HTTP 422: unprocessable"),
}


@pytest.mark.parametrize("case", HTTP_ERRORS)
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_http_errors_carry_status_and_retryable(
    server: FakeOpenAIServer, model_for: ModelFor, case: str, streaming: bool
) -> None:
    reply, status, retryable, problem = HTTP_ERRORS[case]
    server.add_replies(reply)
    model = model_for(server, api_key=KEY, max_retries=0)

    with pytest.raises(ModelError) as caught:
        await call(model, streaming)

    failure = caught.value
    assert (failure.status_code, failure.retryable) == (status, retryable)
    assert problem in str(failure)
    assert_names_model_and_endpoint(failure, server)
    assert type(failure.__cause__).__module__.startswith("openai")  # chained, for debugging
    assert len(server.requests) == 1  # max_retries=0: no second attempt


async def test_a_key_quoted_by_the_server_is_redacted_even_when_partly_masked(
    server: FakeOpenAIServer, model_for: ModelFor
) -> None:
    server.add_replies(error(401, "Incorrect API key provided: sk-proj-SECR**********6789."))
    model = model_for(server, api_key=KEY, max_retries=0)

    with pytest.raises(ModelError) as caught:
        await model.complete(REQUEST)

    assert "SECR" not in str(caught.value) and "6789" not in str(caught.value)
    assert "Incorrect API key provided: sk-<redacted>" in str(caught.value)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once the probe is closed


async def test_an_unreachable_endpoint_is_a_retryable_model_error() -> None:
    port = free_port()
    url = f"http://user:{KEY}@127.0.0.1:{port}/v1?token=abc"
    model = OpenAIModel("fake-model", api_key=KEY, base_url=url, max_retries=0)

    with pytest.raises(ModelError, match="could not be reached") as caught:
        await model.complete(REQUEST)
    await model.aclose()

    failure = caught.value
    assert (failure.status_code, failure.retryable) == (None, True)
    assert failure.endpoint == f"http://127.0.0.1:{port}/v1"
    assert KEY not in str(failure) and "user" not in str(failure) and "token" not in str(failure)
    assert failure.endpoint in str(failure)


async def test_a_timeout_is_a_retryable_model_error(server: FakeOpenAIServer) -> None:
    release = threading.Event()

    def stalled(request: dict[str, Any]) -> str:
        release.wait()  # until the client has given up
        return "too late"

    server.set_responder(stalled)
    model = OpenAIModel("fake-model", api_key=KEY, base_url=server.url, timeout=0.2, max_retries=0)
    try:
        with pytest.raises(ModelError, match=r"timed out \(1 attempt, timeout 0.2 s\)") as caught:
            await model.complete(REQUEST)
    finally:
        release.set()
        await model.aclose()

    assert (caught.value.status_code, caught.value.retryable) == (None, True)
    assert_names_model_and_endpoint(caught.value, server)


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_max_retries_reaches_the_client(
    server: FakeOpenAIServer, model_for: ModelFor, streaming: bool
) -> None:
    fast_retry = {"Retry-After": "0.001"}  # the SDK honours it instead of its 0.5 s backoff
    server.add_replies(error(503, "busy", headers=fast_retry), "recovered")
    assert (await call(model_for(server, max_retries=1), streaming)).content == "recovered"
    assert len(server.requests) == 2

    server.add_replies(error(503, "busy", headers=fast_retry), "recovered")
    with pytest.raises(ModelError, match="HTTP 503: busy"):
        await call(model_for(server, max_retries=0), streaming)
    assert len(server.requests) == 3


async def test_timeout_and_retries_have_bounded_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    model = resolve_model("openai/gpt-test")
    assert isinstance(model, OpenAIModel)
    assert (model.timeout, model.max_retries) == (60.0, 2)
    client = model.client()  # what the SDK will use, not just what we store
    assert client.max_retries == 2
    assert (client.timeout.read, client.timeout.connect) == (60.0, 5.0)  # type: ignore[union-attr]
    await model.aclose()

    custom = OpenAIModel("m", api_key="k", timeout=7.5, max_retries=0)
    client = custom.client()
    assert client.max_retries == 0
    assert client.timeout.read == 7.5  # type: ignore[union-attr]
    await custom.aclose()


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"timeout": 0}, "timeout=0 must be a positive number of seconds"),
        ({"timeout": float("inf")}, "timeout=inf must be"),
        ({"timeout": "60"}, "timeout='60' must be"),
        ({"max_retries": -1}, "max_retries=-1 must be a whole number >= 0"),
        ({"max_retries": 1.5}, "max_retries=1.5 must be"),
        ({"client": object(), "timeout": 5}, "with client=, set them on that client"),
    ],
)
def test_bad_limits_are_config_errors(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(AgentConfigError, match=r"^OpenAIModel\('m'\): ") as caught:
        OpenAIModel("m", **options)
    assert problem in str(caught.value)


# --- Tool-call ids: present and unique ------------------------------------------------------


def completion_with_calls(*calls: dict[str, Any]) -> RawReply:
    message = {"role": "assistant", "content": None, "tool_calls": list(calls)}
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
    return RawReply(json.dumps({"id": "x", "object": "chat.completion", "choices": [choice]}))


def function(name: str, arguments: Any = "{}") -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


async def test_completion_ids_are_filled_in_and_made_unique(
    server: FakeOpenAIServer, model_for: ModelFor
) -> None:
    server.add_replies(
        completion_with_calls(
            {"type": "function", "function": function("a")},  # no id
            {"id": "", "type": "function", "function": function("b")},
            {"id": "call_0", "type": "function", "function": function("c")},
            {"id": "call_0", "function": function("d", {"x": 1})},  # duplicate; args as object
        )
    )

    response = await model_for(server).complete(REQUEST)

    ids = [c.id for c in response.tool_calls]
    assert [c.name for c in response.tool_calls] == ["a", "b", "c", "d"]
    assert all(ids) and len(set(ids)) == 4
    assert ids[2] == "call_0"  # a good id is kept
    assert json.loads(response.tool_calls[3].arguments) == {"x": 1}


async def test_streamed_calls_without_ids_or_indexes_get_ids(
    server: FakeOpenAIServer, model_for: ModelFor
) -> None:
    server.add_replies(
        RawReply.events(
            chunk({"role": "assistant"}),
            # llama.cpp-style: no ids at all
            chunk({"tool_calls": [{"index": 0, "function": function("a", '{"x"')}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
            chunk({"tool_calls": [{"index": 1, "function": function("b", "")}]}),
            # one index reused for a second call that has its own id
            chunk({"tool_calls": [{"index": 1, "id": "call_b", "function": {"arguments": "{}"}}]}),
            chunk({"tool_calls": [{"index": 1, "id": "call_c", "function": function("c")}]}),
            # no index: a new id opens a call, a part without id continues it
            chunk({"tool_calls": [{"id": "call_d", "function": function("d", '{"y":')}]}),
            chunk({"tool_calls": [{"function": {"arguments": " 2}"}}]}),
            chunk({}, "tool_calls"),
            done=True,
        )
    )
    items = [item async for item in model_for(server).stream(REQUEST)]

    [response] = items
    assert isinstance(response, ModelResponse)
    calls = [(c.name, json.loads(c.arguments)) for c in response.tool_calls]
    assert calls == [("a", {"x": 1}), ("b", {}), ("c", {}), ("d", {"y": 2})]
    ids = [c.id for c in response.tool_calls]
    assert ids[1:] == ["call_b", "call_c", "call_d"]
    assert ids[0].startswith("call_") and ids[0] not in ids[1:]


async def test_an_agent_runs_tools_for_a_server_that_sends_no_ids(
    server: FakeOpenAIServer, model_for: ModelFor
) -> None:
    server.add_replies(
        completion_with_calls({"function": function("order_status", '{"order_id": "A-1"}')}),
        "It shipped.",
    )
    agent = BaseAgent(unique("orders"), model=model_for(server), skills={"o": Orders()})

    result = await agent.run("Where is A-1?")

    assert result.content == "It shipped."
    *_, assistant, tool_message = server.requests[1]["messages"]
    [sent_call] = assistant["tool_calls"]
    assert sent_call["id"].startswith("call_")
    assert tool_message["tool_call_id"] == sent_call["id"]


def calls_with_ids(*ids: str) -> ModelResponse:
    return ModelResponse(tool_calls=[ToolCall(i, f"tool{n}", "{}") for n, i in enumerate(ids)])


def test_unique_ids_keep_good_ids_and_return_the_same_response() -> None:
    response = calls_with_ids("call_a", "call_b")
    used = {"call_z"}

    assert with_unique_call_ids(response, used) is response
    assert used == {"call_a", "call_b", "call_z"}


def test_unique_ids_replace_missing_and_repeated_ids() -> None:
    used = {"call_0"}  # seen on an earlier turn
    response = calls_with_ids("call_0", "", "call_1", "call_1")

    fixed = with_unique_call_ids(response, used)

    ids = [c.id for c in fixed.tool_calls]
    assert ids[2] == "call_1"
    assert len(set(ids)) == 4 and "call_0" not in ids and "" not in ids
    assert all(i.startswith("call_") and len(i) > len("call_") for i in ids)
    assert used == {"call_0", *ids}
    assert [c.name for c in fixed.tool_calls] == ["tool0", "tool1", "tool2", "tool3"]
    assert [c.id for c in response.tool_calls] == ["call_0", "", "call_1", "call_1"]  # untouched


def test_unique_ids_across_turns() -> None:
    used: set[str] = set()
    first = with_unique_call_ids(calls_with_ids("call_0"), used)
    second = with_unique_call_ids(calls_with_ids("call_0"), used)  # a server counting per turn

    assert first.tool_calls[0].id == "call_0"
    assert second.tool_calls[0].id not in {"call_0", ""}
    assert with_unique_call_ids(ModelResponse("just text"), used).tool_calls == []
