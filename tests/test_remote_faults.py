"""Fault injection: remote agents that are down, slow, trickling, failing, lying about their
content or refusing the caller, each served by a real uvicorn on 127.0.0.1
(``tests/remote_faults_apps.py``).

Every fault is shown at the three levels a user meets, each through the network's one
``RemoteClient``:

- ``client``: ``network.remote_client.chat`` raises a typed ``RemoteAgentError``;
- ``handoff``: a desk agent hands a session's turn to the remote agent; a failure is a
  ``HandoffFailed`` event and the desk answers itself, an answer is ``result.content``;
- ``nli``: ``NLISkill.query_agent`` returns its outcome dict and never raises.

Whatever the fault, the call ends within a bound well above its deadline (a hang fails the
test instead of blocking CI), the failure text names the agent and its URL and never the
password in that URL, its query, the API key or the remote's error body, and a session keeps
the user's message. Retry waits go through the client's injectable ``sleep`` (recorded, not
slept) and the breaker reads an injectable clock.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.remote_faults_apps import (
    SECRET_BODY,
    FaultServer,
    Script,
    Trickle,
    answer,
    html,
    malformed_json,
    never_answers,
    status,
)
from webagents.agents import AgentNetwork
from webagents.agents.network import RemoteAgent
from webagents.agents.skills import NLISkill
from webagents.events import HandoffFailed
from webagents.remote import (
    CircuitOpenError,
    RemoteAgentError,
    RemoteBadResponseError,
    RemoteClient,
    RemoteStatusError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)
from webagents.testing import scripted_agent, text, transfer

DEADLINE = 1.0  # the remote agents' total deadline per attempt, in seconds
BOUND = 15.0  # no call may take longer than this, whatever the fault: a hang fails the test
PASSWORD = "pw-SECRET-42"
QUERY_SECRET = "q-SECRET-99"
API_KEY = "sk-SECRET-API-KEY"
SECRETS = (PASSWORD, QUERY_SECRET, API_KEY, SECRET_BODY)
DESK_ANSWER = "Desk: the expert is away, so I will answer myself."
LEVELS = ["client", "handoff", "nli"]


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/agents/expert"  # nobody listens there any more


@dataclass
class Outcome:
    """What a user got from one call at one level: an ``answer`` (None when there was none)
    or the ``error`` text shown (the exception's, the ``HandoffFailed`` event's, or the NLI
    outcome's), and at the ``client`` level the exception ``raised``."""

    level: str
    remote: RemoteAgent
    answer: str | None
    error: str | None
    raised: RemoteAgentError | None = None

    def failed(self, kind: type[RemoteAgentError], problem: str) -> None:
        """The call failed with ``problem``: typed as ``kind`` at the client level, the desk
        answering after a failed handoff, no answer over NLI."""
        assert self.error == f"agent {self.remote.name!r} at {self.remote.shown_url} {problem}"
        if self.level == "client":
            assert type(self.raised) is kind
            assert (self.raised.agent, self.raised.url) == (self.remote.name, self.remote.shown_url)
        if self.level == "handoff":
            assert self.answer == DESK_ANSWER  # the fallback: the source answers itself
        else:
            assert self.answer is None

    def answered(self, content: str) -> None:
        assert (self.answer, self.error) == (content, None)


@dataclass
class Faults:
    """One test's side: a fresh network whose remote client records its retry waits instead
    of sleeping and reads ``now`` as its clock, and the shared fault server."""

    network: AgentNetwork
    server: FaultServer
    sleeps: list[float] = field(default_factory=list)
    now: float = 1000.0

    def __post_init__(self) -> None:
        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        self.client = RemoteClient(
            sleep=sleep,
            random=lambda: 1.0,  # the top of the jitter range: waits of 0.2, 0.4, ... s
            clock=lambda: self.now,
            failure_threshold=2,
            cool_down=30.0,
        )
        self.network.remote_client = self.client

    def remote(
        self,
        target: Script | str,
        *,
        name: str = "expert",
        api_key: str = API_KEY,
        timeout: float = DEADLINE,
    ) -> RemoteAgent:
        """Register ``target`` (a script on the fault server, or a URL) as remote agent
        ``name``, with a password and a secret query in its URL and an API key."""
        url = self.server.url_for(target, name) if isinstance(target, Script) else target
        url = url.replace("http://", f"http://ops:{PASSWORD}@", 1) + f"?token={QUERY_SECRET}"
        return self.network.register_remote(name, url, api_key=api_key, timeout=timeout)

    async def ask(self, level: str, remote: RemoteAgent, question: str = "") -> Outcome:
        question = question or f"Where is my parcel? ({uuid.uuid4().hex[:8]})"
        async with asyncio.timeout(BOUND):
            if level == "client":
                outcome = await self._client(remote, question)
            elif level == "handoff":
                outcome = await self._handoff(remote, question)
            else:
                outcome = await self._nli(remote, question)
        for shown in (outcome.answer or "", outcome.error or ""):
            assert not [secret for secret in SECRETS if secret in shown], shown
        return outcome

    async def _client(self, remote: RemoteAgent, question: str) -> Outcome:
        try:
            content = await self.client.chat(remote, [{"role": "user", "content": question}])
        except RemoteAgentError as error:
            return Outcome("client", remote, None, str(error), error)
        return Outcome("client", remote, content, None)

    async def _handoff(self, remote: RemoteAgent, question: str) -> Outcome:
        def desk_model(request: dict[str, Any]) -> Any:
            # Hand the user's turn over; after a failed handoff, answer it here.
            last = request["messages"][-1]
            return transfer(remote.name, "parcels") if last["role"] == "user" else text(DESK_ANSWER)

        desk, model = scripted_agent(
            "desk", responder=desk_model, network=self.network, handoffs=[remote.name]
        )
        session = f"s-{uuid.uuid4().hex}"
        result = await desk.run(question, session_id=session, user_id="u1")

        failures = [event.error for event in result.events if isinstance(event, HandoffFailed)]
        stored = await desk.sessions.read(desk.session_key(session))
        assert stored is not None
        assert {"role": "user", "content": question} in stored.messages  # never lost
        assert stored.messages[-1] == {"role": "assistant", "content": result.content}
        told = json.dumps([model.requests, stored.messages])  # what the desk's model read
        assert not [secret for secret in SECRETS if secret in told]
        self.network.remove("desk")
        if failures:
            [error] = failures
            assert result.agent == "desk"
            return Outcome("handoff", remote, result.content, error)
        assert result.agent == remote.name
        return Outcome("handoff", remote, result.content, None)

    async def _nli(self, remote: RemoteAgent, question: str) -> Outcome:
        outcome = await NLISkill({"timeout": 30}).query_agent(remote.name, question)
        assert outcome["attempts"] == 1 and outcome["agent"] == remote.name
        assert outcome["success"] is ("response" in outcome)
        return Outcome("nli", remote, outcome.get("response"), outcome["error"])


@pytest.fixture(scope="module")
def fault_server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
async def faults(agent_network: AgentNetwork, fault_server: FaultServer) -> Any:
    made = Faults(agent_network, fault_server)
    yield made
    await made.client.aclose()


@pytest.fixture(params=LEVELS)
def level(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- the remote cannot be reached or is too slow -------------------------------------------


async def test_server_down_is_unreachable_after_retries(faults: Faults, level: str) -> None:
    remote = faults.remote(closed_port())

    outcome = await faults.ask(level, remote)

    outcome.failed(RemoteUnreachableError, "is unreachable (ConnectError)")
    assert faults.sleeps == [0.2, 0.4]  # nothing was sent: both retries, with backoff


async def test_slow_beyond_the_deadline_times_out(faults: Faults, level: str) -> None:
    slow = Script(never_answers())
    remote = faults.remote(slow)

    outcome = await faults.ask(level, remote)

    outcome.failed(RemoteTimeoutError, f"timed out after {DEADLINE:g}s")
    assert len(slow.requests) == 1 and faults.sleeps == []  # a sent turn is not retried


async def test_trickling_bytes_cannot_stretch_the_total_deadline(
    faults: Faults, level: str
) -> None:
    # A byte every 0.2 s: each read succeeds long before a per-read timeout would fire.
    dripping = Trickle(0.2)
    trickling = Script(dripping)
    remote = faults.remote(trickling)

    outcome = await faults.ask(level, remote)

    outcome.failed(RemoteTimeoutError, f"timed out after {DEADLINE:g}s")
    assert len(trickling.requests) == 1 and faults.sleeps == []
    assert dripping.sent >= 2  # bytes kept coming: no read ever waited long


# --- the remote answers with an error status -----------------------------------------------


async def test_500_fails_at_once_without_its_body(faults: Faults, level: str) -> None:
    broken = Script(status(500))
    remote = faults.remote(broken)

    outcome = await faults.ask(level, remote)

    outcome.failed(RemoteStatusError, "is unavailable: HTTP 500")
    assert len(broken.requests) == 1 and faults.sleeps == []  # 500 is not retried


async def test_503_then_success_is_retried(faults: Faults, level: str) -> None:
    recovering = Script(status(503), answer("Expert: your parcel arrives Monday."))
    remote = faults.remote(recovering)

    outcome = await faults.ask(level, remote)

    outcome.answered("Expert: your parcel arrives Monday.")
    assert len(recovering.requests) == 2 and faults.sleeps == [0.2]
    assert recovering.requests[0] == recovering.requests[1]  # the same turn, sent again
    assert recovering.headers[1]["authorization"] == f"Bearer {API_KEY}"


async def test_429_with_retry_after_is_honoured(faults: Faults, level: str) -> None:
    busy = Script(status(429, {"Retry-After": "7"}), answer("Expert: back now."))
    remote = faults.remote(busy)

    outcome = await faults.ask(level, remote)

    outcome.answered("Expert: back now.")
    assert faults.sleeps == [7.0]  # the remote's wait, not the backoff's 0.2 s
    assert len(busy.requests) == 2


# --- the remote answers 200 with something that is not a chat completion -------------------


async def test_malformed_json_is_a_bad_response(faults: Faults, level: str) -> None:
    lying = Script(malformed_json())
    remote = faults.remote(lying)

    outcome = await faults.ask(level, remote)

    outcome.failed(RemoteBadResponseError, "sent no chat completion")
    assert len(lying.requests) == 1 and faults.sleeps == []


async def test_html_with_status_200_is_a_bad_response(faults: Faults, level: str) -> None:
    portal = Script(html())
    remote = faults.remote(portal)

    outcome = await faults.ask(level, remote)

    outcome.failed(RemoteBadResponseError, "sent no chat completion")
    assert len(portal.requests) == 1 and faults.sleeps == []


# --- the circuit breaker -------------------------------------------------------------------


async def test_the_breaker_opens_then_half_opens_and_closes(faults: Faults, level: str) -> None:
    # Two failed calls (each after its retries) open the breaker (failure_threshold=2).
    flaky = Script(*[status(503)] * 6, status(502), answer("Expert: recovered."))
    remote = faults.remote(flaky)

    for _ in range(2):
        (await faults.ask(level, remote)).failed(RemoteStatusError, "is unavailable: HTTP 503")
    assert len(flaky.requests) == 6
    assert faults.client.breaker_state(remote) == "open"

    # Open: calls fail at once, no request reaches the remote.
    faults.now += 10
    outcome = await faults.ask(level, remote)
    outcome.failed(
        CircuitOpenError, "is not called: circuit open after 2 failures in a row (retry in 20s)"
    )
    assert len(flaky.requests) == 6

    # Cool-down over: one trial call, without retries; its failure opens the breaker again.
    faults.now += 20
    assert faults.client.breaker_state(remote) == "half-open"
    (await faults.ask(level, remote)).failed(RemoteStatusError, "is unavailable: HTTP 502")
    assert len(flaky.requests) == 7
    assert faults.client.breaker_state(remote) == "open"

    # The next trial succeeds and closes it.
    faults.now += 30
    (await faults.ask(level, remote)).answered("Expert: recovered.")
    assert len(flaky.requests) == 8
    assert faults.client.breaker_state(remote) == "closed"


# --- a remote agent that owns the session fails on a later turn ----------------------------


@pytest.mark.parametrize(
    ("fault", "kind", "problem"),
    [
        (never_answers(), RemoteTimeoutError, f"timed out after {DEADLINE:g}s"),
        (html(), RemoteBadResponseError, "sent no chat completion"),
    ],
    ids=["slow", "html"],
)
async def test_a_remote_session_owner_failing_later_keeps_the_conversation(
    faults: Faults, fault: Any, kind: type[RemoteAgentError], problem: str
) -> None:
    expert = Script(answer("Expert: I have your parcel's number."), fault)
    remote = faults.remote(expert)
    desk, model = scripted_agent(
        "desk", [transfer(remote.name), text(DESK_ANSWER)], handoffs=[remote.name]
    )
    session = f"s-{uuid.uuid4().hex}"

    async with asyncio.timeout(BOUND):
        first = await desk.run("Where is my parcel?", session_id=session, user_id="u1")
        second = await desk.run("And when does it arrive?", session_id=session, user_id="u1")

    assert (first.agent, second.agent) == (remote.name, desk.name)
    assert second.content == DESK_ANSWER  # ownership came back to the desk, which answered
    [failed] = [event for event in second.events if isinstance(event, HandoffFailed)]
    assert failed.error == f"agent {remote.name!r} at {remote.shown_url} {problem}"
    assert (failed.to_agent, failed.reason) == (remote.name, "session owner")
    stored = await desk.sessions.read(desk.session_key(session))
    assert stored is not None and stored.owner == desk.name
    said = [m["content"] for m in stored.messages if m["role"] != "tool" and m.get("content")]
    assert said == [
        "Where is my parcel?",
        "Expert: I have your parcel's number.",
        "And when does it arrive?",
        DESK_ANSWER,
    ]
    told = json.dumps([model.requests, stored.messages, failed.error])
    assert not [secret for secret in SECRETS if secret in told]
    assert expert.requests[1]["messages"][-1] == {
        "role": "user",
        "content": "And when does it arrive?",
    }
