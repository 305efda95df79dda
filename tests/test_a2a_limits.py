"""A2A requests are runs of the server like chat requests: they count against
``max_concurrent_runs`` (a send that does not wait for its run holds its place until the run
ends) and a server shutting down refuses them. Synchronised with threading events set by the
agents' own tools, never with sleeps."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import httpx

from webagents import BaseAgent, tool
from webagents.server import create_app
from webagents.testing import scripted_agent, text, tool_call
from webagents.testing.served import ServedApp

WAIT = 10.0  # a deadline for events that come at once, generous for a loaded machine
HI = [{"role": "user", "content": "Hello"}]
V1 = {"A2A-Version": "1.0"}


def gated_agent(name: str) -> tuple[BaseAgent, threading.Event, threading.Event]:
    """An agent whose run waits in a tool until the test opens the gate."""
    started, gate = threading.Event(), threading.Event()

    @tool
    async def wait_for_gate() -> str:
        """Wait until the gate opens."""
        started.set()
        opened = await asyncio.to_thread(gate.wait, WAIT)
        return "opened" if opened else "timed out"

    agent, _ = scripted_agent(
        name,
        responder=lambda request: (
            tool_call("wait_for_gate")
            if request["messages"][-1]["role"] == "user"
            else text("done")
        ),
        tools=[wait_for_gate],
    )
    return agent, started, gate


def send_message(text_: str, **configuration: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [{"text": text_}]}
    }
    if configuration:
        params["configuration"] = configuration
    return {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": params}


def chat(served: ServedApp, name: str) -> httpx.Response:
    return httpx.post(f"{served.url}/agents/{name}/chat/completions", json={"messages": HI})


def assert_busy(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "too_many_runs"


def test_a2a_and_chat_runs_share_the_servers_limit() -> None:
    slow, started, gate = gated_agent("slow")
    quick, _ = scripted_agent("quick", responder=lambda request: "hi")
    with ServedApp(create_app([slow, quick], max_concurrent_runs=1)) as served:
        replies: list[httpx.Response] = []
        sender = threading.Thread(
            target=lambda: replies.append(
                httpx.post(f"{served.url}/agents/slow", json=send_message("go"), headers=V1)
            )
        )
        sender.start()
        assert started.wait(WAIT)

        assert_busy(
            httpx.post(f"{served.url}/agents/quick/chat/completions", json={"messages": HI})
        )
        assert_busy(httpx.post(f"{served.url}/agents/quick", json=send_message("hi"), headers=V1))
        batch = httpx.post(f"{served.url}/agents/quick", json=[send_message("hi")], headers=V1)
        assert "Batch requests are not supported" in batch.json()["error"]["message"]  # no run

        gate.set()
        sender.join(WAIT)
        [reply] = replies
        assert reply.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        free = httpx.post(f"{served.url}/agents/quick", json=send_message("hi"), headers=V1)
        assert free.status_code == 200 and "result" in free.json()


def test_a_send_that_does_not_wait_holds_its_place_until_its_run_ends() -> None:
    slow, started, gate = gated_agent("slow")
    quick, _ = scripted_agent("quick", responder=lambda request: "hi")
    with ServedApp(create_app([slow, quick], max_concurrent_runs=1)) as served:
        early = httpx.post(
            f"{served.url}/agents/slow",
            json=send_message("go", returnImmediately=True),
            headers=V1,
        )
        assert early.status_code == 200 and "task" in early.json()["result"]
        assert started.wait(WAIT)

        assert_busy(
            httpx.post(f"{served.url}/agents/quick/chat/completions", json={"messages": HI})
        )

        task_id = early.json()["result"]["task"]["id"]
        get_task = {"jsonrpc": "2.0", "id": 2, "method": "GetTask", "params": {"id": task_id}}
        reading = httpx.post(f"{served.url}/agents/slow", json=get_task, headers=V1)
        assert reading.json()["result"]["status"]["state"] == "TASK_STATE_WORKING"  # no place

        gate.set()
        # The place comes back when the run ends, which only the run's end shows: ask until
        # it does (each request answers at once), within the deadline.
        deadline = time.monotonic() + WAIT
        while (answer := chat(served, "quick")).status_code == 429:
            assert time.monotonic() < deadline, "the run's place was never given back"
        assert answer.status_code == 200
        done = httpx.post(f"{served.url}/agents/slow", json=get_task, headers=V1)
        assert done.json()["result"]["status"]["state"] == "TASK_STATE_COMPLETED"


def test_a_server_shutting_down_refuses_a2a_messages() -> None:
    agent, _ = scripted_agent("desk", responder=lambda request: "hi")
    app = create_app([agent])
    with ServedApp(app) as served:
        assert httpx.post(f"{served.url}/agents/desk", json=send_message("hi")).status_code == 200
    # the app's lifespan has ended: served again without one, it is shutting down
    with ServedApp(app, lifespan="off") as served:
        refused = httpx.post(f"{served.url}/agents/desk", json=send_message("hi"), headers=V1)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "shutting_down"
