"""The agent server over real HTTP (uvicorn on 127.0.0.1 via ``ServedApp``): every route, the
OpenAI wire format as the stock ``openai`` client reads it (sync and async, streamed or not),
handoff events in a stream, and each error status in OpenAI's shape."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from webagents import AgentNetwork, BaseAgent, Skill, tool
from webagents.errors import ModelError
from webagents.server import create_app
from webagents.testing import scripted_agent, text, transfer
from webagents.testing.served import ServedApp

HI = [{"role": "user", "content": "Hello"}]


def chat_url(served: ServedApp, name: str) -> str:
    return f"{served.url}/agents/{name}/chat/completions"


def client(served: ServedApp, name: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="unused", base_url=f"{served.url}/agents/{name}", max_retries=0)


def sse_events(body: str) -> list[Any]:
    """The data lines of a server-sent event stream, JSON decoded ("[DONE]" kept as text)."""
    events: list[Any] = []
    for block in body.split("\n\n"):
        if block.startswith("data: "):
            data = block.removeprefix("data: ")
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


class Lookup(Skill):
    @tool
    def find_order(self, order_id: str) -> str:
        """Find an order by its id."""
        return f"order {order_id}: shipped"


@pytest.fixture
def desk() -> BaseAgent:
    agent, _ = scripted_agent(
        "desk",
        responder=lambda request: text("Hello, how can I help?"),
        description="The front desk",
        skills={"lookup": Lookup()},
        metadata={"price": 2.5, "tags": ["support", "orders"]},
    )
    return agent


@pytest.fixture
def triage() -> BaseAgent:
    billing, _ = scripted_agent("billing", responder=lambda request: text("Your invoice is paid."))
    agent, _ = scripted_agent(
        "triage", [transfer("billing", "an invoice question")], handoffs=[billing]
    )
    return agent


@pytest.fixture
def served(desk: BaseAgent) -> Iterator[ServedApp]:
    with ServedApp(create_app([desk])) as server:
        yield server


# routes ----------------------------------------------------------------------------------------


def test_health_and_cards(served: ServedApp) -> None:
    assert httpx.get(f"{served.url}/health").json() == {"status": "ok"}
    card = {
        "name": "desk",
        "description": "The front desk",
        "url": f"{served.url}/agents/desk",
        "tools": ["find_order"],
        "handoffs": [],
        "tags": ["support", "orders"],
        "price": 2.5,
    }
    assert httpx.get(f"{served.url}/agents").json() == [card]
    assert httpx.get(f"{served.url}/agents/desk").json() == card


def test_card_of_an_agent_with_handoffs_names_its_targets(triage: BaseAgent) -> None:
    with ServedApp(create_app({"front": triage})) as served:
        card = httpx.get(f"{served.url}/agents/front").json()
        assert card["url"] == f"{served.url}/agents/front"
    assert card["name"] == "front"
    assert card["handoffs"] == ["billing"]
    assert card["price"] is None and card["tags"] == []


def test_a_network_serves_its_local_agents_only(agent_network: AgentNetwork) -> None:
    scripted_agent("a", ["x"])
    scripted_agent("b", ["y"])
    agent_network.register_remote("far", "http://127.0.0.1:9/agents/far")
    with ServedApp(create_app(agent_network)) as served:
        names = [card["name"] for card in httpx.get(f"{served.url}/agents").json()]
        assert httpx.get(f"{served.url}/agents/far").status_code == 404
    assert names == ["a", "b"]


def test_create_app_refuses_what_it_cannot_serve(desk: BaseAgent) -> None:
    with pytest.raises(TypeError, match="list of BaseAgent, a mapping name -> BaseAgent"):
        create_app("desk")
    with pytest.raises(TypeError, match=r"item \[1\] is a str, not a BaseAgent"):
        create_app([desk, "billing"])
    with pytest.raises(TypeError, match="has no local agents"):
        create_app(AgentNetwork("empty"))
    with pytest.raises(ValueError, match="max_body_bytes"):
        create_app([desk], max_body_bytes=0)


def test_a_team_is_served_through_its_network(agent_network: AgentNetwork, desk: BaseAgent) -> None:
    class Team:
        network = agent_network

    with ServedApp(create_app(Team())) as served:
        assert httpx.get(f"{served.url}/agents/desk").status_code == 200


# the openai client -----------------------------------------------------------------------------


def test_openai_client_non_streaming(served: ServedApp) -> None:
    completion = client(served, "desk").chat.completions.create(model="anything", messages=HI)
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-") and len(completion.id) > len("chatcmpl-")
    assert completion.model == "desk"
    assert completion.choices[0].message.content == "Hello, how can I help?"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert completion.model_extra == {"webagents": {"agent": "desk", "handoff_chain": ["desk"]}}


def test_openai_client_streaming(served: ServedApp) -> None:
    chunks = list(
        client(served, "desk").chat.completions.create(
            model="desk", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(texts) == "Hello, how can I help?"
    assert len(texts) > 1  # one chunk per delta, not the answer at the end
    assert all(c.object == "chat.completion.chunk" and c.model == "desk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert [f.model_extra for f in finals] == [
        {"webagents": {"agent": "desk", "handoff_chain": ["desk"]}}
    ]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0


async def test_async_openai_client(served: ServedApp) -> None:
    async with openai.AsyncOpenAI(
        api_key="unused", base_url=f"{served.url}/agents/desk", max_retries=0
    ) as aclient:
        completion = await aclient.chat.completions.create(model="desk", messages=HI)
        stream = await aclient.chat.completions.create(model="desk", messages=HI, stream=True)
        texts = [c.choices[0].delta.content async for c in stream if c.choices]
    assert completion.choices[0].message.content == "Hello, how can I help?"
    assert "".join(t for t in texts if t) == "Hello, how can I help?"


def test_stream_names_handoff_events_and_who_speaks(triage: BaseAgent) -> None:
    with ServedApp(create_app([triage])) as served:
        response = httpx.post(chat_url(served, "triage"), json={"messages": HI, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    kinds = [e["webagents"]["event"]["type"] for e in events[:-1] if "event" in e["webagents"]]
    assert kinds == [
        "agent.started",
        "handoff.transfer",
        "agent.started",
        "agent.completed",
        "handoff.complete",
    ]
    transfer_event = next(
        e["webagents"]["event"]
        for e in events[:-1]
        if e["webagents"].get("event", {}).get("type") == "handoff.transfer"
    )
    assert transfer_event == {
        "type": "handoff.transfer",
        "agent": "triage",
        "from_agent": "triage",
        "to_agent": "billing",
        "reason": "an invoice question",
        "trigger": "llm",
    }
    speakers = {
        e["webagents"]["agent"]
        for e in events[:-1]
        if e["choices"] and e["choices"][0]["delta"].get("content")
    }
    assert speakers == {"billing"}
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-2]["webagents"] == {"agent": "billing", "handoff_chain": ["triage", "billing"]}


def test_non_streaming_reports_the_handoff_chain(triage: BaseAgent) -> None:
    with ServedApp(create_app([triage])) as served:
        body = httpx.post(chat_url(served, "triage"), json={"messages": HI}).json()
    assert body["choices"][0]["message"]["content"] == "Your invoice is paid."
    assert body["model"] == "triage"
    assert body["webagents"] == {"agent": "billing", "handoff_chain": ["triage", "billing"]}


def test_request_fields_the_server_ignores(served: ServedApp, desk: BaseAgent) -> None:
    model = desk.model
    body = {
        "model": "gpt-4o",
        "user": "someone-else",
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}], "extra": 1},
        ],
    }
    response = httpx.post(chat_url(served, "desk"), json=body)
    assert response.status_code == 200
    sent = model.requests[-1]["messages"]  # type: ignore[union-attr]
    assert sent[-1] == {"role": "user", "content": [{"type": "text", "text": "Hi"}]}
    assert sent[-2] == {"role": "system", "content": "Be brief."}


# errors ----------------------------------------------------------------------------------------


def error_of(response: httpx.Response) -> dict[str, Any]:
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return dict(error)


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        (b"{not json", 400, "invalid_json", None),
        (b"[1, 2]", 400, "invalid_request", None),
        (
            b'{"messages": [{"role": "user", "content": "x"}], "tools": [{}]}',
            400,
            "tools_not_supported",
            "tools",
        ),
        (b'{"messages": []}', 422, "invalid_value", "messages"),
        (b'{"stream": true}', 422, "invalid_value", "messages"),
        (
            b'{"messages": [{"role": "wizard", "content": "x"}]}',
            422,
            "invalid_value",
            "messages[0]",
        ),
        (
            b'{"messages": [{"role": "tool", "content": "x"}]}',
            422,
            "invalid_value",
            "messages[0].tool_call_id",
        ),
        (
            b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
            422,
            "invalid_value",
            "messages[0].content",
        ),
    ],
)
def test_bad_requests(
    served: ServedApp, body: bytes, status: int, code: str, param: str | None
) -> None:
    response = httpx.post(
        chat_url(served, "desk"), content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    error = error_of(response)
    assert (error["code"], error["param"]) == (code, param)
    assert error["type"] == "invalid_request_error"


def test_the_openai_client_raises_on_refusals(served: ServedApp) -> None:
    with pytest.raises(openai.NotFoundError, match="no agent 'nobody' is served here"):
        client(served, "nobody").chat.completions.create(model="x", messages=HI)
    with pytest.raises(openai.UnprocessableEntityError, match=r"messages\[0\]"):
        client(served, "desk").chat.completions.create(
            model="x",
            messages=[{"role": "wizard", "content": "x"}],  # type: ignore[list-item,misc]
        )


def test_unknown_routes_and_methods_are_openai_shaped(served: ServedApp) -> None:
    missing = httpx.get(f"{served.url}/nowhere")
    assert missing.status_code == 404 and error_of(missing)["code"] == "route_not_found"
    wrong = httpx.get(chat_url(served, "desk"))
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"
    unknown = httpx.get(f"{served.url}/agents/nobody")
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "agent_not_found"


def test_fastapi_validation_errors_are_openai_shaped(desk: BaseAgent) -> None:
    app = create_app([desk])

    @app.get("/probe")
    async def probe(count: int) -> dict[str, int]:  # a route FastAPI validates itself
        return {"count": count}

    with ServedApp(app) as served:
        response = httpx.get(f"{served.url}/probe", params={"count": "many"})
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["param"]) == ("invalid_value", "query.count")
    assert error["message"].startswith("query.count: ")


def test_the_openapi_schema_documents_the_chat_request(served: ServedApp) -> None:
    schema = httpx.get(f"{served.url}/openapi.json").json()
    chat = schema["paths"]["/agents/{name}/chat/completions"]["post"]
    body = chat["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["messages"]
    assert "$defs" not in json.dumps(body)  # definitions inlined: the document stands alone
    assert set(schema["paths"]) >= {"/health", "/agents", "/agents/{name}"}


def test_middleware_added_later_sees_chat_requests(desk: BaseAgent) -> None:
    app = create_app([desk])
    seen: list[str] = []

    @app.middleware("http")
    async def record(request: Any, call_next: Any) -> Any:
        seen.append(request.url.path)
        response = await call_next(request)
        response.headers["x-recorded"] = "yes"
        return response

    with ServedApp(app) as served:
        response = httpx.post(chat_url(served, "desk"), json={"messages": HI})
    assert response.status_code == 200 and response.headers["x-recorded"] == "yes"
    assert seen == ["/agents/desk/chat/completions"]


def test_a_server_bug_is_an_openai_shaped_500(
    served: ServedApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from webagents.server import chat

    def broken(body: bytes) -> Any:
        raise RuntimeError("a bug with secret-ish detail")

    monkeypatch.setattr(chat, "parse_chat_request", broken)
    with caplog.at_level("ERROR", logger="webagents.server"):
        response = httpx.post(chat_url(served, "desk"), json={"messages": HI})
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"
    assert "secret-ish" not in response.text
    assert any(record.exc_info for record in caplog.records)


def test_bad_session_id_header(served: ServedApp) -> None:
    response = httpx.post(
        chat_url(served, "desk"), json={"messages": HI}, headers={"X-Session-Id": "x" * 300}
    )
    assert response.status_code == 400 and error_of(response)["param"] == "X-Session-Id"


def test_body_limit_declared_and_chunked(desk: BaseAgent) -> None:
    with ServedApp(create_app([desk], max_body_bytes=2_000)) as served:
        big = json.dumps({"messages": [{"role": "user", "content": "x" * 5_000}]}).encode()
        declared = httpx.post(chat_url(served, "desk"), content=big)
        assert declared.status_code == 413 and error_of(declared)["code"] == "body_too_large"

        # A chunked body that has not ended: the server answers once it passes the limit.
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as raw:
            raw.sendall(
                b"POST /agents/desk/chat/completions HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for _ in range(3):
                raw.sendall(b"3e8\r\n" + b"x" * 1_000 + b"\r\n")
            head = raw.recv(4096)
        assert head.startswith(b"HTTP/1.1 413 ")
        fits = httpx.post(chat_url(served, "desk"), json={"messages": HI})
        assert fits.status_code == 200


async def test_a_content_length_of_non_ascii_digits_is_not_a_500(desk: BaseAgent) -> None:
    # uvicorn refuses such a header itself; another ASGI server may pass it on
    transport = httpx.ASGITransport(app=create_app([desk]))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as asgi:
        response = await asgi.post(
            "/agents/desk/chat/completions",
            content=json.dumps({"messages": HI}).encode(),
            headers={"content-length": b"\xb2"},  # "²"
        )
    assert response.status_code == 200


def test_a_failed_run_is_a_500_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: dict[str, Any]) -> Any:
        raise RuntimeError("db password is hunter2")

    agent, _ = scripted_agent("broken", responder=broken)
    with (
        ServedApp(create_app([agent])) as served,
        caplog.at_level("ERROR", logger="webagents.server"),
    ):
        response = httpx.post(chat_url(served, "broken"), json={"messages": HI})
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "run_failed" and error["type"] == "server_error"
    assert "agent 'broken' failed to answer (run " in error["message"]
    assert "hunter2" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if r.name == "webagents.server"]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert error["message"].split("(run ")[1].split(")")[0] in logged[0].getMessage()


def test_a_run_failing_mid_stream_ends_with_an_error_event() -> None:
    def broken(request: dict[str, Any]) -> Any:
        raise RuntimeError("secret detail")

    agent, _ = scripted_agent("talker", responder=broken)
    with ServedApp(create_app([agent])) as served:
        response = httpx.post(chat_url(served, "talker"), json={"messages": HI, "stream": True})
        assert response.status_code == 200  # agent.started went out before the model failed
        events = sse_events(response.text)
        assert events[0]["webagents"]["event"] == {"type": "agent.started", "agent": "talker"}
        assert "[DONE]" not in events
        assert list(events[-1]) == ["error"]
        assert events[-1]["error"]["code"] == "run_failed"
        assert "secret detail" not in response.text
        stream = client(served, "talker").chat.completions.create(
            model="x", messages=HI, stream=True
        )
        with pytest.raises(openai.APIError, match="failed to answer"):
            list(stream)


def test_model_rate_limit_is_a_429() -> None:
    def limited(request: dict[str, Any]) -> Any:
        raise ModelError("slow down", status_code=429)

    agent, _ = scripted_agent("limited", responder=limited)
    with ServedApp(create_app([agent])) as served:
        response = httpx.post(chat_url(served, "limited"), json={"messages": HI})
    assert response.status_code == 429
    assert error_of(response)["type"] == "rate_limit_error"


# the example -----------------------------------------------------------------------------------


def test_the_serve_agents_example(run_example: Any) -> None:
    done = run_example("serve_agents")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Served: billing (http://127.0.0.1:")
    assert "  billing [triage -> billing]: Your last invoice, INV-7, was paid on 2 May." in lines
    assert "  billing [billing]: Happy to help again (this is message 2 of our conversation)." in (
        lines
    )
    assert "  [handoff triage -> billing]" in lines
    assert "  billing: Your last invoice, INV-7, was paid on 2 May." in lines


def test_the_example_file_is_a_serve_target(monkeypatch: pytest.MonkeyPatch) -> None:
    from webagents.server.loading import load_target

    monkeypatch.setattr(sys, "path", list(sys.path))  # loading puts examples/ on it
    monkeypatch.setitem(sys.modules, "webagents_serve_serve_agents", None)
    target = load_target(str(Path(__file__).parents[1] / "examples" / "serve_agents.py"))
    assert isinstance(target, AgentNetwork) and target.name == "support"
    assert sorted(agent.name for agent in target.local_agents()) == ["billing", "triage"]
