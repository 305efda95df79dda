"""Fault injection: remote agents that are down, slow, trickling, failing, lying about their
content, cutting their stream or refusing the caller, each served by a real uvicorn on
127.0.0.1: small misbehaving apps (``tests/remote_faults_apps.py``) for the client-side faults,
the real ``create_app`` for a wrong key, a bad signature and a replayed request.

Every fault is shown at the levels a user meets, each through the network's one
``RemoteClient``:

- ``client``: ``network.remote_client.complete`` (or ``.stream``) raises a typed
  ``RemoteAgentError``;
- ``handoff``: a desk agent hands a session's turn to the remote agent (in a plain or a
  streamed run); a failure is a ``HandoffFailed`` event and the desk answers itself, an
  answer is the run's content;
- ``nli``: ``NLISkill.query_agent`` returns its outcome dict and never raises.

Whatever the fault, the call ends within a bound well above its deadline (a hang fails the
test instead of blocking CI), the failure text names the agent and its URL and never the
password in that URL, its query, the API key or the remote's error body, and a session keeps
the user's message. Retry waits go through the client's injectable ``sleep`` (recorded, not
slept) and the breaker reads an injectable clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.remote_faults_apps import (
    SECRET_BODY,
    Behaviour,
    FaultServer,
    Gate,
    Replayer,
    Script,
    Trickle,
    answer,
    html,
    malformed_json,
    never_answers,
    raw,
    redirect,
    sse,
    status,
    text_chunk,
)
from webagents.agents import AgentNetwork
from webagents.agents.network import RemoteAgent
from webagents.agents.skills import NLISkill
from webagents.events import AgentCompleted, HandoffFailed, TextDelta, TextWithdrawn
from webagents.remote import (
    CircuitOpenError,
    RemoteAgentError,
    RemoteBadResponseError,
    RemoteClient,
    RemoteStatusError,
    RemoteStreamError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)
from webagents.remote.reply import RemoteReply
from webagents.remote.signing import SignatureVerifier
from webagents.server import create_app
from webagents.sessions import InMemorySessionStore
from webagents.testing import ScriptedModel, scripted_agent, text, transfer
from webagents.testing.served import ServedApp

DEADLINE = 1.0  # the remote agents' total deadline per attempt, in seconds
BOUND = 15.0  # no call may take longer than this, whatever the fault: a hang fails the test
PASSWORD = "pw-SECRET-42"
QUERY_SECRET = "q-SECRET-99"
API_KEY = "sk-SECRET-API-KEY"
SERVER_KEY = "sk-SECRET-SERVER-KEY"  # the key the real server accepts
SIGNING_KEY = "SECRET-signing-key"
WRONG_SIGNING_KEY = "SECRET-wrong-signing-key"
SECRETS = (PASSWORD, QUERY_SECRET, API_KEY, SERVER_KEY, SIGNING_KEY, WRONG_SIGNING_KEY, SECRET_BODY)
DESK_ANSWER = "Desk: the expert is away, so I will answer myself."
LEVELS = ["client", "handoff", "nli"]


def leaked(shown: str) -> list[str]:
    """The secrets that ``shown`` gives away (none, in every test)."""
    return [secret for secret in SECRETS if secret in shown]


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/agents/expert"  # nobody listens there any more


def desk_model(expert: str) -> Callable[[dict[str, Any]], Any]:
    """The desk's model: it hands the user's turn to ``expert``; after a failed handoff, it
    answers the turn itself."""

    def reply(request: dict[str, Any]) -> Any:
        last = request["messages"][-1]
        return transfer(expert, "parcels") if last["role"] == "user" else text(DESK_ANSWER)

    return reply


@dataclass
class Outcome:
    """What a user got from one call at one level: an ``answer`` by ``agent`` (None when
    there was none) or the ``error`` text shown (the exception's, the ``HandoffFailed``
    event's, or the NLI outcome's), and at the ``client`` level the exception ``raised``.
    A streamed call also keeps what was ``streamed`` (agent, text) and ``withdrawn``."""

    level: str
    remote: RemoteAgent
    answer: str | None
    error: str | None
    agent: str | None = None
    raised: RemoteAgentError | None = None
    streamed: list[tuple[str, str]] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)

    def failed(self, kind: type[RemoteAgentError], problem: str) -> None:
        """The call failed with ``problem``: typed as ``kind`` at the client level, the desk
        answering after a failed handoff, no answer over NLI."""
        assert self.error == f"agent {self.remote.name!r} at {self.remote.shown_url} {problem}"
        if self.level == "client":
            assert type(self.raised) is kind
            assert (self.raised.agent, self.raised.url) == (self.remote.name, self.remote.shown_url)
        if self.level == "handoff":
            assert (self.answer, self.agent) == (DESK_ANSWER, "desk")  # the source answers
        else:
            assert self.answer is None

    def answered(self, content: str, by: str | None = None) -> None:
        assert (self.answer, self.error) == (content, None)
        assert self.agent == (by or self.remote.name)


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
        signing_key: str | None = None,
        fallbacks: tuple[str, ...] = (),
        timeout: float = DEADLINE,
    ) -> RemoteAgent:
        """Register ``target`` (a script on the fault server, or an agent URL) as remote agent
        ``name``, with a password and a secret query in its URL and an API key."""
        url = self.server.url_for(target, name) if isinstance(target, Script) else target
        url = url.replace("http://", f"http://ops:{PASSWORD}@", 1) + f"?token={QUERY_SECRET}"
        return self.network.register_remote(
            name,
            url,
            api_key=api_key,
            signing_key=signing_key,
            fallbacks=fallbacks,
            timeout=timeout,
        )

    async def ask(
        self, level: str, remote: RemoteAgent, question: str = "", *, stream: bool = False
    ) -> Outcome:
        """Ask ``remote`` at ``level`` (streamed: ``RemoteClient.stream``, or a streamed run),
        within ``BOUND`` seconds, and check that no text the user or a model sees carries a
        secret."""
        question = question or f"Where is my parcel? ({uuid.uuid4().hex[:8]})"
        async with asyncio.timeout(BOUND):
            if level == "client":
                outcome = await self._client(remote, question, stream)
            elif level == "handoff":
                outcome = await self._handoff(remote, question, stream)
            else:
                assert not stream, "NLI answers in one piece"
                outcome = await self._nli(remote, question)
        shown = [outcome.answer or "", outcome.error or "", *(t for _, t in outcome.streamed)]
        assert leaked("\n".join(shown)) == [], shown
        return outcome

    async def _client(self, remote: RemoteAgent, question: str, stream: bool) -> Outcome:
        messages = [{"role": "user", "content": question}]
        streamed: list[tuple[str, str]] = []
        try:
            if not stream:
                reply = await self.client.complete(remote, messages)
            else:
                async for item in self.client.stream(remote, messages):
                    if isinstance(item, TextDelta):
                        streamed.append((item.agent, item.text))
                    elif isinstance(item, RemoteReply):
                        reply = item
        except RemoteAgentError as error:
            told = repr([error, error.args, error.url])
            assert leaked(told) == []
            return Outcome("client", remote, None, str(error), raised=error, streamed=streamed)
        return Outcome("client", remote, reply.content, None, reply.agent, streamed=streamed)

    async def _handoff(self, remote: RemoteAgent, question: str, stream: bool) -> Outcome:
        desk, model = scripted_agent(
            "desk", responder=desk_model(remote.name), network=self.network, handoffs=[remote.name]
        )
        session = f"s-{uuid.uuid4().hex}"
        if stream:
            streamed = desk.run_streaming(question, session_id=session, user_id="u1")
            events = [event async for event in streamed]
            done = [event for event in events if isinstance(event, AgentCompleted)][-1]
            content, agent = done.content, done.agent
        else:
            result = await desk.run(question, session_id=session, user_id="u1")
            events, content, agent = result.events, result.content, result.agent
        self.network.remove("desk")

        stored = await desk.sessions.read(desk.session_key(session))
        assert stored is not None
        assert {"role": "user", "content": question} in stored.messages  # never lost
        assert stored.messages[-1] == {"role": "assistant", "content": content}
        # What the desk's model read, what was stored, every event a caller could stream.
        told = json.dumps([model.requests, stored.messages, [e.to_dict() for e in events]])
        told += repr([stored.owner, await desk.sessions.list_sessions()])
        assert leaked(told) == []
        failures = [event.error for event in events if isinstance(event, HandoffFailed)]
        outcome = Outcome(
            "handoff",
            remote,
            content,
            None,
            agent,
            streamed=[(e.agent, e.text) for e in events if isinstance(e, TextDelta)],
            withdrawn=[e.agent for e in events if isinstance(e, TextWithdrawn)],
        )
        if failures:
            [outcome.error] = failures
        return outcome

    async def _nli(self, remote: RemoteAgent, question: str) -> Outcome:
        outcome = await NLISkill({"timeout": 30}).query_agent(remote.name, question)
        assert outcome["attempts"] == 1 + len(remote.fallbacks)  # each asked once at most
        assert outcome["success"] is ("response" in outcome)
        assert leaked(json.dumps(outcome)) == []
        return Outcome("nli", remote, outcome.get("response"), outcome["error"], outcome["agent"])


@pytest.fixture(scope="module")
def fault_server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
async def faults(agent_network: AgentNetwork, fault_server: FaultServer) -> AsyncIterator[Faults]:
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


async def test_a_half_open_breaker_lets_one_trial_through_at_a_time(faults: Faults) -> None:
    gate = Gate(answer("Expert: recovered."))
    flaky = Script(*[status(503)] * 6, gate)
    remote = faults.remote(flaky)
    for _ in range(2):
        (await faults.ask("client", remote)).failed(RemoteStatusError, "is unavailable: HTTP 503")
    faults.now += 30  # the cool-down is over: the next call is the trial

    # A trial abandoned by its caller (cancelled while the remote holds it) frees the slot.
    abandoned = asyncio.create_task(faults.ask("client", remote))
    assert await asyncio.to_thread(gate.arrived.wait, BOUND)
    abandoned.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await abandoned
    assert faults.client.breaker_state(remote) == "half-open"

    # While a trial is in flight, other calls fail at once without reaching the remote.
    gate.arrived.clear()
    trial = asyncio.create_task(faults.ask("client", remote))
    assert await asyncio.to_thread(gate.arrived.wait, BOUND)
    concurrent = await faults.ask("client", remote)
    concurrent.failed(
        CircuitOpenError,
        "is not called: circuit open after 2 failures in a row (a trial call is in flight)",
    )
    assert len(flaky.requests) == 8

    gate.release()
    (await trial).answered("Expert: recovered.")
    assert faults.client.breaker_state(remote) == "closed"


# --- a remote agent that owns the session fails on a later turn ----------------------------


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (never_answers(), f"timed out after {DEADLINE:g}s"),
        (html(), "sent no chat completion"),
    ],
    ids=["slow", "html"],
)
async def test_a_remote_session_owner_failing_later_keeps_the_conversation(
    faults: Faults, fault: Behaviour, problem: str
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
    assert leaked(told) == []
    assert expert.requests[1]["messages"][-1] == {
        "role": "user",
        "content": "And when does it arrive?",
    }


async def test_a_url_handoff_target_leaves_no_secret_in_the_session_store(
    faults: Faults,
) -> None:
    # The store once kept the owner as its full URL, password and query (fixed in aab3155).
    expert = Script(answer("Expert: first."), answer("Expert: second."))
    url = faults.server.url_for(expert, "expert")
    written = url.replace("http://", f"http://ops:{PASSWORD}@", 1) + f"?token={QUERY_SECRET}"
    desk, _ = scripted_agent("desk", [transfer("expert")], handoffs=[written])
    session = f"s-{uuid.uuid4().hex}"

    async with asyncio.timeout(BOUND):
        first = await desk.run("Where is my parcel?", session_id=session)
        second = await desk.run("And when?", session_id=session)

    assert (first.agent, second.content) == ("expert", "Expert: second.")  # it owns the session
    stored = await desk.sessions.read(desk.session_key(session))
    kept = repr([stored, await desk.sessions.list_sessions()])
    assert leaked(kept) == []


# --- a stream cut mid-way ------------------------------------------------------------------


FAILED_RUN = {"error": {"message": SECRET_BODY, "type": "server_error", "code": "run_failed"}}


@pytest.mark.parametrize(
    ("cut", "last", "problem"),
    [
        ("no-done", [], "cut its stream mid-answer (no [DONE])"),
        ("dropped", [], "cut its stream mid-answer (RemoteProtocolError)"),
        ("no-done", [FAILED_RUN], "failed mid-stream (run_failed)"),
    ],
    ids=["no-done", "dropped", "error-chunk"],
)
@pytest.mark.parametrize("level", ["client", "handoff"])
async def test_a_stream_cut_mid_way_fails_after_what_it_streamed(
    faults: Faults,
    level: str,
    cut: Literal["no-done", "dropped"],
    last: list[dict[str, Any]],
    problem: str,
) -> None:
    pieces = [text_chunk("expert", "Your parcel "), text_chunk("expert", "is in "), *last]
    cutting = Script(sse(pieces, cut=cut))
    remote = faults.remote(cutting)

    outcome = await faults.ask(level, remote, stream=True)

    outcome.failed(RemoteStreamError, problem)
    assert outcome.streamed[:2] == [("expert", "Your parcel "), ("expert", "is in ")]
    if level == "handoff":
        assert outcome.withdrawn == ["expert"]  # what the user saw of it is taken back
    assert len(cutting.requests) == 1 and faults.sleeps == []  # begun: never retried


@pytest.mark.parametrize("level", ["client", "handoff"])
async def test_a_stream_of_keep_alives_cannot_stretch_the_total_deadline(
    faults: Faults, level: str
) -> None:
    dripping = Trickle(0.2, stream=True)
    remote = faults.remote(Script(dripping))

    outcome = await faults.ask(level, remote, stream=True)

    outcome.failed(RemoteTimeoutError, f"timed out after {DEADLINE:g}s")
    assert dripping.sent >= 2  # something came every 0.2 s, never a word of the answer
    assert [agent for agent, _ in outcome.streamed if agent == remote.name] == []


# --- the remote sends the caller elsewhere -------------------------------------------------


async def test_a_redirect_is_not_followed_with_the_key(faults: Faults, level: str) -> None:
    elsewhere = Script(answer("Elsewhere: hello."))
    target = faults.server.url_for(elsewhere, "collector") + "/chat/completions"
    remote = faults.remote(Script(redirect(target)))

    outcome = await faults.ask(level, remote)

    outcome.failed(RemoteStatusError, "refused the request: HTTP 307")
    assert elsewhere.requests == []  # neither the conversation nor the key went there


# --- the remote refuses the caller: the real server ----------------------------------------


class RealServer(NamedTuple):
    url: str
    expert_model: ScriptedModel
    clock: list[float]  # the server's clock for signatures, [seconds]: a test may move it


@pytest.fixture
def real_server() -> Iterator[RealServer]:
    """The real ``create_app`` with an API key and a signing key, serving ``expert`` from a
    network of its own."""
    served = AgentNetwork("served", sessions=InMemorySessionStore())
    expert, model = scripted_agent(
        "expert", responder=lambda request: text("Expert: Monday."), network=served
    )
    clock = [time.time()]
    verifier = SignatureVerifier(SIGNING_KEY, window=300, clock=lambda: clock[0])
    app = create_app([expert], api_keys=[SERVER_KEY], signing_keys=verifier)
    with ServedApp(app) as server:
        yield RealServer(server.url, model, clock)


async def test_a_wrong_api_key_is_refused_and_not_retried(
    faults: Faults, level: str, real_server: RealServer
) -> None:
    # API_KEY is not one the server accepts.
    remote = faults.remote(f"{real_server.url}/agents/expert", signing_key=SIGNING_KEY)

    outcome = await faults.ask(level, remote)

    outcome.failed(RemoteStatusError, "refused the request: HTTP 401")
    assert real_server.expert_model.requests == [] and faults.sleeps == []
    assert faults.client.breaker_state(remote) == "closed"  # up, just refusing: no count


async def test_a_bad_signature_is_refused_and_not_retried(
    faults: Faults, level: str, real_server: RealServer
) -> None:
    remote = faults.remote(
        f"{real_server.url}/agents/expert", api_key=SERVER_KEY, signing_key=WRONG_SIGNING_KEY
    )

    outcome = await faults.ask(level, remote)

    outcome.failed(RemoteStatusError, "refused the request: HTTP 401")
    assert real_server.expert_model.requests == [] and faults.sleeps == []


@pytest.mark.parametrize(
    ("later", "why"),
    [
        (0, "the request was already received (replayed nonce)"),
        (400, "the timestamp is outside the 300s window (check the clocks of both machines)"),
    ],
    ids=["at-once", "after-the-window"],
)
async def test_a_replayed_request_is_refused(
    faults: Faults, level: str, real_server: RealServer, later: float, why: str
) -> None:
    # A middlebox captured the first signed request and sends it again in place of the next,
    # at once or once the signature's window has passed.
    replayer = Replayer(real_server.url)
    with ServedApp(replayer) as middlebox:
        remote = faults.remote(
            f"{middlebox.url}/agents/expert", api_key=SERVER_KEY, signing_key=SIGNING_KEY
        )
        first = await faults.ask(level, remote)
        real_server.clock[0] += later
        replayed = await faults.ask(level, remote)

    first.answered("Expert: Monday.")
    replayed.failed(RemoteStatusError, "refused the request: HTTP 401")
    assert len(real_server.expert_model.requests) == 1  # the replay never reached the agent
    assert [status for status, _ in replayer.answers] == [200, 401]
    refusal = json.loads(replayer.answers[1][1])["error"]
    assert (refusal["code"], refusal["message"]) == (
        "invalid_signature",
        f"request signature refused: {why}",
    )


# --- ordered fallbacks ---------------------------------------------------------------------


async def test_a_failing_remote_falls_back_in_order(faults: Faults, level: str) -> None:
    # The expert fails, its first fallback is down, its second answers.
    faults.remote(closed_port(), name="spare")
    backup = Script(answer("Backup: your parcel arrives Monday."))
    faults.remote(backup, name="backup")
    broken = Script(status(500))
    remote = faults.remote(broken, fallbacks=("spare", "backup"))

    outcome = await faults.ask(level, remote)

    outcome.answered("Backup: your parcel arrives Monday.", by="backup")
    assert len(broken.requests) == 1 and len(backup.requests) == 1
    assert faults.sleeps == [0.2, 0.4]  # the spare's connection retries


# --- anything a remote may send --------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
event_types = st.sampled_from(
    ["agent.started", "text.withdrawn", "handoff.transfer", "handoff.failed", "agent.completed"]
)
# Shaped like the wire format, with any value anywhere: what a buggy or hostile server sends.
wire_extension = st.fixed_dictionaries(
    {},
    optional={
        "agent": json_values,
        "handoff_chain": json_values | st.lists(st.text(max_size=8), max_size=3),
        "event": json_values
        | st.fixed_dictionaries(
            {"type": event_types | json_values},
            optional={
                "agent": json_values,
                "to_agent": json_values,
                "content": json_values,
                "chain": json_values,
            },
        ),
    },
)
completions = st.fixed_dictionaries(
    {"choices": json_values | st.lists(st.fixed_dictionaries({"message": json_values}))},
    optional={"webagents": json_values | wire_extension, "usage": json_values},
)
stream_chunks = st.fixed_dictionaries(
    {},
    optional={
        "choices": json_values
        | st.lists(
            st.fixed_dictionaries(
                {}, optional={"delta": json_values, "finish_reason": json_values}
            ),
            max_size=2,
        ),
        "webagents": json_values | wire_extension,
        "usage": json_values,
        "error": json_values,
    },
)


def event_stream(chunks: list[Any], done: bool) -> bytes:
    lines = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks]
    return "".join([*lines, "data: [DONE]\n\n" if done else ""]).encode()


replies = st.one_of(
    st.tuples(completions.map(json.dumps).map(str.encode), st.just("application/json")),
    st.tuples(
        st.builds(event_stream, st.lists(stream_chunks | json_values, max_size=4), st.booleans()),
        st.just("text/event-stream"),
    ),
    st.tuples(st.binary(max_size=64), st.sampled_from(["application/json", "text/event-stream"])),
)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(reply=replies, code=st.sampled_from([200, 200, 200, 400, 500]), stream=st.booleans())
async def test_anything_a_remote_sends_ends_in_a_reply_or_a_typed_error(
    faults: Faults, reply: tuple[bytes, str], code: int, stream: bool
) -> None:
    # A client of its own, with no retries and a breaker that never opens: every example
    # reaches the remote.
    client = RemoteClient(retries=0, failure_threshold=10**9)
    script = Script(raw(*reply, code))
    remote = RemoteAgent(name="any", url=faults.server.url_for(script, "any"), timeout=5)
    messages = [{"role": "user", "content": "hi"}]
    try:
        async with asyncio.timeout(BOUND):
            if stream:
                items = [item async for item in client.stream(remote, messages)]
                assert isinstance(items[-1], RemoteReply)
            else:
                assert isinstance(await client.complete(remote, messages), RemoteReply)
    except RemoteAgentError as error:
        assert str(error).startswith(f"agent 'any' at {remote.shown_url} ")
    finally:
        await client.aclose()


async def test_a_stream_event_of_an_unhashable_type_is_skipped(faults: Faults) -> None:
    # Found by the property above: once a bare TypeError out of stream() (fixed in aab3155).
    odd = {"choices": [], "webagents": {"event": {"type": ["handoff.transfer"]}}}
    remote = faults.remote(Script(sse([odd, text_chunk("expert", "Monday.")])))

    outcome = await faults.ask("client", remote, stream=True)

    outcome.answered("Monday.")


# --- logs ----------------------------------------------------------------------------------


async def logged_calls(faults: Faults, level: str, caplog: pytest.LogCaptureFixture) -> None:
    """A call answered after a retry and a failed one, logged at INFO (a common server
    setup: the application keeps every record it is given)."""
    recovering = faults.remote(Script(status(503), answer("Expert: Monday.")))
    broken = faults.remote(Script(status(500)), name="broken")
    with caplog.at_level(logging.INFO):
        (await faults.ask(level, recovering)).answered("Expert: Monday.")
        (await faults.ask(level, broken)).failed(RemoteStatusError, "is unavailable: HTTP 500")


async def test_no_webagents_log_record_carries_a_secret(
    faults: Faults, level: str, caplog: pytest.LogCaptureFixture
) -> None:
    await logged_calls(faults, level, caplog)

    ours = [r for r in caplog.records if r.name.partition(".")[0] == "webagents"]
    if level != "client":  # the client raises; a handoff or NLI logs what it contained
        assert any("'broken'" in r.getMessage() and "HTTP 500" in r.getMessage() for r in ours)
    logged = "\n".join(caplog.handler.format(record) for record in ours)  # with tracebacks
    assert leaked(logged) == []


async def test_no_log_record_carries_the_urls_password(
    faults: Faults, caplog: pytest.LogCaptureFixture
) -> None:
    # httpx logs every request's URL at INFO: the password must have left it (it travels as
    # Basic auth, or not at all behind a bearer key), and the query is shown without its
    # value (a filter webagents puts on httpx's logger, for its own requests only).
    await logged_calls(faults, "client", caplog)

    requests = [r.getMessage() for r in caplog.records if r.name.startswith("httpx")]
    assert len(requests) == 3 and all("HTTP Request: POST" in line for line in requests)
    logged = "\n".join(caplog.handler.format(record) for record in caplog.records)
    assert PASSWORD not in logged and QUERY_SECRET not in logged


# --- the fault behind a served agent -------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_a_served_desk_answers_its_caller_when_its_remote_expert_fails(
    faults: Faults, stream: bool
) -> None:
    # Caller -> served desk (real create_app) -> remote expert that stays unavailable (plain)
    # or cuts its stream (streamed): the caller gets the desk's answer, and the desk's session
    # keeps the turn.
    if stream:
        remote = faults.remote(Script(sse([text_chunk("expert", "Half an ")], cut="no-done")))
    else:
        remote = faults.remote(Script(status(503)))
    desk, _ = scripted_agent("desk", responder=desk_model(remote.name), handoffs=[remote.name])
    body = {"messages": [{"role": "user", "content": "Where is my parcel?"}], "stream": stream}
    async with ServedApp(create_app([desk])) as served, httpx.AsyncClient() as caller:
        async with asyncio.timeout(BOUND):
            response = await caller.post(
                f"{served.url}/agents/desk/chat/completions",
                json=body,
                headers={"X-Session-Id": "s-served"},
            )

    assert response.status_code == 200
    if stream:
        events = [
            json.loads(line.removeprefix("data: "))
            for line in response.text.split("\n\n")
            if line.startswith("data: {")
        ]
        said = "".join(
            e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices")
        )
        assert said == "Half an " + DESK_ANSWER
        kinds = [e["webagents"]["event"]["type"] for e in events if "event" in e["webagents"]]
        assert kinds.index("text.withdrawn") < kinds.index("handoff.failed")
        assert response.text.endswith("data: [DONE]\n\n")
    else:
        completion = response.json()
        assert completion["choices"][0]["message"]["content"] == DESK_ANSWER
        assert completion["webagents"]["agent"] == "desk"
    assert leaked(response.text) == []
    stored = await desk.sessions.read(desk.session_key("s-served"))
    assert stored is not None
    assert stored.messages[0] == {"role": "user", "content": "Where is my parcel?"}
    assert stored.messages[-1] == {"role": "assistant", "content": DESK_ANSWER}
