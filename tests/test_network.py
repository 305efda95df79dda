"""Agent networks: agents found by name in the network they live in, for as long as it lives.

Every test runs in a fresh default network (the ``agent_network`` fixture, autouse in this
suite), so plain names never meet another test's agents.
"""

from __future__ import annotations

import gc
import warnings
import weakref
from typing import Any

import pytest

import webagents
from webagents import AgentConfigError, AgentNetwork, BaseAgent, Skill, UnknownAgentError
from webagents.agents import RemoteAgent, default_network, register_remote, use_default_network
from webagents.agents.sessions import InMemorySessionStore, default_session_store
from webagents.agents.skills import DiscoverySkill, NLISkill
from webagents.testing import ScriptedModel, scripted_agent, text, transfer


def build(name: str, **options: Any) -> None:
    BaseAgent(name, model=ScriptedModel(["hello from " + name]), **options)


class Closing(Skill):
    def __init__(self) -> None:
        super().__init__()
        self.cleanups = 0

    async def cleanup(self) -> None:
        self.cleanups += 1


# --- the default network -----------------------------------------------------------------------


async def test_an_agent_built_without_a_reference_stays_reachable_by_name() -> None:
    build("billing")
    gc.collect()

    desk = BaseAgent("desk", model=ScriptedModel(responder=lambda r: "unused"))
    target = desk.find_target("billing")

    assert isinstance(target, BaseAgent) and target.network is default_network()
    assert (await target.run("hi")).content == "hello from billing"


def test_in_the_default_network_the_newest_agent_wins_with_a_warning() -> None:
    first = BaseAgent("billing")

    with pytest.warns(UserWarning, match="agent 'billing' replaced an earlier agent") as caught:
        second = BaseAgent("billing")  # a notebook re-running its cell

    assert caught[0].filename == __file__  # the warning points at the user's line
    assert default_network().resolve("billing") is second is not first
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        third = BaseAgent("billing", replace=True)  # said on purpose: no warning
    assert default_network().get("billing") is third


def test_module_level_register_remote_registers_in_the_default_network() -> None:
    remote = register_remote("far", "http://127.0.0.1:9/agents/far", description="far away")

    assert default_network().get("far") is remote
    assert webagents.register_remote is register_remote
    with pytest.warns(UserWarning, match="agent 'far' replaced"):
        register_remote("far", "http://127.0.0.1:9/agents/elsewhere")
    register_remote("far", "http://127.0.0.1:9/agents/elsewhere")  # the same again: no warning


def test_the_fixture_network_is_the_default_and_the_previous_one_comes_back(
    agent_network: AgentNetwork,
) -> None:
    assert default_network() is agent_network and len(agent_network) == 0
    own = AgentNetwork("own")

    with use_default_network(own):
        agent = BaseAgent("inside")
        assert default_network() is own and agent.network is own and "inside" in own

    assert default_network() is agent_network and "inside" not in agent_network
    with pytest.raises(TypeError, match="takes an AgentNetwork"), use_default_network("x"):  # type: ignore[arg-type]
        pass


# --- explicit networks -------------------------------------------------------------------------


def test_a_taken_name_in_an_explicit_network_is_an_error_unless_replaced() -> None:
    net = AgentNetwork("support")
    first = BaseAgent("billing", network=net)
    skill = Closing()

    with pytest.raises(AgentConfigError) as refused:
        BaseAgent("billing", network=net, skills={"c": skill})

    message = str(refused.value)
    assert "'billing'" in message and "replace=True" in message and "'support'" in message
    assert net.get("billing") is first
    # The refused agent never took the skill: it can go to the replacement.
    second = BaseAgent("billing", network=net, skills={"c": skill}, replace=True)
    assert net.get("billing") is second
    third = BaseAgent("billing")
    with pytest.raises(AgentConfigError, match="replace=True"):
        net.add(third)
    assert net.add(third, replace=True) is third and net.get("billing") is third
    assert net.add(third) is third  # the same agent again changes nothing


def test_two_networks_with_the_same_names_each_resolve_their_own() -> None:
    red, blue = AgentNetwork("red"), AgentNetwork("blue")
    red_billing = BaseAgent("billing", network=red)
    blue_billing = BaseAgent("billing", network=blue)
    red_desk = BaseAgent("desk", network=red)

    assert red_desk.find_target("billing") is red_billing
    assert red.get("billing") is red_billing and blue.get("billing") is blue_billing
    assert default_network().get("billing") is None
    assert blue.get("desk") is None
    with pytest.raises(UnknownAgentError):
        BaseAgent("desk", network=blue).find_target("nobody")


async def test_a_handoff_by_name_stays_inside_its_network() -> None:
    red, blue = AgentNetwork("red"), AgentNetwork("blue")
    scripted_agent("billing", [text("red billing")], network=red, description="Red invoices")
    scripted_agent("billing", [text("blue billing")], network=blue, description="Blue invoices")
    scripted_agent("billing", [text("default billing")])
    desk, model = scripted_agent("desk", [transfer("billing")], network=red, handoffs=["billing"])

    result = await desk.run("My invoice")

    assert (result.agent, result.content) == ("billing", "red billing")
    [tool] = model.requests[0]["tools"]
    assert tool["function"]["description"] == "Hand the conversation over to billing: Red invoices"


def test_the_transfer_tool_follows_changes_to_the_network() -> None:
    net = AgentNetwork()
    desk = BaseAgent("desk", network=net, handoffs=["billing"])

    def description() -> str:
        [tool] = desk.tools_with_transfers("all")
        return str(tool["function"]["description"])

    assert description() == "Hand the conversation over to billing."
    version = net.version
    BaseAgent("billing", network=net, description="Invoices")
    assert net.version > version
    assert description() == "Hand the conversation over to billing: Invoices"
    net.remove("billing")
    assert description() == "Hand the conversation over to billing."


def test_lookups_take_names_never_urls() -> None:
    net = AgentNetwork()
    remote = net.register_remote("vault", "http://127.0.0.1:9/agents/vault")
    agent = BaseAgent("desk", network=net)

    assert net.get("vault") is remote and net.get(remote.url) is None
    with pytest.raises(
        UnknownAgentError, match=r"^unknown agent 'http://127.0.0.1:9/agents/vault'$"
    ):
        net.resolve(remote.url, ["vault"])
    with pytest.raises(AgentConfigError, match="not a URL"):
        BaseAgent("http://127.0.0.1:9/agents/x", network=net)
    with pytest.raises(UnknownAgentError, match=r"^unknown agent 'dsk'; did you mean 'desk'\?$"):
        net.resolve("dsk", ["desk"])
    with pytest.raises(UnknownAgentError, match=r"^unknown agent 'dsk'$"):
        net.resolve("dsk")  # suggestions come from the asker's candidates, never the network
    assert (net.names(), net.local_agents(), net.remote_agents()) == (
        ["desk", "vault"],
        [agent],
        [remote],
    )
    assert ("desk" in net, agent in net, BaseAgent("desk") in net, len(net)) == (
        True,
        True,
        False,
        2,
    )


def test_register_false_joins_no_network_but_resolves_through_it() -> None:
    net = AgentNetwork()
    billing = BaseAgent("billing", network=net)
    loner = BaseAgent("loner", network=net, register=False)
    unplaced = BaseAgent("unplaced", register=False)

    assert loner.find_target("billing") is billing and "loner" not in net
    assert unplaced.network is default_network() and "unplaced" not in default_network()


def test_agents_use_the_session_store_of_their_network() -> None:
    store = InMemorySessionStore()
    net = AgentNetwork(sessions=store)
    own = InMemorySessionStore()

    assert BaseAgent("a", network=net).sessions is store
    assert BaseAgent("b", network=net, sessions=own).sessions is own
    assert AgentNetwork().sessions is default_session_store()


# --- remote agents -----------------------------------------------------------------------------


def test_a_remote_agent_carries_its_credentials_and_never_shows_the_key() -> None:
    net = AgentNetwork()
    remote = net.register_remote(
        "finance",
        "http://ops:pw@127.0.0.1:9/agents/finance/",
        description="Investments",
        api_key="sk-remote-1",
        timeout=2.5,
    )

    assert (remote.api_key, remote.timeout, remote.description) == (
        "sk-remote-1",
        2.5,
        "Investments",
    )
    assert "sk-remote-1" not in repr(remote) and "pw" not in repr(remote)
    assert remote == RemoteAgent(  # the key takes no part in comparisons
        "finance",
        "http://ops:pw@127.0.0.1:9/agents/finance",
        "Investments",
        api_key="other",
        timeout=2.5,
    )
    with pytest.raises(AgentConfigError, match="'finance'") as taken:
        net.register_remote("finance", "http://127.0.0.1:9/agents/x", api_key="sk-new-2")
    assert "sk-new-2" not in str(taken.value)
    replaced = net.register_remote(
        "finance", "http://127.0.0.1:9/agents/x", api_key="sk-new-2", replace=True
    )
    assert net.get("finance") is replaced


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            {"url": "ftp://user:secret@host/x"},
            "needs an http(s):// URL with a host, got 'ftp://host/x'",
        ),
        ({"url": "http:///agents/x"}, "needs an http(s):// URL with a host"),
        ({"timeout": 0}, "timeout must be a number of seconds > 0 or None, got 0"),
        ({"timeout": "5"}, "timeout must be a number of seconds > 0 or None"),
        ({"api_key": ""}, "api_key must be a non-empty string or None"),
    ],
)
def test_bad_remote_registrations_name_the_agent_and_never_echo_secrets(
    options: dict[str, Any], problem: str
) -> None:
    arguments: dict[str, Any] = {"url": "http://127.0.0.1:9/agents/x", **options}
    with pytest.raises(AgentConfigError) as refused:
        AgentNetwork().register_remote("finance", **arguments)

    assert str(refused.value).startswith("remote agent 'finance'")
    assert problem in str(refused.value) and "secret" not in str(refused.value)


# --- lifetime ----------------------------------------------------------------------------------


async def test_dropping_a_network_frees_its_agents() -> None:
    net = AgentNetwork("request")
    agents = [BaseAgent(f"agent-{i}", network=net) for i in range(1000)]
    scripted_agent("billing", [text("paid")], network=net, skills={"c": Closing()})
    desk, _ = scripted_agent(
        "desk",
        [transfer("billing")],
        network=net,
        handoffs=["billing"],
        skills={"n": NLISkill(), "d": DiscoverySkill()},
    )
    result = await desk.run("Pay my invoice", session_id="s-1")
    assert result.agent == "billing"
    refs = [weakref.ref(agent) for agent in [*agents, desk, net.get("billing")]]
    network_ref = weakref.ref(net)
    del agents, desk, net, result
    gc.collect()

    assert network_ref() is None
    assert [ref for ref in refs if ref() is not None] == []


async def test_closing_an_agent_takes_it_out_of_its_network_and_it_still_runs() -> None:
    net = AgentNetwork()
    skill = Closing()
    billing, _ = scripted_agent(
        "billing", [text("one"), text("two")], network=net, skills={"c": skill}
    )
    await billing.run("hi")

    await billing.close()

    assert "billing" not in net and skill.cleanups == 1
    assert (await billing.run("again")).content == "two"
    newer = BaseAgent("billing", network=net)
    await billing.close()  # closing the old agent never removes the one that took its name
    assert net.get("billing") is newer


async def test_closing_a_network_closes_its_agents() -> None:
    skills = [Closing(), Closing()]
    async with AgentNetwork() as net:
        for i, skill in enumerate(skills):
            agent, _ = scripted_agent(f"agent-{i}", [text("ok")], network=net, skills={"c": skill})
            await agent.run("hi")
        remote = net.register_remote("far", "http://127.0.0.1:9/agents/far")

    assert [skill.cleanups for skill in skills] == [1, 1]
    assert net.local_agents() == [] and net.remote_agents() == [remote]


def test_removing_an_unknown_name_is_an_error() -> None:
    net = AgentNetwork()
    BaseAgent("billing", network=net)

    assert isinstance(net.remove("billing"), BaseAgent) and "billing" not in net
    with pytest.raises(UnknownAgentError, match="unknown agent 'billing'"):
        net.remove("billing")


def test_a_network_is_an_agent_network_or_a_clear_error() -> None:
    with pytest.raises(AgentConfigError, match="network= takes an AgentNetwork, got str"):
        BaseAgent("desk", network="support")  # type: ignore[arg-type]
    with pytest.raises(AgentConfigError, match="add\\(\\) takes a BaseAgent"):
        AgentNetwork().add("desk")  # type: ignore[arg-type]
    assert repr(AgentNetwork("support")) == "AgentNetwork('support', agents=0)"
    assert AgentNetwork.__module__ == "webagents" and webagents.AgentNetwork is AgentNetwork


async def test_a_stored_owner_from_another_network_is_ignored() -> None:
    store = InMemorySessionStore()
    red, blue = AgentNetwork("red", sessions=store), AgentNetwork("blue", sessions=store)
    scripted_agent("billing", [text("red billing")], network=red)
    red_desk, _ = scripted_agent("desk", [transfer("billing")], network=red, handoffs=["billing"])
    blue_desk, _ = scripted_agent("desk", [text("blue desk")], network=blue)

    first = await red_desk.run("My invoice", session_id="s-1")
    later = await blue_desk.run("And now?", session_id="s-1")  # same store, same key

    assert first.agent == "billing"
    assert (later.agent, later.content) == ("desk", "blue desk")  # blue knows no "billing"
