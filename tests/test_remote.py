"""Agents in another process, reached over HTTP in the OpenAI format (here a real HTTP server
that speaks it: FakeOpenAIServer stands in for a remote webagents server)."""

from __future__ import annotations

import socket
import uuid

import pytest

from webagents.agents import AgentNetwork, register_remote
from webagents.agents.skills import NLISkill
from webagents.agents.skills.nli import RemoteAgentError, query_remote
from webagents.events import HandoffFailed
from webagents.sessions import InMemorySessionStore, SessionKey
from webagents.testing import FakeOpenAIServer, error, scripted_agent, text, transfer


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
