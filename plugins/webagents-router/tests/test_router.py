"""RouterSkill: routing from configuration, through real agents and scripted models."""

from __future__ import annotations

import asyncio
import importlib.metadata
from typing import Any

import pytest
import webagents_router
from webagents_router import RouterConfig, RouterSkill, RuleConfig

from webagents import AgentConfigError, BaseAgent, Context, Skill, hook
from webagents.events import HandoffTransfer
from webagents.plugins import PluginRegistry
from webagents.testing import ScriptedModel, transfer

# Every test builds its agents in a fresh agent network (the plugin's `agent_network`).
pytestmark = pytest.mark.usefixtures("agent_network")


def expert(prefix: str, answer: str) -> tuple[BaseAgent, ScriptedModel]:
    model = ScriptedModel(responder=lambda request: answer)
    return BaseAgent(prefix, f"You are {prefix}.", model=model), model


def front_desk(
    config: dict[str, Any], *replies: Any, **kwargs: Any
) -> tuple[BaseAgent, ScriptedModel]:
    model = ScriptedModel(replies)
    agent = BaseAgent(
        "front",
        "Greet customers.",
        model=model,
        skills={"router": RouterSkill(config)},
        **kwargs,
    )
    return agent, model


# routing ---------------------------------------------------------------------------------


async def test_keyword_routes_case_insensitively_to_the_target() -> None:
    billing, billing_model = expert("billing", "Refund issued.")
    front, front_model = front_desk(
        {"rules": [{"target": billing.name, "keywords": ["invoice", "refund"]}]}
    )

    result = await front.run("I need a REFUND, please")

    assert result.content == "Refund issued."
    assert result.agent == billing.name
    assert result.handoff_chain == [front.name, billing.name]
    assert front_model.requests == []  # the router decided without the model
    assert billing_model.requests[0]["messages"][-1]["content"] == "I need a REFUND, please"
    record = result.handoffs[0]
    assert (record.from_agent, record.to_agent) == (front.name, billing.name)
    assert record.trigger == "condition" and record.success


async def test_keyword_matches_whole_words_and_phrases_only() -> None:
    billing, _ = expert("billing", "Billing here.")
    front, _ = front_desk(
        {"rules": [{"target": billing.name, "keywords": ["refund", "credit card"]}]},
        "I answer myself.",
        "I answer myself again.",
    )

    partial = await front.run("Is refunding allowed?")
    phrase = await front.run("my Credit\n  Card was charged twice")

    assert (partial.agent, partial.content, partial.handoffs) == (
        front.name,
        "I answer myself.",
        [],
    )
    assert phrase.agent == billing.name


async def test_pattern_routes_and_is_case_insensitive_by_default() -> None:
    orders, _ = expert("orders", "Order 42 ships tomorrow.")
    front, _ = front_desk({"rules": [{"target": orders.name, "patterns": [r"\border\s+#?\d+"]}]})

    result = await front.run("Where is Order #42?")

    assert (result.agent, result.content) == (orders.name, "Order 42 ships tomorrow.")
    assert result.handoffs[0].reason == (
        f"router rule 0 ({orders.name}): matched pattern '\\\\border\\\\s+#?\\\\d+'"
    )


async def test_case_sensitive_rule_ignores_other_casing() -> None:
    ops, _ = expert("ops", "Ops here.")
    front, _ = front_desk(
        {"rules": [{"target": ops.name, "keywords": ["SEV1"], "case_sensitive": True}]},
        "Nothing urgent, then.",
    )

    lower = await front.run("is this a sev1?")
    exact = await front.run("SEV1 in production")

    assert lower.agent == front.name and lower.handoffs == []
    assert exact.agent == ops.name


async def test_lower_priority_wins_whatever_the_list_order() -> None:
    general, _ = expert("general", "General billing.")
    urgent, _ = expert("urgent", "Urgent desk.")
    front, _ = front_desk(
        {
            "rules": [
                {"target": general.name, "keywords": ["invoice"]},  # priority 50
                {"target": urgent.name, "keywords": ["invoice"], "priority": 10},
            ]
        }
    )

    result = await front.run("invoice problem")

    assert result.agent == urgent.name


async def test_equal_priority_keeps_list_order() -> None:
    first, _ = expert("first", "First.")
    second, _ = expert("second", "Second.")
    front, _ = front_desk(
        {
            "rules": [
                {"target": first.name, "patterns": ["help"], "priority": 5},
                {"target": second.name, "keywords": ["help"], "priority": 5},
            ]
        }
    )

    result = await front.run("help me")

    assert result.agent == first.name


async def test_no_match_means_no_handoff_and_the_source_answers() -> None:
    billing, billing_model = expert("billing", "Billing.")
    front, front_model = front_desk(
        {"rules": [{"target": billing.name, "keywords": ["invoice"]}]}, "Hello! How can I help?"
    )

    result = await front.run("good morning")

    assert result.content == "Hello! How can I help?"
    assert result.agent == front.name
    assert result.handoffs == [] and result.handoff_chain == [front.name]
    assert len(front_model.requests) == 1 and billing_model.requests == []


async def test_default_target_takes_unmatched_messages() -> None:
    billing, _ = expert("billing", "Billing.")
    triage, _ = expert("triage", "Triage here.")
    front, _ = front_desk(
        {"rules": [{"target": billing.name, "keywords": ["invoice"]}], "default": triage.name}
    )

    routed = await front.run("invoice please")
    defaulted = await front.run("something else")

    assert routed.agent == billing.name
    assert defaulted.agent == triage.name
    assert defaulted.handoffs[0].reason == (
        f"router: no rule matched; default route to {triage.name}"
    )


async def test_rule_metadata_and_reason_reach_the_handoff_record() -> None:
    billing, _ = expert("billing", "Billing.")
    front, _ = front_desk(
        {
            "rules": [
                {
                    "target": billing.name,
                    "keywords": ["refund"],
                    "metadata": {"queue": "payments", "tier": 2},
                    "reason": "billing question",
                }
            ]
        }
    )

    result = await front.run("refund please")

    record = result.handoffs[0]
    assert record.metadata == {"queue": "payments", "tier": 2}
    assert record.reason == "billing question"
    assert record.trigger == "condition" and record.success
    transfers = [e for e in result.events if isinstance(e, HandoffTransfer)]
    assert [(e.to_agent, e.reason) for e in transfers] == [(billing.name, "billing question")]


async def test_the_match_is_in_the_context_for_other_hooks() -> None:
    seen: list[dict[str, Any]] = []

    class Audit(Skill):
        @hook("before_handoff")
        def audit(self, context: Context) -> None:
            seen.append(
                {
                    "rule": dict(context["router_rule"]),
                    "metadata": dict(context["handoff_metadata"]),
                    "reason": context["handoff_reason"],
                }
            )

    billing, _ = expert("billing", "Billing.")
    front = BaseAgent(
        "front",
        model=ScriptedModel(),
        skills={
            "router": RouterSkill(
                {"rules": [{"target": billing.name, "keywords": ["x"], "metadata": {"k": 1}}]}
            ),
            "audit": Audit(),
        },
    )

    await front.run("x marks the spot")

    reason = f"router rule 0 ({billing.name}): matched keyword 'x'"
    assert seen == [
        {
            "rule": {
                "agent": front.name,
                "target": billing.name,
                "rule": 0,
                "matched": "keyword 'x'",
                "reason": reason,
                "metadata": {"k": 1},
            },
            "metadata": {"k": 1},
            "reason": reason,
        }
    ]


async def test_a_transfer_chosen_by_the_model_keeps_its_own_reason() -> None:
    billing, _ = expert("billing", "Billing.")
    support, _ = expert("support", "Support.")
    front, _ = front_desk(
        {"rules": [{"target": billing.name, "keywords": ["invoice"], "metadata": {"q": 1}}]},
        transfer(support.name, "user reports a crash"),
        handoffs=[support],
    )

    result = await front.run("the app crashes")

    record = result.handoffs[0]
    assert (record.to_agent, record.trigger) == (support.name, "llm")
    assert (record.reason, record.metadata) == ("user reports a crash", {})


async def test_a_rule_naming_an_unknown_agent_fails_and_the_source_answers() -> None:
    missing = "nobody"
    front, _ = front_desk(
        {"rules": [{"target": missing, "keywords": ["refund"]}]}, "I can help myself."
    )

    result = await front.run("refund")

    assert (result.agent, result.content) == (front.name, "I can help myself.")
    record = result.handoffs[0]
    assert record.to_agent == missing and not record.success
    assert record.error is not None and missing in record.error


async def test_concurrent_runs_route_independently() -> None:
    billing, _ = expert("billing", "Billing.")
    support, _ = expert("support", "Support.")
    front, _ = front_desk(
        {
            "rules": [
                {"target": billing.name, "keywords": ["invoice"], "metadata": {"q": "b"}},
                {"target": support.name, "keywords": ["crash"], "metadata": {"q": "s"}},
            ]
        }
    )

    results = await asyncio.gather(*(front.run(q) for q in ["invoice", "crash"] * 3))

    assert [(r.agent, r.handoffs[0].metadata) for r in results] == [
        (billing.name, {"q": "b"}),
        (support.name, {"q": "s"}),
    ] * 3


def test_match_reports_the_rule_without_a_run() -> None:
    router = RouterSkill(
        {"rules": [{"target": "a", "keywords": ["k"]}, {"target": "b", "patterns": [r"\d{3}"]}]}
    )

    found = router.match("call 555")

    assert found is not None
    assert (found.target, found.rule, found.matched) == ("b", 1, "pattern '\\\\d{3}'")
    assert router.match("nothing") is None


# configuration errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"rule": []}, "rule: unknown key; did you mean 'rules'? Keys: rules, default"),
        (
            {"rules": [{"target": "a", "keywords": ["x"]}, {"target": "b", "keyword": ["y"]}]},
            "rules[1].keyword: unknown key; did you mean 'keywords'? Keys: target, keywords,",
        ),
        ({"rules": [{"keywords": ["x"]}]}, "rules[0].target: required, but missing"),
        (
            {"rules": [{"target": " ", "keywords": ["x"]}]},
            "rules[0].target: Value error, must be a non-empty",
        ),
        (
            {"rules": [{"target": "a", "keywords": ["x"]}, {"target": "b"}]},
            "rules[1]: Value error, the rule has no keywords and no patterns",
        ),
        (
            {"rules": [{"target": "a", "keywords": [], "patterns": []}]},
            "rules[0]: Value error, the rule has no keywords and no patterns",
        ),
        (
            {"rules": [{"target": "a", "keywords": "refund"}]},
            "rules[0].keywords: Input should be a valid list",
        ),
        (
            {"rules": [{"target": "a", "keywords": ["ok", ""]}]},
            "rules[0].keywords[1]: Value error, must be a non-empty string",
        ),
        (
            {"rules": [{"target": "a", "keywords": ["x"], "priority": "high"}]},
            "rules[0].priority: Input should be a valid integer",
        ),
        (
            {"rules": [{"target": "a", "keywords": ["x"], "priority": True}]},
            "rules[0].priority: Input should be a valid integer",
        ),
        (
            {"rules": [{"target": "a", "keywords": ["x"], "metadata": ["q"]}]},
            "rules[0].metadata: Input should be a valid dictionary",
        ),
        ({"rules": {"target": "a"}}, "rules: Input should be a valid list"),
        ({"rules": ["billing"]}, "rules[0]: Input should be a valid dictionary"),
        ({"default": ""}, "default: Value error, must be a non-empty agent name"),
    ],
    ids=[
        "unknown-key",
        "unknown-rule-key",
        "missing-target",
        "blank-target",
        "empty-rule",
        "empty-lists",
        "keywords-string",
        "empty-keyword",
        "priority-type",
        "priority-bool",
        "metadata-type",
        "rules-type",
        "rule-type",
        "default-blank",
    ],
)
def test_bad_config_is_a_clear_error(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(AgentConfigError) as raised:
        RouterSkill(config)

    message = str(raised.value)
    assert message.startswith("RouterSkill config is invalid: ")
    assert expected in message


def test_misspelled_key_fails_at_construction_naming_skill_and_field(
    register_plugin: Any,
) -> None:
    config = {"rules": [{"target": "billing", "keywords": ["invoice"], "priorty": 1}]}
    expected = (
        "RouterSkill config is invalid: rules[0].priorty: unknown key; did you mean "
        "'priority'? Keys: target, keywords, patterns, priority, metadata, reason, case_sensitive"
    )
    with pytest.raises(AgentConfigError) as raised:
        RouterSkill(config)
    assert str(raised.value) == expected
    assert RouterSkill.config_model is RouterConfig

    register_plugin(webagents_router)  # by the registered name, in an agent: the same error
    with pytest.raises(AgentConfigError) as raised:
        BaseAgent("bad-config", skills={"r": {"name": "router", "config": config}})
    assert str(raised.value) == expected


def test_validated_config_is_kept_as_settings() -> None:
    router = RouterSkill({"rules": [{"target": "billing", "keywords": ["invoice"]}]})
    assert isinstance(router.settings, RouterConfig)
    assert router.settings.rules[0] == RuleConfig(target="billing", keywords=["invoice"])
    assert router.config == {"rules": [{"target": "billing", "keywords": ["invoice"]}]}


def test_invalid_regex_names_the_rule_and_the_pattern() -> None:
    config = {
        "rules": [
            {"target": "a", "patterns": ["fine"]},
            {"target": "b", "patterns": ["ok", "order (#\\d+"]},
        ]
    }

    with pytest.raises(AgentConfigError) as raised:
        RouterSkill(config)

    message = str(raised.value)
    assert "rules[1].patterns: Value error, invalid regular expression 'order (#\\\\d+'" in message
    assert "missing )" in message


# plugin registration -------------------------------------------------------------------------


def test_installed_distribution_registers_router_by_entry_point() -> None:
    distribution = importlib.metadata.distribution("webagents-router")
    entry_points = [ep for ep in distribution.entry_points if ep.group == "webagents"]
    assert [(ep.name, ep.value) for ep in entry_points] == [("router", "webagents_router")]

    registry = PluginRegistry()
    registry.load()

    assert registry.get_skill("router") is RouterSkill
    assert "router" in registry.plugins["router"].skills


async def test_agent_takes_the_router_by_name_without_config() -> None:
    registry = PluginRegistry()
    registry.load()
    from webagents.plugins import reset_plugin_registry

    previous = reset_plugin_registry(registry)
    try:
        model = ScriptedModel(["No routes configured."])
        agent = BaseAgent("named", model=model, skills={"r": "router"})
    finally:
        reset_plugin_registry(previous)

    result = await agent.run("refund my invoice")

    assert isinstance(agent.skills["r"], RouterSkill)
    assert (result.agent, result.content, result.handoffs) == (
        agent.name,
        "No routes configured.",
        [],
    )
