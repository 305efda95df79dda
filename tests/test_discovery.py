"""DiscoverySkill: who is listed, and what a listing may show."""

from __future__ import annotations

from typing import Any

import pytest

from webagents import AgentNetwork, BaseAgent, Skill, tool
from webagents.agents import register_remote
from webagents.agents.skills import DiscoverySkill
from webagents.agents.skills.discovery import rank_agents
from webagents.testing import scripted_agent, text, tool_call


class Finder(Skill):
    """Keeps its DiscoverySkill inside, as the seed's SmartRouterSkill does."""

    def __init__(self) -> None:
        super().__init__()
        self.discovery = DiscoverySkill()

    @tool
    async def find(self, intent: str) -> str:
        """Find agents for an intent."""
        found = await self.discovery.find_agents(intent=intent, max_results=10)
        return ",".join(entry["name"] for entry in found)


async def test_the_asking_agent_is_not_listed() -> None:
    peer, _ = scripted_agent("travel-peer", description="travel answers")
    attached = DiscoverySkill()
    asker = BaseAgent("travel-asker", description="travel questions", skills={"d": attached})
    inner, model = scripted_agent(
        "travel-router",
        [tool_call("find", {"intent": "travel"}), text("done")],
        description="travel routing",
        skills={"f": Finder()},
    )

    listed = [entry["name"] for entry in await attached.find_agents("travel", max_results=10)]
    await inner.run("find someone")

    assert sorted(listed) == sorted([peer.name, inner.name])
    found_inside = model.requests[1]["messages"][-1]["content"].split(",")
    assert sorted(found_inside) == sorted([peer.name, asker.name])


async def test_only_the_agents_of_the_asking_agents_network_are_listed() -> None:
    red = AgentNetwork("red")
    BaseAgent("travel-red", description="travel", network=red)
    red.register_remote("travel-far", "http://127.0.0.1:9/agents/travel-far", description="travel")
    BaseAgent("travel-default", description="travel")
    BaseAgent("travel-blue", description="travel", network=AgentNetwork("blue"))
    attached = DiscoverySkill()
    BaseAgent("asker", network=red, skills={"d": attached})
    router, model = scripted_agent(
        "router",
        [tool_call("find", {"intent": "travel"}), text("done")],
        network=red,
        skills={"f": Finder()},
    )

    listed = [entry["name"] for entry in await attached.find_agents("travel")]
    await router.run("find someone")  # a kept-inside skill lists the running agent's network
    outside = [entry["name"] for entry in await DiscoverySkill().find_agents("travel")]

    assert sorted(listed) == ["travel-far", "travel-red"]
    assert sorted(model.requests[1]["messages"][-1]["content"].split(",")) == sorted(listed)
    assert outside == ["travel-default"]


async def test_remote_urls_are_listed_without_credentials_or_query() -> None:
    url = "http://admin:pw@127.0.0.1:9/agents/vault-keeper?token=t"
    register_remote("vault-keeper", url, description="vault keeper")

    [found] = await DiscoverySkill().find_agents("vault keeper")

    assert found["name"] == "vault-keeper"
    assert found["url"] == "http://127.0.0.1:9/agents/vault-keeper"


def card(
    name: str, description: str = "", tools: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "tools": [{"name": tool_name, "description": ""} for tool_name in tools],
        **extra,
    }


@pytest.mark.parametrize(
    ("intent", "described"),
    [
        ("my invoices", "Sends an invoice."),
        ("an invoice", "Sends invoices."),
        ("refunds", "Refund a payment."),
        ("refunded twice", "Handles refunds."),
        ("billing question", "Bill disputes."),
        ("insurance policies", "Explains a policy."),
        ("taxes", "Tax returns."),
        ("shipping", "We ship parcels."),
        ("pricing", "Price lists."),
    ],
)
def test_plurals_and_simple_inflections_match(intent: str, described: str) -> None:
    found = rank_agents(intent, [card("helper", described), card("other", "Plants.")], 5)

    assert [entry["name"] for entry in found] == ["helper"]


def test_name_weighs_most_then_description_then_tools_and_tags() -> None:
    cards = [
        card("by-tag", "Something.", tags=["refunds"]),
        card("by-tool", "Something.", tools=("issue_refund",)),
        card("refund-desk", "Something."),
        card("by-description", "Issues refunds."),
        card("unrelated", "Gardens."),
    ]

    found = rank_agents("refund", cards, 10)

    assert [entry["name"] for entry in found] == [
        "refund-desk",
        "by-description",
        "by-tag",
        "by-tool",
    ]
    assert found[0]["score"] > found[1]["score"] > found[2]["score"] == found[3]["score"] > 0
    assert all(entry["url"] is None for entry in found)


def test_ties_are_broken_by_name_and_max_results_cuts() -> None:
    cards = [card(name, "Invoices.") for name in ("c-desk", "a-desk", "b-desk")]

    assert [entry["name"] for entry in rank_agents("invoice", cards, 2)] == ["a-desk", "b-desk"]
    assert rank_agents("invoice", list(reversed(cards)), 3) == rank_agents("invoice", cards, 3)
    assert rank_agents("the and of", cards, 3) == []  # nothing but stopwords


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "3", None])
async def test_max_results_must_be_a_positive_int(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"max_results must be an int >= 1, got "):
        rank_agents("invoice", [], bad)
    with pytest.raises(ValueError, match=r"max_results must be an int >= 1, got "):
        await DiscoverySkill().find_agents("invoice", max_results=bad)


async def test_tags_from_agent_metadata_are_searched() -> None:
    net = AgentNetwork("tagged")
    BaseAgent("desk-one", description="Front desk.", metadata={"tags": ["mortgages"]}, network=net)
    BaseAgent("desk-two", description="Front desk.", network=net)
    attached = DiscoverySkill()
    BaseAgent("asker", network=net, skills={"d": attached})

    found = await attached.find_agents("mortgage")

    assert [entry["name"] for entry in found] == ["desk-one"]
