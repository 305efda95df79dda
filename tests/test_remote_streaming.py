"""``RemoteClient.stream``: a remote agent's answer as it is produced, from small Starlette
apps that follow the wire contract (SSE ``chat.completion.chunk``s with the ``webagents``
extension), served by real uvicorn on 127.0.0.1 (``ServedApp``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from webagents.agents import AgentNetwork
from webagents.agents.network import RemoteAgent
from webagents.events import (
    AgentCompleted,
    AgentStarted,
    HandoffComplete,
    HandoffTransfer,
    RunEvent,
    TextDelta,
    TextWithdrawn,
)
from webagents.remote import (
    RemoteBadResponseError,
    RemoteClient,
    RemoteReply,
    RemoteStatusError,
    RemoteStreamError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)
from webagents.remote.reply import RemoteNames, event_from_wire
from webagents.testing import FakeOpenAIServer, scripted_agent, text
from webagents.testing.served import ServedApp

HI = [{"role": "user", "content": "Can I deduct my desk?"}]
Item = RunEvent | RemoteReply
Play = Callable[[Request], Response]


def sse(*chunks: dict[str, Any] | str) -> bytes:
    return b"".join(
        f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n".encode() for c in chunks
    )


def say(agent: str, piece: str) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        "webagents": {"agent": agent},
    }


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "finish_reason": None}],
        "webagents": {"event": {"type": kind, **fields}},
    }


def last(agent: str, chain: list[str]) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "webagents": {"agent": agent, "handoff_chain": chain},
    }


USAGE = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}
# finance-expert hands the question to tax on its server, and tax answers.
EXPERT_STREAM = (
    event("agent.started", agent="finance-expert"),
    event(
        "handoff.transfer",
        agent="finance-expert",
        from_agent="finance-expert",
        to_agent="tax",
        reason="a tax question",
        trigger="llm",
    ),
    event("agent.started", agent="tax"),
    say("tax", "Yes, "),
    say("tax", "if used for work."),
    event("agent.completed", agent="tax", content="Yes, if used for work."),
    event("handoff.complete", agent="tax", chain=["finance-expert", "tax"], final_agent="tax"),
    last("tax", ["finance-expert", "tax"]),
    USAGE,
    "[DONE]",
)


def streamed(body: bytes, status: int = 200) -> Response:
    return Response(body, status, media_type="text/event-stream")


class Cut:
    """An ASGI response that sends ``body`` and then ends without finishing the response:
    uvicorn drops the connection, as a crashed or killed server would."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})


class Expert:
    """A remote webagents server for one test: each request to
    ``/agents/{name}/chat/completions`` gets the next play; requests are recorded."""

    def __init__(self, *plays: Play | Response | Cut) -> None:
        self.plays = list(plays)
        self.requests: list[dict[str, Any]] = []

        async def chat(request: Request) -> Any:
            body = await request.body()
            self.requests.append({"headers": dict(request.headers), "json": json.loads(body)})
            play = self.plays.pop(0)
            return play if isinstance(play, Response | Cut) else play(request)

        app = Starlette(routes=[Route("/agents/{name}/chat/completions", chat, methods=["POST"])])
        self.served = ServedApp(app)

    async def __aenter__(self) -> Expert:
        await self.served.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.served.__aexit__(None, None, None)

    def agent(self, name: str = "finance-expert", **settings: Any) -> RemoteAgent:
        return RemoteAgent(name=name, url=f"{self.served.url}/agents/{name}", **settings)


@pytest.fixture
async def client() -> AsyncIterator[RemoteClient]:
    made = RemoteClient(random=lambda: 0.0)  # no waiting between retries
    yield made
    await made.aclose()


async def collect(
    items: AsyncIterator[Item],
) -> tuple[list[Item], BaseException | None]:
    """Every item until the stream ends, and the error it ended with (None when it ended
    well)."""
    seen: list[Item] = []
    try:
        async with contextlib.aclosing(items):  # type: ignore[type-var]
            async for item in items:
                seen.append(item)
    except Exception as error:
        return seen, error
    return seen, None


# --- a good stream ---------------------------------------------------------------------------


async def test_text_and_events_come_named_by_local_agent_names_then_the_reply(
    client: RemoteClient,
) -> None:
    async with Expert(streamed(sse(*EXPERT_STREAM))) as expert:
        items, failure = await collect(client.stream(expert.agent(), HI))

    assert failure is None
    *events, reply = items
    assert events == [
        AgentStarted(agent="finance-expert"),
        HandoffTransfer(
            agent="finance-expert",
            from_agent="finance-expert",
            to_agent="finance-expert/tax",
            reason="a tax question",
            trigger="llm",
        ),
        AgentStarted(agent="finance-expert/tax"),
        TextDelta(agent="finance-expert/tax", text="Yes, "),
        TextDelta(agent="finance-expert/tax", text="if used for work."),
        AgentCompleted(agent="finance-expert/tax", content="Yes, if used for work."),
        HandoffComplete(
            agent="finance-expert/tax",
            chain=("finance-expert", "finance-expert/tax"),
            final_agent="finance-expert/tax",
        ),
    ]
    assert isinstance(reply, RemoteReply)
    assert (reply.content, reply.agent, reply.handoff_chain, reply.attempts) == (
        "Yes, if used for work.",
        "finance-expert/tax",
        ("finance-expert", "finance-expert/tax"),
        1,
    )
    assert reply.usage.total_tokens == 10
    [sent] = expert.requests
    assert sent["json"]["stream"] is True and sent["json"]["model"] == "finance-expert"
    assert sent["json"]["messages"] == HI


async def test_withdrawn_text_is_left_out_of_the_reply(client: RemoteClient) -> None:
    stream = sse(
        event("agent.started", agent="finance-expert"),
        say("finance-expert", "Let me think... "),
        event("text.withdrawn", agent="finance-expert", reason="replaced", replacement="Yes."),
        last("finance-expert", ["finance-expert"]),
        "[DONE]",
    )
    async with Expert(streamed(stream)) as expert:
        items, failure = await collect(client.stream(expert.agent(), HI))

    assert failure is None
    assert TextWithdrawn(agent="finance-expert", reason="replaced", replacement="Yes.") in items
    reply = items[-1]
    assert isinstance(reply, RemoteReply) and reply.content == "Yes."


async def test_a_plain_openai_compatible_stream_is_named_by_the_registered_name(
    client: RemoteClient,
) -> None:
    with FakeOpenAIServer([text("Rebalance once a year.")]) as plain:
        remote = RemoteAgent(name="advisor", url=plain.url)
        items, failure = await collect(client.stream(remote, HI))

    assert failure is None
    *deltas, reply = items
    assert {d.agent for d in deltas if isinstance(d, TextDelta)} == {"advisor"}
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == "Rebalance once a year."
    assert isinstance(reply, RemoteReply)
    assert (reply.content, reply.agent, reply.handoff_chain) == (
        "Rebalance once a year.",
        "advisor",
        ("advisor",),
    )


async def test_a_server_answering_json_to_a_stream_request_still_answers(
    client: RemoteClient,
) -> None:
    completion = {
        "choices": [{"message": {"role": "assistant", "content": "In one piece."}}],
        "webagents": {"agent": "finance-expert", "handoff_chain": ["finance-expert"]},
    }
    async with Expert(JSONResponse(completion)) as expert:
        items, failure = await collect(client.stream(expert.agent(), HI))

    assert failure is None
    assert items[0] == TextDelta(agent="finance-expert", text="In one piece.")
    assert isinstance(items[1], RemoteReply) and items[1].content == "In one piece."


async def test_unknown_event_kinds_are_skipped(client: RemoteClient) -> None:
    stream = sse(
        event("tool.call", agent="finance-expert", call_id="c1", name="x", arguments="{}"),
        event("brand.new.kind", agent="finance-expert"),
        event("agent.started", agent={"not": "a name"}),
        {"choices": [], "webagents": {"event": {"type": ["handoff.transfer"]}}},
        {"choices": [], "webagents": {"event": {"type": {"a": 1}}}},
        say("finance-expert", "ok"),
        last("finance-expert", ["finance-expert"]),
        "[DONE]",
    )
    async with Expert(streamed(stream)) as expert:
        items, failure = await collect(client.stream(expert.agent(), HI))

    assert failure is None
    assert items[0] == TextDelta(agent="finance-expert", text="ok")
    assert len(items) == 2


# --- retries happen before the first byte only -------------------------------------------


async def test_a_503_before_the_stream_is_retried(client: RemoteClient) -> None:
    busy = JSONResponse({"error": {"message": "busy"}}, 503)
    async with Expert(busy, streamed(sse(*EXPERT_STREAM))) as expert:
        items, failure = await collect(client.stream(expert.agent(), HI))

    assert failure is None and len(expert.requests) == 2
    assert isinstance(items[-1], RemoteReply)


async def test_a_refusal_is_a_status_error_and_not_retried(client: RemoteClient) -> None:
    refused = JSONResponse({"error": {"message": "bad key sk-123"}}, 401)
    async with Expert(refused) as expert:
        items, failure = await collect(client.stream(expert.agent(), HI))

    assert items == [] and len(expert.requests) == 1
    assert isinstance(failure, RemoteStatusError) and failure.status_code == 401
    assert "sk-123" not in str(failure)


async def test_a_stream_cut_mid_way_fails_after_what_it_yielded_and_is_not_retried(
    client: RemoteClient,
) -> None:
    started = sse(event("agent.started", agent="finance-expert"), say("finance-expert", "Yes"))
    async with Expert(Cut(started), streamed(sse(*EXPERT_STREAM))) as expert:
        remote = expert.agent()
        items, failure = await collect(client.stream(remote, HI))

    assert items == [
        AgentStarted(agent="finance-expert"),
        TextDelta(agent="finance-expert", text="Yes"),
    ]
    assert isinstance(failure, RemoteStreamError) and isinstance(failure, RemoteBadResponseError)
    assert str(failure).startswith(f"agent 'finance-expert' at {remote.url} cut its stream")
    assert len(expert.requests) == 1  # the remote may have acted on the turn


async def test_a_stream_that_ends_without_done_is_cut(client: RemoteClient) -> None:
    async with Expert(streamed(sse(say("finance-expert", "Yes")))) as expert:
        remote = expert.agent()
        items, failure = await collect(client.stream(remote, HI))

    assert items == [TextDelta(agent="finance-expert", text="Yes")]
    assert str(failure) == (
        f"agent 'finance-expert' at {remote.url} cut its stream mid-answer (no [DONE])"
    )


async def test_an_error_chunk_is_a_stream_error_without_the_remote_text(
    client: RemoteClient,
) -> None:
    failing = sse(
        say("finance-expert", "Let me"),
        {"error": {"message": "db password hunter2", "type": "server_error", "code": None}},
    )
    async with Expert(streamed(failing)) as expert:
        remote = expert.agent()
        items, failure = await collect(client.stream(remote, HI))

    assert items == [TextDelta(agent="finance-expert", text="Let me")]
    assert isinstance(failure, RemoteStreamError)
    assert str(failure) == (
        f"agent 'finance-expert' at {remote.url} failed mid-stream (server_error)"
    )


@pytest.mark.parametrize(
    "reply",
    [
        Response("<html>Sign in</html>", media_type="text/html"),
        Response(sse("{not json"), media_type="text/event-stream"),
    ],
)
async def test_what_is_no_stream_is_a_bad_response(client: RemoteClient, reply: Response) -> None:
    async with Expert(reply) as expert:
        items, failure = await collect(client.stream(expert.agent(), HI))

    assert items == [] and isinstance(failure, RemoteBadResponseError)
    assert "hunter" not in str(failure)


async def test_the_deadline_covers_the_whole_stream(client: RemoteClient) -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield sse(say("finance-expert", "Yes"))
        await _forever()  # the server stops sending, but keeps the connection open

    def play(request: Request) -> Response:
        return StreamingResponse(stalls(), media_type="text/event-stream")

    async with Expert(play) as expert:
        remote = expert.agent(timeout=2.0)
        items, failure = await collect(client.stream(remote, HI))

    # The first chunk is sent at once; on a very busy machine even it may miss the deadline.
    assert items in ([TextDelta(agent="finance-expert", text="Yes")], [])
    assert isinstance(failure, RemoteTimeoutError) and failure.timed_out
    assert str(failure) == f"agent 'finance-expert' at {remote.url} timed out after 2s"
    assert len(expert.requests) == 1  # a timed-out stream is not retried


async def _forever() -> None:
    await asyncio.Event().wait()


# --- fallbacks --------------------------------------------------------------------------------


async def test_a_primary_down_before_the_stream_falls_back_in_order() -> None:
    network = AgentNetwork("streams")
    network.remote_client = RemoteClient(retries=0)
    down = network.register_remote(
        "finance-expert", "http://127.0.0.1:9/agents/finance-expert", fallbacks=["nobody", "backup"]
    )
    async with Expert(streamed(sse(say("backup", "From the backup."), "[DONE]"))) as expert:
        network.register_remote("backup", f"{expert.served.url}/agents/backup")
        items, failure = await collect(network.remote_client.stream(down, HI))
        await network.aclose()

    assert failure is None
    assert items[0] == TextDelta(agent="backup", text="From the backup.")
    reply = items[-1]
    assert isinstance(reply, RemoteReply)
    assert (reply.agent, reply.content, reply.attempts) == ("backup", "From the backup.", 2)


async def test_a_local_fallback_answers_in_process() -> None:
    network = AgentNetwork("streams")
    network.remote_client = RemoteClient(retries=0)
    down = network.register_remote(
        "finance-expert", "http://127.0.0.1:9/agents/finance-expert", fallbacks=["desk"]
    )
    scripted_agent("desk", [text("The desk answers.")], network=network)

    items, failure = await collect(network.remote_client.stream(down, HI))
    await network.aclose()

    assert failure is None
    assert items[0] == TextDelta(agent="desk", text="The desk answers.")
    assert isinstance(items[-1], RemoteReply) and items[-1].attempts == 2


async def test_when_every_fallback_fails_the_primary_error_is_raised() -> None:
    network = AgentNetwork("streams")
    network.remote_client = RemoteClient(retries=0)
    down = network.register_remote(
        "finance-expert", "http://127.0.0.1:9/agents/finance-expert", fallbacks=["also-down"]
    )
    network.register_remote("also-down", "http://127.0.0.1:9/agents/also-down")

    items, failure = await collect(network.remote_client.stream(down, HI))
    await network.aclose()

    assert items == []
    assert isinstance(failure, RemoteUnreachableError) and failure.agent == "finance-expert"
    assert failure.attempts == 2


# --- anything a server may put in an event ---------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_KINDS = ("agent.started", "text.withdrawn", "handoff.transfer", "handoff.failed")
_KINDS += ("handoff.complete", "agent.completed")
_FIELDS = ("agent", "from_agent", "to_agent", "final_agent", "reason", "trigger", "error")
_events = st.fixed_dictionaries(
    {"type": st.sampled_from(_KINDS) | _json},
    optional={
        name: _json | st.text(max_size=8) for name in (*_FIELDS, "content", "chain", "replacement")
    },
)


@settings(max_examples=300, deadline=None)
@given(data=_events | _json)
def test_any_event_data_is_an_event_or_skipped(data: Any) -> None:
    event = event_from_wire(data, RemoteNames(RemoteAgent(name="x", url="http://h/agents/x")))

    assert event is None or isinstance(event, RunEvent.__args__)  # type: ignore[attr-defined]


def test_a_handoff_event_with_an_unhashable_trigger_is_skipped() -> None:
    names = RemoteNames(RemoteAgent(name="x", url="http://h/agents/x"))
    data = {"type": "handoff.transfer", "agent": "x", "from_agent": "x", "to_agent": "y"}

    assert event_from_wire({**data, "reason": "r", "trigger": ["llm"]}, names) is None
    assert event_from_wire({**data, "reason": "r", "trigger": "llm"}, names) == HandoffTransfer(
        agent="x", from_agent="x", to_agent="x/y", reason="r", trigger="llm"
    )
