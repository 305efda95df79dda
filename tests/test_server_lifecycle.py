"""The server and the life of a run: a client that disconnects cancels its run (streamed or
not), runs beyond ``max_concurrent_runs`` get 429, an unusable session store is a 503, and
shutting down closes the agents and refuses new runs. Synchronised with threading events set
by the agents' own tools, never with sleeps."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path

import httpx
import pytest

from webagents import BaseAgent, Skill, tool
from webagents.server import create_app
from webagents.testing import scripted_agent, text, tool_call
from webagents.testing.served import ServedApp

HI = [{"role": "user", "content": "Hello"}]
WAIT = 10.0  # a deadline for events that come at once, generous for a loaded machine


class Blocking(Skill):
    """A tool that waits until the run is cancelled, and says when it started and ended."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.cleaned_up = threading.Event()

    @tool
    async def wait_forever(self) -> str:
        """Wait for something that never comes."""
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return "unreachable"

    async def cleanup(self) -> None:
        self.cleaned_up.set()


def blocking_agent(name: str = "slow") -> tuple[BaseAgent, Blocking]:
    skill = Blocking()
    agent, _ = scripted_agent(
        name,
        responder=lambda request: (
            tool_call("wait_forever") if request["messages"][-1]["role"] == "user" else text("done")
        ),
        skills={"blocking": skill},
    )
    return agent, skill


def open_request(served: ServedApp, name: str, *, stream: bool) -> socket.socket:
    """A request sent on a raw socket, left open so that the test can drop the connection."""
    body = json.dumps({"messages": HI, "stream": stream}).encode()
    raw = socket.create_connection(("127.0.0.1", served.port), timeout=WAIT)
    raw.sendall(
        f"POST /agents/{name}/chat/completions HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return raw


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_client_that_disconnects_cancels_its_run(stream: bool) -> None:
    agent, skill = blocking_agent()
    with ServedApp(create_app([agent])) as served:
        raw = open_request(served, "slow", stream=stream)
        assert skill.started.wait(WAIT)
        assert not skill.cancelled.is_set()
        raw.close()
        assert skill.cancelled.wait(WAIT), "the run went on after its client left"
        # the server is fine afterwards
        assert httpx.get(f"{served.url}/health").status_code == 200


def test_runs_beyond_the_limit_get_429() -> None:
    agent, skill = blocking_agent()
    quick, _ = scripted_agent("quick", responder=lambda request: "hi")
    with ServedApp(create_app([agent, quick], max_concurrent_runs=1)) as served:
        raw = open_request(served, "slow", stream=False)
        assert skill.started.wait(WAIT)
        busy = httpx.post(f"{served.url}/agents/quick/chat/completions", json={"messages": HI})
        assert busy.status_code == 429
        assert busy.headers["retry-after"] == "1"
        assert busy.json()["error"]["code"] == "too_many_runs"
        raw.close()
        assert skill.cancelled.wait(WAIT)
        # the cancelled run no longer counts
        for _ in range(2):
            again = httpx.post(f"{served.url}/agents/quick/chat/completions", json={"messages": HI})
            assert again.status_code == 200


def test_an_unusable_session_store_is_a_503(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("a file where a directory should be")
    agent, _ = scripted_agent("desk", responder=lambda request: "hi")
    app = create_app([agent], sessions=f"sqlite:///{tmp_path}/not-a-dir/sessions.db")
    with ServedApp(app) as served:
        response = httpx.post(
            f"{served.url}/agents/desk/chat/completions",
            json={"messages": HI},
            headers={"X-Session-Id": "s1"},
        )
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "sessions_unavailable" and error["type"] == "service_unavailable"
    assert str(tmp_path) not in error["message"]


def test_shutdown_closes_the_agents_network_and_refuses_new_runs() -> None:
    agent, skill = blocking_agent()
    model_closed = threading.Event()

    async def aclose() -> None:
        model_closed.set()

    agent.model.aclose = aclose  # type: ignore[union-attr]
    network = agent.network
    app = create_app([agent])
    with ServedApp(app) as served:
        # the skill starts with the first run
        raw = open_request(served, "slow", stream=False)
        assert skill.started.wait(WAIT)
        raw.close()
        assert skill.cancelled.wait(WAIT)
    assert skill.cleaned_up.is_set()
    assert model_closed.is_set()
    assert "slow" not in network
    # an app whose lifespan has ended answers 503 (served again without a lifespan)
    with ServedApp(app, lifespan="off") as served:
        response = httpx.post(f"{served.url}/agents/slow/chat/completions", json={"messages": HI})
        health = httpx.get(f"{served.url}/health")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "shutting_down"
    assert health.status_code == 503
