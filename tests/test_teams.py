"""Teams built in Python: TeamBuilder, Team runs and sessions, handoffs added later."""

from __future__ import annotations

import pytest

from webagents import AgentConfigError, AgentNetwork, BaseAgent
from webagents.agents import default_network
from webagents.agents.network import RemoteAgent
from webagents.events import RunEvent
from webagents.sessions.memory import InMemorySessionStore
from webagents.teams import Team, TeamBuilder
from webagents.testing import ScriptedModel, transfer


def tools_offered(model: ScriptedModel, request: int = -1) -> list[str]:
    return [t["function"]["name"] for t in model.requests[request]["tools"] or []]


def tutors(network: AgentNetwork | None = None) -> tuple[BaseAgent, BaseAgent, BaseAgent]:
    triage = BaseAgent(
        "triage", "Route homework questions.", model=ScriptedModel(), network=network
    )
    math = BaseAgent(
        "math", "Math only.", model=ScriptedModel(), description="Math questions", network=network
    )
    history = BaseAgent(
        "history", "History only.", model=ScriptedModel(), description="History", network=network
    )
    return triage, math, history


def script(agent: BaseAgent | object) -> ScriptedModel:
    assert isinstance(agent, BaseAgent) and isinstance(agent.model, ScriptedModel)
    return agent.model


async def test_builder_team_runs_like_its_start_agent(agent_network: AgentNetwork) -> None:
    triage, math, history = tutors()
    team = TeamBuilder("tutors").start_with(triage).handoff(triage, [math, history]).build()
    assert isinstance(team, Team) and team.start is triage
    assert list(team.agents) == ["triage", "math", "history"]
    # The team's own network, never the default one: the agents moved into it.
    assert team.network is not default_network() and team.network.name == "tutors"
    assert math.network is team.network and "math" not in agent_network
    script(triage).add_replies(transfer("math", "a derivative"))
    script(math).add_replies("2x")
    result = await team.run("What is the derivative of x^2?")
    assert (result.content, result.agent, result.handoff_chain) == (
        "2x",
        "math",
        ["triage", "math"],
    )
    assert tools_offered(script(triage)) == ["transfer_to_math", "transfer_to_history"]
    assert tools_offered(script(math)) == []  # one-way unless declared


async def test_both_ways_adds_the_back_edge(agent_network: AgentNetwork) -> None:
    triage, math, history = tutors()
    team = (
        TeamBuilder("tutors")
        .start_with(triage)
        .handoff(triage, [math, history], both_ways=True)
        .build()
    )
    assert team.edges() == [
        ("triage", "math"),
        ("triage", "history"),
        ("math", "triage"),
        ("history", "triage"),
    ]
    script(triage).add_replies(transfer("history"), "History it is, then.")
    script(history).add_replies(transfer("triage", "not history"))
    result = await team.run("Integrate x dx")
    assert result.handoff_chain == ["triage", "history", "triage"]
    assert tools_offered(script(history)) == ["transfer_to_triage"]


async def test_names_stand_for_added_agents_and_bad_names_are_named() -> None:
    network = AgentNetwork("school")
    triage, math, history = tutors(network)
    builder = TeamBuilder("school", sessions=InMemorySessionStore())
    # Agents of another explicit network belong to someone else's team or server.
    with pytest.raises(AgentConfigError, match="belongs to agent network 'school'"):
        builder.start_with(triage)
    triage, math, history = tutors(builder.network)
    builder.start_with(triage).add(math, history)
    builder.handoff("triage", ["math", "history"]).handoff("math", "triage")
    with pytest.raises(AgentConfigError, match=r"no member named 'mahts'; did you mean 'math'"):
        builder.handoff("triage", "mahts")
    assert builder.build().edges() == [
        ("triage", "math"),
        ("triage", "history"),
        ("math", "triage"),
    ]
    other = TeamBuilder("nobody")
    with pytest.raises(AgentConfigError, match=r"call .start_with\(agent\)"):
        other.build()


async def test_agents_built_on_the_builders_network(agent_network: AgentNetwork) -> None:
    builder = TeamBuilder("desk", sessions=InMemorySessionStore())
    triage, math, _ = tutors(builder.network)
    team = builder.start_with(triage).handoff(triage, math).build()
    assert team.network is builder.network and set(team.agents) == {"triage", "math"}


async def test_a_session_continues_with_the_specialist(agent_network: AgentNetwork) -> None:
    store = InMemorySessionStore()
    builder = TeamBuilder("tutors", sessions=store)
    triage, math, history = tutors()
    team = builder.start_with(triage).handoff(triage, [math, history], both_ways=True).build()
    assert triage.sessions is store  # moved from the default network's store to the team's
    script(triage).add_replies(transfer("math"))
    script(math).add_replies("2x", "x^3/3")
    first = await team.run("Derivative of x^2?", session_id="s1")
    second = await team.run("And the integral of x^2?", session_id="s1")
    assert (first.agent, second.agent, second.content) == ("math", "math", "x^3/3")
    assert second.handoff_chain == ["math"]  # the specialist kept the conversation
    user_turns = [
        m["content"] for m in script(math).requests[-1]["messages"] if m["role"] == "user"
    ]
    assert user_turns == ["Derivative of x^2?", "And the integral of x^2?"]


async def test_streaming_and_sync_go_through_the_start_agent(agent_network: AgentNetwork) -> None:
    triage, math, _ = tutors()
    team = TeamBuilder("tutors").start_with(triage).handoff(triage, math).build()
    script(triage).add_replies(transfer("math"))
    script(math).add_replies("streamed 2x")
    events: list[RunEvent] = [event async for event in team.run_streaming("d/dx x^2")]
    kinds = [(e.type, e.agent) for e in events]
    assert ("handoff.transfer", "triage") in kinds and ("agent.completed", "math") in kinds
    await team.aclose()
    assert "math" not in team.network  # closed agents leave the network


def test_run_sync(agent_network: AgentNetwork) -> None:
    triage, math, _ = tutors()
    team = TeamBuilder("tutors").start_with(triage).handoff(triage, math).build()
    script(triage).add_replies("I can answer that: 4.")
    assert team.run_sync("2+2?").content == "I can answer that: 4."


async def test_a_handoff_added_after_construction_is_offered_and_followed(
    agent_network: AgentNetwork,
) -> None:
    triage, math, history = tutors()
    team = TeamBuilder("tutors").start_with(triage).handoff(triage, math).build()
    script(triage).add_replies("No history desk yet.")
    await team.run("When did Rome fall?")
    assert tools_offered(script(triage)) == ["transfer_to_math"]  # the tool list is cached
    team.add(history)
    triage.add_handoff(history)  # after construction: the cached tool list must not be stale
    script(triage).add_replies(transfer("history"))
    script(history).add_replies("476 AD.")
    result = await team.run("When did Rome fall?")
    assert tools_offered(script(triage)) == ["transfer_to_math", "transfer_to_history"]
    assert (result.agent, result.content) == ("history", "476 AD.")
    assert triage.target_names() == ["math", "history"]


def test_add_handoff_is_idempotent_and_refuses_clashes(agent_network: AgentNetwork) -> None:
    network = AgentNetwork("n")
    desk = BaseAgent("desk", network=network, handoffs=["billing"])
    billing = BaseAgent("billing", network=network)
    desk.add_handoff(billing)  # the agent a listed name names: one target
    desk.add_handoff("billing")
    assert desk.target_names() == ["billing"]
    look_alike = BaseAgent("billing!", network=network)  # transfer_to_billing too
    with pytest.raises(AgentConfigError, match="already taken by 'billing'"):
        desk.add_handoff(look_alike)
    assert desk.target_names() == ["billing"]  # a refused target leaves the table as it was
    with pytest.raises(AgentConfigError, match="takes agents, agent names, URLs or HandoffTarget"):
        desk.add_handoff(42)  # type: ignore[arg-type]


def test_team_add_handoff_checks_members(agent_network: AgentNetwork) -> None:
    triage, math, history = tutors()
    team = TeamBuilder("tutors").start_with(triage).handoff(triage, math).build()
    with pytest.raises(AgentConfigError, match="'triag' is not a member; did you mean 'triage'"):
        team.add_handoff("math", "triag")
    with pytest.raises(AgentConfigError, match="'history' is not a member; add it to the team"):
        team.add_handoff("math", history)
    team.add_handoff("math", "triage")
    assert math.target_names() == ["triage"]


def test_build_checks_the_handoff_graph(agent_network: AgentNetwork) -> None:
    from webagents.teams.graph import TeamGraphError

    builder = TeamBuilder("silent")
    # Neither has a model: a run that reaches them can never be answered.
    desk = BaseAgent("desk", network=builder.network)
    clerk = BaseAgent("clerk", network=builder.network)
    with pytest.raises(TeamGraphError, match=r"\[no_answer\] agent 'desk' has no model"):
        builder.start_with(desk).handoff(desk, clerk, both_ways=True).build()


def test_remote_members_join_the_teams_network(agent_network: AgentNetwork) -> None:
    from webagents import register_remote

    triage, _, _ = tutors()
    elsewhere = register_remote("archive", "http://127.0.0.1:9/agents/archive", api_key="sk-a")
    builder = TeamBuilder("desk").remote("expert", "http://127.0.0.1:9/agents/expert")
    team = builder.start_with(triage).handoff(triage, ["expert", elsewhere]).build()
    archive = team.network.get("archive")
    assert archive == elsewhere and archive is team.agents["archive"]
    assert isinstance(archive, RemoteAgent) and archive.api_key == "sk-a"
    assert triage.target_names() == ["expert", "archive"]
    with pytest.raises(
        AgentConfigError, match="'expert' is a remote agent and cannot be a handoff"
    ):
        team.add_handoff("expert", "triage")
