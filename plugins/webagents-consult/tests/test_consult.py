"""ConsultSkill: real local expert agents answering in-process through NLISkill."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
from typing import Any

import pytest
import webagents_consult
from webagents_consult import Consultation, ConsultConfig, ConsultSkill

from webagents import AgentConfigError, BaseAgent
from webagents.plugins import PluginRegistry, reset_plugin_registry
from webagents.testing import ScriptedModel, error, text, tool_call
from webagents.testing.replies import ReplyLike

# Every test builds its agents in a fresh agent network (the plugin's `agent_network`).
pytestmark = pytest.mark.usefixtures("agent_network")


def expert(prefix: str, *replies: ReplyLike, answer: str | None = None) -> BaseAgent:
    """A local expert agent, registered under its name."""
    responder = (lambda request: answer) if answer is not None else None
    model = ScriptedModel(replies, responder=responder)
    return BaseAgent(prefix, f"You are the {prefix} expert.", model=model)


def asked(agent: BaseAgent) -> list[str]:
    """The last user message of every request the expert's model received."""
    model = agent.model
    assert isinstance(model, ScriptedModel)
    return [request["messages"][-1]["content"] for request in model.requests]


# consult_expert ------------------------------------------------------------------------------


async def test_consult_expert_returns_the_experts_answer() -> None:
    finance = expert("finance", answer="Buy index funds.")
    legal = expert("legal", answer="Read the contract.")
    skill = ConsultSkill({"experts": {"finance": finance.name, "legal": legal.name}})

    answer = await skill.consult_expert("finance", "Where should I invest?")

    assert answer == "Buy index funds."
    assert asked(finance) == ["Where should I invest?"]
    assert asked(legal) == []


async def test_topics_match_case_insensitively() -> None:
    finance = expert("finance", answer="Diversify.")
    skill = ConsultSkill({"experts": {"Finance": finance.name}})

    answers = [await skill.consult_expert(t, "q?") for t in ["FINANCE", "  finance ", "Finance"]]

    assert answers == ["Diversify."] * 3
    assert skill.expert_for("fInAnCe") == finance.name


async def test_unknown_topic_lists_the_available_topics_and_asks_nobody() -> None:
    finance = expert("finance", answer="unused")
    legal = expert("legal", answer="unused")
    skill = ConsultSkill({"experts": {"legal": legal.name, "finance": finance.name}})

    answer = await skill.consult_expert("astrology", "Will I be rich?")

    assert answer == "No expert for topic 'astrology'. Topics available: finance, legal."
    assert asked(finance) == [] and asked(legal) == []


async def test_failing_expert_is_unavailable_with_the_error() -> None:
    broken = expert("finance", error(500, "upstream exploded"))
    skill = ConsultSkill({"experts": {"finance": broken.name}})

    consultation = await skill.consult("finance", "Where should I invest?")
    answer = await skill.consult_expert("finance", "Where should I invest?")

    assert consultation.status == "unavailable"
    assert consultation.expert == broken.name and consultation.answer is None
    assert answer.startswith(f"Expert unavailable: {broken.name} could not answer: ")
    # The failure is named; the expert's own error text stays in the log.
    assert "ModelError" in (consultation.error or "")
    assert "upstream exploded" not in (consultation.error or "")
    assert "No expert" not in answer


async def test_unregistered_expert_is_unavailable_not_missing() -> None:
    ghost = "ghost-expert"
    skill = ConsultSkill({"experts": {"legal": ghost}})

    consultation = await skill.consult("legal", "Can I sue?")

    assert consultation.status == "unavailable" and consultation.expert == ghost
    assert f"unknown agent {ghost!r}" in (consultation.error or "")
    assert consultation.text() == consultation.error


async def test_fallback_answers_when_the_expert_fails() -> None:
    broken = expert("finance", error(503, "overloaded"))
    backup = expert("backup", answer="Backup says: bonds.")
    skill = ConsultSkill(
        {"experts": {"finance": broken.name}, "fallbacks": {broken.name: [backup.name]}}
    )

    consultation = await skill.consult("finance", "Stocks or bonds?")

    assert consultation == Consultation(
        "finance", "answered", broken.name, backup.name, "Backup says: bonds."
    )
    assert asked(backup) == ["Stocks or bonds?"]


async def test_timeout_makes_a_silent_expert_unavailable() -> None:
    async def never_answers(request: dict[str, Any]) -> str:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    silent = BaseAgent("silent", model=ScriptedModel(responder=never_answers))
    skill = ConsultSkill({"experts": {"health": silent.name}, "timeout": 0.05})

    answer = await skill.consult_expert("health", "Is this serious?")

    assert answer == (
        f"Expert unavailable: {silent.name} could not answer: "
        f"agent {silent.name!r} timed out after 0.05s"
    )


async def test_empty_question_is_refused() -> None:
    finance = expert("finance", answer="unused")
    skill = ConsultSkill({"experts": {"finance": finance.name}})

    with pytest.raises(ValueError, match="the question is empty"):
        await skill.consult_expert("finance", "   ")
    assert asked(finance) == []


# consult_experts -----------------------------------------------------------------------------


async def test_consult_experts_asks_every_expert_concurrently() -> None:
    started: list[str] = []
    everyone_asked = asyncio.Event()

    def waits_for_all(answer: str) -> Any:
        async def responder(request: dict[str, Any]) -> str:
            started.append(answer)
            if len(started) == 3:
                everyone_asked.set()
            await everyone_asked.wait()  # only returns if all three were asked at once
            return answer

        return responder

    experts = {
        topic: BaseAgent(topic, model=ScriptedModel(responder=waits_for_all(reply)))
        for topic, reply in [("finance", "F."), ("legal", "L."), ("health", "H.")]
    }
    skill = ConsultSkill(
        {"experts": {t: a.name for t, a in experts.items()}, "timeout": 10},
    )

    result = await skill.consult_experts(["finance", "legal", "health"], "Big decision?")

    assert result == {
        "finance": {"status": "answered", "expert": experts["finance"].name, "answer": "F."},
        "legal": {"status": "answered", "expert": experts["legal"].name, "answer": "L."},
        "health": {"status": "answered", "expert": experts["health"].name, "answer": "H."},
    }


async def test_consult_experts_reports_each_outcome_distinctly() -> None:
    finance = expert("finance", answer="Save more.")
    broken = expert("legal", error(500, "legal model down"))
    skill = ConsultSkill({"experts": {"finance": finance.name, "legal": broken.name}})

    result = await skill.consult_experts(["Finance", "legal", "astrology"], "Plan?")

    assert list(result) == ["Finance", "legal", "astrology"]
    assert result["Finance"] == {
        "status": "answered",
        "expert": finance.name,
        "answer": "Save more.",
    }
    assert result["legal"]["status"] == "unavailable"
    assert result["legal"]["expert"] == broken.name
    assert "ModelError" in result["legal"]["error"]
    assert "legal model down" not in result["legal"]["error"]
    assert result["astrology"] == {
        "status": "no_expert",
        "expert": None,
        "error": "No expert for topic 'astrology'. Topics available: finance, legal.",
    }


async def test_consult_experts_asks_a_shared_expert_once() -> None:
    generalist = expert("generalist", answer="One answer.")
    skill = ConsultSkill({"experts": {"money": generalist.name, "tax": generalist.name}})

    result = await skill.consult_experts(["money", "tax", "MONEY"], "Deduct this?")

    assert {topic: entry["answer"] for topic, entry in result.items()} == {
        "money": "One answer.",
        "tax": "One answer.",
    }
    assert asked(generalist) == ["Deduct this?"]


# inside an agent run ---------------------------------------------------------------------------


async def test_model_calls_consult_expert_during_a_run() -> None:
    finance = expert("finance", answer="Index funds, mostly.")
    legal = expert("legal", answer="unused")
    model = ScriptedModel(
        [
            tool_call("consult_expert", {"topic": "Finance", "question": "Where to invest 10k?"}),
            text("Our expert suggests index funds."),
        ]
    )
    assistant = BaseAgent(
        "assistant",
        "Help the user.",
        model=model,
        skills={
            "consult": ConsultSkill({"experts": {"finance": finance.name, "legal": legal.name}})
        },
    )

    result = await assistant.run("I have 10k to invest.")

    assert result.content == "Our expert suggests index funds."
    assert result.agent == assistant.name and result.handoffs == []
    tool_results = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert tool_results == ["Index funds, mostly."]
    assert asked(finance) == ["Where to invest 10k?"]
    first_request = model.requests[0]
    assert "Topics: finance, legal." in first_request["messages"][0]["content"]
    offered = {t["function"]["name"] for t in first_request["tools"]}
    assert {"consult_expert", "consult_experts"} <= offered


async def test_model_calls_consult_experts_during_a_run() -> None:
    finance = expert("finance", answer="Yes, financially.")
    broken = expert("legal", error(500, "no lawyers today"))

    def final_answer(request: dict[str, Any]) -> ReplyLike:
        outcome = json.loads(request["messages"][-1]["content"])
        return text(f"finance: {outcome['finance']['answer']}; legal: {outcome['legal']['status']}")

    model = ScriptedModel(
        [tool_call("consult_experts", {"topics": ["finance", "legal"], "question": "Buy it?"})],
        responder=final_answer,
    )
    assistant = BaseAgent(
        "assistant",
        model=model,
        skills={
            "consult": ConsultSkill({"experts": {"finance": finance.name, "legal": broken.name}})
        },
    )

    result = await assistant.run("Should I buy the house?")

    assert result.content == "finance: Yes, financially.; legal: unavailable"


# configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"expert": {}}, "expert: unknown key; did you mean 'experts'?"),
        ({"experts": ["finance"]}, "experts: Input should be a valid dictionary"),
        ({"experts": {"finance": ""}}, "experts.finance: Value error, must be a non-empty string"),
        ({"experts": {"": "x"}}, "experts[''] (the key): Value error, must be a non-empty string"),
        (
            {"experts": {"Finance": "a", "finance": "b"}},
            "experts: Value error, topics 'Finance' and 'finance' are the same topic",
        ),
        ({"timeout": 0}, "timeout: Input should be greater than 0"),
        ({"timeout": "30"}, "timeout: Input should be a valid number"),
        (
            {"experts": {"finance": "finance-expert"}, "fallbacks": {"finance": ["b"]}},
            "fallbacks: Value error, 'finance' is no expert; fallbacks are keyed by expert "
            "agent name: write 'finance-expert'",
        ),
        (
            {"experts": {"finance": "finance-expert"}, "fallbacks": {"finance-expert": "b"}},
            "fallbacks['finance-expert']: Input should be a valid list",
        ),
    ],
    ids=[
        "unknown-key",
        "experts-type",
        "blank-expert",
        "blank-topic",
        "duplicate-topic",
        "zero-timeout",
        "string-timeout",
        "fallbacks-by-topic",
        "fallbacks-string",
    ],
)
def test_bad_config_is_a_clear_error(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(AgentConfigError) as raised:
        ConsultSkill(config)

    message = str(raised.value)
    assert message.startswith("ConsultSkill config is invalid: ")
    assert expected in message


def test_misspelled_key_fails_at_construction_naming_skill_and_field(
    register_plugin: Any,
) -> None:
    config = {"experts": {"finance": "finance-expert"}, "timout": 5}
    expected = (
        "ConsultSkill config is invalid: timout: unknown key; did you mean 'timeout'? "
        "Keys: experts, timeout, fallbacks, api_key"
    )
    with pytest.raises(AgentConfigError) as raised:
        ConsultSkill(config)
    assert str(raised.value) == expected
    assert ConsultSkill.config_model is ConsultConfig

    register_plugin(webagents_consult)  # by the registered name, in an agent: the same error
    with pytest.raises(AgentConfigError) as raised:
        BaseAgent("bad-config", skills={"c": {"name": "consult", "config": config}})
    assert str(raised.value) == expected


def test_api_key_never_appears_in_config_errors() -> None:
    with pytest.raises(AgentConfigError) as raised:
        ConsultSkill({"api_key": "sk-secret", "timeout": -1})
    assert "sk-secret" not in str(raised.value)


def test_config_reaches_the_internal_nli_skill() -> None:
    skill = ConsultSkill(
        {
            "experts": {"finance": "finance-expert"},
            "timeout": 12,
            "fallbacks": {"finance-expert": ["backup"]},
            "api_key": "secret",
        }
    )

    assert skill.nli.timeout == 12.0
    assert skill.nli.fallbacks == {"finance-expert": ["backup"]}
    assert skill.nli.api_key == "secret"


# plugin registration ---------------------------------------------------------------------------


def test_installed_distribution_registers_consult_by_entry_point() -> None:
    distribution = importlib.metadata.distribution("webagents-consult")
    entry_points = [ep for ep in distribution.entry_points if ep.group == "webagents"]
    assert [(ep.name, ep.value) for ep in entry_points] == [("consult", "webagents_consult")]

    registry = PluginRegistry()
    registry.load()

    assert registry.get_skill("consult") is ConsultSkill
    assert "consult" in registry.plugins["consult"].skills


async def test_agent_takes_consult_by_name_without_config() -> None:
    registry = PluginRegistry()
    registry.load()
    previous = reset_plugin_registry(registry)
    try:
        model = ScriptedModel(
            [tool_call("consult_expert", {"topic": "finance", "question": "q?"}), text("done")]
        )
        agent = BaseAgent("named", model=model, skills={"c": "consult"})
    finally:
        reset_plugin_registry(previous)

    result = await agent.run("hello")

    assert isinstance(agent.skills["c"], ConsultSkill)
    tool_results = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert tool_results == ["No expert for topic 'finance': no experts are configured."]
