"""Per-edge handoff options: instructions for the target, an on_handoff callback per target."""

from __future__ import annotations

import pytest

from webagents import AgentConfigError, AgentNetwork, BaseAgent, Context, HandoffError, HookError
from webagents.messages import handoff_context_in
from webagents.teams import Edge, HandoffEdges
from webagents.testing import ScriptedModel, transfer


def desk(network: AgentNetwork, edges: dict[str, Edge], *replies: object) -> BaseAgent:
    return BaseAgent(
        "desk",
        model=ScriptedModel(replies),  # type: ignore[arg-type]
        handoffs=["billing", "support"],
        skills={"edges": HandoffEdges(edges)},
        network=network,
    )


def specialists(network: AgentNetwork) -> tuple[ScriptedModel, ScriptedModel]:
    billing, support = ScriptedModel(["Billing here."]), ScriptedModel(["Support here."])
    BaseAgent("billing", model=billing, network=network)
    BaseAgent("support", model=support, network=network)
    return billing, support


async def test_each_target_gets_its_own_instructions_and_callback() -> None:
    network = AgentNetwork("edges")
    billing, support = specialists(network)
    seen: list[tuple[str, str, str]] = []

    async def log(context: Context) -> None:
        seen.append((context.agent_name, context["handoff_agent"], context["handoff_reason"]))
        context["handoff_context"]["ticket"] = 7

    front = desk(
        network,
        {"billing": Edge(instructions="Check for duplicate charges.", on_handoff=log)},
        transfer("billing", "invoice"),
        transfer("support"),
    )
    assert (await front.run("Charged twice")).content == "Billing here."
    assert seen == [("desk", "billing", "invoice")]
    data = [handoff_context_in(m) for m in billing.requests[0]["messages"]]
    assert {"instructions": "Check for duplicate charges.", "ticket": 7} in data
    # Another target: no edge options, nothing added.
    assert (await front.run("It crashes")).content == "Support here."
    assert seen == [("desk", "billing", "invoice")]
    assert not any(handoff_context_in(m) for m in support.requests[0]["messages"])


async def test_on_handoff_may_veto_and_its_bugs_are_named() -> None:
    network = AgentNetwork("edges")
    billing, _ = specialists(network)

    def closed(context: Context) -> None:
        raise HandoffError("billing is closed on Sundays")

    front = desk(
        network, {"billing": Edge(on_handoff=closed)}, transfer("billing"), "I'll help myself."
    )
    result = await front.run("Invoice?")
    assert (result.agent, result.content) == ("desk", "I'll help myself.")
    assert result.handoffs[0].error == "vetoed: billing is closed on Sundays"
    assert billing.requests == []

    def broken(context: Context) -> None:
        raise KeyError("oops")

    other = AgentNetwork("other")
    specialists(other)
    front = desk(other, {"billing": Edge(on_handoff=broken)}, transfer("billing"))
    with pytest.raises(HookError, match=r"on_handoff .*broken \(edge to 'billing'\)"):
        await front.run("Invoice?")


def test_edges_are_checked_at_construction() -> None:
    with pytest.raises(AgentConfigError, match=r"takes \{target name: Edge"):
        HandoffEdges({"billing": "be nice"})  # type: ignore[dict-item]
    with pytest.raises(AgentConfigError, match="on_handoff for 'billing' must be a function"):
        HandoffEdges({"billing": Edge(on_handoff="log")})  # type: ignore[arg-type]
