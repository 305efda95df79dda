"""Served agents as A2A agents, called with the official ``a2a-sdk`` client (and raw JSON-RPC
for the 0.3 method names) over real HTTP against uvicorn on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.helpers.proto_helpers import new_text_message
from a2a.types.a2a_pb2 import Role, SendMessageRequest
from google.protobuf.json_format import MessageToDict

from webagents import AgentNetwork, BaseAgent, tool
from webagents.server import create_app
from webagents.sessions import InMemorySessionStore
from webagents.testing import ScriptedModel, text, transfer
from webagents.testing.served import ServedApp

KEYS = {"key-ann": "ann", "key-bob": "bob"}


def shop() -> AgentNetwork:
    """A desk that hands refunds to a specialist; the desk's model answers only once, so a
    second turn that reached it would fail."""
    network = AgentNetwork("shop", sessions=InMemorySessionStore())
    answers = iter(["Refund started.", "It is on its way."])
    BaseAgent(
        "refunds",
        description="Handles refunds",
        model=ScriptedModel(responder=lambda request: text(next(answers))),
        network=network,
    )

    @tool
    def order_status(order_id: str) -> str:
        """Where an order is."""
        return "shipped"

    @tool(scope="owner")
    def refund_all() -> str:
        """Refunds every order."""
        return "done"

    BaseAgent(
        "desk",
        description="The front desk",
        model=ScriptedModel([transfer("refunds")]),
        handoffs=["refunds"],
        tools=[order_status, refund_all],
        network=network,
    )
    return network


@pytest.fixture
async def served() -> AsyncIterator[ServedApp]:
    async with ServedApp(create_app(shop(), api_keys=KEYS)) as server:
        yield server


async def send(
    server: ServedApp,
    message: str,
    *,
    context_id: str | None = None,
    key: str = "key-ann",
    streaming: bool = False,
) -> list[dict[str, Any]]:
    """The events the official client yields for one message, as JSON objects."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http:
        client = await create_client(
            f"{server.url}/agents/desk", ClientConfig(httpx_client=http, streaming=streaming)
        )
        request = new_text_message(message, context_id=context_id, role=Role.ROLE_USER)
        return [
            MessageToDict(event)
            async for event in client.send_message(SendMessageRequest(message=request))
        ]


async def test_the_card_names_the_agent_its_url_its_open_tools_and_streaming(
    served: ServedApp,
) -> None:
    headers = {"Authorization": "Bearer key-ann"}
    url = f"{served.url}/agents/desk/.well-known/agent-card.json"
    card = httpx.get(url, headers=headers).json()

    assert (card["name"], card["description"]) == ("desk", "The front desk")
    assert card["supportedInterfaces"] == [
        {"url": f"{served.url}/agents/desk", "protocolBinding": "JSONRPC", "protocolVersion": v}
        for v in ("1.0", "0.3")
    ]
    assert card["url"] == f"{served.url}/agents/desk"  # the 0.3 field, for older clients
    assert [skill["id"] for skill in card["skills"]] == ["order_status"]  # not the owner tool
    assert card["skills"][0]["description"] == "Where an order is."
    assert card["capabilities"]["streaming"] is True
    assert httpx.get(url).status_code == 401  # the server's API keys apply
    # Several agents are served: the root has no single card to show.
    assert (
        httpx.get(f"{served.url}/.well-known/agent-card.json", headers=headers).status_code == 404
    )


async def test_a_context_continues_with_the_specialist_that_took_over(served: ServedApp) -> None:
    [first] = await send(served, "I want a refund")
    task = first["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"][0]["parts"] == [{"text": "Refund started."}]
    assert task["status"]["message"]["metadata"]["webagents"] == {
        "agent": "refunds",
        "handoff_chain": ["desk", "refunds"],
    }
    context = task["contextId"]  # no contextId was sent: the answer carries the new one
    assert uuid.UUID(context)

    [second] = await send(served, "When will I get it?", context_id=context)

    task = second["task"]
    assert task["contextId"] == context
    assert task["artifacts"][0]["parts"] == [{"text": "It is on its way."}]
    # The desk (whose model had nothing more to say) was not asked: the owner answered.
    assert task["status"]["message"]["metadata"]["webagents"]["agent"] == "refunds"


async def test_a_streamed_message_comes_as_artifact_chunks_then_the_completed_task(
    served: ServedApp,
) -> None:
    events = await send(served, "I want a refund", streaming=True)

    kinds = [next(iter(event)) for event in events]
    assert kinds[0] == "task" and kinds[-1] == "statusUpdate"
    chunks = [e["artifactUpdate"] for e in events if "artifactUpdate" in e]
    streamed = "".join(c["artifact"]["parts"][0]["text"] for c in chunks if c.get("append"))
    first = chunks[0]["artifact"]["parts"][0]["text"]
    assert first + streamed == "Refund started."
    assert chunks[-1]["lastChunk"] is True  # the whole answer once more, replacing the chunks
    assert chunks[-1]["artifact"]["parts"] == [{"text": "Refund started."}]
    final = events[-1]["statusUpdate"]["status"]
    assert final["state"] == "TASK_STATE_COMPLETED"
    assert final["message"]["parts"] == [{"text": "Refund started."}]


async def test_another_users_context_is_refused_without_its_transcript(served: ServedApp) -> None:
    [first] = await send(served, "I want a refund")
    context = first["task"]["contextId"]
    body = rpc("SendMessage", {"message": user_message("What did ann say?", context)})

    answer = httpx.post(f"{served.url}/agents/desk", json=body, headers=bob()).json()

    assert answer["error"]["code"] == -32602
    assert "not found for this caller" in answer["error"]["message"]
    assert "refund" not in str(answer).lower()


async def test_0_3_method_names_are_answered(served: ServedApp) -> None:
    message = {
        "kind": "message",
        "messageId": uuid.uuid4().hex,
        "role": "user",
        "parts": [{"kind": "text", "text": "I want a refund"}],
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}

    answer = httpx.post(f"{served.url}/agents/desk", json=body, headers=ann()).json()

    assert answer["result"]["kind"] == "task"
    assert answer["result"]["status"]["state"] == "completed"
    assert answer["result"]["artifacts"][0]["parts"][0]["text"] == "Refund started."


async def test_0_3_streaming_is_answered_as_server_sent_events(served: ServedApp) -> None:
    message = {
        "kind": "message",
        "messageId": uuid.uuid4().hex,
        "role": "user",
        "parts": [{"kind": "text", "text": "I want a refund"}],
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "message/stream", "params": {"message": message}}

    response = httpx.post(f"{served.url}/agents/desk", json=body, headers=ann())

    assert response.headers["content-type"].startswith("text/event-stream")
    assert '"state":"completed"' in response.text.replace(" ", "")


async def test_a_failed_run_is_a_json_rpc_error_without_its_exception_text() -> None:
    def broken(request: object) -> str:
        raise RuntimeError("db password is hunter2")

    network = AgentNetwork("broken", sessions=InMemorySessionStore())
    BaseAgent("desk", model=ScriptedModel(responder=broken), network=network)
    async with ServedApp(create_app(network)) as server:
        body = rpc("SendMessage", {"message": user_message("Hi", None)})
        answer = httpx.post(f"{server.url}/agents/desk", json=body, headers=v1()).json()
        unknown = httpx.post(f"{server.url}/agents/nobody", json=body, headers=v1())
        root = httpx.get(f"{server.url}/.well-known/agent-card.json").json()

    assert answer["error"]["code"] == -32603
    assert "desk" in answer["error"]["message"]
    assert "hunter2" not in str(answer) and "Traceback" not in str(answer)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "agent_not_found"
    assert root["name"] == "desk"  # one agent served: the root card is its card


async def test_without_the_sdk_the_routes_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in list(sys.modules):
        if module == "a2a" or module.startswith("a2a.") or module == "webagents.a2a.serve":
            monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "a2a", None)  # as if a2a-sdk were not installed
    network = AgentNetwork("plain")
    BaseAgent("desk", model=ScriptedModel([]), network=network)

    async with ServedApp(create_app(network)) as server:
        answer = httpx.post(f"{server.url}/agents/desk", json={})
        card = httpx.get(f"{server.url}/agents/desk/.well-known/agent-card.json")

    assert answer.status_code == card.status_code == 501
    assert "webagents-net[a2a]" in answer.json()["error"]["message"]


def test_importing_webagents_and_its_server_imports_no_a2a() -> None:
    code = (
        "import sys, webagents, webagents.server, webagents.a2a.routes, webagents.a2a.calls\n"
        "assert not [m for m in sys.modules if m == 'a2a' or m.startswith('a2a.')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def user_message(text_: str, context: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "messageId": uuid.uuid4().hex,
        "role": "ROLE_USER",
        "parts": [{"text": text_}],
    }
    if context is not None:
        message["contextId"] = context
    return message


def v1() -> dict[str, str]:
    return {"A2A-Version": "1.0"}


def ann() -> dict[str, str]:
    return {"Authorization": "Bearer key-ann"}


def bob() -> dict[str, str]:
    return {"Authorization": "Bearer key-bob", **v1()}


async def test_signing_and_the_body_limit_apply_to_json_rpc_too() -> None:
    network = AgentNetwork("signed", sessions=InMemorySessionStore())
    BaseAgent(
        "desk", model=ScriptedModel(responder=lambda r: text("Signed reply.")), network=network
    )
    app = create_app(network, signing_keys=["s3cret"], max_body_bytes=2_000)
    async with ServedApp(app) as server:
        body = rpc("SendMessage", {"message": user_message("Hi", None)})
        unsigned = httpx.post(f"{server.url}/agents/desk", json=body, headers=v1())
        huge = rpc("SendMessage", {"message": user_message("x" * 5_000, None)})
        too_large = httpx.post(f"{server.url}/agents/desk", json=huge, headers=v1())
        # Our own client signs its A2A requests with the agent's signing key.
        async with AgentNetwork("caller") as caller:
            remote = caller.register_remote(
                "desk", f"{server.url}/agents/desk", protocol="a2a", signing_key="s3cret"
            )
            reply = await caller.remote_client.complete(remote, [{"role": "user", "content": "Hi"}])

    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "invalid_signature"
    assert too_large.status_code == 413
    assert (reply.content, reply.agent) == ("Signed reply.", "desk")
