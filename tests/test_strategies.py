"""Routing strategies (webagents/teams/strategies.py): each one's distribution or order under
concurrent runs, what counts as busy and failed, and bad configuration."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from webagents import BaseAgent, tool
from webagents.agents import AgentNetwork
from webagents.errors import AgentConfigError
from webagents.remote.client import RemoteClient
from webagents.teams.strategies import (
    CapabilityMatch,
    FallbackChain,
    LeastBusy,
    RoundRobin,
    Strategy,
)
from webagents.testing import ScriptedModel, error, scripted_agent, text


def answering(name: str, **options: Any) -> BaseAgent:
    """An agent that answers every request with its own name."""
    agent, _ = scripted_agent(name, responder=lambda request: text(f"{name} here"), **options)
    return agent


def gated(name: str, gate: asyncio.Event, arrived: Callable[[], None] = lambda: None) -> BaseAgent:
    """An agent whose model answers only once ``gate`` is set: its runs stay in flight."""

    async def respond(request: dict[str, Any]) -> Any:
        arrived()
        await gate.wait()
        return text(f"{name} here")

    agent, _ = scripted_agent(name, responder=respond)
    return agent


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nobody listens there any more


# round-robin ------------------------------------------------------------------------------


async def test_round_robin_spreads_30_concurrent_runs_10_10_10() -> None:
    gate = asyncio.Event()
    waiting = 0

    def arrived() -> None:
        nonlocal waiting
        waiting += 1
        if waiting == 30:  # every run holds its agent at once: the turns were taken together
            gate.set()

    agents = [gated(name, gate, arrived) for name in ("rr-a", "rr-b", "rr-c")]
    desk = BaseAgent("rr-desk", skills={"route": RoundRobin(agents)})

    results = await asyncio.gather(*(desk.run(f"question {i}") for i in range(30)))

    assert Counter(r.agent for r in results) == {"rr-a": 10, "rr-b": 10, "rr-c": 10}
    assert all(r.content == f"{r.agent} here" for r in results)
    record = results[0].handoffs[0]
    assert (record.trigger, record.reason) == ("condition", "Round-robin: the next agent in turn.")


async def test_round_robin_by_names_goes_on_turning_across_later_runs() -> None:
    for name in ("n-a", "n-b"):
        answering(name)
    desk = BaseAgent("n-desk", skills={"route": RoundRobin(["n-a", "n-b"])})

    agents = [(await desk.run("hi")).agent for _ in range(5)]

    assert agents == ["n-a", "n-b", "n-a", "n-b", "n-a"]


# least-busy -------------------------------------------------------------------------------


async def test_least_busy_sends_new_runs_away_from_an_agent_held_busy() -> None:
    gate, entered = asyncio.Event(), asyncio.Event()
    busy = gated("lb-busy", gate, entered.set)
    others = [answering("lb-b"), answering("lb-c")]
    strategy = LeastBusy([busy, *others])
    desk = BaseAgent("lb-desk", skills={"route": strategy})

    held = asyncio.create_task(desk.run("first"))
    await entered.wait()
    assert strategy.in_flight() == {"lb-busy": 1, "lb-b": 0, "lb-c": 0}

    one_by_one = [(await desk.run(f"q{i}")).agent for i in range(4)]
    together = await asyncio.gather(*(desk.run(f"p{i}") for i in range(2)))

    # Alone, each run finds lb-b idle again (ties go to the earlier candidate); two at once
    # fill lb-b and lb-c; the held agent gets none of them.
    assert one_by_one == ["lb-b"] * 4
    assert sorted(r.agent for r in together) == ["lb-b", "lb-c"]
    gate.set()
    assert (await held).agent == "lb-busy"
    assert strategy.in_flight() == {"lb-busy": 0, "lb-b": 0, "lb-c": 0}


async def test_least_busy_balances_concurrent_runs_over_idle_agents() -> None:
    gate = asyncio.Event()
    waiting = 0

    def arrived() -> None:
        nonlocal waiting
        waiting += 1
        if waiting == 12:
            gate.set()

    strategy = LeastBusy([gated(n, gate, arrived) for n in ("lbc-a", "lbc-b", "lbc-c")])
    desk = BaseAgent("lbc-desk", skills={"route": strategy})

    results = await asyncio.gather(*(desk.run(f"q{i}") for i in range(12)))

    assert Counter(r.agent for r in results) == {"lbc-a": 4, "lbc-b": 4, "lbc-c": 4}
    assert strategy.in_flight() == {"lbc-a": 0, "lbc-b": 0, "lbc-c": 0}


async def test_a_failed_run_is_no_longer_in_flight() -> None:
    broken, _ = scripted_agent("lf-broken", [error(500, "down")])
    strategy = LeastBusy([broken, answering("lf-ok")])
    desk, _ = scripted_agent("lf-desk", [text("desk answers")], skills={"route": strategy})

    failed = await desk.run("first")  # lf-broken raises: a failed handoff, desk answers

    assert (failed.agent, failed.handoffs[0].success) == ("lf-desk", False)
    assert strategy.in_flight() == {"lf-broken": 0, "lf-ok": 0}
    assert strategy.failures() == {"lf-broken": 1, "lf-ok": 0}


async def test_a_cancelled_run_is_no_longer_in_flight() -> None:
    gate, entered = asyncio.Event(), asyncio.Event()
    strategy = LeastBusy([gated("lc-slow", gate, entered.set), answering("lc-other")])
    desk = BaseAgent("lc-desk", skills={"route": strategy})

    run = asyncio.create_task(desk.run("first"))
    await entered.wait()
    assert strategy.in_flight() == {"lc-slow": 1, "lc-other": 0}
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)

    assert run.cancelled()
    assert strategy.in_flight() == {"lc-slow": 0, "lc-other": 0}
    assert strategy.failures() == {"lc-slow": 0, "lc-other": 0}  # cancelling is no failure
    gate.set()
    assert (await desk.run("again")).agent == "lc-slow"


async def test_a_stream_closed_by_its_reader_is_no_longer_in_flight() -> None:
    gate = asyncio.Event()  # never set: the target is still answering when the reader leaves
    strategy = LeastBusy([gated("ls-slow", gate), answering("ls-other")])
    desk = BaseAgent("ls-desk", skills={"route": strategy})

    async with contextlib.aclosing(desk.run_streaming("q")) as events:
        async for event in events:
            if event.type == "handoff.transfer":
                assert strategy.in_flight()["ls-slow"] == 1
                break  # a client disconnecting

    assert strategy.in_flight() == {"ls-slow": 0, "ls-other": 0}


# capability -------------------------------------------------------------------------------


@tool
def reset_password(email: str) -> str:
    """Send a password reset link."""
    return "sent"


async def test_capability_match_routes_concurrent_runs_by_their_words() -> None:
    agents = [
        answering("billing", description="Invoices, refunds and payments"),
        answering("tech", description="Crashes and error messages", tools=[reset_password]),
        answering("shipping", description="Orders", metadata={"tags": ["delivery", "parcel"]}),
        answering("general", description="Anything else"),
    ]
    strategy = CapabilityMatch(agents[:3], tags={"billing": ["charge"]}, default="general")
    desk = BaseAgent("cap-desk", skills={"route": strategy})
    questions = {
        "Where is the refund for my last invoice?": "billing",
        "Why was I charged twice?": "billing",  # a tag given to the strategy
        "The app crashes with an error": "tech",
        "I need to reset my password": "tech",  # a tool name
        "My parcel delivery is late": "shipping",  # tags in the agent's metadata
        "Good morning": "general",  # nothing matches: the default
    }

    results = await asyncio.gather(*(desk.run(q) for q in questions))

    assert [r.agent for r in results] == list(questions.values())
    scores = strategy.scores("a refund, please")
    assert scores["billing"] > 0 and scores["tech"] == scores["shipping"] == 0


async def test_capability_ties_go_to_the_earlier_agent_and_no_match_without_default() -> None:
    first = answering("second-desk", description="Refunds")
    other = answering("first-desk", description="Refunds")
    desk, _ = scripted_agent(
        "tie-desk", [text("I answer myself")], skills={"route": CapabilityMatch([first, other])}
    )

    assert (await desk.run("refund")).agent == "second-desk"  # listed first, not by name
    assert (await desk.run("weather")).content == "I answer myself"


# fallback ---------------------------------------------------------------------------------


async def test_fallback_skips_an_unreachable_remote_agent_after_its_failure(
    agent_network: AgentNetwork,
) -> None:
    agent_network.remote_client = RemoteClient(retries=0)  # one refused connection, no backoff
    agent_network.register_remote("fb-remote", closed_port_url())
    backup = answering("fb-backup")
    chain = FallbackChain(["fb-remote", backup, answering("fb-last")])
    desk, _ = scripted_agent("fb-desk", [text("desk answers")], skills={"route": chain})

    first = await desk.run("hello")
    later = await asyncio.gather(*(desk.run(f"q{i}") for i in range(6)))

    assert (first.agent, first.content) == ("fb-desk", "desk answers")
    assert first.handoffs[0].to_agent == "fb-remote" and not first.handoffs[0].success
    assert [r.agent for r in later] == ["fb-backup"] * 6
    assert chain.failures() == {"fb-remote": 1, "fb-backup": 0, "fb-last": 0}
    assert not chain.available("fb-remote") and chain.available("fb-backup")
    assert chain.in_flight() == {"fb-remote": 0, "fb-backup": 0, "fb-last": 0}


async def test_fallback_skips_a_remote_agent_whose_circuit_is_open(
    agent_network: AgentNetwork,
) -> None:
    client = RemoteClient(retries=0, failure_threshold=1, clock=lambda: 0.0)  # no cool-down
    agent_network.remote_client = client
    remote = agent_network.register_remote("cb-remote", closed_port_url())
    chain = FallbackChain([remote, answering("cb-backup")], failures=5)
    desk, _ = scripted_agent("cb-desk", [text("desk answers")], skills={"route": chain})

    assert (await desk.run("hello")).agent == "cb-desk"  # the one failure opens the circuit
    assert client.breaker_state(remote) == "open"
    assert chain.failures()["cb-remote"] == 1  # below failures=5: skipped for the circuit

    later = await asyncio.gather(*(desk.run(f"q{i}") for i in range(4)))
    assert [r.agent for r in later] == ["cb-backup"] * 4


async def test_fallback_tries_a_failing_agent_again_every_retry_every_routings() -> None:
    flaky, model = scripted_agent("fl-flaky", [error(503, "overloaded")])
    model.add_replies(*["fl-flaky here"] * 3)
    chain = FallbackChain([flaky, answering("fl-backup")], failures=1, retry_every=3)
    desk, _ = scripted_agent("fl-desk", [text("desk answers")], skills={"route": chain})

    agents = [(await desk.run(f"q{i}")).agent for i in range(6)]

    # fails once; skipped twice; the third skip is a retry, which succeeds and resets it
    assert agents == ["fl-desk", "fl-backup", "fl-backup", "fl-flaky", "fl-flaky", "fl-flaky"]
    assert chain.failures()["fl-flaky"] == 0


async def test_fallback_with_nothing_available_lets_the_router_answer() -> None:
    broken, _ = scripted_agent("na-broken", [error(500, "down")])
    chain = FallbackChain([broken], retry_every=100)
    desk, _ = scripted_agent("na-desk", [text("one"), text("two")], skills={"route": chain})

    first, second = await desk.run("a"), await desk.run("b")

    assert [len(first.handoffs), len(second.handoffs)] == [1, 0]  # no second attempt
    assert second.content == "two" and second.agent == "na-desk"


async def test_a_vetoed_handoff_is_no_failure_of_the_target() -> None:
    from webagents import HandoffError, Skill, hook

    class Closed(Skill):
        @hook("before_handoff")
        def veto(self, context: Any) -> None:
            raise HandoffError("closed today")

    chain = FallbackChain([answering("vt-target")])
    desk, _ = scripted_agent(
        "vt-desk", [text("closed")], skills={"route": chain, "closed": Closed()}
    )

    result = await desk.run("hi")

    assert result.handoffs[0].error == "vetoed: closed today"
    assert chain.failures() == {"vt-target": 0} and chain.in_flight() == {"vt-target": 0}


# in a team --------------------------------------------------------------------------------


async def test_a_team_whose_start_agent_routes_round_robin() -> None:
    from webagents.teams.builder import TeamBuilder

    members = [answering("tm-a"), answering("tm-b")]
    dispatch = BaseAgent(
        "tm-dispatch", model=ScriptedModel(), skills={"route": RoundRobin(members)}
    )
    team = TeamBuilder("pool").start_with(dispatch).handoff(dispatch, members).build()

    results = await asyncio.gather(*(team.run(f"q{i}") for i in range(4)))

    assert Counter(r.agent for r in results) == {"tm-a": 2, "tm-b": 2}
    await team.aclose()


POOL = """\
name: Pool
agents:
  - name: dispatch
    model: openai/gpt-4o-mini
    can_transfer_to: [one, two]
    skills: [{name: round-robin, config: {agents: [one, two]}}]
  - name: one
    model: openai/gpt-4o-mini
  - name: two
    model: openai/gpt-4o-mini
"""


async def test_a_team_file_routes_with_a_built_in_strategy(tmp_path: Path) -> None:
    from webagents.teams import load_team

    path = tmp_path / "pool.yaml"
    path.write_text(POOL)
    team = load_team(path)
    for agent in team.agents.values():
        assert isinstance(agent, BaseAgent)
        agent.model = ScriptedModel(responder=lambda request, name=agent.name: f"{name} here")

    results = await asyncio.gather(*(team.run(f"q{i}") for i in range(4)))

    assert isinstance(team.start.skills["round-robin"], RoundRobin)
    assert Counter(r.agent for r in results) == {"one": 2, "two": 2}
    await team.aclose()


def test_a_bad_strategy_config_in_a_team_file_names_the_file_and_the_key(
    tmp_path: Path,
) -> None:
    from webagents.teams import TeamFileError, load_team

    path = tmp_path / "pool.yaml"
    path.write_text(POOL.replace("round-robin, config: {agents", "fallback, config: {agent"))

    with pytest.raises(TeamFileError) as caught:
        load_team(path)

    assert "pool.yaml" in str(caught.value)
    assert "unknown key 'agent'; did you mean 'agents'?" in str(caught.value)


# configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RoundRobin([]), "at least one candidate"),
        (lambda: LeastBusy(["a", "b", "a"]), "'a' is listed twice"),
        (lambda: RoundRobin("billing"), "write RoundRobin([a, b])"),
        (lambda: LeastBusy({"agents": {"a": 1}}), "write LeastBusy([a, b])"),
        (lambda: FallbackChain(["http://x.example/agents/a"]), "not URLs"),
        (lambda: RoundRobin(["a", ""]), "non-empty agent name"),
        (lambda: FallbackChain(["a"], failures=0), "failures must be an int >= 1"),
        (lambda: CapabilityMatch(["a"], tags={"b": ["x"]}), "'b' is not a candidate"),
        (lambda: CapabilityMatch(["a"], tags={"a": "x"}), "list of strings"),
        (lambda: FallbackChain({"agents": ["a"], "failure": 2}), "did you mean 'failures'?"),
        (lambda: CapabilityMatch({"default": "a"}), "config needs 'agents'"),
    ],
)
def test_bad_configuration_fails_at_construction(
    make: Callable[[], Strategy], message: str
) -> None:
    with pytest.raises(AgentConfigError, match=re.escape(message)):
        make()


def test_an_agent_given_twice_by_object_and_name_is_a_duplicate() -> None:
    billing = answering("dup-billing")
    with pytest.raises(AgentConfigError, match="'dup-billing' is listed twice"):
        RoundRobin([billing, "dup-billing"])


async def test_an_unknown_name_fails_the_first_run_naming_the_agent_and_close_names() -> None:
    billing = answering("billing-desk")
    desk = BaseAgent("un-desk", handoffs=[billing], skills={"route": RoundRobin(["billing-dsk"])})

    with pytest.raises(AgentConfigError) as caught:
        await desk.run("hi")

    text_ = str(caught.value)
    assert "RoundRobin on agent 'un-desk'" in text_
    assert "unknown agent 'billing-dsk'; did you mean 'billing-desk'?" in text_


async def test_a_router_listing_itself_or_another_networks_agent_fails_its_first_run() -> None:
    itself = BaseAgent("self-desk", skills={"route": RoundRobin(["self-desk"])})
    with pytest.raises(AgentConfigError, match="cannot route to itself"):
        await itself.run("hi")

    elsewhere = BaseAgent("far-agent", network=AgentNetwork("elsewhere"), model=ScriptedModel())
    answering("far-agent")  # a different agent of that name in the router's network
    desk = BaseAgent("far-desk", skills={"route": LeastBusy([elsewhere])})
    with pytest.raises(AgentConfigError, match="not the one 'far-desk' finds by that name"):
        await desk.run("hi")


async def test_the_counters_do_not_grow_with_runs() -> None:
    strategy = FallbackChain([answering("g-a"), answering("g-b")])
    desk = BaseAgent("g-desk", skills={"route": strategy})

    def sizes() -> dict[str, int]:
        return {key: len(value) for key, value in vars(strategy).items() if isinstance(value, dict)}

    before = sizes()
    await asyncio.gather(*(desk.run(f"q{i}") for i in range(50)))
    after = sizes()

    assert before == after


def test_options_come_from_a_config_mapping_as_from_arguments() -> None:
    chain = FallbackChain({"agents": ["a", "b"], "failures": 3, "retry_every": 2})
    match = CapabilityMatch({"agents": ["a"], "tags": {"a": ["x"]}, "default": "b"})

    assert (chain.candidates, chain.failure_limit, chain.retry_every) == (("a", "b"), 3, 2)
    assert (match.tags, match.default) == ({"a": ("x",)}, "b")
