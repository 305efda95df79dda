"""Handoffs end to end with ``ScriptedModel``: triggers, hooks, failures, bounds, ownership.

Each test runs in a fresh agent network (the ``agent_network`` fixture, autouse here), so tests
never see each other's agents. Failures are asserted in the result and the events: a handoff
never raises.
"""

import json
from typing import Any

import pytest

from webagents import BaseAgent, Context, HandoffError, HookError, MaxTurnsExceeded, Skill
from webagents._names import transfer_tool_name
from webagents.agents import InMemorySessionStore
from webagents.agents.result import RunResult
from webagents.agents.skills.decorators import handoff, hook, tool
from webagents.events import HandoffComplete, HandoffFailed, HandoffTransfer
from webagents.testing import (
    error,
    scripted_agent,
    text,
    tool_call,
    tool_calls,
    transfer,
)

make = scripted_agent


def tool_names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request["tools"]]


def system_prompt(request: dict[str, Any]) -> str:
    first = request["messages"][0]
    assert first["role"] == "system"
    return str(first["content"])


def without_system(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["messages"] if m["role"] != "system"]


def events_of(result: RunResult, kind: type) -> list[Any]:
    return [event for event in result.events if isinstance(event, kind)]


def assert_valid_transcript(messages: list[dict[str, Any]]) -> None:
    """Every assistant tool call is answered exactly once, right after its message."""
    for index, message in enumerate(messages):
        calls = message.get("tool_calls") or []
        if not calls:
            continue
        ids = [call["id"] for call in calls]
        following = messages[index + 1 : index + 1 + len(ids)]
        assert [m["role"] for m in following] == ["tool"] * len(ids), messages
        assert sorted(m["tool_call_id"] for m in following) == sorted(ids)
    answered = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert len(answered) == len(set(answered))


# --- condition triggers ----------------------------------------------------------------------


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_static_condition_hands_off(asynchronous: bool) -> None:
    target_name = "finance"

    if asynchronous:

        class Finance(Skill):
            @handoff(target_name, metadata={"priority": "high"})
            async def needs_finance(self, query: str) -> bool:
                """Finance questions go to the expert"""
                return "stock" in query.lower()

    else:

        class Finance(Skill):  # type: ignore[no-redef]
            @handoff(target_name, metadata={"priority": "high"})
            def needs_finance(self, query: str) -> bool:
                """Finance questions go to the expert"""
                return "stock" in query.lower()

    expert, expert_model = make(target_name, [text("Buy low, sell high.")])
    triage, triage_model = make("triage", skills={"finance": Finance()})

    result = await triage.run("How is my STOCK portfolio?")

    assert result.content == "Buy low, sell high."
    assert result.agent == expert.name
    assert result.handoff_chain == [triage.name, expert.name]
    assert triage_model.requests == []  # the condition decided before any model call
    [record] = result.handoffs
    assert record.trigger == "condition"
    assert record.success is True
    assert record.metadata == {"priority": "high"}
    assert record.reason == "Finance questions go to the expert"
    [event] = events_of(result, HandoffTransfer)
    assert (event.from_agent, event.to_agent, event.trigger) == (
        triage.name,
        expert.name,
        "condition",
    )
    assert without_system(expert_model.requests[0]) == [
        {"role": "user", "content": "How is my STOCK portfolio?"}
    ]


async def test_static_condition_false_keeps_the_agent() -> None:
    target_name = "finance"

    class Finance(Skill):
        @handoff(target_name)
        def needs_finance(self, query: str) -> bool:
            return "stock" in query

    _expert, expert_model = make(target_name, [text("unused")])
    triage, _ = make("triage", [text("Hello!")], skills={"f": Finance()})

    result = await triage.run("hi there")

    assert (result.content, result.agent) == ("Hello!", triage.name)
    assert result.handoffs == []
    assert result.handoff_chain == [triage.name]
    assert expert_model.requests == []
    assert events_of(result, HandoffComplete) == []


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("returns", ["name", "agent", "none"])
async def test_dynamic_router(asynchronous: bool, returns: str) -> None:
    legal, _ = make("legal", [text("legal answer")])
    router_agent_name = "router"

    def route(query: str) -> Any:
        if "contract" not in query:
            return None
        return legal.name if returns == "name" else legal

    if asynchronous:

        class Router(Skill):
            @handoff()
            async def route(self, query: str) -> Any:
                return route(query)

    else:

        class Router(Skill):  # type: ignore[no-redef]
            @handoff()
            def route(self, query: str) -> Any:
                return route(query)

    router, router_model = make(router_agent_name, [text("router answer")], skills={"r": Router()})
    message = "a question about the weather" if returns == "none" else "review my contract"

    result = await router.run(message)

    if returns == "none":
        assert (result.content, result.agent, result.handoffs) == (
            "router answer",
            router.name,
            [],
        )
    else:
        assert (result.content, result.agent) == ("legal answer", legal.name)
        assert [r.trigger for r in result.handoffs] == ["condition"]
        assert router_model.requests == []


async def test_bare_handoff_decorator_is_a_router_and_condition_sees_context() -> None:
    vip, _ = make("vip", [text("VIP desk")])
    seen: list[tuple[str | None, str | None, Any]] = []

    class Router(Skill):
        @handoff
        def route(self, query: str, context: Context) -> str | None:
            seen.append((context.peer_user_id, context.session_id, context.get("tier")))
            return vip.name if context.get("tier") == "gold" else None

    front, _ = make("front", [text("front desk")], skills={"r": Router()})

    gold = await front.run("hello", user_id="u1", context={"tier": "gold"})
    basic = await front.run("hello", user_id="u2", context={"tier": "basic"})

    assert (gold.agent, gold.content) == (vip.name, "VIP desk")
    assert (basic.agent, basic.content) == (front.name, "front desk")
    assert seen == [("u1", None, "gold"), ("u2", None, "basic")]


async def test_conditions_run_in_priority_then_declaration_order_first_hit_wins() -> None:
    x, _ = make("x", [text("x")])
    y, _ = make("y", [text("y")])
    z, _ = make("z", [text("z")])
    calls: list[str] = []

    class First(Skill):
        @handoff(x.name, priority=50)
        def to_x(self, query: str) -> bool:
            calls.append("to_x")
            return True

        @handoff(z.name, priority=5)
        def never(self, query: str) -> bool:
            calls.append("never")
            return False

    class Second(Skill):
        @handoff(y.name, priority=20)
        def to_y(self, query: str) -> bool:
            calls.append("to_y")
            return True

        @handoff(z.name, priority=20)
        def to_z(self, query: str) -> bool:
            calls.append("to_z")
            return True

    entry, _ = make("entry", skills={"first": First(), "second": Second()})

    result = await entry.run("anything")

    assert calls == ["never", "to_y"]  # priority 5, then the first declared of priority 20
    assert result.agent == y.name
    assert result.handoff_chain == [entry.name, y.name]


async def test_condition_routing_to_the_agent_itself_is_no_handoff() -> None:
    name = "self"

    class Router(Skill):
        @handoff()
        def route(self, query: str) -> str:
            return name

    agent, model = make(name, [text("I answer myself")], skills={"r": Router()})

    result = await agent.run("hello")

    assert (result.content, result.agent) == ("I answer myself", agent.name)
    assert result.handoffs == []
    assert events_of(result, HandoffFailed) == []
    assert len(model.requests) == 1


async def test_conditions_are_evaluated_again_on_the_target() -> None:
    c, c_model = make("c", [text("C answers")])

    class ToC(Skill):
        @handoff(c.name)
        def go(self, query: str) -> bool:
            return True

    b, b_model = make("b", skills={"to_c": ToC()})

    class ToB(Skill):
        @handoff(b.name)
        def go(self, query: str) -> bool:
            return True

    a, a_model = make("a", skills={"to_b": ToB()})

    result = await a.run("route me")

    assert result.content == "C answers"
    assert result.handoff_chain == [a.name, b.name, c.name]
    assert [(r.from_agent, r.to_agent) for r in result.handoffs] == [
        (a.name, b.name),
        (b.name, c.name),
    ]
    assert a_model.requests == [] and b_model.requests == []
    assert len(c_model.requests) == 1


# --- the LLM trigger -------------------------------------------------------------------------


async def test_transfer_tool_carries_target_description_and_reason() -> None:
    billing, billing_model = make(
        "billing", [text("Your invoice is paid.")], description="Handles invoices"
    )
    triage, triage_model = make(
        "triage", [transfer(billing.name, "invoice question")], handoffs=[billing]
    )

    result = await triage.run("Is my invoice paid?")

    [offered] = [
        t
        for t in triage_model.requests[0]["tools"]
        if t["function"]["name"] == transfer_tool_name(billing.name)
    ]
    assert "Handles invoices" in offered["function"]["description"]
    assert "reason" in offered["function"]["parameters"]["properties"]
    assert result.content == "Your invoice is paid."
    assert result.agent == billing.name
    [record] = result.handoffs
    assert (record.trigger, record.reason, record.success) == ("llm", "invoice question", True)
    [event] = events_of(result, HandoffTransfer)
    assert (event.agent, event.reason, event.trigger) == (triage.name, "invoice question", "llm")
    # The target continues the full conversation, transfer traffic included.
    roles = [m["role"] for m in without_system(billing_model.requests[0])]
    assert roles == ["user", "assistant", "tool"]
    assert_valid_transcript(result.messages)
    assert result.messages[-1] == {"role": "assistant", "content": "Your invoice is paid."}


async def test_handoffs_given_as_names_resolve_through_the_network() -> None:
    support_name = "support"
    # The target is named before it exists; it is resolved (with its description) at run time.
    triage, triage_model = make("triage", [transfer(support_name)], handoffs=[support_name])
    support, _ = make(support_name, [text("support here")], description="Fixes broken things")

    result = await triage.run("it is broken")

    offered = {t["function"]["name"]: t for t in triage_model.requests[0]["tools"]}
    assert (
        "Fixes broken things"
        in offered[transfer_tool_name(support_name)]["function"]["description"]
    )
    assert (result.agent, result.content) == (support.name, "support here")
    [record] = result.handoffs
    assert record.trigger == "llm"
    assert record.reason  # a default reason when the model gave none
    assert support_name in record.reason


# --- handoff hooks ---------------------------------------------------------------------------


async def test_handoff_hooks_see_the_handoff_and_context_reaches_the_target() -> None:
    seen_before: list[dict[str, Any]] = []
    seen_after: list[Any] = []
    seen_by_target: list[Any] = []

    class Prepare(Skill):
        @hook("before_handoff")
        def prepare(self, context: Context) -> Context:
            seen_before.append(
                {
                    "agent": context["handoff_agent"],
                    "metadata": dict(context["handoff_metadata"]),
                    "reason": context["handoff_reason"],
                    "handoff_context": dict(context["handoff_context"]),
                }
            )
            context["handoff_context"] = {"ticket": "T-4242", "source": context.agent_name}
            context["handoff_metadata"] = {"tier": "gold"}
            return context

        @hook("after_handoff")
        async def after(self, context: Context) -> None:
            seen_after.append(dict(context["handoff_result"]))

    class Observe(Skill):
        @hook("before_llm_call")
        def observe(self, context: Context) -> None:
            seen_by_target.append(("hook", context.agent_name, context.get("handoff_context")))

        @tool
        def ticket(self) -> str:
            """The ticket handed over."""
            return str(self.get_context()["handoff_context"]["ticket"])

    expert, expert_model = make(
        "expert",
        [tool_call("ticket"), text("Handled T-4242")],
        skills={"observe": Observe()},
    )
    triage, _ = make(
        "triage",
        [transfer(expert.name, "needs an expert")],
        handoffs=[expert],
        skills={"prepare": Prepare()},
    )

    result = await triage.run("help")

    assert seen_before == [
        {"agent": expert.name, "metadata": {}, "reason": "needs an expert", "handoff_context": {}}
    ]
    payload = {"ticket": "T-4242", "source": triage.name}
    # Handed-over context is data in a delimited user message, never system instructions.
    assert "T-4242" not in system_prompt(expert_model.requests[0])
    handed = [
        m
        for m in expert_model.requests[0]["messages"]
        if "<handoff_context>" in (m.get("content") or "")
    ]
    assert [m["role"] for m in handed] == ["user"]
    assert json.loads(handed[0]["content"].split("\n")[2]) == payload
    assert seen_by_target == [("hook", expert.name, payload)] * 2
    tool_outputs = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert tool_outputs[-1] == "T-4242"
    assert seen_after == [
        {"success": True, "response": "Handled T-4242", "agent": expert.name, "error": None}
    ]
    assert result.handoffs[0].metadata == {"tier": "gold"}  # a before-hook may set metadata


async def test_after_handoff_of_an_outer_handoff_sees_its_own_target() -> None:
    seen: list[tuple[str, Any]] = []

    c, _ = make("c", [text("C answers")])

    class ToC(Skill):
        @handoff(c.name)
        def go(self, query: str) -> bool:
            return True

        @hook("after_handoff")
        def after(self, context: Context) -> None:
            seen.append(("b", context["handoff_agent"]))

    b, _ = make("b", skills={"to_c": ToC()})

    class ToB(Skill):
        @handoff(b.name)
        def go(self, query: str) -> bool:
            return True

        @hook("after_handoff")
        def after(self, context: Context) -> None:
            seen.append(("a", context["handoff_agent"]))
            assert context["handoff_result"]["agent"] == c.name

    a, _ = make("a", skills={"to_b": ToB()})

    result = await a.run("go")

    assert result.content == "C answers"
    assert seen == [("b", c.name), ("a", b.name)]


# --- failures: always in the result, never raised --------------------------------------------


async def test_unknown_condition_target_fails_and_source_answers() -> None:
    ghost = "ghost"

    class Router(Skill):
        @handoff(ghost)
        def go(self, query: str) -> bool:
            return True

    triage, _ = make("triage", [text("I will help myself")], skills={"r": Router()})

    result = await triage.run("hello")

    assert (result.content, result.agent) == ("I will help myself", triage.name)
    assert result.handoff_chain == [triage.name]
    [record] = result.handoffs
    assert record.success is False
    assert record.error is not None
    assert f"unknown agent {ghost!r}" in record.error
    assert triage.name not in record.error  # never a listing of the process's agents
    [failed] = events_of(result, HandoffFailed)
    assert (failed.agent, failed.to_agent, failed.error) == (triage.name, ghost, record.error)
    assert events_of(result, HandoffTransfer) == []


async def test_unknown_transfer_target_tells_the_model_and_it_answers() -> None:
    ghost = "ghost"
    triage, model = make(
        "triage",
        [transfer(ghost, "try the ghost"), text("Answering myself")],
        handoffs=[ghost],
    )

    result = await triage.run("hello")

    assert (result.content, result.agent) == ("Answering myself", triage.name)
    [record] = result.handoffs
    assert (record.success, record.trigger, record.reason) == (False, "llm", "try the ghost")
    assert record.error is not None and "unknown agent" in record.error
    tool_message = model.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert "failed" in tool_message["content"]
    assert_valid_transcript(result.messages)


async def test_veto_by_handoff_error_keeps_the_source() -> None:
    results: list[Any] = []

    class Guard(Skill):
        @hook("before_handoff")
        async def check(self, context: Context) -> Context:
            raise HandoffError(f"{context['handoff_agent']} needs a paid plan")

        @hook("after_handoff")
        def after(self, context: Context) -> None:
            results.append(dict(context["handoff_result"]))

    premium, premium_model = make("premium", [text("never")])
    triage, triage_model = make(
        "triage",
        [transfer(premium.name), text("I can help with the basics.")],
        handoffs=[premium],
        skills={"guard": Guard()},
    )

    result = await triage.run("premium please")

    assert (result.content, result.agent) == ("I can help with the basics.", triage.name)
    assert premium_model.requests == []
    [record] = result.handoffs
    assert record.success is False
    assert record.error is not None and "needs a paid plan" in record.error
    assert [e.error for e in events_of(result, HandoffFailed)] == [record.error]
    assert results == [
        {"success": False, "response": None, "agent": premium.name, "error": record.error}
    ]
    assert "needs a paid plan" in triage_model.requests[1]["messages"][-1]["content"]


@pytest.mark.parametrize("trigger", ["condition", "llm"])
async def test_target_raising_is_a_failed_handoff_and_is_rolled_back(trigger: str) -> None:
    counted: list[str] = []

    class Work(Skill):
        @tool
        def work(self) -> str:
            """Do some work."""
            counted.append("work")
            return "worked"

    broken, broken_model = make(
        "broken",
        [tool_call("work"), error(500, "upstream exploded")],
        skills={"work": Work()},
    )

    class Router(Skill):
        @handoff(broken.name)
        def go(self, query: str) -> bool:
            return trigger == "condition"

    replies = (
        [text("Source answers")]
        if trigger == "condition"
        else [
            transfer(broken.name),
            text("Source answers"),
        ]
    )
    source, source_model = make("source", replies, handoffs=[broken], skills={"r": Router()})

    result = await source.run("please work")

    assert counted == ["work"]  # the target did start working before it failed
    assert len(broken_model.requests) == 2
    assert (result.content, result.agent) == ("Source answers", source.name)
    assert result.handoff_chain == [source.name]
    [record] = result.handoffs
    assert (record.success, record.trigger) == (False, trigger)
    assert record.error is not None
    # The record names the failure; the exception's own text stays in the log.
    assert record.error == f"{broken.name} is unavailable (ModelError)"
    # Nothing the target did is left in the transcript.
    assert not any(m.get("content") == "worked" for m in result.messages)
    assert not any(
        call["function"]["name"] == "work"
        for m in result.messages
        for call in m.get("tool_calls") or []
    )
    assert not any(m.get("content") == "worked" for m in source_model.requests[-1]["messages"])
    assert_valid_transcript(result.messages)
    [failed] = events_of(result, HandoffFailed)
    assert failed.to_agent == broken.name
    assert events_of(result, HandoffComplete) == []


async def test_after_handoff_may_substitute_a_fallback_answer() -> None:
    class Fallback(Skill):
        @hook("after_handoff")
        def fallback(self, context: Context) -> Context:
            result = context["handoff_result"]
            if not result["success"]:
                context["handoff_result"] = {
                    "success": True,
                    "response": f"Fallback answer ({result['error'][:20]})",
                    "fallback": True,
                }
            return context

    broken, _ = make("broken", [error(503, "down for maintenance")])

    class Router(Skill):
        @handoff(broken.name)
        def go(self, query: str) -> bool:
            return True

    source, source_model = make("source", skills={"fallback": Fallback(), "router": Router()})

    result = await source.run("hello")

    assert result.content.startswith("Fallback answer (")
    assert result.agent == source.name
    assert source_model.requests == []  # the substituted answer is the answer
    assert result.messages[-1] == {"role": "assistant", "content": result.content}
    [record] = result.handoffs
    assert record.success is False  # the record says what really happened


async def test_max_handoffs_bounds_llm_transfers_and_names_the_chain() -> None:
    c, c_model = make("c", [text("never")])
    b, b_model = make("b", [transfer(c.name, "go on"), text("B answers")], handoffs=[c])
    a, _ = make("a", [transfer(b.name)], handoffs=[b], max_handoffs=1)

    result = await a.run("hello")

    assert transfer_tool_name(c.name) not in tool_names(b_model.requests[0])  # not offered
    assert (result.content, result.agent) == ("B answers", b.name)
    assert result.handoff_chain == [a.name, b.name]
    assert c_model.requests == []
    assert [r.success for r in result.handoffs] == [True, False]
    error_text = result.handoffs[1].error
    assert error_text is not None
    assert "max_handoffs (1)" in error_text
    assert f"{a.name} -> {b.name}" in error_text
    assert_valid_transcript(result.messages)


async def test_max_handoffs_bounds_condition_chains_and_reports_it() -> None:
    d, d_model = make("d", [text("never")])
    chain: list[BaseAgent] = [d]
    for letter in "cba":
        nxt = chain[0]

        def make_skill(target: str) -> Skill:
            class Always(Skill):
                @handoff(target)
                def go(self, query: str) -> bool:
                    return True

            return Always()

        agent, _ = make(
            letter,
            [text(f"{letter} answers")],
            skills={"always": make_skill(nxt.name)},
            max_handoffs=2,
        )
        chain.insert(0, agent)
    a, b, c, _ = chain

    result = await a.run("hello")

    assert result.handoff_chain == [a.name, b.name, c.name]
    assert (result.content, result.agent) == ("c answers", c.name)
    assert d_model.requests == []
    assert [r.success for r in result.handoffs] == [True, True, False]
    error_text = result.handoffs[2].error
    assert error_text is not None and "max_handoffs (2)" in error_text
    assert f"{a.name} -> {b.name} -> {c.name}" in error_text
    assert len(events_of(result, HandoffFailed)) == 1


async def test_ping_pong_is_refused_and_the_taken_edge_is_not_offered_again() -> None:
    b_name = "b"
    a, a_model = make(
        "a",
        [transfer(b_name, "first"), transfer(b_name, "again"), text("A final")],
        handoffs=[b_name],
    )
    b, b_model = make(b_name, [transfer(a.name, "back")], handoffs=[a])

    result = await a.run("hello")

    assert (result.content, result.agent) == ("A final", a.name)
    assert result.handoff_chain == [a.name, b.name, a.name]
    assert transfer_tool_name(b.name) in tool_names(a_model.requests[0])
    assert transfer_tool_name(b.name) not in tool_names(a_model.requests[1])
    assert len(b_model.requests) == 1
    assert [(r.from_agent, r.to_agent, r.success) for r in result.handoffs] == [
        (a.name, b.name, True),
        (b.name, a.name, True),
        (a.name, b.name, False),
    ]
    error_text = result.handoffs[2].error
    assert error_text is not None and "ping-pong" in error_text
    assert f"{a.name} -> {b.name} -> {a.name}" in error_text
    assert_valid_transcript(result.messages)


async def test_models_that_always_transfer_terminate() -> None:
    a_name, b_name = "a", "b"
    a, a_model = make(
        a_name, responder=lambda request: transfer(b_name), handoffs=[b_name], max_turns=3
    )
    b, b_model = make(
        b_name, responder=lambda request: transfer(a_name), handoffs=[a_name], max_turns=3
    )

    with pytest.raises(MaxTurnsExceeded) as raised:
        await a.run("loop forever")

    assert raised.value.agent == a.name
    # Each agent is bounded by its own max_turns (plus the one call to answer that a failed
    # transfer grants) in each activation: a's first, its second, and its resumption.
    assert len(a_model.requests) <= 3 * (a.max_turns + 1)
    assert len(b_model.requests) <= 2 * (b.max_turns + 1)  # its activation and resumption


async def test_condition_ping_pong_terminates() -> None:
    a_name, b_name = "a", "b"

    def always(target: str) -> Skill:
        class Always(Skill):
            @handoff(target)
            def go(self, query: str) -> bool:
                return True

        return Always()

    a, _ = make(a_name, [text("A answers")], skills={"x": always(b_name)})
    b, b_model = make(b_name, [text("never")], skills={"x": always(a_name)})

    result = await a.run("hello")

    assert (result.content, result.agent) == ("A answers", a.name)
    assert result.handoff_chain == [a.name, b.name, a.name]
    assert b_model.requests == []
    assert [r.success for r in result.handoffs] == [True, True, False]
    assert result.handoffs[2].error is not None and "ping-pong" in result.handoffs[2].error


# --- transcript hygiene ----------------------------------------------------------------------


async def test_transfer_with_other_tool_calls_answers_every_call() -> None:
    ran: list[str] = []

    def lookup(order: str) -> str:
        """Look up an order."""
        ran.append(order)
        return "found"

    billing, billing_model = make("billing", [text("billing here")])
    triage, _ = make(
        "triage",
        [
            tool_calls(
                ("lookup", {"order": "1"}),
                (transfer_tool_name(billing.name), {"reason": "money"}),
                ("lookup", {"order": "2"}),
            )
        ],
        handoffs=[billing],
        tools=[lookup],
    )

    result = await triage.run("where is my refund")

    assert ran == []  # one transfer per turn: the other calls are answered, not run
    assert result.agent == billing.name
    assert_valid_transcript(result.messages)
    assert_valid_transcript(without_system(billing_model.requests[0]))
    assistant_index = next(i for i, m in enumerate(result.messages) if m.get("tool_calls"))
    calls = result.messages[assistant_index]["tool_calls"]
    answers = {
        m["tool_call_id"]: m["content"]
        for m in result.messages[assistant_index + 1 : assistant_index + 4]
    }
    assert answers[calls[0]["id"]].startswith("Not run")
    assert answers[calls[2]["id"]].startswith("Not run")
    assert billing.name in answers[calls[1]["id"]]


async def test_two_transfers_in_one_turn_only_the_first_is_performed() -> None:
    first, _ = make("first", [text("first here")])
    second, second_model = make("second", [text("never")])
    triage, _ = make(
        "triage",
        [
            tool_calls(
                (transfer_tool_name(first.name), {}),
                (transfer_tool_name(second.name), {}),
            )
        ],
        handoffs=[first, second],
    )

    result = await triage.run("hello")

    assert (result.content, result.agent) == ("first here", first.name)
    assert result.handoff_chain == [triage.name, first.name]
    assert len(result.handoffs) == 1
    assert second_model.requests == []
    assert_valid_transcript(result.messages)
    assert any(
        m["role"] == "tool" and m["content"].startswith("Not performed") for m in result.messages
    )


# --- ownership with sessions -----------------------------------------------------------------


async def test_target_owns_the_session_until_it_hands_back() -> None:
    store = InMemorySessionStore()
    triage_name = "triage"
    billing, billing_model = make(
        "billing",
        [text("billing 1"), text("billing 2"), transfer(triage_name, "not billing")],
        handoffs=[triage_name],
        sessions=store,
    )
    triage, triage_model = make(
        triage_name,
        [transfer(billing.name), text("triage again"), text("triage later"), text("other")],
        handoffs=[billing],
        sessions=store,
    )
    session = "s-1"  # the store is this test's own

    first = await triage.run("about my bill", session_id=session)
    second = await triage.run("and another thing", session_id=session)
    other = await triage.run("separate chat", session_id="s-2")

    assert (first.agent, first.content) == (billing.name, "billing 1")
    assert (second.agent, second.content) == (billing.name, "billing 2")
    assert second.handoff_chain == [billing.name]
    assert len(triage_model.requests) == 2  # the transfer, then the other session's answer
    assert (other.agent, other.content) == (triage.name, "triage again")
    # The owner's second request carries the whole session.
    contents = [m.get("content") for m in without_system(billing_model.requests[1])]
    assert contents[0] == "about my bill"
    assert contents[-1] == "and another thing"
    assert "billing 1" in contents

    back = await triage.run("something else", session_id=session)
    later = await triage.run("and later", session_id=session)

    assert (back.agent, back.content) == (triage.name, "triage later")
    assert back.handoff_chain == [billing.name, triage.name]
    assert (later.agent, later.content) == (triage.name, "other")
    assert later.handoff_chain == [triage.name]


# --- what the target receives ----------------------------------------------------------------

HISTORY = [
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": "second question"},
]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("last_user", [HISTORY[2]]),
        ("conversation", HISTORY),
        (lambda messages: [m for m in messages if m["role"] == "user"][:1], [HISTORY[0]]),
    ],
    ids=["last_user", "conversation", "callable"],
)
async def test_handoff_history_policies(policy: Any, expected: list[dict[str, Any]]) -> None:
    target, target_model = make("target", [text("target answer")], handoff_history=policy)
    source, _ = make("source", [transfer(target.name)], handoffs=[target])

    result = await source.run(HISTORY)

    assert without_system(target_model.requests[0]) == expected
    assert result.content == "target answer"
    # The run's transcript stays whole and valid whatever the target was shown.
    assert result.messages[:3] == HISTORY
    assert result.messages[-1] == {"role": "assistant", "content": "target answer"}
    assert_valid_transcript(result.messages)


async def test_full_history_is_the_default() -> None:
    target, target_model = make("target", [text("ok")])
    source, _ = make("source", [transfer(target.name)], handoffs=[target])

    await source.run(HISTORY)

    received = without_system(target_model.requests[0])
    assert received[:3] == HISTORY
    assert [m["role"] for m in received[3:]] == ["assistant", "tool"]


# --- errors in user code propagate -----------------------------------------------------------


async def test_before_handoff_hook_raising_is_a_hook_error() -> None:
    class Guard(Skill):
        @hook("before_handoff")
        def check(self, context: Context) -> Context:
            raise ValueError("bad guard")

    target, _ = make("target", [text("never")])
    source, _ = make("source", [transfer(target.name)], handoffs=[target], skills={"g": Guard()})

    with pytest.raises(HookError) as raised:
        await source.run("hello")

    message = str(raised.value)
    assert "Guard.check" in message and "before_handoff" in message and "bad guard" in message
    assert isinstance(raised.value.__cause__, ValueError)


async def test_condition_raising_is_a_hook_error() -> None:
    class Router(Skill):
        @handoff()
        async def route(self, query: str) -> str | None:
            raise KeyError("no table")

    agent, _ = make("agent", [text("never")], skills={"r": Router()})

    with pytest.raises(HookError, match=r"Router\.route") as raised:
        await agent.run("hello")

    assert "handoff condition" in str(raised.value)


async def test_dynamic_router_returning_a_non_name_is_a_hook_error() -> None:
    class Router(Skill):
        @handoff()
        def route(self, query: str) -> Any:
            return 42

    agent, _ = make("agent", [text("never")], skills={"r": Router()})

    with pytest.raises(HookError, match=r"Router\.route"):
        await agent.run("hello")


async def test_hook_error_in_the_target_propagates() -> None:
    class Broken(Skill):
        @hook("before_llm_call")
        def explode(self, context: Context) -> None:
            raise RuntimeError("target hook bug")

    target, _ = make("target", [text("never")], skills={"b": Broken()})
    source, _ = make("source", [transfer(target.name), text("no")], handoffs=[target])

    with pytest.raises(HookError, match=r"Broken\.explode") as raised:
        await source.run("hello")

    assert "before_llm_call" in str(raised.value)


# --- records and events ----------------------------------------------------------------------


async def test_handoff_record_fields_and_complete_event() -> None:
    c, _ = make("c", [text("done")])
    b, _ = make("b", [transfer(c.name, "to c")], handoffs=[c])

    class ToB(Skill):
        @handoff(b.name, metadata={"lane": "fast"})
        def go(self, query: str) -> bool:
            """Everything goes to b"""
            return True

    a, _ = make("a", skills={"to_b": ToB()})

    result = await a.run("hello")

    first, second = result.handoffs
    assert first.from_agent == a.name and first.to_agent == b.name
    assert (first.reason, first.trigger, first.metadata) == (
        "Everything goes to b",
        "condition",
        {"lane": "fast"},
    )
    assert (first.success, first.error) == (True, None)
    assert second.from_agent == b.name and second.to_agent == c.name
    assert (second.reason, second.trigger, second.metadata) == ("to c", "llm", {})
    assert all(r.duration_ms >= 0 for r in result.handoffs)
    assert first.to_dict()["to_agent"] == b.name
    [complete] = events_of(result, HandoffComplete)
    assert complete.chain == (a.name, b.name, c.name)
    assert complete.final_agent == c.name
    assert complete.agent == c.name
    assert result.events[-1] is complete
    transfers = events_of(result, HandoffTransfer)
    assert [(t.agent, t.from_agent, t.to_agent) for t in transfers] == [
        (a.name, a.name, b.name),
        (b.name, b.name, c.name),
    ]
