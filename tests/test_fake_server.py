"""FakeOpenAIServer, exercised through the stock ``openai`` client."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from webagents.testing.fake_server import FakeOpenAIServer, RawReply
from webagents.testing.replies import Reply, ScriptedToolCall, error, text, tool_call, tool_calls

USER = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
async def client(server: FakeOpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    oai = openai.AsyncOpenAI(api_key="test", base_url=server.url, max_retries=0)
    yield oai
    await oai.close()


async def ask(client: openai.AsyncOpenAI, content: str = "hello there", **kwargs: Any) -> Any:
    messages: Any = [{"role": "user", "content": content}]
    return await client.chat.completions.create(model="gpt-test", messages=messages, **kwargs)


async def stream(client: openai.AsyncOpenAI, **kwargs: Any) -> list[Any]:
    response = await ask(client, stream=True, **kwargs)
    return [chunk async for chunk in response]


async def test_text_reply(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.add_replies("Hi, how can I help?")
    completion = await ask(client)
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-test"
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hi, how can I help?"
    assert choice.message.tool_calls is None
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 2
    assert completion.usage.completion_tokens == 5
    assert completion.usage.total_tokens == 7


async def test_tool_call_reply(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    arguments = {"city": "Paris", "days": [1, 2], "note": 'quote " and ünïcode'}
    server.add_replies(tool_call("get_weather", arguments))
    completion = await ask(client)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.id.startswith("call_")
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == arguments


async def test_multiple_tool_calls(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.add_replies(
        tool_calls(("a", {"x": 1}), ("b", '{"y": 2}'), content="Calling two tools."),
        Reply(tool_calls=(ScriptedToolCall("c", "{}", id="call_mine"),)),
    )
    message = (await ask(client)).choices[0].message
    assert message.content == "Calling two tools."
    assert [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("a", {"x": 1}),
        ("b", {"y": 2}),
    ]
    assert len({c.id for c in message.tool_calls}) == 2
    [call] = (await ask(client)).choices[0].message.tool_calls
    assert call.id == "call_mine"


async def test_streaming_text(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    content = "  The quick\nbrown  fox jumps. "
    server.add_replies(content)
    chunks = await stream(client)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) > 3
    assert "".join(pieces) == content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is None


async def test_streaming_tool_calls(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.add_replies(tool_calls(("search", {"query": "fake servers", "limit": 3}), ("noop", {})))
    chunks = await stream(client)
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or ():
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            call["name"] += delta.function.name or ""
            call["arguments"] += delta.function.arguments or ""
    assert [c["name"] for c in calls.values()] == ["search", "noop"]
    assert json.loads(calls[0]["arguments"]) == {"query": "fake servers", "limit": 3}
    assert json.loads(calls[1]["arguments"]) == {}
    assert all(c["id"].startswith("call_") for c in calls.values())
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_streaming_usage_chunk(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.add_replies("one two three")
    chunks = await stream(client, stream_options={"include_usage": True})
    *rest, last = chunks
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (2, 3)
    assert last.usage.total_tokens == 5
    assert rest[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in rest)


async def test_stream_wire_format(server: FakeOpenAIServer) -> None:
    async with httpx.AsyncClient() as http:
        body = {"model": "m", "messages": USER, "stream": True}
        response = await http.post(server.url + "/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = response.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(e.startswith("data: {") for e in events[:-2])


async def test_stream_and_plain_share_a_connection(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    for _ in range(3):
        assert "".join(c.choices[0].delta.content or "" for c in await stream(client)) == (
            "echo: hello there"
        )
        assert (await ask(client)).choices[0].message.content == "echo: hello there"


async def test_sync_responder_sees_request(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    seen: list[dict[str, Any]] = []

    def responder(request: dict[str, Any]) -> str:
        seen.append(request)
        return f"{len(request['messages'])} message(s), tools={len(request.get('tools', []))}"

    server.set_responder(responder)
    tools: Any = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    completion = await ask(client, "hi", tools=tools, temperature=0.5)
    assert completion.choices[0].message.content == "1 message(s), tools=1"
    assert seen[0]["temperature"] == 0.5
    assert seen[0]["messages"] == [{"role": "user", "content": "hi"}]


async def test_async_responder(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    async def responder(request: dict[str, Any]) -> dict[str, Any]:
        return {"tool_calls": [{"name": "echo", "arguments": {"said": request["messages"][-1]}}]}

    server.set_responder(responder)
    [call] = (await ask(client, "ping")).choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"said": {"role": "user", "content": "ping"}}


async def test_queue_then_responder_then_echo(client: openai.AsyncOpenAI) -> None:
    async with FakeOpenAIServer(["first", text("second")], responder=lambda _: "dynamic") as srv:
        oai = openai.AsyncOpenAI(api_key="test", base_url=srv.url)
        srv.add_replies("third")
        answers = [(await ask(oai)).choices[0].message.content for _ in range(5)]
        assert answers == ["first", "second", "third", "dynamic", "dynamic"]
        srv.add_replies("queued again")
        srv.set_responder(None)
        answers = [(await ask(oai, "bye")).choices[0].message.content for _ in range(2)]
        assert answers == ["queued again", "echo: bye"]
        await oai.close()


async def test_echo_uses_last_user_text_parts(server: FakeOpenAIServer) -> None:
    messages = [
        {"role": "user", "content": "old"},
        {"role": "user", "content": [{"type": "text", "text": "new"}]},
        {"role": "assistant", "content": "ignored"},
    ]
    async with httpx.AsyncClient() as http:
        response = await http.post(server.url + "/chat/completions", json={"messages": messages})
    assert response.json()["choices"][0]["message"]["content"] == "echo: new"
    assert response.json()["model"] == "fake-model"


async def test_error_reply(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    server.add_replies(error(429, "Slow down", headers={"Retry-After": "7"}), "recovered")
    with pytest.raises(openai.RateLimitError) as caught:
        await ask(client)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body == {
        "message": "Slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": None,
    }
    assert (await ask(client)).choices[0].message.content == "recovered"
    server.add_replies({"status": 503})
    with pytest.raises(openai.InternalServerError):
        await ask(client, stream=True)


async def test_responder_failure_is_500(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    def responder(request: dict[str, Any]) -> str:
        raise RuntimeError("boom")

    server.set_responder(responder)
    with pytest.raises(openai.InternalServerError, match="boom"):
        await ask(client)


async def test_raw_replies_are_sent_byte_for_byte(server: FakeOpenAIServer) -> None:
    server.add_replies(
        RawReply.html("<html><body>Please sign in</body></html>"),
        RawReply(b"upstream \xff down", 502, "text/plain", {"Retry-After": "3"}),
        RawReply.events({"choices": []}, '{"broken', done=True),
        RawReply.events(),
    )
    async with httpx.AsyncClient() as http:
        responses = [
            await http.post(server.url + "/chat/completions", json={"messages": USER})
            for _ in range(5)  # one connection throughout: raw replies keep it usable
        ]
    html, plain, events, empty, echo = responses
    assert (html.status_code, html.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert html.text == "<html><body>Please sign in</body></html>"
    assert (plain.status_code, plain.content) == (502, b"upstream \xff down")
    assert plain.headers["retry-after"] == "3"
    assert events.headers["content-type"] == "text/event-stream"
    assert events.text == 'data: {"choices": []}\n\ndata: {"broken\n\ndata: [DONE]\n\n'
    assert (empty.status_code, empty.content) == (200, b"")
    assert echo.json()["choices"][0]["message"]["content"] == "echo: hello there"
    assert len(server.requests) == 5


async def test_a_responder_may_answer_raw(
    server: FakeOpenAIServer, client: openai.AsyncOpenAI
) -> None:
    server.set_responder(lambda request: RawReply.events('{"choices": [', done=True))
    response = await ask(client, stream=True)
    with pytest.raises(json.JSONDecodeError):  # what the bare SDK makes of malformed events
        [chunk async for chunk in response]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"model": "m"}', "messages"),
        (b'{"messages": "hi"}', "messages"),
    ],
)
async def test_bad_request(server: FakeOpenAIServer, content: bytes, problem: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(server.url + "/chat/completions", content=content)
        assert response.status_code == 400
        err = response.json()["error"]
        assert problem in err["message"]
        assert err["type"] == "invalid_request_error"
        assert set(err) == {"message", "type", "param", "code"}
        # The connection stays usable after an error.
        ok = await http.post(server.url + "/chat/completions", json={"messages": USER})
        assert ok.status_code == 200
    assert server.requests == [{"messages": USER}]


async def test_unknown_path_is_404(server: FakeOpenAIServer) -> None:
    async with httpx.AsyncClient() as http:
        for response in [
            await http.get(server.url + "/nope"),
            await http.post(server.url + "/completions", json={"prompt": "x"}),
        ]:
            assert response.status_code == 404
            assert response.json()["error"]["type"] == "not_found_error"
            assert "Invalid URL" in response.json()["error"]["message"]


async def test_models(client: openai.AsyncOpenAI) -> None:
    async with FakeOpenAIServer(model="my-model") as srv:
        oai = openai.AsyncOpenAI(api_key="test", base_url=srv.url)
        models = [m async for m in oai.models.list()]
        await oai.close()
    assert [(m.id, m.object, m.owned_by) for m in models] == [("my-model", "model", "webagents")]


async def test_request_log(server: FakeOpenAIServer, client: openai.AsyncOpenAI) -> None:
    assert server.requests == []
    await ask(client, "one")
    await ask(client, "two", stream=True)
    log = server.requests
    assert [r["messages"][0]["content"] for r in log] == ["one", "two"]
    assert log[1]["stream"] is True
    log.clear()
    assert len(server.requests) == 2


def test_sync_context_manager_frees_port() -> None:
    srv = FakeOpenAIServer(["sync works"])
    with pytest.raises(RuntimeError):
        _ = srv.url
    with srv as started:
        assert started is srv
        url = httpx.URL(srv.url)
        assert url.host == "127.0.0.1"
        assert url.path == "/v1"
        response = httpx.post(srv.url + "/chat/completions", json={"messages": USER})
        assert response.json()["choices"][0]["message"]["content"] == "sync works"
        assert httpx.get(srv.url + "/models").status_code == 200
    srv.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", url.port)):
        pass


async def test_stop_closes_kept_alive_connections() -> None:
    async with FakeOpenAIServer() as srv:
        oai = openai.AsyncOpenAI(api_key="test", base_url=srv.url, max_retries=0)
        await ask(oai)
    with pytest.raises(openai.APIConnectionError):
        await ask(oai)
    await oai.close()
