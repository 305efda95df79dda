"""Agents in another process, reached over HTTP in the OpenAI format (here a real HTTP server
that speaks it: FakeOpenAIServer stands in for a remote webagents server)."""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from webagents import BaseAgent, Context, Skill, hook
from webagents.agents import AgentNetwork, register_remote
from webagents.agents.skills import NLISkill
from webagents.agents.skills.nli import RemoteAgentError, query_remote
from webagents.errors import AgentConfigError
from webagents.events import (
    AgentCompleted,
    AgentStarted,
    HandoffComplete,
    HandoffFailed,
    HandoffTransfer,
    TextDelta,
    TextWithdrawn,
)
from webagents.server import create_app
from webagents.sessions import InMemorySessionStore, SessionKey
from webagents.testing import (
    FakeOpenAIServer,
    ScriptedModel,
    complete,
    error,
    scripted_agent,
    text,
    transfer,
)
from webagents.testing.served import ServedApp


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nobody listens there any more


async def test_handoff_to_a_remote_agent_carries_the_conversation_and_context() -> None:
    name = "remote-expert"
    with FakeOpenAIServer([text("Remote expert here: rebalance yearly.")]) as remote:
        register_remote(name, remote.url, description="Investment advice")
        desk, _ = scripted_agent("desk", [transfer(name, "investments")], handoffs=[name])

        result = await desk.run("How often should I rebalance?", user_id="u1")

    assert result.content == "Remote expert here: rebalance yearly."
    assert result.handoff_chain == [desk.name, name]
    [record] = result.handoffs
    assert (record.success, record.trigger, record.reason) == (True, "llm", "investments")
    sent = remote.requests[0]
    assert sent["model"] == name
    assert sent["messages"][0]["content"] == "How often should I rebalance?"
    assert sent["messages"][-1]["role"] == "tool"  # the transfer call, answered


async def test_a_remote_agent_that_is_down_is_a_failed_handoff_and_the_source_answers() -> None:
    name = "remote-down"
    register_remote(name, closed_port_url())
    desk, model = scripted_agent(
        "desk", [transfer(name), text("I'll help you myself.")], handoffs=[name]
    )

    result = await desk.run("Question for the expert")

    assert (result.content, result.agent) == ("I'll help you myself.", desk.name)
    [failed] = [e for e in result.events if isinstance(e, HandoffFailed)]
    assert "unreachable" in failed.error
    assert "failed" in model.requests[1]["messages"][-1]["content"]


async def test_nli_queries_remote_agents_and_falls_back() -> None:
    primary, backup = "remote-primary", "remote-backup"
    register_remote(primary, closed_port_url())
    with FakeOpenAIServer([text("backup answer")]) as server:
        register_remote(backup, server.url)
        nli = NLISkill({"fallbacks": {primary: [backup]}, "timeout": 5})

        outcome = await nli.query_agent(primary, "hello?")

    assert outcome["success"] is True
    assert (outcome["response"], outcome["agent"], outcome["attempts"]) == (
        "backup answer",
        backup,
        2,
    )


async def test_a_remote_agent_that_took_over_answers_the_next_turns_of_the_session() -> None:
    name, session = "remote-owner", f"s-{uuid.uuid4().hex}"  # the session store is shared
    with FakeOpenAIServer(
        [text("Remote: first answer."), text("Remote: second answer.")]
    ) as remote:
        register_remote(name, remote.url)
        desk, desk_model = scripted_agent(
            "desk", [transfer(name), text("Desk answers again.")], handoffs=[name]
        )

        first = await desk.run("First question", session_id=session)
        second = await desk.run("Follow-up", session_id=session)

        assert (first.agent, second.agent) == (name, name)
        assert second.content == "Remote: second answer."
        assert second.handoffs == [] and second.handoff_chain == [name]
        follow_up = remote.requests[1]["messages"]
        assert [m["role"] for m in follow_up][-3:] == ["tool", "assistant", "user"]
        assert follow_up[-2]["content"] == "Remote: first answer."
        assert len(desk_model.requests) == 1  # the desk was not asked on the second turn

    # The remote owner is gone: the entry agent takes the conversation back and answers.
    third = await desk.run("Anyone there?", session_id=session)

    assert (third.agent, third.content) == (desk.name, "Desk answers again.")
    [failed] = [e for e in third.events if isinstance(e, HandoffFailed)]
    assert (failed.from_agent, failed.to_agent, failed.reason) == (desk.name, name, "session owner")
    stored = await desk.sessions.read(SessionKey(desk.name, session))
    assert stored is not None and stored.owner == desk.name


async def test_a_remote_owner_registered_in_an_explicit_network_keeps_the_session() -> None:
    net = AgentNetwork("finance-team", sessions=InMemorySessionStore())
    with FakeOpenAIServer([text("Remote: first."), text("Remote: second.")]) as remote:
        net.register_remote("advisor", remote.url)
        desk, desk_model = scripted_agent(
            "desk", [transfer("advisor")], network=net, handoffs=["advisor"]
        )

        first = await desk.run("First question", session_id="s-net")
        second = await desk.run("Follow-up", session_id="s-net")

    assert (first.agent, second.agent, second.content) == ("advisor", "advisor", "Remote: second.")
    assert len(desk_model.requests) == 1
    stored = await desk.sessions.read(desk.session_key("s-net"))
    assert stored is not None and stored.owner == "advisor"  # its name in the desk's network


async def test_remote_failures_show_the_url_without_credentials_or_query() -> None:
    name = "remote-secret"
    closed = closed_port_url()
    remote = register_remote(name, closed.replace("http://", "http://ops:pw-42@") + "?key=q-99")
    desk, model = scripted_agent(
        "desk", [transfer(name), text("I'll help you myself.")], handoffs=[name]
    )

    result = await desk.run("Question for the expert")
    with pytest.raises(RemoteAgentError) as raised:
        await query_remote(remote, [{"role": "user", "content": "hi"}])

    [failed] = [e for e in result.events if isinstance(e, HandoffFailed)]
    told = model.requests[1]["messages"][-1]["content"]
    for text_shown in (failed.error, told, str(raised.value)):
        assert "pw-42" not in text_shown and "q-99" not in text_shown
    assert str(raised.value) == f"agent '{name}' at {closed} is unreachable (ConnectError)"
    assert (raised.value.agent, raised.value.url, raised.value.status_code) == (name, closed, None)


async def test_a_remote_answering_an_error_status_is_named_without_its_body() -> None:
    name = "remote-503"
    # 503 is retried (twice by default): the remote stays unavailable on every attempt.
    with FakeOpenAIServer([error(503, "internal: db password SECRET-BODY")] * 3) as server:
        remote = register_remote(name, server.url)
        with pytest.raises(RemoteAgentError) as raised:
            await query_remote(remote, [{"role": "user", "content": "hi"}])

    assert str(raised.value) == f"agent '{name}' at {remote.url} is unavailable: HTTP 503"
    assert raised.value.status_code == 503


# --- remote handoffs over the webagents server, and over the stream -------------------------

EXPERT_ANSWER = "Yes, if you use it only for work."


@pytest.fixture
def expert_server() -> Iterator[str]:
    """The real webagents server with ``finance-expert``, which hands tax questions to its
    own ``tax`` agent."""
    served = AgentNetwork("expert-server")
    scripted_agent("tax", responder=lambda request: text(EXPERT_ANSWER), network=served)
    scripted_agent(
        "finance-expert",
        responder=lambda request: transfer("tax", "a tax question"),
        network=served,
        handoffs=["tax"],
    )
    with ServedApp(create_app(served)) as server:
        yield f"{server.url}/agents/finance-expert"


def desk_for(name: str, *replies: Any) -> tuple[BaseAgent, ScriptedModel]:
    return scripted_agent("desk", [transfer(name), *replies], handoffs=[name])


async def test_the_remote_sides_handoff_chain_joins_the_local_one(expert_server: str) -> None:
    register_remote("finance-expert", expert_server)
    desk, _ = desk_for("finance-expert")

    result = await desk.run("Can I deduct my desk?")

    assert result.content == EXPERT_ANSWER
    assert result.agent == "finance-expert/tax"
    assert result.handoff_chain == ["desk", "finance-expert", "finance-expert/tax"]
    [record] = result.handoffs  # the local record names the local target
    assert (record.to_agent, record.success) == ("finance-expert", True)
    completed = [e for e in result.events if isinstance(e, AgentCompleted)]
    assert completed[-1] == AgentCompleted(agent="finance-expert/tax", content=EXPERT_ANSWER)


async def test_a_streamed_run_restreams_the_remote_text_and_handoffs_named_by_agent(
    expert_server: str,
) -> None:
    register_remote("finance-expert", expert_server)
    desk, _ = desk_for("finance-expert")

    events = [e async for e in desk.run_streaming("Can I deduct my desk?")]

    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert "".join(d.text for d in deltas) == EXPERT_ANSWER
    assert {d.agent for d in deltas} == {"finance-expert/tax"}
    transfers = [(e.from_agent, e.to_agent) for e in events if isinstance(e, HandoffTransfer)]
    assert transfers == [("desk", "finance-expert"), ("finance-expert", "finance-expert/tax")]
    started = [e.agent for e in events if isinstance(e, AgentStarted)]
    assert started == ["desk", "finance-expert", "finance-expert/tax"]
    [complete] = [e for e in events if isinstance(e, HandoffComplete)]
    assert complete.chain == ("desk", "finance-expert", "finance-expert/tax")
    assert complete.final_agent == "finance-expert/tax"
    assert all(e.run_id == events[0].run_id and e.timestamp > 0 for e in events)


async def test_a_remote_owner_keeps_a_streamed_session(expert_server: str) -> None:
    register_remote("finance-expert", expert_server)
    desk, desk_model = desk_for("finance-expert")
    session = f"s-{uuid.uuid4().hex}"

    first = await desk.run("Can I deduct my desk?", session_id=session)
    events = [e async for e in desk.run_streaming("And my chair?", session_id=session)]

    assert first.agent == "finance-expert/tax"
    said = [(e.agent, e.text) for e in events if isinstance(e, TextDelta)]
    assert "".join(t for _, t in said) == EXPERT_ANSWER
    assert {a for a, _ in said} == {"finance-expert/tax"}
    assert len(desk_model.requests) == 1  # the desk was not asked on the second turn
    stored = await desk.sessions.read(desk.session_key(session))
    assert stored is not None and stored.owner == "finance-expert"
    assert [m["content"] for m in stored.messages if m["role"] == "user"] == [
        "Can I deduct my desk?",
        "And my chair?",
    ]


class Cut:
    """An ASGI response that sends ``body`` and ends without finishing: the connection
    drops mid-stream, as when the server process dies."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})


def cutting_server(*replies: Any) -> ServedApp:
    """A remote agent that answers each request with the next reply (a Starlette response
    or a ``Cut``)."""
    queue = list(replies)

    async def chat(request: Request) -> Any:
        await request.body()
        return queue.pop(0)

    routes = [Route("/agents/{name}/chat/completions", chat, methods=["POST"])]
    return ServedApp(Starlette(routes=routes))


def sse_text(agent: str, *pieces: str, done: bool = True) -> bytes:
    chunks = [
        {
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            "webagents": {"agent": agent},
        }
        for piece in pieces
    ]
    lines = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


async def test_a_remote_cut_mid_stream_is_withdrawn_and_the_handoff_fails_like_a_local_one() -> (
    None
):
    seen: list[dict[str, Any]] = []

    class Fallback(Skill):
        @hook("after_handoff")
        def substitute(self, context: Context) -> Context:
            seen.append(dict(context["handoff_result"]))
            context["handoff_result"] = {
                "success": True,
                "response": "The expert is away; here is our FAQ.",
                "agent": "desk",
                "error": None,
            }
            return context

    with cutting_server(Cut(sse_text("finance-expert", "Yes, ", "if", done=False))) as server:
        register_remote("finance-expert", f"{server.url}/agents/finance-expert")
        desk, _ = scripted_agent(
            "desk",
            [transfer("finance-expert")],
            handoffs=["finance-expert"],
            skills={"fallback": Fallback()},
        )
        session = f"s-{uuid.uuid4().hex}"
        events = [e async for e in desk.run_streaming("Can I deduct it?", session_id=session)]

    said = [(e.agent, e.text) for e in events if isinstance(e, TextDelta)]
    assert said == [("finance-expert", "Yes, "), ("finance-expert", "if")]
    withdrawn = [e.agent for e in events if isinstance(e, TextWithdrawn)]
    assert withdrawn == ["finance-expert"]
    [failed] = [e for e in events if isinstance(e, HandoffFailed)]
    assert "cut its stream mid-answer" in failed.error
    assert [r["success"] for r in seen] == [False]  # the after-hook saw the failure
    [done] = [e for e in events if isinstance(e, AgentCompleted)]
    assert (done.agent, done.content) == ("desk", "The expert is away; here is our FAQ.")
    stored = await desk.sessions.read(desk.session_key(session))
    assert stored is not None and stored.owner == "desk"
    assert stored.messages[0] == {"role": "user", "content": "Can I deduct it?"}


async def test_a_remote_owner_failing_mid_stream_never_loses_the_users_message() -> None:
    first = JSONResponse(
        {"choices": [{"message": {"role": "assistant", "content": "Remote: first."}}]}
    )
    with cutting_server(first, Cut(sse_text("finance-expert", "Half an ans", done=False))) as srv:
        register_remote("finance-expert", f"{srv.url}/agents/finance-expert")
        desk, _ = desk_for("finance-expert", text("The desk answers the follow-up."))
        session = f"s-{uuid.uuid4().hex}"
        await desk.run("First question", session_id=session)
        events = [e async for e in desk.run_streaming("Follow-up", session_id=session)]

    assert [e.agent for e in events if isinstance(e, TextWithdrawn)] == ["finance-expert"]
    [failed] = [e for e in events if isinstance(e, HandoffFailed)]
    assert (failed.to_agent, failed.reason) == ("finance-expert", "session owner")
    assert AgentCompleted(agent="desk", content="The desk answers the follow-up.") in events
    stored = await desk.sessions.read(desk.session_key(session))
    assert stored is not None and stored.owner == "desk"
    users = [m["content"] for m in stored.messages if m["role"] == "user"]
    assert users == ["First question", "Follow-up"]
    assert stored.messages[-1] == {
        "role": "assistant",
        "content": "The desk answers the follow-up.",
    }


# --- fallbacks of a remote agent --------------------------------------------------------------


async def test_a_handoff_to_a_remote_that_is_down_goes_to_its_fallback_which_owns_the_session() -> (
    None
):
    with FakeOpenAIServer([text("Backup: first."), text("Backup: second.")]) as backup:
        register_remote("backup", backup.url)
        register_remote("finance-expert", closed_port_url(), fallbacks=["backup"])
        desk, desk_model = desk_for("finance-expert")
        session = f"s-{uuid.uuid4().hex}"

        first = await desk.run("First question", session_id=session)
        second = await desk.run("Follow-up", session_id=session)

    assert (first.content, first.agent, first.handoff_chain) == (
        "Backup: first.",
        "backup",
        ["desk", "backup"],
    )
    [record] = first.handoffs
    assert (record.to_agent, record.success) == ("finance-expert", True)
    assert (second.content, second.agent) == ("Backup: second.", "backup")
    assert len(desk_model.requests) == 1


async def test_a_local_fallback_answers_in_process_and_keeps_the_session() -> None:
    register_remote("finance-expert", closed_port_url(), fallbacks=["in-house"])
    _in_house, in_house_model = scripted_agent(
        "in-house", [text("In-house: first."), text("In-house: second.")]
    )
    desk, desk_model = desk_for("finance-expert")
    session = f"s-{uuid.uuid4().hex}"

    first = await desk.run("First question", session_id=session)
    second = await desk.run("Follow-up", session_id=session)

    assert (first.content, first.agent) == ("In-house: first.", "in-house")
    assert (second.content, second.agent) == ("In-house: second.", "in-house")
    assert len(desk_model.requests) == 1 and len(in_house_model.requests) == 2


async def test_unknown_fallbacks_are_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    register_remote("finance-expert", closed_port_url(), fallbacks=["nobody"])
    desk, _ = desk_for("finance-expert", text("I'll help you myself."))

    with caplog.at_level(logging.WARNING, logger="webagents"):
        result = await desk.run("Question for the expert")

    assert (result.content, result.agent) == ("I'll help you myself.", "desk")
    [warning] = [r for r in caplog.records if "fallback" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert "'finance-expert': fallback 'nobody' skipped" in warning.getMessage()


def test_fallbacks_must_be_a_list_of_names() -> None:
    net = AgentNetwork("checks")
    with pytest.raises(AgentConfigError) as one_name:
        net.register_remote("x", "http://h/agents/x", fallbacks="backup")  # type: ignore[arg-type]
    assert "fallbacks=['backup']" in str(one_name.value)
    remote = net.register_remote("y", "http://h/agents/y", fallbacks=["a", "b"])
    assert remote.fallbacks == ("a", "b")


async def test_a_handoff_carries_the_remote_agents_own_key_and_nli_reaches_the_same_server() -> (
    None
):
    served = AgentNetwork("keyed-server")
    seen_users: list[str | None] = []

    def answer(request: dict[str, Any]) -> Any:
        return text("Keyed answer.")

    class Who(Skill):
        @hook("on_message")
        def who(self, context: Context) -> None:
            seen_users.append(context.peer_user_id)

    scripted_agent("advisor", responder=answer, network=served, skills={"who": Who()})
    with ServedApp(create_app(served, api_keys={"desk-key": "front-desk"})) as server:
        url = f"{server.url}/agents/advisor"
        register_remote("advisor", url, api_key="desk-key", timeout=30)
        register_remote("keyless", url)
        desk, _ = desk_for("advisor")
        refused_desk, _ = scripted_agent(
            "refused-desk", [transfer("keyless"), text("Myself.")], handoffs=["keyless"]
        )

        result = await desk.run("Question")
        refused = await refused_desk.run("Question")
        asked = await NLISkill().query_agent("advisor", "Question")

    assert (result.content, result.agent) == ("Keyed answer.", "advisor")
    assert (refused.content, refused.agent) == ("Myself.", "refused-desk")
    [failed] = [e for e in refused.events if isinstance(e, HandoffFailed)]
    assert failed.error.endswith("refused the request: HTTP 401")
    assert (asked["response"], asked["agent"]) == ("Keyed answer.", "advisor")
    assert seen_users == ["front-desk", "front-desk"]  # the key's user, on the remote side


async def test_a_fallback_that_fails_mid_stream_has_its_text_withdrawn_too() -> None:
    with cutting_server(Cut(sse_text("backup", "Half", done=False))) as server:
        register_remote("backup", f"{server.url}/agents/backup")
        register_remote("finance-expert", closed_port_url(), fallbacks=["backup"])
        desk, _ = desk_for("finance-expert", text("The desk answers."))

        events = [e async for e in desk.run_streaming("Question")]

    said = [(e.agent, e.text) for e in events if isinstance(e, TextDelta)]
    assert said[0] == ("backup", "Half")
    assert "".join(t for a, t in said[1:] if a == "desk") == "The desk answers."
    assert [e.agent for e in events if isinstance(e, TextWithdrawn)] == [
        "finance-expert",
        "backup",
    ]
    [complete] = [e for e in events if isinstance(e, AgentCompleted)]
    assert complete.agent == "desk"


async def test_a_url_target_owns_the_session_with_no_secret_in_the_store() -> None:
    with FakeOpenAIServer([text("Remote: first."), text("Remote: second.")]) as remote:
        address = remote.url
        written = address.replace("http://", "http://ops:pw-42@") + "?token=q-99"
        desk, desk_model = scripted_agent("desk", [transfer("v1")], handoffs=[written])
        session = f"s-{uuid.uuid4().hex}"

        first = await desk.run("First question", session_id=session)
        second = await desk.run("Follow-up", session_id=session)

        assert [r["messages"][-1]["content"] for r in remote.requests] == [
            first.messages[-2]["content"],  # the answered transfer call
            "Follow-up",
        ]
    assert (first.agent, second.agent, second.content) == ("v1", "v1", "Remote: second.")
    assert len(desk_model.requests) == 1
    stored = await desk.sessions.read(desk.session_key(session))
    assert stored is not None and stored.owner == address  # redacted: no user, no query
    assert "pw-42" not in repr(stored) and "q-99" not in repr(stored)


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_remote_agent_that_completes_gives_the_next_turn_back_to_the_entry(
    streamed: bool,
) -> None:
    served = AgentNetwork("refund-server")
    scripted_agent(
        "refunds",
        responder=lambda request: complete("Refund of $12.99 issued."),
        network=served,
        complete_tool=True,
    )
    with ServedApp(create_app(served)) as server:
        register_remote("refunds", f"{server.url}/agents/refunds")
        desk, desk_model = desk_for("refunds", "Welcome back: what else?")
        session = f"s-{uuid.uuid4().hex}"
        if streamed:
            events = [e async for e in desk.run_streaming("Charged twice", session_id=session)]
            said = "".join(e.text for e in events if isinstance(e, TextDelta))
            assert said == "Refund of $12.99 issued."
        else:
            first = await desk.run("Charged twice", session_id=session)
            assert (first.content, first.completed) == ("Refund of $12.99 issued.", True)
        stored = await desk.sessions.read(desk.session_key(session))
        assert stored is not None and stored.owner == "desk"  # not the remote agent
        later = await desk.run("Another thing", session_id=session)
        assert (later.agent, later.content) == ("desk", "Welcome back: what else?")
        assert len(desk_model.requests) == 2
