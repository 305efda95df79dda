"""Per-edge handoff options (``HandoffTarget``), the ``complete`` tool, the cycle policy and
what a handoff record says was handed over."""

from __future__ import annotations

from typing import Any

import pytest

from webagents import (
    AgentConfigError,
    AgentNetwork,
    BaseAgent,
    Context,
    HandoffError,
    HandoffTarget,
    HookError,
    Skill,
    hook,
)
from webagents.agents.skills.decorators import handoff
from webagents.events import AgentCompleted, TextDelta
from webagents.messages import handoff_context_in
from webagents.testing import ScriptedModel, complete, tool_call, transfer


def specialists(network: AgentNetwork) -> tuple[ScriptedModel, ScriptedModel]:
    billing, support = ScriptedModel(["Billing here."]), ScriptedModel(["Support here."])
    BaseAgent("billing", description="Invoices and payments.", model=billing, network=network)
    BaseAgent("support", description="Technical problems.", model=support, network=network)
    return billing, support


def tool_descriptions(request: dict[str, Any]) -> dict[str, str]:
    return {t["function"]["name"]: t["function"]["description"] for t in request["tools"]}


async def test_each_target_gets_its_own_instructions_and_callback() -> None:
    network = AgentNetwork("edges")
    billing, support = specialists(network)
    seen: list[tuple[str, str, str]] = []

    async def log(context: Context) -> None:
        seen.append((context.agent_name, context["handoff_agent"], context["handoff_reason"]))
        context["handoff_context"]["ticket"] = 7

    edge = HandoffTarget("billing", instructions="Check for duplicate charges.", on_handoff=log)
    front = BaseAgent(
        "desk",
        model=ScriptedModel([transfer("billing", "invoice"), transfer("support")]),
        handoffs=[edge, "support"],
        network=network,
    )
    result = await front.run("Charged twice")
    assert result.content == "Billing here."
    assert seen == [("desk", "billing", "invoice")]
    data = [handoff_context_in(m) for m in billing.requests[0]["messages"]]
    assert {"instructions": "Check for duplicate charges.", "ticket": 7} in data
    # The record says what was handed over: the context and how much of the conversation.
    (record,) = result.handoffs
    assert record.context == {"instructions": "Check for duplicate charges.", "ticket": 7}
    assert record.history_length == 3  # the question, the transfer call and its answer
    assert record.to_dict()["context"] == record.context
    # Another target: no edge options, nothing added, nothing recorded as handed over.
    result = await front.run("It crashes")
    assert result.content == "Support here."
    assert seen == [("desk", "billing", "invoice")]
    assert not any(handoff_context_in(m) for m in support.requests[0]["messages"])
    assert result.handoffs[0].context == {}


async def test_on_handoff_may_veto_and_its_bugs_are_named() -> None:
    network = AgentNetwork("edges")
    billing, _ = specialists(network)

    def closed(context: Context) -> None:
        raise HandoffError("billing is closed on Sundays")

    front = BaseAgent(
        "desk",
        model=ScriptedModel([transfer("billing"), "I'll help myself."]),
        handoffs=[HandoffTarget("billing", on_handoff=closed)],
        network=network,
    )
    result = await front.run("Invoice?")
    assert (result.agent, result.content) == ("desk", "I'll help myself.")
    (record,) = result.handoffs
    assert record.error == "vetoed: billing is closed on Sundays"
    assert (record.context, record.history_length) == ({}, 0)  # nothing was handed over
    assert billing.requests == []

    def broken(context: Context) -> None:
        raise KeyError("oops")

    other = AgentNetwork("other")
    specialists(other)
    front = BaseAgent(
        "desk",
        model=ScriptedModel([transfer("billing")]),
        handoffs=[HandoffTarget("billing", on_handoff=broken)],
        network=other,
    )
    with pytest.raises(HookError, match=r"on_handoff .*broken \(edge desk -> billing\)"):
        await front.run("Invoice?")


async def test_a_description_override_is_what_the_model_reads() -> None:
    network = AgentNetwork("descriptions")
    specialists(network)
    model = ScriptedModel(["Hello."])
    edge = HandoffTarget("billing", description="Refunds of duplicate charges only")
    BaseAgent("desk", model=model, handoffs=[edge, "support"], network=network)
    await network.get("desk").run("Hi")  # type: ignore[union-attr]
    tools = tool_descriptions(model.requests[0])
    assert tools["transfer_to_billing"] == (
        "Hand the conversation over to billing: Refunds of duplicate charges only"
    )
    assert tools["transfer_to_support"] == (
        "Hand the conversation over to support: Technical problems."
    )


async def test_the_history_policy_of_an_edge_wins_over_the_targets_own() -> None:
    network = AgentNetwork("history")
    billing, support = specialists(network)
    front = BaseAgent(
        "desk",
        model=ScriptedModel(["Hello, how can I help?", transfer("billing"), transfer("support")]),
        handoffs=[HandoffTarget("billing", history="last_user"), "support"],
        network=network,
    )
    first = await front.run("Hi")
    conversation = [*first.messages, {"role": "user", "content": "My invoice is wrong"}]
    result = await front.run(conversation)
    sent = [m for m in billing.requests[0]["messages"] if m["role"] != "system"]
    assert sent == [{"role": "user", "content": "My invoice is wrong"}]
    assert result.handoffs[0].history_length == 1
    # The other edge carries the target's own policy (full): every message so far.
    result = await front.run(conversation)
    assert result.handoffs[0].history_length == len(conversation) + 2
    assert len([m for m in support.requests[0]["messages"] if m["role"] != "system"]) == 5


class Notes(Skill):
    """Stores a note in the run's context, and reports what its agent's hooks saw."""

    def __init__(self, seen: list[tuple[str, dict[str, Any]]]) -> None:
        super().__init__()
        self.seen = seen

    @hook("before_llm_call")
    def note(self, context: Context) -> None:
        self.seen.append((context.agent_name, context.data()))
        context.setdefault("draft", f"written by {context.agent_name}")

    @hook("after_handoff")
    def after(self, context: Context) -> None:
        self.seen.append((f"{context.agent_name} after", context.data()))


async def test_carry_state_false_starts_the_target_with_fresh_context_keys() -> None:
    network = AgentNetwork("state")
    seen: list[tuple[str, dict[str, Any]]] = []
    BaseAgent(
        "billing", model=ScriptedModel(["Refunded."]), skills={"n": Notes(seen)}, network=network
    )
    BaseAgent(
        "support", model=ScriptedModel(["Fixed."]), skills={"n": Notes(seen)}, network=network
    )
    front = BaseAgent(
        "desk",
        model=ScriptedModel([transfer("billing"), transfer("support")]),
        handoffs=[HandoffTarget("billing", carry_state=False), "support"],
        skills={"n": Notes(seen)},
        network=network,
    )
    await front.run("Refund please", context={"tenant": "acme"})
    billing = dict(seen)["billing"]
    assert billing["tenant"] == "acme"  # what the run was started with
    assert billing["handoff_agent"] == "billing"  # this handoff's own keys
    assert "draft" not in billing  # not what the source stored
    after = dict(seen)["desk after"]  # the source's after-hooks see its own keys again
    assert after["draft"] == "written by desk" and after["handoff_result"]["success"] is True

    seen.clear()
    await front.run("It crashes", context={"tenant": "acme"})
    assert dict(seen)["support"]["draft"] == "written by desk"  # carried, the default


async def test_a_source_gets_its_own_context_back_when_a_fresh_target_fails() -> None:
    network = AgentNetwork("state-failure")
    seen: list[tuple[str, dict[str, Any]]] = []
    broken = ScriptedModel([])  # no replies: the target's model call fails
    BaseAgent("billing", model=broken, network=network)
    front = BaseAgent(
        "desk",
        model=ScriptedModel([transfer("billing"), "I'll handle it."]),
        handoffs=[HandoffTarget("billing", carry_state=False)],
        skills={"n": Notes(seen)},
        network=network,
    )
    result = await front.run("Refund please")
    assert result.content == "I'll handle it." and not result.handoffs[0].success
    # before its second model call, the source's context holds its draft again
    assert [name for name, _ in seen] == ["desk", "desk after", "desk"]
    assert seen[-1][1]["draft"] == "written by desk"


async def test_handoffs_respect_the_runs_scope_as_tools_do() -> None:
    network = AgentNetwork("scopes")
    specialists(network)
    model = ScriptedModel([transfer("billing"), "Only staff may do that.", transfer("billing")])
    front = BaseAgent(
        "desk",
        model=model,
        handoffs=[HandoffTarget("billing", scope="owner"), "support"],
        network=network,
    )
    result = await front.run("Refund")  # scope "all": not offered, and refused as unknown
    assert "transfer_to_billing" not in tool_descriptions(model.requests[0])
    assert "transfer_to_support" in tool_descriptions(model.requests[0])
    assert (result.agent, result.content, result.handoffs) == (
        "desk",
        "Only staff may do that.",
        [],
    )
    answered = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert answered[0].startswith("Error: there is no tool 'transfer_to_billing'")
    owner = await front.run("Refund", scope="owner")
    assert (owner.agent, owner.content) == ("billing", "Billing here.")


class Router(Skill):
    @handoff("billing")
    def invoices(self, query: str) -> bool:
        return "invoice" in query


async def test_a_condition_cannot_take_an_edge_the_callers_scope_may_not_use() -> None:
    network = AgentNetwork("scoped-condition")
    billing, _ = specialists(network)
    front = BaseAgent(
        "desk",
        model=ScriptedModel(["I can't do that here."]),
        handoffs=[HandoffTarget("billing", scope="admin")],
        skills={"router": Router()},
        network=network,
    )
    result = await front.run("My invoice")
    assert result.content == "I can't do that here." and billing.requests == []
    (record,) = result.handoffs
    assert record.trigger == "condition" and not record.success
    assert record.error == "the handoff to billing is not available to a caller of scope 'all'"


async def test_complete_ends_the_run_with_a_summary() -> None:
    network = AgentNetwork("complete")
    billing = ScriptedModel([complete("Refund of $12.99 issued.")])
    BaseAgent("billing", model=billing, complete_tool=True, network=network)
    front = BaseAgent(
        "desk", model=ScriptedModel([transfer("billing")]), handoffs=["billing"], network=network
    )
    result = await front.run("Charged twice")
    assert (result.content, result.agent, result.completed) == (
        "Refund of $12.99 issued.",
        "billing",
        True,
    )
    assert "complete" in tool_descriptions(billing.requests[0])
    assert result.handoffs[0].success
    # the transcript stays valid: the call is answered, then the summary is the answer
    assert [m["role"] for m in result.messages[-3:]] == ["assistant", "tool", "assistant"]
    assert result.messages[-2]["content"] == "Completed."
    assert result.to_dict()["completed"] is True
    assert [e.content for e in result.events if isinstance(e, AgentCompleted)] == [
        "Refund of $12.99 issued."
    ]


async def test_complete_without_a_summary_is_an_error_the_model_sees() -> None:
    model = ScriptedModel([tool_call("complete", {"summary": " "}), "Done, nothing else."])
    agent = BaseAgent("solo", model=model, complete_tool=True, network=AgentNetwork("solo"))
    result = await agent.run("Hi")
    assert (result.content, result.completed) == ("Done, nothing else.", False)
    assert result.messages[2]["content"].startswith("Error: complete needs a summary")


async def test_complete_streams_its_summary_as_text() -> None:
    model = ScriptedModel([complete("All set.")])
    agent = BaseAgent("solo", model=model, complete_tool=True, network=AgentNetwork("stream"))
    events = [event async for event in agent.run_streaming("Hi")]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "All set."


async def test_after_complete_a_sessions_next_turn_starts_over_at_the_entry() -> None:
    network = AgentNetwork("complete-session")
    billing = ScriptedModel([complete("Refund issued."), "Billing again."])
    BaseAgent("billing", model=billing, complete_tool=True, network=network)
    front_model = ScriptedModel([transfer("billing"), "Front desk: how else can I help?"])
    front = BaseAgent("desk", model=front_model, handoffs=["billing"], network=network)
    first = await front.run("Charged twice", session_id="s1")
    assert first.agent == "billing"
    second = await front.run("Another question", session_id="s1")
    assert (second.agent, second.content) == ("desk", "Front desk: how else can I help?")
    # without complete, the specialist keeps the conversation
    network2 = AgentNetwork("keeps")
    BaseAgent(
        "billing", model=ScriptedModel(["Refund issued.", "Billing again."]), network=network2
    )
    front2 = BaseAgent(
        "desk", model=ScriptedModel([transfer("billing")]), handoffs=["billing"], network=network2
    )
    await front2.run("Charged twice", session_id="s1")
    assert (await front2.run("More", session_id="s1")).agent == "billing"


def test_complete_tool_clashing_with_a_tool_named_complete_is_refused() -> None:
    def complete(summary: str) -> str:
        """Close the ticket."""
        return summary

    with pytest.raises(AgentConfigError, match="complete_tool=True offers a tool named 'complete'"):
        BaseAgent("x", tools=[complete], complete_tool=True, network=AgentNetwork("clash"))


def ping_pong(peer: str) -> ScriptedModel:
    """A model that hands the conversation to ``peer`` whenever it is offered."""

    def respond(request: dict[str, Any]) -> Any:
        offered = {t["function"]["name"] for t in request["tools"]}
        return transfer(peer) if f"transfer_to_{peer}" in offered else f"{peer} was not offered."

    return ScriptedModel(responder=respond)


@pytest.mark.parametrize(
    ("cycles", "chain"),
    [("forbid", ["a", "b", "a"]), ("allow", ["a", "b", "a", "b", "a"])],
)
async def test_the_cycle_policy_of_the_entry_agent(cycles: str, chain: list[str]) -> None:
    network = AgentNetwork(f"cycles-{cycles}")
    a = BaseAgent(
        "a",
        model=ping_pong("b"),
        handoffs=["b"],
        max_handoffs=4,
        handoff_cycles=cycles,  # type: ignore[arg-type]
        network=network,
    )
    BaseAgent("b", model=ping_pong("a"), handoffs=["a"], network=network)
    result = await a.run("Help me")
    assert result.handoff_chain == chain
    assert all(record.success for record in result.handoffs)
    assert result.content == "b was not offered."  # the last agent's transfer was withheld


def test_bad_edge_options_are_refused_at_construction() -> None:
    with pytest.raises(AgentConfigError, match="takes an agent, an agent name or a URL"):
        HandoffTarget("")
    with pytest.raises(AgentConfigError, match=r"history='recent' must be one of"):
        HandoffTarget("billing", history="recent")  # type: ignore[arg-type]
    with pytest.raises(AgentConfigError, match="on_handoff must be a function"):
        HandoffTarget("billing", on_handoff="log")  # type: ignore[arg-type]
    with pytest.raises(AgentConfigError, match="scope='staff' must be one of all, owner, admin"):
        HandoffTarget("billing", scope="staff")  # type: ignore[arg-type]
    with pytest.raises(AgentConfigError, match="carry_state must be True or False"):
        HandoffTarget("billing", carry_state="no")  # type: ignore[arg-type]
    with pytest.raises(AgentConfigError, match="handoff_cycles='sometimes' must be 'forbid'"):
        BaseAgent("x", handoff_cycles="sometimes", network=AgentNetwork("bad"))  # type: ignore[arg-type]


async def test_add_handoff_with_options_replaces_the_edges_options() -> None:
    network = AgentNetwork("replace")
    specialists(network)
    model = ScriptedModel(["One.", "Two."])
    desk = BaseAgent("desk", model=model, handoffs=["billing"], network=network)
    await desk.run("Hi")
    desk.add_handoff(HandoffTarget("billing", description="Only refunds"))
    await desk.run("Hi")
    assert desk.target_names() == ["billing"]
    before, after = (tool_descriptions(r)["transfer_to_billing"] for r in model.requests)
    assert before.endswith("Invoices and payments.") and after.endswith("Only refunds")
    desk.add_handoff("billing")  # a plain name again: the options stay
    assert desk.edge("billing") is not None
