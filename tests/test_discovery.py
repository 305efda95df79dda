"""DiscoverySkill: who is listed, and what a listing may show."""

from __future__ import annotations

from webagents import AgentNetwork, BaseAgent, Skill, tool
from webagents.agents import register_remote
from webagents.agents.skills import DiscoverySkill
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
