"""DiscoverySkill: who is listed, and what a listing may show."""

from __future__ import annotations

import uuid

from webagents import BaseAgent, Skill, tool
from webagents.agents import default_network, register_remote
from webagents.agents.skills import DiscoverySkill
from webagents.testing import scripted_agent, text, tool_call


def uname(base: str) -> str:
    return f"{base}-{uuid.uuid4().hex[:8]}"


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
    topic = uuid.uuid4().hex[:8]
    peer, _ = scripted_agent(uname(f"{topic}-peer"), description=f"{topic} answers")
    attached = DiscoverySkill()
    asker = BaseAgent(
        uname(f"{topic}-asker"), description=f"{topic} questions", skills={"d": attached}
    )
    inner, model = scripted_agent(
        uname(f"{topic}-router"),
        [tool_call("find", {"intent": topic}), text("done")],
        description=f"{topic} routing",
        skills={"f": Finder()},
    )

    listed = [entry["name"] for entry in await attached.find_agents(topic, max_results=10)]
    await inner.run("find someone")

    assert sorted(listed) == sorted([peer.name, inner.name])
    assert sorted(model.requests[1]["messages"][-1]["content"].split(",")) == sorted(
        [peer.name, asker.name]
    )


async def test_remote_urls_are_listed_without_credentials_or_query() -> None:
    name = uname("vault-keeper")
    url = f"http://admin:pw@127.0.0.1:9/agents/{name}?token=t"
    register_remote(name, url, description="vault keeper")
    try:
        [found] = [
            e for e in await DiscoverySkill().find_agents("vault keeper") if e["name"] == name
        ]
    finally:
        default_network().remove(name)

    assert found["url"] == f"http://127.0.0.1:9/agents/{name}"
