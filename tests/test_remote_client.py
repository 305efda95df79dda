"""``RemoteClient``: the one client every call to a remote agent goes through. Status codes
and transport failures come from ``httpx.MockTransport`` (the remote protocol is what is
under test); the total deadline is checked against a real server on 127.0.0.1 that trickles
its answer one byte at a time."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from webagents import BaseAgent
from webagents.agents import AgentNetwork
from webagents.agents.network import RemoteAgent, default_network
from webagents.agents.skills.nli import RemoteAgentError, query_remote
from webagents.events import TextDelta
from webagents.remote import (
    CircuitOpenError,
    RemoteBadResponseError,
    RemoteClient,
    RemoteReply,
    RemoteStatusError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)
from webagents.testing import scripted_agent, text, transfer

HI = [{"role": "user", "content": "hi"}]
SECRET_BODY = "db password is SECRET-BODY"
REMOTE = RemoteAgent(
    name="billing",
    url="http://ops:pw-42@remote.test/agents/billing?key=q-99",
    api_key="k-secret",
)
SHOWN = "agent 'billing' at http://remote.test/agents/billing"


def completion(content: str = "remote answer") -> httpx.Response:
    return httpx.Response(
        200, json={"choices": [{"message": {"role": "assistant", "content": content}}]}
    )


def failing(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": SECRET_BODY}}, headers=headers)


class Remote:
    """A scripted remote: each request takes the next reply (a response, or an exception to
    raise); then it answers with a completion. ``sleeps`` are the delays the client asked
    for; ``now`` is the client's clock."""

    def __init__(self, *replies: httpx.Response | Exception, **settings: Any) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.now = 1000.0

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        def handler(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            reply = self.replies.pop(0) if self.replies else completion()
            if isinstance(reply, Exception):
                raise reply
            return reply

        settings.setdefault("random", lambda: 1.0)  # the top of the jitter range: exact delays
        self.client = RemoteClient(
            transport=httpx.MockTransport(handler),
            sleep=sleep,
            clock=lambda: self.now,
            **settings,
        )

    async def chat(self, remote: RemoteAgent = REMOTE) -> str:
        return await self.client.chat(remote, HI)


@pytest.fixture
async def closing() -> AsyncIterator[list[Remote]]:
    """Remotes whose clients the test made; closed at its end."""
    made: list[Remote] = []
    yield made
    for remote in made:
        await remote.client.aclose()


@pytest.fixture
def remote(closing: list[Remote]) -> Callable[..., Remote]:
    def make(*replies: httpx.Response | Exception, **settings: Any) -> Remote:
        made = Remote(*replies, **settings)
        closing.append(made)
        return made

    return make


# --- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_overload_and_gateway_statuses_are_retried_with_backoff(
    remote: Callable[..., Remote], status: int
) -> None:
    server = remote(failing(status), failing(status))

    assert await server.chat() == "remote answer"
    assert len(server.requests) == 3
    assert server.sleeps == [0.2, 0.4]  # exponential: backoff * 2**attempt (jitter at its top)


async def test_jitter_is_full_between_zero_and_the_exponential_ceiling(
    remote: Callable[..., Remote],
) -> None:
    server = remote(failing(503), failing(503), random=lambda: 0.25, backoff=1.0)

    assert await server.chat() == "remote answer"
    assert server.sleeps == [0.25, 0.5]


async def test_retries_give_up_with_the_last_failure(remote: Callable[..., Remote]) -> None:
    server = remote(failing(503), failing(503), failing(502))

    with pytest.raises(RemoteStatusError) as raised:
        await server.chat()

    assert len(server.requests) == 3
    assert (raised.value.status_code, raised.value.retryable) == (502, True)
    assert str(raised.value) == f"{SHOWN} is unavailable: HTTP 502"


@pytest.mark.parametrize("status", [400, 401, 404, 422, 500])
async def test_other_statuses_are_not_retried(remote: Callable[..., Remote], status: int) -> None:
    server = remote(failing(status))

    with pytest.raises(RemoteStatusError) as raised:
        await server.chat()

    assert len(server.requests) == 1 and server.sleeps == []
    assert (raised.value.status_code, raised.value.retryable) == (status, False)


async def test_connect_errors_are_retried(remote: Callable[..., Remote]) -> None:
    refused = httpx.ConnectError("refused")
    server = remote(refused, httpx.ConnectTimeout("slow to accept"), refused, retries=2)

    with pytest.raises(RemoteUnreachableError) as raised:
        await server.chat()

    assert len(server.requests) == 3
    assert str(raised.value) == f"{SHOWN} is unreachable (ConnectError)"
    assert raised.value.request_sent is False


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut mid-answer")]
)
async def test_a_sent_turn_is_not_retried_unless_configured(
    remote: Callable[..., Remote], failure: Exception
) -> None:
    once = remote(failure)
    with pytest.raises(RemoteAgentError):
        await once.chat()
    assert len(once.requests) == 1  # the remote may have acted on the turn

    again = remote(failure, failure, retry_timeouts=True)
    assert await again.chat() == "remote answer"
    assert len(again.requests) == 3


async def test_a_read_timeout_is_a_typed_timeout(remote: Callable[..., Remote]) -> None:
    server = remote(httpx.ReadTimeout("slow"))

    with pytest.raises(RemoteTimeoutError) as raised:
        await server.client.chat(REMOTE, HI, timeout=2)

    assert raised.value.timed_out and str(raised.value) == f"{SHOWN} timed out after 2s"


async def test_retry_after_is_honoured_up_to_its_cap(remote: Callable[..., Remote]) -> None:
    server = remote(
        failing(429, {"Retry-After": "7"}),
        failing(503, {"Retry-After": "600"}),
        retries=2,
    )
    assert await server.chat() == "remote answer"
    assert server.sleeps == [7.0, 30.0]

    capped = remote(failing(429, {"Retry-After": "12"}), retry_after_cap=5)
    assert await capped.chat() == "remote answer"
    assert capped.sleeps == [5.0]

    dated = remote(failing(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert await dated.chat() == "remote answer"
    assert dated.sleeps == [0.2]  # an HTTP date is not seconds: backoff applies


async def test_no_retries_when_set_to_zero(remote: Callable[..., Remote]) -> None:
    server = remote(failing(503), retries=0)

    with pytest.raises(RemoteStatusError):
        await server.chat()
    assert len(server.requests) == 1


# --- responses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="<html>Welcome to nginx</html>", headers={"X": "y"}),
        httpx.Response(200, text='{"choices": ['),
        httpx.Response(200, json={"id": "x"}),
        httpx.Response(200, json={"choices": [{"message": {"content": {"a": 1}}}]}),
    ],
)
async def test_a_200_that_is_not_a_chat_completion_is_a_bad_response(
    remote: Callable[..., Remote], reply: httpx.Response
) -> None:
    server = remote(reply)

    with pytest.raises(RemoteBadResponseError) as raised:
        await server.chat()

    assert str(raised.value) == f"{SHOWN} sent no chat completion"
    assert len(server.requests) == 1


async def test_the_request_is_an_openai_chat_request_with_the_bearer_key(
    remote: Callable[..., Remote],
) -> None:
    server = remote()

    await server.chat()
    await server.client.chat(REMOTE, HI, api_key="k-call")

    first, second = server.requests
    # The URL's credentials never travel in the URL (httpx logs it): the bearer key wins.
    assert str(first.url) == "http://remote.test/agents/billing/chat/completions?key=q-99"
    assert json.loads(first.content) == {"model": "billing", "messages": HI}
    assert first.headers["Authorization"] == "Bearer k-secret"
    assert second.headers["Authorization"] == "Bearer k-call"


async def test_url_credentials_are_basic_auth_and_never_logged(
    remote: Callable[..., Remote], caplog: pytest.LogCaptureFixture
) -> None:
    server = remote()
    keyless = RemoteAgent(name="billing", url=REMOTE.url)

    with caplog.at_level(logging.DEBUG):
        await server.client.chat(keyless, HI)

    [sent] = server.requests
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"ops:pw-42").decode()
    assert str(sent.url) == "http://remote.test/agents/billing/chat/completions?key=q-99"
    assert not [r for r in caplog.records if "pw-42" in r.getMessage()]


# --- circuit breaker -------------------------------------------------------------------------


async def test_the_breaker_opens_fails_fast_half_opens_and_closes(
    remote: Callable[..., Remote],
) -> None:
    server = remote(
        failing(500), failing(500), failing(503), retries=0, failure_threshold=2, cool_down=10
    )
    for _ in range(2):
        with pytest.raises(RemoteStatusError):
            await server.chat()
    assert server.client.breaker_state(REMOTE) == "open"

    with pytest.raises(CircuitOpenError) as fast:
        await server.chat()
    assert len(server.requests) == 2  # failed at once, nothing sent
    assert str(fast.value).startswith(f"{SHOWN} is not called: circuit open")
    assert isinstance(fast.value, RemoteAgentError)

    server.now += 10  # cool-down over: one trial call
    assert server.client.breaker_state(REMOTE) == "half-open"
    with pytest.raises(RemoteStatusError):
        await server.chat()  # the trial fails (a 503, not retried in a trial): open again
    assert len(server.requests) == 3
    assert server.client.breaker_state(REMOTE) == "open"
    with pytest.raises(CircuitOpenError):
        await server.chat()

    server.now += 10
    assert await server.chat() == "remote answer"  # the trial succeeds: closed
    assert server.client.breaker_state(REMOTE) == "closed"
    assert await server.chat() == "remote answer"


async def test_the_breaker_is_per_remote_agent_and_ignores_refusals(
    remote: Callable[..., Remote],
) -> None:
    other = RemoteAgent(name="orders", url="http://remote.test/agents/orders")
    server = remote(failing(500), failing(401), failing(404), retries=0, failure_threshold=1)

    with pytest.raises(RemoteStatusError):
        await server.chat()
    assert server.client.breaker_state(REMOTE) == "open"
    assert server.client.breaker_state(other) == "closed"
    for _ in range(2):  # a refused request says nothing about the remote's health
        with pytest.raises(RemoteStatusError):
            await server.chat(other)
    assert await server.chat(other) == "remote answer"


async def test_a_success_resets_the_count_of_failures(remote: Callable[..., Remote]) -> None:
    server = remote(failing(500), completion(), failing(500), retries=0, failure_threshold=2)

    for _ in range(3):
        with contextlib.suppress(RemoteStatusError):
            await server.chat()

    assert server.client.breaker_state(REMOTE) == "closed"


# --- secrets ---------------------------------------------------------------------------------


async def test_no_error_text_carries_a_key_credentials_a_query_or_the_body(
    remote: Callable[..., Remote],
) -> None:
    replies: list[httpx.Response | Exception] = [
        failing(401),  # first: a refusal shows the remote is up, which resets the count
        httpx.ConnectError(f"refused {REMOTE.url}"),
        httpx.ReadTimeout(f"slow {REMOTE.url}"),
        httpx.RemoteProtocolError(f"cut {REMOTE.url}"),
        failing(503),
        httpx.Response(200, text=f"<html>{SECRET_BODY}</html>"),
    ]
    server = remote(*replies, retries=0, failure_threshold=5)  # the 401 does not count
    texts = []
    for _ in replies:
        with pytest.raises(RemoteAgentError) as raised:
            await server.chat()
        texts.append(str(raised.value))
    with pytest.raises(CircuitOpenError) as fast:
        await server.chat()
    texts.append(str(fast.value))

    for shown in texts:
        assert shown.startswith(SHOWN + " ")
        for secret in ("k-secret", "pw-42", "q-99", "SECRET-BODY", "ops:"):
            assert secret not in shown


# --- the pool --------------------------------------------------------------------------------


async def test_one_pooled_client_per_network_closed_with_it() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return completion("pooled")

    network = AgentNetwork("pool")
    network.remote_client = RemoteClient(transport=httpx.MockTransport(handler))
    remote = network.register_remote("billing", "http://remote.test/agents/billing")
    client = network.remote_client
    assert network.remote_client is client and client.pooled is None  # made on first use

    assert await query_remote(remote, HI, network=network) == "pooled"
    pooled = client.pooled
    assert await query_remote(remote, HI, network=network) == "pooled"
    assert await client.chat(remote, HI) == "pooled"
    assert pooled is not None and client.pooled is pooled  # one client, reused

    await network.aclose()
    assert pooled.is_closed and client.pooled is None
    assert await client.chat(remote, HI) == "pooled"  # a new one after closing
    assert client.pooled is not None and client.pooled is not pooled
    await client.aclose()
    assert seen == ["/agents/billing/chat/completions"] * 4


async def test_each_network_has_its_own_client_and_the_default_serves_the_rest() -> None:
    red, blue = AgentNetwork("red"), AgentNetwork("blue")
    assert red.remote_client is not blue.remote_client
    with pytest.raises(TypeError):
        red.remote_client = "not a client"  # type: ignore[assignment]

    default = default_network()
    default.remote_client = RemoteClient(
        transport=httpx.MockTransport(lambda request: completion("by default"))
    )
    try:  # query_remote without a network goes through the default network's client
        assert await query_remote(REMOTE, HI) == "by default"
        assert default.remote_client.pooled is not None
    finally:
        await default.aclose()


def test_settings_are_checked() -> None:
    for bad in ({"retries": -1}, {"failure_threshold": 0}, {"backoff": -1.0}):
        with pytest.raises(ValueError):
            RemoteClient(**bad)


# --- the total deadline, against a real trickling server ----------------------------------


@contextlib.asynccontextmanager
async def trickling_server() -> AsyncIterator[str]:
    """A server on 127.0.0.1 that reads a request, sends 200 headers announcing a long body,
    then one byte every 50 ms: each read gets a byte long before a per-read timeout."""
    handlers: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n"
            )
            while True:
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.05)  # the server's behaviour: a byte now and then
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            handlers.discard(task)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/agents/slow"
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def test_a_trickling_server_cannot_stretch_the_total_deadline() -> None:
    client = RemoteClient()
    try:
        async with trickling_server() as url:
            remote = RemoteAgent(name="slow", url=url, timeout=0.5)
            started = time.monotonic()
            with pytest.raises(RemoteTimeoutError) as raised:
                await client.chat(remote, HI)
            elapsed = time.monotonic() - started
    finally:
        await client.aclose()

    assert raised.value.timed_out
    assert str(raised.value) == f"agent 'slow' at {url} timed out after 0.5s"
    assert elapsed < 10  # generous: the point is that it ends, not how fast


# --- complete(): who answered, and the remote chain -----------------------------------------


def extended(content: str, agent: str, chain: Any) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "billing",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
            "webagents": {"agent": agent, "handoff_chain": chain},
        },
    )


async def test_complete_names_who_answered_in_local_names(remote: Callable[..., Remote]) -> None:
    server = remote(extended("Refunded.", "refunds", ["billing", "refunds"]))

    reply = await server.client.complete(REMOTE, HI)

    assert isinstance(reply, RemoteReply)
    assert (reply.content, reply.agent, reply.handoff_chain, reply.attempts) == (
        "Refunded.",
        "billing/refunds",
        ("billing", "billing/refunds"),
        1,
    )
    assert (reply.usage.prompt_tokens, reply.usage.total_tokens) == (5, 7)
    assert reply.via is REMOTE


async def test_a_registered_name_other_than_the_servers_still_names_the_chain(
    remote: Callable[..., Remote],
) -> None:
    server = remote(extended("Paid.", "billing", ["billing"]))
    advisor = RemoteAgent(name="advisor", url="http://remote.test/agents/billing")

    reply = await server.client.complete(advisor, HI)

    assert (reply.agent, reply.handoff_chain) == ("advisor", ("advisor",))


@pytest.mark.parametrize(
    "reply",
    [
        completion("plain answer"),
        extended("plain answer", "billing", "not a list"),
        extended("plain answer", 7, [1, 2]),
    ],
)
async def test_a_response_without_a_usable_extension_is_the_agent_itself(
    remote: Callable[..., Remote], reply: httpx.Response
) -> None:
    server = remote(reply)

    answer = await server.client.complete(REMOTE, HI)

    assert (answer.content, answer.agent, answer.handoff_chain) == (
        "plain answer",
        "billing",
        ("billing",),
    )
    assert await server.client.chat(REMOTE, HI) == "remote answer"  # chat() gives the text


async def test_retries_can_be_set_per_call(remote: Callable[..., Remote]) -> None:
    server = remote(failing(503), failing(503))

    with pytest.raises(RemoteStatusError):
        await server.client.chat(REMOTE, HI, retries=0)
    assert len(server.requests) == 1
    with pytest.raises(ValueError):
        await server.client.chat(REMOTE, HI, retries=-1)


# --- fallbacks -------------------------------------------------------------------------------


def fallback_network(server: Remote, *fallbacks: str) -> tuple[AgentNetwork, RemoteAgent]:
    network = AgentNetwork("fallbacks")
    network.remote_client = server.client
    primary = network.register_remote(
        "billing", "http://remote.test/agents/billing", api_key="k-primary", fallbacks=fallbacks
    )
    network.register_remote("billing-eu", "http://eu.remote.test/agents/billing", api_key="k-eu")
    return network, primary


async def test_a_failed_primary_falls_back_in_order_with_each_agents_own_key(
    remote: Callable[..., Remote],
) -> None:
    server = remote(failing(500), completion("from the EU"), retries=0)
    _network, primary = fallback_network(server, "billing-eu")

    reply = await server.client.complete(primary, HI, api_key="k-call")

    assert (reply.content, reply.agent, reply.attempts) == ("from the EU", "billing-eu", 2)
    assert [r.url.host for r in server.requests] == ["remote.test", "eu.remote.test"]
    assert [r.headers["Authorization"] for r in server.requests] == [
        "Bearer k-call",  # the call's key is for the agent called, never for its fallbacks
        "Bearer k-eu",
    ]


async def test_an_open_breaker_goes_to_the_fallbacks_at_once(
    remote: Callable[..., Remote],
) -> None:
    server = remote(failing(503), retries=0, failure_threshold=1)
    _network, primary = fallback_network(server, "billing-eu")
    with pytest.raises(RemoteStatusError):
        await server.client.complete(primary, HI, fallbacks=())
    assert server.client.breaker_state(primary) == "open"

    reply = await server.client.complete(primary, HI)

    assert (reply.agent, reply.attempts) == ("billing-eu", 2)
    assert [r.url.host for r in server.requests] == ["remote.test", "eu.remote.test"]


async def test_when_no_fallback_answers_the_primarys_error_says_how_many_were_tried(
    remote: Callable[..., Remote], caplog: pytest.LogCaptureFixture
) -> None:
    server = remote(failing(502), failing(503), retries=0)
    _network, primary = fallback_network(server, "unknown-one", "billing-eu")

    with (
        caplog.at_level(logging.INFO, logger="webagents"),
        pytest.raises(RemoteStatusError) as raised,
    ):
        await server.client.complete(primary, HI)

    assert (raised.value.agent, raised.value.status_code, raised.value.attempts) == (
        "billing",
        502,
        2,
    )
    [skipped] = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped.levelno == logging.WARNING and "'unknown-one'" in skipped.getMessage()


async def test_a_local_fallback_answers_in_process(remote: Callable[..., Remote]) -> None:
    server = remote(httpx.ConnectError("refused"), retries=0)
    network, primary = fallback_network(server, "desk")
    scripted_agent("desk", [text("The desk answers.")], network=network)

    reply = await server.client.complete(primary, HI)

    assert (reply.content, reply.agent, reply.handoff_chain, reply.attempts) == (
        "The desk answers.",
        "desk",
        ("desk",),
        2,
    )
    assert isinstance(reply.via, BaseAgent) and reply.via.name == "desk"


async def test_a_client_of_no_network_skips_fallback_names(
    remote: Callable[..., Remote], caplog: pytest.LogCaptureFixture
) -> None:
    server = remote(failing(500), retries=0)
    lonely = RemoteAgent(name="billing", url="http://remote.test/agents/b", fallbacks=("x",))

    with caplog.at_level(logging.WARNING, logger="webagents"), pytest.raises(RemoteStatusError):
        await server.client.complete(lonely, HI)

    assert any("skipped: not an agent of no network" in r.getMessage() for r in caplog.records)


# --- stream(): leaving early -----------------------------------------------------------------


def events_response(*pieces: str) -> httpx.Response:
    body = "".join(
        "data: "
        + json.dumps({"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})
        + "\n\n"
        for p in pieces
    )
    return httpx.Response(
        200,
        content=(body + "data: [DONE]\n\n").encode(),
        headers={"content-type": "text/event-stream"},
    )


async def test_a_stream_left_early_counts_as_no_failure(remote: Callable[..., Remote]) -> None:
    server = remote(failing(500), events_response("a", "b"), retries=0, failure_threshold=1)
    with pytest.raises(RemoteStatusError):
        await server.chat()
    server.now += 30  # half-open: the next call is the trial

    items = server.client.stream(REMOTE, HI)
    async with contextlib.aclosing(items):
        async for item in items:
            assert item == TextDelta(agent="billing", text="a")
            break  # the caller stops reading: the trial neither failed nor succeeded

    assert server.client.breaker_state(REMOTE) == "half-open"  # the next call may try
    assert await server.chat() == "remote answer"
    assert server.client.breaker_state(REMOTE) == "closed"


# --- against the webagents server, in-process ---------------------------------------------


async def test_complete_and_stream_against_the_served_app_through_asgi_transport() -> None:
    from webagents.server import create_app

    served = AgentNetwork("served")
    scripted_agent("tax", responder=lambda request: text("Deductible."), network=served)
    scripted_agent(
        "finance-expert",
        responder=lambda request: transfer("tax"),
        network=served,
        handoffs=["tax"],
    )
    app = create_app(served)
    client = RemoteClient(transport=httpx.ASGITransport(app=app))
    expert = RemoteAgent(name="expert", url="http://served.test/agents/finance-expert")
    try:
        reply = await client.complete(expert, HI)
        items = [item async for item in client.stream(expert, HI)]
    finally:
        await client.aclose()

    assert (reply.content, reply.agent, reply.handoff_chain) == (
        "Deductible.",
        "expert/tax",
        ("expert", "expert/tax"),
    )
    assert reply.usage.requests == 1 and reply.usage.total_tokens > 0
    streamed = items[-1]
    assert isinstance(streamed, RemoteReply)
    assert (streamed.content, streamed.agent, streamed.handoff_chain) == (
        reply.content,
        reply.agent,
        reply.handoff_chain,
    )
    said = [(i.agent, i.text) for i in items if isinstance(i, TextDelta)]
    assert "".join(t for _, t in said) == "Deductible." and {a for a, _ in said} == {"expert/tax"}


def test_httpx_request_log_hides_only_our_agents_queries() -> None:
    import logging

    from webagents.remote import transport

    ours = httpx.URL("http://127.0.0.1:9/agents/x/chat/completions?token=t-SECRET")
    theirs = httpx.URL("http://example.test/search?q=kept")
    transport._hide_in_request_log(ours)

    def logged(url: httpx.URL) -> str:
        record = logging.LogRecord(
            "httpx", logging.INFO, __file__, 1, 'HTTP Request: %s %s "%s %d %s"',
            ("POST", url, "HTTP/1.1", 200, "OK"), None,
        )  # fmt: skip
        assert all(f.filter(record) for f in logging.getLogger("httpx").filters)
        return record.getMessage()

    assert "t-SECRET" not in logged(ours)
    assert "http://127.0.0.1:9/agents/x/chat/completions" in logged(ours)
    assert "q=kept" in logged(theirs)
