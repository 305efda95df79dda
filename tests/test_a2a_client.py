"""A2A agents as peers (``register_remote(..., protocol="a2a")``), tested against an A2A agent
built with the ``a2a-sdk`` alone (``tests/a2a_peer_app.py``) and against a webagents server's
own A2A side, both under uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.a2a_peer_app import PeerExecutor, peer_app
from webagents import AgentNetwork, BaseAgent
from webagents.a2a.calls import RemoteTaskError, context_id
from webagents.agents.network import RemoteAgent
from webagents.agents.skills import NLISkill
from webagents.errors import AgentConfigError
from webagents.events import HandoffFailed, TextDelta
from webagents.remote import (
    CircuitOpenError,
    RemoteClient,
    RemoteTimeoutError,
    RemoteUnreachableError,
)
from webagents.server import create_app
from webagents.sessions import InMemorySessionStore
from webagents.teams import TeamBuilder, TeamFileError, load_team
from webagents.testing import ScriptedModel, text, transfer
from webagents.testing.served import ServedApp


@pytest.fixture
async def peer() -> AsyncIterator[tuple[ServedApp, PeerExecutor]]:
    app, executor = peer_app()
    async with ServedApp(app) as served:
        yield served, executor


def front(url: str, *after: str, **options: object) -> tuple[AgentNetwork, BaseAgent]:
    """A desk whose model hands the conversation to the A2A peer, then answers ``after``:
    asked once more, its script has nothing left and the run fails."""
    network = AgentNetwork("front", sessions=InMemorySessionStore())
    network.register_remote("peer", url, protocol="a2a", **options)  # type: ignore[arg-type]
    desk = BaseAgent(
        "desk",
        model=ScriptedModel([transfer("peer"), *map(text, after)]),
        handoffs=["peer"],
        network=network,
    )
    return network, desk


async def test_a_handoff_reaches_the_peer_and_the_next_turn_goes_to_it_as_owner(
    peer: tuple[ServedApp, PeerExecutor],
) -> None:
    served, executor = peer
    network, desk = front(served.url)
    async with network:
        first = await desk.run("Hello peer", session_id="s-1")
        second = await desk.run("Again", session_id="s-1")
        elsewhere = await network.remote_client.complete(
            network.resolve("peer"),  # type: ignore[arg-type]
            [{"role": "user", "content": "No session"}],
        )

    assert (first.content, first.agent, first.handoff_chain) == (
        "Peer #1: Hello peer",
        "peer",
        ["desk", "peer"],
    )
    # The desk's model (one scripted answer) was not asked again: the owner answered, in the
    # same A2A context, which it counts.
    assert (second.content, second.agent) == ("Peer #2: Again", "peer")
    assert executor.contexts[0] == executor.contexts[1] != executor.contexts[2]
    assert elsewhere.content == "Peer #1: No session"
    # The earlier turns travel as data beside the new text.
    assert executor.seen_data == [
        {
            "webagents": {
                "history": [
                    {"role": "user", "content": "Hello peer"},
                    {"role": "assistant", "content": "Peer #1: Hello peer"},
                ]
            }
        }
    ]


async def test_a_streamed_run_restreams_the_peers_artifact_chunks(
    peer: tuple[ServedApp, PeerExecutor],
) -> None:
    served, _ = peer
    network, desk = front(served.url)
    async with network:
        events = [event async for event in desk.run_streaming("Stream it", session_id="s-2")]

    pieces = [event for event in events if isinstance(event, TextDelta)]
    assert {piece.agent for piece in pieces} == {"peer"}
    assert [piece.text for piece in pieces] == ["Peer", " #1:", " Stream", " it"]


async def test_a_peer_whose_card_does_not_stream_answers_a_streamed_run_in_one_piece() -> None:
    app, _ = peer_app(streaming=False, reply_as_message=True)
    async with ServedApp(app) as served:
        network, desk = front(f"{served.url}/.well-known/agent-card.json")  # the card's URL
        async with network:
            events = [event async for event in desk.run_streaming("Hi")]
        assert network.resolve("peer").url == served.url  # type: ignore[union-attr]

    said = [event.text for event in events if isinstance(event, TextDelta)]
    assert said == ["Peer #1: Hi"]


async def test_nli_asks_the_peer_by_name(peer: tuple[ServedApp, PeerExecutor]) -> None:
    served, _ = peer
    network = AgentNetwork("asking")
    network.register_remote("peer", served.url, protocol="a2a")
    nli = NLISkill()
    BaseAgent("asker", model=ScriptedModel([]), skills={"nli": nli}, network=network)
    async with network:
        outcome = await nli.query_agent("peer", "What time is it?")

    assert (outcome["success"], outcome["response"]) == (True, "Peer #1: What time is it?")


async def test_a_peer_that_is_down_gives_way_to_its_fallback_without_showing_secrets() -> None:
    url = "http://user:hunter2@127.0.0.1:9/a2a?token=s3cret"  # nobody listens on port 9
    network, desk = front(url, fallbacks=["backup"])
    network.remote_client = RemoteClient(retries=1, backoff=0)
    BaseAgent("backup", model=ScriptedModel([text("The backup answers.")]), network=network)
    async with network:
        result = await desk.run("Hello", session_id="s-3")
        alone, _ = front(url, "The desk answers itself.")
        alone.remote_client = RemoteClient(retries=0)
        lonely = alone.get("desk")
        assert isinstance(lonely, BaseAgent)
        events = [event async for event in lonely.run_streaming("Hello")]

    assert (result.content, result.agent) == ("The backup answers.", "backup")
    failed = [event for event in events if isinstance(event, HandoffFailed)]
    assert len(failed) == 1 and "unreachable" in failed[0].error
    assert "hunter2" not in failed[0].error and "s3cret" not in failed[0].error
    assert "127.0.0.1:9/a2a" in failed[0].error


async def test_the_breaker_opens_on_a_peer_that_keeps_failing() -> None:
    network = AgentNetwork("breaking")
    remote = network.register_remote("peer", "http://127.0.0.1:9", protocol="a2a")
    network.remote_client = RemoteClient(retries=0, failure_threshold=1, cool_down=60)
    messages = [{"role": "user", "content": "Hi"}]
    async with network:
        with pytest.raises(RemoteUnreachableError):
            await network.remote_client.complete(remote, messages)
        with pytest.raises(CircuitOpenError):
            await network.remote_client.complete(remote, messages)


async def test_a_failed_task_is_an_error_naming_its_state_not_the_peers_text() -> None:
    app, _ = peer_app(fail=True)
    async with ServedApp(app) as served:
        network = AgentNetwork("failing")
        remote = network.register_remote("peer", served.url, protocol="a2a")
        async with network:
            with pytest.raises(RemoteTaskError) as failed:
                await network.remote_client.complete(remote, [{"role": "user", "content": "Hi"}])

    assert "TASK_STATE_FAILED" in str(failed.value)
    assert "trouble" not in str(failed.value)


async def test_a_webagents_server_is_an_a2a_peer_with_its_handoffs_named_here() -> None:
    experts = AgentNetwork("experts", sessions=InMemorySessionStore())
    BaseAgent(
        "tax", model=ScriptedModel(responder=lambda request: text("Deductible.")), network=experts
    )
    BaseAgent(
        "finance",
        model=ScriptedModel(responder=lambda request: transfer("tax")),
        handoffs=["tax"],
        network=experts,
    )
    async with ServedApp(create_app(experts, api_keys=["k"])) as server:
        network, desk = front(f"{server.url}/agents/finance", api_key="k")
        async with network:
            result = await desk.run("Can I deduct my desk?", session_id="s-4")

    assert (result.content, result.agent) == ("Deductible.", "peer/tax")
    assert result.handoff_chain == ["desk", "peer", "peer/tax"]


def test_the_context_follows_the_session_and_the_peer() -> None:
    network = AgentNetwork("ids")
    one = network.register_remote("one", "http://127.0.0.1:1", protocol="a2a")
    two = network.register_remote("two", "http://127.0.0.1:2", protocol="a2a")

    assert context_id("desk\ns-1", one) == context_id("desk\ns-1", one)
    assert len({context_id("desk\ns-1", one), context_id("desk\ns-2", one)}) == 2
    assert context_id("desk\ns-1", one) != context_id("desk\ns-1", two)
    assert context_id(None, one) is None
    assert "s-1" not in str(context_id("desk\ns-1", one))


def test_an_unknown_protocol_is_refused_naming_the_choices() -> None:
    with pytest.raises(AgentConfigError, match="protocol must be one of 'chat', 'a2a'"):
        AgentNetwork("bad").register_remote("peer", "http://127.0.0.1:1", protocol="grpc")


async def test_a_team_file_names_an_a2a_agent_with_protocol_a2a(
    peer: tuple[ServedApp, PeerExecutor], tmp_path: Path
) -> None:
    served, executor = peer
    path = tmp_path / "team.yaml"
    path.write_text(
        "name: Desk Team\n"
        "agents:\n"
        "  - name: FrontDesk\n"
        "    model: openai/gpt-4o-mini\n"
        "    can_transfer_to: [Peer]\n"
        "  - name: Peer\n"
        "    description: An agent of another framework\n"
        f"    url: {served.url}/.well-known/agent-card.json\n"
        "    protocol: a2a\n"
    )
    team = load_team(path)
    desk = team.start
    desk.model = ScriptedModel([transfer("Peer")])
    peer_agent = team.agents["Peer"]
    async with team.network:
        result = await desk.run("Hello from the team", session_id="t-1")
        again = await desk.run("Still there?", session_id="t-1")

    assert isinstance(peer_agent, RemoteAgent) and peer_agent.protocol == "a2a"
    assert (result.content, again.content) == (
        "Peer #1: Hello from the team",
        "Peer #2: Still there?",
    )
    assert again.agent == "Peer" and len(set(executor.contexts)) == 1


def test_a_local_agent_with_a_protocol_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(
        "name: T\nagents:\n  - name: Desk\n    model: openai/gpt-4o-mini\n    protocol: a2a\n"
    )
    with pytest.raises(TeamFileError, match="`protocol` is for remote agents"):
        load_team(path)


async def test_a_team_builder_member_speaks_a2a(peer: tuple[ServedApp, PeerExecutor]) -> None:
    served, _ = peer
    builder = TeamBuilder("builders", sessions=InMemorySessionStore())
    desk = BaseAgent("desk", model=ScriptedModel([transfer("peer")]), network=builder.network)
    team = (
        builder.start_with(desk)
        .remote("peer", served.url, protocol="a2a")
        .handoff(desk, "peer")
        .build()
    )
    async with team.network:
        result = await team.start.run("Hello builder")

    assert (result.content, result.agent) == ("Peer #1: Hello builder", "peer")


async def test_a_peer_that_streams_its_task_whole_is_read_to_its_end() -> None:
    app, _ = peer_app(whole_task=True)
    async with ServedApp(app) as served:
        network, desk = front(served.url)
        async with network:
            events = [event async for event in desk.run_streaming("All at once")]

    said = [event.text for event in events if isinstance(event, TextDelta)]
    assert said == ["Peer #1: All at once"]


async def test_a_peer_that_never_answers_is_cut_off_by_the_deadline(
    peer: tuple[ServedApp, PeerExecutor],
) -> None:
    served, executor = peer
    network = AgentNetwork("waiting")
    remote = network.register_remote("peer", served.url, protocol="a2a", timeout=0.5)
    try:
        async with network:
            with pytest.raises(RemoteTimeoutError, match=r"timed out after 0.5s"):
                await network.remote_client.complete(remote, [{"role": "user", "content": "hang"}])
    finally:
        executor.release.set()  # the peer's request ends, so the server stops at once
