"""Every Python snippet of the seed document ("Agent Handoffs") runs against webagents.

Each section copies one snippet's classes as the document shows them (same imports, same code)
and only ADDS the helpers the document leaves undefined, in a block marked
"helpers the document leaves undefined". Real ``BaseAgent``s with ``ScriptedModel`` models (or
the ``FakeOpenAIServer`` for the Complete Example's ``openai/gpt-4o``) then check that the
documented behaviour really happens.

Each test runs in a fresh agent network (the ``agent_network`` fixture, autouse in this
suite), so the names the snippets hard-code ("finance-expert", "general-assistant", ...) are
free in every test, and a name that must be absent is simply never built.
"""

import asyncio
import json
import re
from decimal import Decimal
from typing import Any, Dict  # noqa: UP035  (the ResearchSkill snippet annotates with Dict)

import pytest

from webagents.agents import BaseAgent, HandoffRecord
from webagents.agents.skills import (
    DiscoverySkill,
    HandoffError,
    NLISkill,
    PaymentSkill,
    Skill,
)
from webagents.agents.skills.decorators import handoff, hook, tool
from webagents.context import Context
from webagents.errors import AgentConfigError
from webagents.messages import handoff_context_in
from webagents.testing import FakeOpenAIServer, ScriptedModel, error, text, tool_call, transfer

# --------------------------------------------------------------------------------------------
# test helpers (not from the document)
# --------------------------------------------------------------------------------------------


def answering(answer: str) -> ScriptedModel:
    """A model that gives ``answer`` to every request."""
    return ScriptedModel(responder=lambda request: text(answer))


def expert(name: str, answer: str, **kwargs: Any) -> tuple[BaseAgent, ScriptedModel]:
    """A local agent called ``name`` whose model always answers ``answer``."""
    model = answering(answer)
    return BaseAgent(name, f"You are {name}.", model=model, **kwargs), model


def last_user(request: dict[str, Any]) -> str:
    return [m for m in request["messages"] if m["role"] == "user"][-1]["content"]


def tool_output(request: dict[str, Any]) -> str:
    """The content of the last tool message the model was sent."""
    message = request["messages"][-1]
    assert message["role"] == "tool"
    return str(message["content"])


def handed_over(request: dict[str, Any]) -> dict[str, Any]:
    """The handoff context the runner handed the target, as delimited data (not system text)."""
    assert "Context handed over" not in request["messages"][0]["content"]
    found = [c for m in request["messages"] if (c := handoff_context_in(m)) is not None]
    assert len(found) == 1
    return found[0]


class ContextProbe(Skill):
    """Records what handoff hooks see, for assertions (not from the document)."""

    def __init__(self) -> None:
        super().__init__()
        self.before: list[dict[str, Any]] = []
        self.after: list[dict[str, Any]] = []

    @hook("before_handoff", priority=90)
    def seen_before(self, context: Context) -> Context:
        self.before.append(context.data())
        return context

    @hook("after_handoff", priority=90)
    def seen_after(self, context: Context) -> Context:
        self.after.append(context.data())
        return context


# ============================================================================================
# ## Handoff System Overview
# ============================================================================================


class FinanceSkill(Skill):
    @handoff("finance-expert")
    def needs_finance_expert(self, query: str) -> bool:
        """Determine if finance expert needed"""
        finance_terms = ["stock", "investment", "portfolio", "trading"]
        return any(term in query.lower() for term in finance_terms)


async def test_finance_skill_hands_finance_queries_to_finance_expert() -> None:
    _finance, finance_model = expert("finance-expert", "Diversify your portfolio.")
    triage = BaseAgent(
        "triage", "Route users.", model=ScriptedModel(), skills={"finance": FinanceSkill()}
    )

    result = await triage.run("I need help with my stock portfolio")

    assert result.content == "Diversify your portfolio."
    assert result.agent == "finance-expert"
    assert result.handoff_chain == [triage.name, "finance-expert"]
    [record] = result.handoffs
    assert isinstance(record, HandoffRecord)
    assert (record.from_agent, record.to_agent) == (triage.name, "finance-expert")
    assert record.trigger == "condition"
    assert record.reason == "Determine if finance expert needed"
    assert record.success is True and record.error is None
    assert last_user(finance_model.requests[0]) == "I need help with my stock portfolio"


async def test_finance_skill_leaves_other_queries_with_the_source() -> None:
    _finance, finance_model = expert("finance-expert", "unused")
    triage = BaseAgent(
        "triage",
        "Route users.",
        model=ScriptedModel([text("Hello! How can I help?")]),
        skills={"finance": FinanceSkill()},
    )

    result = await triage.run("What are your opening hours?")

    assert result.content == "Hello! How can I help?"
    assert result.agent == triage.name
    assert result.handoff_chain == [triage.name]
    assert result.handoffs == []
    assert finance_model.requests == []


# ============================================================================================
# ## Defining Handoffs / ### Basic Handoff
# ============================================================================================


class BasicHandoffSkill(Skill):  # the document shows the method alone; it lives in a Skill
    @handoff("target-agent-name")
    def handoff_condition(self, query: str) -> bool:
        """Return True when handoff needed"""
        return "specific keyword" in query


async def test_basic_handoff_condition() -> None:
    _target, _ = expert("target-agent-name", "Target here.")
    source = BaseAgent(
        "source",
        model=answering("Source here."),
        skills={"basic": BasicHandoffSkill()},
    )

    handed = await source.run("this has the specific keyword in it")
    kept = await source.run("nothing special")

    assert (handed.agent, handed.content) == ("target-agent-name", "Target here.")
    assert handed.handoffs[0].reason == "Return True when handoff needed"
    assert (kept.agent, kept.content, kept.handoffs) == (source.name, "Source here.", [])


# ============================================================================================
# ### Handoff with Metadata
# ============================================================================================


class SpecialistSkill(Skill):  # the document shows the method alone; it lives in a Skill
    @handoff("specialist", metadata={"priority": "high", "timeout": 30})
    def needs_specialist(self, query: str) -> bool:
        """High-priority handoff to specialist"""
        return self.is_complex_query(query)

    # --- helpers the document leaves undefined ---
    def is_complex_query(self, query: str) -> bool:
        return len(query.split()) > 8 or "complex" in query.lower()


async def test_handoff_metadata_reaches_hooks_and_record() -> None:
    _specialist, _ = expert("specialist", "Specialist answer.")
    probe = ContextProbe()
    source = BaseAgent(
        "source",
        model=answering("Simple answer."),
        skills={"specialist": SpecialistSkill(), "probe": probe},
    )

    result = await source.run("I have a complex question about tensor decompositions")

    assert result.agent == "specialist"
    assert probe.before[0]["handoff_metadata"] == {"priority": "high", "timeout": 30}
    assert probe.before[0]["handoff_agent"] == "specialist"
    [record] = result.handoffs
    assert record.metadata == {"priority": "high", "timeout": 30}
    assert record.trigger == "condition"

    simple = await source.run("hi")
    assert (simple.agent, simple.content) == (source.name, "Simple answer.")


# ============================================================================================
# ### Dynamic Handoff
# ============================================================================================


class RouterSkill(Skill):
    @handoff()  # No target specified
    def route_dynamically(self, query: str) -> str:
        """Return agent name dynamically"""
        if "legal" in query:
            return "legal-advisor"
        elif "medical" in query:
            return "medical-assistant"
        elif "technical" in query:
            return "tech-support"
        return None  # No handoff needed


ROUTER_TARGETS = ("legal-advisor", "medical-assistant", "tech-support")


@pytest.mark.parametrize(
    ("query", "target"),
    [
        ("I have a legal question about my lease", "legal-advisor"),
        ("I need medical advice about a rash", "medical-assistant"),
        ("I have a technical problem with my laptop", "tech-support"),
    ],
)
async def test_router_skill_routes_each_branch(query: str, target: str) -> None:
    agents = {name: expert(name, f"{name} answers") for name in ROUTER_TARGETS}
    router = BaseAgent("router", model=ScriptedModel(), skills={"router": RouterSkill()})

    result = await router.run(query)

    assert result.agent == target
    assert result.content == f"{target} answers"
    assert result.handoff_chain == [router.name, target]
    assert result.handoffs[0].trigger == "condition"
    assert result.handoffs[0].reason == "Return agent name dynamically"
    for name, (_agent, model) in agents.items():
        assert len(model.requests) == (1 if name == target else 0)


async def test_router_skill_none_means_the_source_answers() -> None:
    agents = {name: expert(name, "unused") for name in ROUTER_TARGETS}
    router = BaseAgent(
        "router",
        model=ScriptedModel([text("I can answer that.")]),
        skills={"r": RouterSkill()},
    )

    result = await router.run("What time is it?")

    assert (result.agent, result.content) == (router.name, "I can answer that.")
    assert result.handoffs == []
    assert all(model.requests == [] for _agent, model in agents.values())


# ============================================================================================
# ## Handoff Execution / ### Automatic Handoff
# ============================================================================================


async def test_automatic_handoff_with_message_list() -> None:
    _finance, _ = expert("finance-expert", "Let's rebalance your holdings.")
    agent = BaseAgent("assistant", model=ScriptedModel(), skills={"finance": FinanceSkill()})

    # Agent automatically hands off when conditions met
    response = await agent.run([{"role": "user", "content": "I need help with my stock portfolio"}])
    # Automatically routes to finance-expert if handoff defined

    assert response.agent == "finance-expert"
    assert response.content == "Let's rebalance your holdings."
    assert response.handoff_chain == [agent.name, "finance-expert"]
    assert response.to_chat_completion()["choices"][0]["message"]["content"] == response.content


# ============================================================================================
# ### Manual Handoff
# ============================================================================================


class CollaborationSkill(Skill):
    def __init__(self, config=None):
        super().__init__(config)
        self.nli = NLISkill()

    @tool
    async def consult_expert(self, topic: str, question: str) -> str:
        """Manually consult an expert agent"""
        expert_map = {
            "finance": "finance-expert",
            "legal": "legal-advisor",
            "health": "medical-assistant",
        }

        expert = expert_map.get(topic)
        if expert:
            result = await self.nli.query_agent(expert, question)
            return result.get("response", "Expert unavailable")

        return "No expert available for this topic"


def collaborator(*replies: Any) -> tuple[BaseAgent, ScriptedModel]:
    model = ScriptedModel(replies)
    agent = BaseAgent(
        "collaborator", "Consult experts.", model=model, skills={"c": CollaborationSkill()}
    )
    return agent, model


async def test_consult_expert_tool_asks_the_expert_in_process() -> None:
    _finance, finance_model = expert("finance-expert", "Index funds keep fees low.")
    agent, model = collaborator(
        tool_call("consult_expert", {"topic": "finance", "question": "Are index funds good?"}),
        text("The expert says index funds keep fees low."),
    )

    result = await agent.run("Should I buy index funds?")

    assert result.content == "The expert says index funds keep fees low."
    assert result.agent == agent.name  # a consultation is no handoff
    assert result.handoffs == []
    assert last_user(finance_model.requests[0]) == "Are index funds good?"
    assert tool_output(model.requests[1]) == "Index funds keep fees low."
    schema = model.requests[0]["tools"][0]["function"]
    assert schema["name"] == "consult_expert"
    assert schema["description"] == "Manually consult an expert agent"
    assert set(schema["parameters"]["required"]) == {"topic", "question"}


async def test_consult_expert_without_expert_for_topic() -> None:
    agent, model = collaborator(
        tool_call("consult_expert", {"topic": "astrology", "question": "Will I be rich?"}),
        text("Sorry, nobody can answer that."),
    )

    result = await agent.run("Ask an astrologer for me")

    assert tool_output(model.requests[1]) == "No expert available for this topic"
    assert result.content == "Sorry, nobody can answer that."


async def test_consult_expert_with_unregistered_expert() -> None:
    # NLISkill's failure dict has no "response", so callers' .get("response", default) works.
    failure = await NLISkill().query_agent("legal-advisor", "Can I sublet?")
    assert failure["success"] is False
    assert "response" not in failure
    assert "unknown agent 'legal-advisor'" in failure["error"]
    assert set(failure) == {"success", "agent", "error", "attempts", "latency_ms"}

    agent, model = collaborator(
        tool_call("consult_expert", {"topic": "legal", "question": "Can I sublet?"}),
        text("I could not reach a legal expert."),
    )
    result = await agent.run("Can I sublet my flat?")

    # ... so the snippet's result.get("response", "Expert unavailable") gives its fallback text.
    assert tool_output(model.requests[1]) == "Expert unavailable"
    assert result.content == "I could not reach a legal expert."


# ============================================================================================
# ## Multi-Agent Workflows / ### Sequential Handoffs
# ============================================================================================


class WorkflowSkill(Skill):
    @handoff("data-analyst")
    def needs_analysis(self, query: str) -> bool:
        """First: Send to analyst for data"""
        return "analyze" in query and not hasattr(self, "analysis_done")

    @handoff("report-writer")
    def needs_report(self, query: str) -> bool:
        """Then: Send to writer for report"""
        return hasattr(self, "analysis_done") and "report" in query

    @hook("after_handoff")
    async def track_workflow(self, context):
        """Track workflow progress"""
        if context["handoff_agent"] == "data-analyst":
            self.analysis_done = True
        return context


async def test_sequential_handoffs_analyst_then_writer() -> None:
    _analyst, analyst_model = expert("data-analyst", "Sales grew 12%.")
    _writer, writer_model = expert("report-writer", "Report: sales grew 12%.")
    workflow = WorkflowSkill()
    coordinator = BaseAgent(
        "coordinator", model=answering("Coordinator here."), skills={"wf": workflow}
    )

    early_report = await coordinator.run("write the report")  # no analysis yet
    assert (early_report.agent, early_report.handoffs) == (coordinator.name, [])

    first = await coordinator.run("please analyze the sales data")
    assert (first.agent, first.content) == ("data-analyst", "Sales grew 12%.")
    assert workflow.analysis_done is True

    second = await coordinator.run("now write the report")
    assert (second.agent, second.content) == ("report-writer", "Report: sales grew 12%.")
    assert second.handoffs[0].reason == "Then: Send to writer for report"

    again = await coordinator.run("analyze it once more")  # analysis is done: no second trip
    assert again.agent == coordinator.name
    assert (len(analyst_model.requests), len(writer_model.requests)) == (1, 1)


# ============================================================================================
# ### Parallel Handoffs
# ============================================================================================


class ResearchSkill(Skill):
    @tool
    async def research_topic(self, topic: str) -> Dict:  # noqa: UP006
        """Research topic using multiple expert agents"""
        experts = ["science-expert", "history-expert", "culture-expert"]

        # Query all experts in parallel
        tasks = []
        for expert in experts:
            task = self.nli.query_agent(expert, f"Tell me about {topic}")
            tasks.append(task)

        results = await asyncio.gather(*tasks)

        # Combine results
        return {
            "topic": topic,
            "perspectives": {
                expert: result.get("response")
                for expert, result in zip(experts, results)  # noqa: B905
            },
        }

    # --- helpers the document leaves undefined ---
    def __init__(self, config=None):
        super().__init__(config)
        self.nli = NLISkill()


async def test_parallel_handoffs_query_three_experts_at_once() -> None:
    all_asked = asyncio.Barrier(3)  # passes only when all three experts are asked together

    def expert_model(name: str) -> ScriptedModel:
        async def respond(request: dict[str, Any]) -> Any:
            async with asyncio.timeout(10):  # a guard against hanging, not a synchronisation
                await all_asked.wait()
            return text(f"{name} on {last_user(request)}")

        return ScriptedModel(responder=respond)

    experts = ["science-expert", "history-expert", "culture-expert"]
    _agents = [BaseAgent(name, model=expert_model(name)) for name in experts]
    model = ScriptedModel([tool_call("research_topic", {"topic": "tea"}), text("Tea summary.")])
    researcher = BaseAgent("researcher", model=model, skills={"research": ResearchSkill()})

    result = await researcher.run("Research tea for me")

    assert result.content == "Tea summary."
    assert json.loads(tool_output(model.requests[1])) == {
        "topic": "tea",
        "perspectives": {name: f"{name} on Tell me about tea" for name in experts},
    }


# ============================================================================================
# ## Handoff Context / ### Before Handoff Hook
# ============================================================================================


class HandoffPrepSkill(Skill):  # the document shows the method alone; it lives in a Skill
    @hook("before_handoff")
    async def prepare_handoff(self, context):
        """Prepare context for handoff"""

        # Add context for target agent
        context["handoff_context"] = {
            "source_agent": context.agent_name,
            "user_intent": self.detected_intent,
            "conversation_summary": self.summarize_conversation(context.messages),
            "important_facts": self.extract_facts(context.messages),
        }

        # Validate handoff
        target = context["handoff_agent"]
        if not await self.is_agent_available(target):
            raise HandoffError(f"Agent {target} not available")

        return context

    # --- helpers the document leaves undefined ---
    @property
    def detected_intent(self) -> str:
        words = " ".join(m["content"] for m in self.get_context().messages if m["role"] == "user")
        return "refund" if "refund" in words else "other"

    def summarize_conversation(self, messages: list[dict[str, Any]]) -> str:
        return " | ".join(m["content"] for m in messages if m["role"] == "user")

    def extract_facts(self, messages: list[dict[str, Any]]) -> list[str]:
        return [
            n for m in messages if m["role"] == "user" for n in re.findall(r"\d+", m["content"])
        ]

    async def is_agent_available(self, target: str) -> bool:
        return target not in self.config.get("unavailable", [])


async def test_before_handoff_context_reaches_the_target() -> None:
    refunds, refunds_model = expert("refund-desk", "Refund issued for order 12345.")
    source_model = ScriptedModel([transfer(refunds.name, "refund request")])
    source = BaseAgent(
        "front-desk",
        model=source_model,
        skills={"prep": HandoffPrepSkill()},
        handoffs=[refunds],
    )

    result = await source.run("My order 12345 arrived broken, I want a refund")

    assert (result.agent, result.content) == (refunds.name, "Refund issued for order 12345.")
    [record] = result.handoffs
    assert (record.trigger, record.reason, record.success) == ("llm", "refund request", True)
    assert handed_over(refunds_model.requests[0]) == {
        "source_agent": source.name,
        "user_intent": "refund",
        "conversation_summary": "My order 12345 arrived broken, I want a refund",
        "important_facts": ["12345"],
    }


async def test_before_handoff_veto_when_target_not_available() -> None:
    refunds, refunds_model = expert("refund-desk", "unused")
    source_model = ScriptedModel(
        [transfer(refunds.name, "refund request"), text("I will process the refund myself.")]
    )
    source = BaseAgent(
        "front-desk",
        model=source_model,
        skills={"prep": HandoffPrepSkill({"unavailable": [refunds.name]})},
        handoffs=[refunds],
    )

    result = await source.run("I want a refund for order 777")

    assert (result.agent, result.content) == (source.name, "I will process the refund myself.")
    assert result.handoff_chain == [source.name]
    [record] = result.handoffs
    assert record.success is False
    assert f"Agent {refunds.name} not available" in (record.error or "")
    assert refunds_model.requests == []
    assert "failed" in tool_output(source_model.requests[1])
    assert f"Agent {refunds.name} not available" in tool_output(source_model.requests[1])
    assert [e.type for e in result.events].count("handoff.failed") == 1


# ============================================================================================
# ### After Handoff Hook
# ============================================================================================


class InsightSkill(Skill):  # the document shows the method alone; it lives in a Skill
    @hook("after_handoff")
    async def process_handoff_result(self, context):
        """Process results from target agent"""

        result = context["handoff_result"]

        # Extract and store insights
        if result.get("success"):
            insights = result.get("insights", {})
            await self.store_expert_knowledge(expert=context["handoff_agent"], insights=insights)

        # Update conversation context
        context["expert_consulted"] = True
        context["expert_response"] = result.get("response")

        return context

    # --- helpers the document leaves undefined ---
    def __init__(self, config=None):
        super().__init__(config)
        self.knowledge: list[dict[str, Any]] = []

    async def store_expert_knowledge(self, expert: str, insights: dict[str, Any]) -> None:
        self.knowledge.append({"expert": expert, "insights": insights})


async def test_after_handoff_stores_insights_and_sets_context() -> None:
    _finance, _ = expert("finance-expert", "Buy low, sell high.")
    insights, probe = InsightSkill(), ContextProbe()
    source = BaseAgent(
        "source",
        model=ScriptedModel(),
        skills={"finance": FinanceSkill(), "insights": insights, "probe": probe},
    )

    result = await source.run("Any stock tips?")

    assert result.content == "Buy low, sell high."
    assert insights.knowledge == [{"expert": "finance-expert", "insights": {}}]
    [seen] = probe.after
    assert seen["expert_consulted"] is True
    assert seen["expert_response"] == "Buy low, sell high."
    assert seen["handoff_result"]["success"] is True


async def test_after_handoff_on_failure_stores_nothing() -> None:
    insights, probe = InsightSkill(), ContextProbe()
    source = BaseAgent(
        "source",
        model=ScriptedModel([text("I'll answer myself.")]),
        skills={"finance": FinanceSkill(), "insights": insights, "probe": probe},
    )

    result = await source.run("Any stock tips?")

    assert (result.agent, result.content) == (source.name, "I'll answer myself.")
    assert insights.knowledge == []
    [seen] = probe.after
    assert seen["expert_consulted"] is True
    assert seen["expert_response"] is None
    assert seen["handoff_result"]["success"] is False


# ============================================================================================
# ## Platform Integration / ### Using Discovery Skill
# ============================================================================================


class SmartRouterSkill(Skill):
    def __init__(self, config=None):
        super().__init__(config)
        self.discovery = DiscoverySkill()

    @handoff()
    async def find_best_agent(self, query: str) -> str:
        """Discover and route to best agent"""

        # Find agents that can handle query
        agents = await self.discovery.find_agents(intent=query, max_results=5)

        # Score and select best agent
        best_agent = None
        best_score = 0

        for agent in agents:
            score = self.calculate_match_score(query, agent)
            if score > best_score:
                best_score = score
                best_agent = agent["name"]

        return best_agent if best_score > 0.7 else None

    # --- helpers the document leaves undefined ---
    def calculate_match_score(self, query: str, agent: dict[str, Any]) -> float:
        """The share of the query's words found in the agent's name or description."""
        words = set(re.findall(r"[a-z]+", query.lower()))
        known = set(re.findall(r"[a-z]+", f"{agent['name']} {agent['description']}".lower()))
        return len(words & known) / len(words) if words else 0.0


async def test_smart_router_picks_best_discovered_agent() -> None:
    tax, tax_model = expert(
        "tax-accountant",
        "Deduct your home office.",
        description="Answers income tax deduction questions and files tax returns.",
    )
    _garden, garden_model = expert(
        "garden-helper",
        "Water in the morning.",
        description="Gardening advice: plants, soil, compost and watering.",
    )
    router = BaseAgent(
        "smart-router",
        model=answering("I'll handle this myself."),
        skills={"router": SmartRouterSkill()},
    )

    routed = await router.run("tax deduction questions")
    assert (routed.agent, routed.content) == (tax.name, "Deduct your home office.")
    assert routed.handoffs[0].trigger == "condition"
    assert routed.handoffs[0].reason == "Discover and route to best agent"

    weak = await router.run("tax poem about compost")  # best match only 1/4 of the words
    assert (weak.agent, weak.content) == (router.name, "I'll handle this myself.")
    assert weak.handoffs == []
    assert (len(tax_model.requests), len(garden_model.requests)) == (1, 0)


# ============================================================================================
# ### Payment-Aware Handoffs
# ============================================================================================


class PaidHandoffSkill(Skill):
    def __init__(self, config=None):
        super().__init__(config)
        self.payment = PaymentSkill()

    @hook("before_handoff")
    async def check_payment(self, context):
        """Ensure payment for premium agents"""

        target = context["handoff_agent"]

        # Check if target is premium
        if self.is_premium_agent(target):
            # Verify payment
            cost = self.get_agent_cost(target)

            if not await self.payment.charge_user(
                user_id=context.peer_user_id, amount=cost, description=f"Consultation with {target}"
            ):
                raise HandoffError("Payment required for premium agent")

        return context

    # --- helpers the document leaves undefined: the price is in the agent's metadata ---
    def is_premium_agent(self, target: str) -> bool:
        agent = self.agent.network.get(target) if self.agent else None
        return getattr(agent, "metadata", {}).get("price") is not None

    def get_agent_cost(self, target: str) -> Decimal:
        return Decimal(str(self.agent.find_target(target).metadata["price"]))


@pytest.fixture
def ledger_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """``PaymentSkill()`` without config keeps its ledger under ``$WEBAGENTS_HOME``."""
    monkeypatch.setenv("WEBAGENTS_HOME", str(tmp_path))
    return tmp_path


def paid_front_desk(target: BaseAgent, *replies: Any) -> tuple[BaseAgent, PaidHandoffSkill]:
    skill = PaidHandoffSkill()
    model = ScriptedModel([transfer(target.name, "needs the expert"), *replies])
    agent = BaseAgent("front", model=model, skills={"paid": skill}, handoffs=[target])
    return agent, skill


async def test_paid_handoff_charges_the_user(ledger_home: Any) -> None:
    premium, _ = expert("premium-analyst", "Premium insight.", metadata={"price": "2.50"})
    front, paid = paid_front_desk(premium)
    await paid.payment.credit("alice", "10", "top-up")

    result = await front.run("Analyse my portfolio risk", user_id="alice")

    assert (result.agent, result.content) == (premium.name, "Premium insight.")
    assert result.handoffs[0].success is True
    assert await paid.payment.get_balance("alice") == Decimal("7.50")
    [charge, _credit] = await paid.payment.transactions("alice")
    assert (charge["kind"], charge["amount"]) == ("charge", Decimal("2.5"))
    assert charge["description"] == f"Consultation with {premium.name}"
    assert (ledger_home / "ledger.db").exists()


async def test_paid_handoff_vetoed_for_unfunded_user(ledger_home: Any) -> None:
    premium, premium_model = expert("premium-analyst", "unused", metadata={"price": "2.50"})
    front, paid = paid_front_desk(premium, text("Here is a free overview instead."))

    result = await front.run("Analyse my portfolio risk", user_id="bob")

    assert (result.agent, result.content) == (front.name, "Here is a free overview instead.")
    [record] = result.handoffs
    assert record.success is False
    assert "Payment required for premium agent" in (record.error or "")
    assert premium_model.requests == []
    assert await paid.payment.get_balance("bob") == 0
    assert await paid.payment.transactions("bob") == []


async def test_free_handoff_charges_nothing(ledger_home: Any) -> None:
    free, _ = expert("free-helper", "Free help.")
    front, paid = paid_front_desk(free)
    await paid.payment.credit("carol", "1")

    result = await front.run("Help me", user_id="carol")

    assert (result.agent, result.content) == (free.name, "Free help.")
    assert await paid.payment.get_balance("carol") == 1


class FloatPricedHandoffSkill(PaidHandoffSkill):
    """The seed's skill with the cost a user would most likely compute: a float."""

    def get_agent_cost(self, target: str) -> float:  # type: ignore[override]
        return float(self.agent.find_target(target).metadata["price"])


async def test_paid_handoff_with_a_float_cost_charges_the_decimal_it_prints_as(
    ledger_home: Any,
) -> None:
    premium, _ = expert("premium-analyst", "Premium insight.", metadata={"price": 0.1})
    paid = FloatPricedHandoffSkill()
    await paid.payment.credit("dana", 0.3)
    outcomes = []
    for _ in range(4):  # 0.3 covers three charges of 0.1 exactly, not two (as floats would)
        model = ScriptedModel([transfer(premium.name, "expert"), text("Free overview.")])
        front = BaseAgent(
            "front", model=model, skills={"paid": paid}, handoffs=[premium], replace=True
        )
        result = await front.run("Analyse my portfolio risk", user_id="dana")
        outcomes.append((result.content, result.handoffs[0].success))
        paid = FloatPricedHandoffSkill()  # a skill belongs to one agent

    assert outcomes == [("Premium insight.", True)] * 3 + [("Free overview.", False)]
    assert await paid.payment.get_balance("dana") == 0
    charges = [t for t in await paid.payment.transactions("dana") if t["kind"] == "charge"]
    assert [t["amount"] for t in charges] == [Decimal("0.1")] * 3


@pytest.mark.parametrize("skill_class", [PaidHandoffSkill, FloatPricedHandoffSkill])
async def test_paid_handoff_without_a_user_is_vetoed(
    ledger_home: Any, skill_class: type[PaidHandoffSkill]
) -> None:
    premium, premium_model = expert("premium-analyst", "unused", metadata={"price": 2.5})
    paid = skill_class()
    model = ScriptedModel([transfer(premium.name, "expert"), text("Please sign in first.")])
    front = BaseAgent("front", model=model, skills={"paid": paid}, handoffs=[premium])

    result = await front.run("Analyse my portfolio risk")  # no user_id: peer_user_id is None

    assert (result.agent, result.content) == (front.name, "Please sign in first.")
    [record] = result.handoffs
    assert record.success is False
    assert "Payment required for premium agent" in (record.error or "")
    assert premium_model.requests == []
    ledger = ledger_home / "ledger.db"
    assert not ledger.exists() or await paid.payment.transactions("anyone") == []


# ============================================================================================
# ## Error Handling / ### Handoff Failures
# ============================================================================================


class ResilientHandoffSkill(Skill):
    @handoff("primary-expert")
    def needs_expert(self, query: str) -> bool:
        return "expert" in query

    @hook("after_handoff")
    async def handle_handoff_failure(self, context):
        """Fallback on handoff failure"""

        result = context["handoff_result"]

        if not result.get("success"):
            # Try fallback agent
            fallback_result = await self.nli.query_agent(
                "general-assistant", context.messages[-1]["content"]
            )

            if fallback_result.get("success"):
                context["handoff_result"] = fallback_result
            else:
                # Provide local response
                context["handoff_result"] = {
                    "success": True,
                    "response": "I'll do my best to help directly...",
                    "fallback": True,
                }

        return context

    # --- helpers the document leaves undefined ---
    def __init__(self, config=None):
        super().__init__(config)
        self.nli = NLISkill()


QUESTION = "I need an expert opinion on my roof"


def resilient_source() -> BaseAgent:
    # ScriptedModel() without replies: the source's own model must never be asked.
    return BaseAgent("desk", model=ScriptedModel(), skills={"r": ResilientHandoffSkill()})


async def test_resilient_handoff_primary_expert_answers() -> None:
    _primary, _ = expert("primary-expert", "Primary: the roof is fine.")
    _general, general_model = expert("general-assistant", "unused")

    result = await resilient_source().run(QUESTION)

    assert (result.agent, result.content) == ("primary-expert", "Primary: the roof is fine.")
    assert general_model.requests == []


@pytest.mark.parametrize("primary", ["missing", "raising"])
async def test_resilient_handoff_falls_back_to_general_assistant(primary: str) -> None:
    keep_alive = []  # the agents this test builds, held for its duration
    if primary == "raising":
        failing = ScriptedModel([error(500, "primary overloaded")])
        keep_alive.append(BaseAgent("primary-expert", model=failing))
    _general, general_model = expert("general-assistant", "General: check the gutters.")
    source = resilient_source()

    result = await source.run(QUESTION)

    assert result.content == "General: check the gutters."
    assert result.agent == source.name
    assert last_user(general_model.requests[0]) == QUESTION
    [record] = result.handoffs
    assert record.success is False
    expected = (
        "unknown agent 'primary-expert'"
        if primary == "missing"
        else "primary-expert is unavailable (ModelError)"
    )
    assert expected in (record.error or "")
    assert result.messages[-1] == {"role": "assistant", "content": "General: check the gutters."}
    assert len(keep_alive) == (primary == "raising")


@pytest.mark.parametrize("general", ["missing", "raising"])
async def test_resilient_handoff_local_response_when_fallback_fails(general: str) -> None:
    keep_alive = []  # the agents this test builds, held for its duration
    if general == "raising":
        failing = ScriptedModel([error(503, "general down")])
        keep_alive.append(BaseAgent("general-assistant", model=failing))

    result = await resilient_source().run(QUESTION)

    assert result.content == "I'll do my best to help directly..."
    assert result.handoffs[0].success is False
    assert len(keep_alive) == (general == "raising")


# ============================================================================================
# ## Complete Example
# ============================================================================================


class CustomerServiceSkill(Skill):
    def __init__(self, config=None):
        super().__init__(config, dependencies=["nli", "discovery"])

    @handoff()
    def route_to_department(self, query: str) -> str:
        """Route to appropriate department"""
        query_lower = query.lower()

        if any(word in query_lower for word in ["bill", "payment", "charge"]):
            return "billing-department"
        elif any(word in query_lower for word in ["tech", "broken", "error"]):
            return "technical-support"
        elif any(word in query_lower for word in ["ship", "delivery", "track"]):
            return "shipping-department"

        return None

    @hook("before_handoff")
    async def add_customer_context(self, context):
        """Add customer information before handoff"""

        # Get customer info
        customer_id = context.peer_user_id
        customer_data = await self.get_customer_data(customer_id)

        # Add to handoff context
        context["handoff_metadata"] = {
            "customer_tier": customer_data.get("tier", "standard"),
            "history_summary": self.summarize_history(customer_data),
            "open_tickets": customer_data.get("open_tickets", []),
        }

        return context

    @tool
    async def escalate_to_human(self, reason: str) -> str:
        """Escalate to human support"""
        ticket = await self.create_support_ticket(
            customer_id=self.get_context().peer_user_id,
            reason=reason,
            conversation=self.get_context().messages,
        )

        return f"I've created support ticket #{ticket['id']}. A human agent will contact you within 24 hours."  # noqa: E501

    # --- helpers the document leaves undefined ---
    CUSTOMERS = {
        "cust-gold": {"tier": "gold", "orders": 12, "open_tickets": ["T-7"]},
    }

    async def get_customer_data(self, customer_id: str | None) -> dict[str, Any]:
        return self.CUSTOMERS.get(customer_id or "", {"orders": 0})

    def summarize_history(self, customer_data: dict[str, Any]) -> str:
        return f"{customer_data.get('orders', 0)} orders"

    async def create_support_ticket(
        self, customer_id: str | None, reason: str, conversation: list[dict[str, Any]]
    ) -> dict[str, Any]:
        ticket = {"id": 1000 + len(self.tickets) + 1, "customer_id": customer_id, "reason": reason}
        ticket["conversation"] = [dict(m) for m in conversation]
        self.tickets.append(ticket)
        return ticket

    @property
    def tickets(self) -> list[dict[str, Any]]:
        return self.__dict__.setdefault("_tickets", [])


def build_customer_service() -> BaseAgent:
    # Create customer service agent
    agent = BaseAgent(
        name="customer-service",
        instructions="You are a helpful customer service agent. Route queries to appropriate departments.",  # noqa: E501
        model="openai/gpt-4o",
        skills={
            "routing": CustomerServiceSkill(),
            "nli": NLISkill(),
            "discovery": DiscoverySkill(),
        },
    )
    return agent


DEPARTMENTS = ("billing-department", "technical-support", "shipping-department")


@pytest.mark.parametrize(
    ("query", "department"),
    [
        ("Why is there a double charge on my bill?", "billing-department"),
        ("My router is broken and shows an error", "technical-support"),
        ("Can you track my delivery?", "shipping-department"),
    ],
)
async def test_customer_service_routes_to_departments(query: str, department: str) -> None:
    departments = {name: expert(name, f"{name} will help.") for name in DEPARTMENTS}
    agent = build_customer_service()

    gold = await agent.run(query, user_id="cust-gold")
    new = await agent.run(query, user_id="cust-new")

    assert (gold.agent, gold.content) == (department, f"{department} will help.")
    assert gold.handoff_chain == ["customer-service", department]
    assert gold.handoffs[0].reason == "Route to appropriate department"
    assert gold.handoffs[0].metadata == {
        "customer_tier": "gold",
        "history_summary": "12 orders",
        "open_tickets": ["T-7"],
    }
    assert new.handoffs[0].metadata == {
        "customer_tier": "standard",
        "history_summary": "0 orders",
        "open_tickets": [],
    }
    for name, (_agent, model) in departments.items():
        assert len(model.requests) == (2 if name == department else 0)


async def test_customer_service_escalates_to_human(monkeypatch: pytest.MonkeyPatch) -> None:
    departments = {name: expert(name, "unused") for name in DEPARTMENTS}
    replies = [
        tool_call("escalate_to_human", {"reason": "customer asks for a person"}),
        text("A human will contact you within 24 hours."),
    ]
    async with FakeOpenAIServer(replies) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        agent = build_customer_service()
        try:
            result = await agent.run("I want to speak to a person about my account", user_id="c9")
        finally:
            assert agent.model is not None
            await agent.model.client().close()  # type: ignore[attr-defined]
        sent = server.requests

    assert (result.agent, result.content) == (
        "customer-service",
        "A human will contact you within 24 hours.",
    )
    assert result.handoffs == []
    assert sent[0]["model"] == "gpt-4o"
    assert sent[0]["messages"][0]["content"].startswith("You are a helpful customer service agent")
    assert [t["function"]["name"] for t in sent[0]["tools"]] == ["escalate_to_human"]
    assert tool_output(sent[1]) == (
        "I've created support ticket #1001. A human agent will contact you within 24 hours."
    )
    [ticket] = agent.skills["routing"].tickets  # type: ignore[attr-defined]
    assert (ticket["customer_id"], ticket["reason"]) == ("c9", "customer asks for a person")
    assert ticket["conversation"][-1]["tool_calls"][0]["function"]["name"] == "escalate_to_human"
    assert all(model.requests == [] for _agent, model in departments.values())


def test_customer_service_missing_dependency_fails_at_construction() -> None:
    with pytest.raises(AgentConfigError, match=r"routing.*discovery"):
        BaseAgent(
            name="customer-service",
            instructions="You are a helpful customer service agent.",
            model="openai/gpt-4o",
            skills={"routing": CustomerServiceSkill(), "nli": NLISkill()},
        )
