"""webagents-escalation: the SQLite ticket queue, the skill's tools inside real agent runs,
escalation data on handoffs to the human desk, and discovery through the entry point."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import webagents_escalation
from webagents_escalation import (
    EscalationConfig,
    EscalationSkill,
    InvalidTransition,
    TicketError,
    TicketNotFound,
    TicketQueue,
    conversation_summary,
    default_db_path,
)

from webagents import AgentConfigError, BaseAgent, Context, RunResult, Skill, hook
from webagents.messages import handoff_context_in
from webagents.plugins import PluginRegistry, reset_plugin_registry
from webagents.testing import ScriptedModel, text, tool_call, transfer

# Every test builds its agents in a fresh agent network (the plugin's `agent_network`).
pytestmark = pytest.mark.usefixtures("agent_network")


def tool_outputs(result: RunResult) -> list[str]:
    return [str(m["content"]) for m in result.messages if m.get("role") == "tool"]


def handed_over(request: dict[str, Any]) -> dict[str, Any] | None:
    """The handoff_context a model request carries (delimited data), parsed; None if none."""
    found = [c for m in request["messages"] if (c := handoff_context_in(m)) is not None]
    return found[0] if found else None


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "tickets.db"


@pytest.fixture
def queue(db: Path) -> TicketQueue:
    return TicketQueue(db)


def support_agent(model: ScriptedModel, skill: EscalationSkill, **kwargs: Any) -> BaseAgent:
    return BaseAgent(
        "support",
        "Help customers; escalate to a human when you cannot.",
        model=model,
        skills={"escalation": skill},
        **kwargs,
    )


# the tools inside real runs ----------------------------------------------------------------


async def test_escalation_in_a_run_stores_the_conversation_and_customer(db: Path) -> None:
    model = ScriptedModel(
        [
            tool_call("escalate_to_human", {"reason": "Parcel lost twice", "priority": "high"}),
            text("A human will contact you."),
        ]
    )
    agent = support_agent(model, EscalationSkill({"db": str(db)}))
    history = [
        {"role": "user", "content": "Where is my parcel?"},
        {"role": "assistant", "content": "It was marked delivered."},
        {"role": "user", "content": "It never arrived. I want a person."},
    ]

    result = await agent.run(history, user_id="cust-1")

    assert result.content == "A human will contact you."
    (output,) = tool_outputs(result)
    tickets = TicketQueue(db).list()
    assert len(tickets) == 1
    ticket = tickets[0]
    assert f"#{ticket.id}" in output
    assert "A human will contact you" not in output  # the model spoke, the tool answered
    assert ticket.customer_id == "cust-1"
    assert ticket.reason == "Parcel lost twice"
    assert ticket.priority == "high"
    assert ticket.status == "open"
    assert ticket.run_id == result.run_id
    assert ticket.context["agent"] == agent.name
    assert ticket.conversation[:3] == history  # the transcript the customer had
    assert ticket.conversation[3]["tool_calls"][0]["function"]["name"] == "escalate_to_human"
    # the model saw the ticket number in the tool result
    assert f"#{ticket.id}" in model.requests[1]["messages"][-1]["content"]


async def test_conversation_is_stored_as_json_in_a_wal_database(db: Path) -> None:
    model = ScriptedModel([tool_call("escalate_to_human", {"reason": "help"}), text("ok")])
    await support_agent(model, EscalationSkill({"db": str(db)})).run("héllo", user_id="c")
    with closing(sqlite3.connect(db)) as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        (raw,) = conn.execute("SELECT conversation FROM tickets").fetchone()
    assert mode == "wal"
    assert json.loads(raw)[0] == {"role": "user", "content": "héllo"}


async def test_escalation_without_a_signed_in_customer_opens_nothing(db: Path) -> None:
    model = ScriptedModel([tool_call("escalate_to_human", {"reason": "help"}), text("ok")])
    result = await support_agent(model, EscalationSkill({"db": str(db)})).run("hi")
    assert "not signed in" in tool_outputs(result)[0]
    assert TicketQueue(db).list() == []


async def test_priority_keywords_raise_but_never_lower_priority(db: Path) -> None:
    skill = EscalationSkill(
        {"db": str(db), "priority_keywords": {"urgent": "high", "question": "low"}}
    )
    model = ScriptedModel(
        [
            tool_call("escalate_to_human", {"reason": "URGENT: site down", "priority": "low"}),
            text("ok"),
            tool_call("escalate_to_human", {"reason": "a question", "priority": "normal"}),
            text("ok"),
            tool_call("escalate_to_human", {"reason": "urgently wants a call", "priority": "low"}),
            text("ok"),
            tool_call("escalate_to_human", {"reason": "billing", "priority": "normal"}),
            text("ok"),
        ]
    )
    agent = support_agent(model, skill)
    await agent.run("hi", user_id="a")
    await agent.run("hi", user_id="b")
    await agent.run("hi", user_id="c")  # "urgently" is not the keyword "urgent"
    await agent.run("This is Urgent!", user_id="d")  # found in the customer's own words
    by_customer = {t.customer_id: t.priority for t in TicketQueue(db).list()}
    assert by_customer == {"a": "high", "b": "normal", "c": "low", "d": "high"}


async def test_ticket_status_shows_only_the_callers_own_tickets(queue: TicketQueue) -> None:
    mine = queue.open_ticket("alice", "refund", "normal", [{"role": "user", "content": "x"}])
    theirs = queue.open_ticket("bob", "secret matter", "high", [])
    queue.assign(mine.id, "agent-7")
    model = ScriptedModel(
        [
            tool_call("ticket_status", {"ticket_id": mine.id}),
            text("ok"),
            tool_call("ticket_status", {"ticket_id": theirs.id}),
            text("ok"),
            tool_call("ticket_status", {"ticket_id": 999}),
            text("ok"),
            tool_call("ticket_status", {"ticket_id": mine.id}),
            text("ok"),
        ]
    )
    agent = support_agent(model, EscalationSkill({"db": str(queue.path)}))

    own = tool_outputs(await agent.run("status?", user_id="alice"))[0]
    other = tool_outputs(await agent.run("status?", user_id="alice"))[0]
    missing = tool_outputs(await agent.run("status?", user_id="alice"))[0]
    anonymous = tool_outputs(await agent.run("status?"))[0]

    assert f"#{mine.id}" in own and "assigned" in own
    assert "not found" in other and "secret" not in other and "bob" not in other
    assert other.replace(str(theirs.id), "N") == missing.replace("999", "N")  # no tell
    assert "not found" in anonymous


async def test_ticket_status_reports_the_resolution_of_a_closed_ticket(
    queue: TicketQueue,
) -> None:
    ticket = queue.open_ticket("alice", "refund", "normal", [])
    queue.close(ticket.id, "Refunded 12 EUR.")
    model = ScriptedModel([tool_call("ticket_status", {"ticket_id": ticket.id}), text("ok")])
    agent = support_agent(model, EscalationSkill({"db": str(queue.path)}))
    output = tool_outputs(await agent.run("status?", user_id="alice"))[0]
    assert "closed" in output and "Refunded 12 EUR." in output


# the queue ---------------------------------------------------------------------------------


def test_status_transitions(queue: TicketQueue) -> None:
    ticket = queue.open_ticket("c1", "broken", "normal", [{"role": "user", "content": "hi"}])
    assert (ticket.status, ticket.assignee, ticket.closed_at) == ("open", None, None)

    assigned = queue.assign(ticket.id, "alice")
    assert (assigned.status, assigned.assignee) == ("assigned", "alice")
    reassigned = queue.assign(ticket.id, "bob")
    assert (reassigned.status, reassigned.assignee) == ("assigned", "bob")
    closed = queue.close(ticket.id, "fixed the router")
    assert (closed.status, closed.resolution) == ("closed", "fixed the router")
    assert closed.assignee == "bob"
    assert closed.closed_at is not None
    assert queue.get(ticket.id) == closed

    with pytest.raises(InvalidTransition, match=r"#\d+ is closed and cannot become assigned"):
        queue.assign(ticket.id, "carol")
    with pytest.raises(InvalidTransition, match="closed ticket is final"):
        queue.close(ticket.id, "again")
    assert queue.get(ticket.id) == closed  # a refused move changes nothing

    direct = queue.open_ticket("c1", "spam", "low", [])
    assert queue.close(direct.id, "not an issue").status == "closed"  # open -> closed

    with pytest.raises(TicketNotFound, match="no ticket #424242"):
        queue.assign(424242, "alice")
    with pytest.raises(TicketNotFound):
        queue.close(424242, "x")
    assert queue.get(424242) is None


def test_list_filters_and_validation(queue: TicketQueue) -> None:
    a1 = queue.open_ticket("a", "one", "low", [])
    b1 = queue.open_ticket("b", "two", "high", [])
    a2 = queue.open_ticket("a", "three", "normal", [])
    queue.assign(a2.id, "alice")

    assert [t.id for t in queue.list()] == [a1.id, b1.id, a2.id]
    assert a1.id < b1.id < a2.id
    assert [t.id for t in queue.list(customer_id="a")] == [a1.id, a2.id]
    assert [t.id for t in queue.list(status="open")] == [a1.id, b1.id]
    assert [t.id for t in queue.list(status="assigned", customer_id="a")] == [a2.id]
    assert queue.list(status="closed") == []

    with pytest.raises(TicketError, match="status 'pending'"):
        queue.list(status="pending")  # type: ignore[arg-type]
    with pytest.raises(TicketError, match="priority 'critical'"):
        queue.open_ticket("a", "x", "critical", [])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="customer_id"):
        queue.open_ticket("", "x", "low", [])
    with pytest.raises(TypeError, match="ticket id"):
        queue.get("1")  # type: ignore[arg-type]


def test_ids_keep_increasing_after_the_newest_ticket_is_deleted(queue: TicketQueue) -> None:
    first = queue.open_ticket("c", "one", "low", [])
    second = queue.open_ticket("c", "two", "low", [])
    with closing(sqlite3.connect(queue.path)) as conn, conn:
        conn.execute("DELETE FROM tickets WHERE id = ?", (second.id,))
    third = queue.open_ticket("c", "three", "low", [])
    assert first.id < second.id < third.id  # ticket #2 is never handed to someone else


def test_open_ticket_is_idempotent_per_run(queue: TicketQueue) -> None:
    first = queue.open_ticket("c1", "help", "normal", [], run_id="run-1")
    again = queue.open_ticket("c1", "help, again", "high", [], run_id="run-1")
    other = queue.open_ticket("c1", "help", "normal", [], run_id="run-2")
    assert again == first
    assert other.id != first.id
    assert len(queue.list()) == 2
    with pytest.raises(TicketError, match="run 'run-1' was escalated for customer 'c1'"):
        queue.open_ticket("c2", "help", "normal", [], run_id="run-1")


async def test_concurrent_escalations_of_one_run_open_one_ticket(queue: TicketQueue) -> None:
    tickets = await asyncio.gather(
        *(
            asyncio.to_thread(queue.open_ticket, "c1", f"try {i}", "normal", [], run_id="r")
            for i in range(20)
        )
    )
    assert len({t.id for t in tickets}) == 1
    assert len(queue.list()) == 1


async def test_re_escalating_in_the_same_run_returns_the_existing_ticket(db: Path) -> None:
    model = ScriptedModel(
        [
            tool_call("escalate_to_human", {"reason": "first try"}),
            tool_call("escalate_to_human", {"reason": "second try", "priority": "high"}),
            text("done"),
        ]
    )
    result = await support_agent(model, EscalationSkill({"db": str(db)})).run("hi", user_id="c")
    (ticket,) = TicketQueue(db).list()
    first, second = tool_outputs(result)
    assert f"#{ticket.id}" in first and "created" in first
    assert f"#{ticket.id}" in second and "already escalated" in second
    assert ticket.reason == "first try"


async def test_fifty_concurrent_escalations_lose_nothing(db: Path) -> None:
    def responder(request: dict[str, Any]) -> Any:
        last = request["messages"][-1]
        if last["role"] == "tool":
            return text(last["content"])
        return tool_call("escalate_to_human", {"reason": f"help for {last['content']}"})

    agent = support_agent(ScriptedModel(responder=responder), EscalationSkill({"db": str(db)}))
    customers = [f"cust-{i}" for i in range(50)]

    results = await asyncio.gather(*(agent.run(c, user_id=c) for c in customers))

    tickets = TicketQueue(db).list()
    assert len(tickets) == 50
    assert len({t.id for t in tickets}) == 50
    assert sorted(t.customer_id for t in tickets) == sorted(customers)
    by_customer = {t.customer_id: t for t in tickets}
    for customer, result in zip(customers, results, strict=True):
        ticket = by_customer[customer]
        assert ticket.reason == f"help for {customer}"
        assert ticket.conversation[0] == {"role": "user", "content": customer}
        assert ticket.run_id == result.run_id
        assert f"#{ticket.id} " in result.content


def test_writers_in_several_processes_share_the_queue(queue: TicketQueue) -> None:
    script = textwrap.dedent(
        """
        import sys
        from webagents_escalation import TicketQueue

        queue = TicketQueue(sys.argv[1])
        for i in range(10):
            queue.open_ticket(sys.argv[2], f"ticket {i}", "normal", [], run_id=f"{sys.argv[2]}-{i}")
            queue.open_ticket(sys.argv[2], "dup", "normal", [], run_id=f"{sys.argv[2]}-{i}")
        """
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(queue.path), f"p{n}"]) for n in range(3)
    ]
    assert [p.wait(timeout=120) for p in processes] == [0, 0, 0]
    tickets = queue.list()
    assert len(tickets) == 30
    assert len({t.id for t in tickets}) == 30
    assert {t.customer_id for t in tickets} == {"p0", "p1", "p2"}


# the before_handoff hook -------------------------------------------------------------------


class CaseNumberSkill(Skill):
    """Another skill filling handoff_context before the escalation hook runs."""

    @hook("before_handoff", priority=10)
    def tag(self, context: Context) -> Context:
        context["handoff_context"]["case"] = "CASE-9"
        context["handoff_context"]["escalation"] = {"team": "billing", "reason": "kept"}
        return context


async def test_escalation_data_reaches_the_human_desk(queue: TicketQueue) -> None:
    earlier = queue.open_ticket("cust-1", "old problem", "low", [])
    done = queue.open_ticket("cust-1", "solved problem", "low", [])
    queue.close(done.id, "solved")
    stranger = queue.open_ticket("cust-2", "not yours", "high", [])

    desk_model = ScriptedModel(["A colleague will call you today."])
    desk = BaseAgent("human-desk", "Brief the human staff.", model=desk_model)
    bot_model = ScriptedModel(
        [
            tool_call("escalate_to_human", {"reason": "double charge", "priority": "high"}),
            transfer(desk.name, "customer needs a refund approved"),
        ]
    )
    skill = EscalationSkill({"db": str(queue.path), "handoff_target": desk.name})
    bot = support_agent(bot_model, skill, handoffs=[desk])

    result = await bot.run("I was charged twice for order 77!", user_id="cust-1")

    assert result.agent == desk.name
    assert result.content == "A colleague will call you today."
    new = queue.list(customer_id="cust-1")[-1]
    payload = handed_over(desk_model.requests[0])
    assert payload is not None
    escalation = payload["escalation"]
    assert escalation["reason"] == "customer needs a refund approved"
    assert escalation["from_agent"] == bot.name
    assert escalation["to_agent"] == desk.name
    assert escalation["customer_id"] == "cust-1"
    assert [t["id"] for t in escalation["open_tickets"]] == [earlier.id, new.id]
    assert escalation["open_tickets"][1]["priority"] == "high"
    assert stranger.id not in [t["id"] for t in escalation["open_tickets"]]
    assert "customer: I was charged twice for order 77!" in escalation["conversation_summary"]


async def test_escalation_keeps_other_handoff_context_keys(queue: TicketQueue) -> None:
    desk_model = ScriptedModel(["ok"])
    desk = BaseAgent("human-desk", "Brief the human staff.", model=desk_model)
    bot = BaseAgent(
        "support",
        "Help.",
        model=ScriptedModel([transfer(desk.name, "angry customer")]),
        skills={
            "case": CaseNumberSkill(),
            "escalation": EscalationSkill({"db": str(queue.path), "handoff_target": desk.name}),
        },
        handoffs=[desk],
    )
    await bot.run("let me talk to a human", user_id="cust-1")
    payload = handed_over(desk_model.requests[0])
    assert payload is not None
    assert payload["case"] == "CASE-9"
    assert payload["escalation"]["team"] == "billing"
    assert payload["escalation"]["reason"] == "kept"  # set first by the other hook
    assert payload["escalation"]["from_agent"] == bot.name
    assert payload["escalation"]["open_tickets"] == []


async def test_other_handoffs_are_untouched(queue: TicketQueue) -> None:
    desk = BaseAgent("human-desk", "Humans.", model=ScriptedModel(["desk"]))
    billing_model = ScriptedModel(["billing here"])
    billing = BaseAgent("billing", "Billing.", model=billing_model)
    skill = EscalationSkill({"db": str(queue.path), "handoff_target": desk.name})
    bot = support_agent(
        ScriptedModel([transfer(billing.name, "invoice question")]), skill, handoffs=[desk, billing]
    )
    result = await bot.run("my invoice is wrong", user_id="cust-1")
    assert result.agent == billing.name
    assert handed_over(billing_model.requests[0]) is None
    assert "escalation" not in billing_model.requests[0]["messages"][0]["content"]


async def test_without_a_handoff_target_the_hook_does_nothing(queue: TicketQueue) -> None:
    desk_model = ScriptedModel(["desk"])
    desk = BaseAgent("human-desk", "Humans.", model=desk_model)
    bot = support_agent(
        ScriptedModel([transfer(desk.name, "why")]),
        EscalationSkill({"db": str(queue.path)}),
        handoffs=[desk],
    )
    await bot.run("hi", user_id="cust-1")
    assert handed_over(desk_model.requests[0]) is None


def test_conversation_summary_keeps_the_latest_text_only() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "secret instructions"},
        *({"role": "user", "content": f"message {i}"} for i in range(10)),
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
        {"role": "tool", "tool_call_id": "1", "content": "tool output"},
        {"role": "assistant", "content": "x" * 1000},
    ]
    summary = conversation_summary(messages, max_messages=3, max_chars=50)
    lines = summary.splitlines()
    assert lines[0] == "(8 earlier messages not shown)"
    assert lines[1:3] == ["customer: message 8", "customer: message 9"]
    assert lines[3].startswith("assistant: xxx") and len(lines[3]) == len("assistant: ") + 50
    assert "secret" not in summary and "tool output" not in summary


# configuration, default path and discovery -------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"priority_keywords": {"urgent": "critical"}},
            "priority_keywords.urgent: Input should be 'low', 'normal' or 'high'",
        ),
        ({"priority_keywords": ["urgent"]}, "priority_keywords: Input should be a valid dict"),
        (
            {"priority_keywords": {" ": "high"}},
            "priority_keywords[' '] (the key): Value error, must",
        ),
        ({"handoff_target": 3}, "handoff_target: Value error, the human desk agent's name"),
        (
            {"handoff_target": ["desk", ""]},
            "handoff_target: Value error, the human desk agent's name",
        ),
        ({"busy_timeout": 0}, "busy_timeout: Input should be greater than 0"),
        ({"db": 3}, "db: Value error, the ticket file's path (a str or pathlib.Path); got 3"),
    ],
    ids=[
        "unknown-priority",
        "keywords-list",
        "blank-keyword",
        "target-int",
        "blank-target",
        "zero-timeout",
        "db-int",
    ],
)
def test_bad_config_is_an_error_at_construction(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(AgentConfigError) as raised:
        EscalationSkill(config)
    message = str(raised.value)
    assert message.startswith("EscalationSkill config is invalid: ")
    assert expected in message


def test_misspelled_key_fails_at_construction_naming_skill_and_field(
    register_plugin: Any, tmp_path: Path
) -> None:
    config = {"db": str(tmp_path / "t.db"), "handoff_targets": "human-desk"}
    expected = (
        "EscalationSkill config is invalid: handoff_targets: unknown key; did you mean "
        "'handoff_target'? Keys: db, busy_timeout, priority_keywords, handoff_target"
    )
    with pytest.raises(AgentConfigError) as raised:
        EscalationSkill(config)
    assert str(raised.value) == expected
    assert EscalationSkill.config_model is EscalationConfig

    register_plugin(webagents_escalation)  # by the registered name, in an agent: the same error
    with pytest.raises(AgentConfigError) as raised:
        BaseAgent("bad-config", skills={"e": {"name": "escalation", "config": config}})
    assert str(raised.value) == expected


def test_config_reaches_the_queue_and_the_hook(tmp_path: Path) -> None:
    skill = EscalationSkill(
        {
            "db": tmp_path / "desk.db",
            "busy_timeout": 2,
            "priority_keywords": {"urgent": "high"},
            "handoff_target": ["desk-a", "desk-b"],
        }
    )
    assert skill.queue.path == tmp_path / "desk.db"
    assert skill.queue.busy_timeout == 2.0
    assert skill.handoff_targets == {"desk-a", "desk-b"}
    assert skill.priority_for("low", "this is URGENT") == "high"
    assert isinstance(skill.settings, EscalationConfig)


async def test_default_path_is_read_from_webagents_home_at_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBAGENTS_HOME", str(tmp_path / "elsewhere"))
    skill = EscalationSkill()  # built before WEBAGENTS_HOME points at the real home
    home = tmp_path / "home"
    monkeypatch.setenv("WEBAGENTS_HOME", str(home))
    model = ScriptedModel([tool_call("escalate_to_human", {"reason": "help"}), text("ok")])
    await support_agent(model, skill).run("hi", user_id="cust-1")

    assert skill.queue.path == home / "tickets.db"
    assert [t.customer_id for t in TicketQueue(home / "tickets.db").list()] == ["cust-1"]
    assert not (tmp_path / "elsewhere").exists()


def test_default_path_without_webagents_home_is_under_the_user_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBAGENTS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_db_path() == tmp_path / ".webagents" / "tickets.db"
    queue = TicketQueue()
    queue.open_ticket("c", "r", "low", [])
    assert (tmp_path / ".webagents" / "tickets.db").is_file()


def test_installed_distribution_is_found_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBAGENTS_LOAD_PLUGINS", raising=False)
    registry = PluginRegistry()
    registry.load()
    assert registry.get_skill("escalation") is EscalationSkill
    info = registry.plugins["escalation"]
    assert (info.distribution, info.version, info.skills) == (
        "webagents-escalation",
        "0.1.0",
        ["escalation"],
    )
    assert not [e for e in registry.errors if e.distribution == "webagents-escalation"]

    monkeypatch.setenv("WEBAGENTS_LOAD_PLUGINS", "")
    none_loaded = PluginRegistry()
    with pytest.raises(AgentConfigError, match="unknown skill 'escalation'"):
        none_loaded.get_skill("escalation")


def test_agents_accept_the_registered_skill_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBAGENTS_LOAD_PLUGINS", raising=False)
    monkeypatch.setenv("WEBAGENTS_HOME", str(tmp_path))
    previous = reset_plugin_registry(PluginRegistry())
    try:
        agent = BaseAgent("named", "hi", skills={"escalation": "escalation"})
    finally:
        reset_plugin_registry(previous)
    assert isinstance(agent.skills["escalation"], EscalationSkill)
    assert {"escalate_to_human", "ticket_status"} <= set(agent.capabilities.tools)


def test_an_unusable_ticket_file_is_a_ticket_error_naming_it(tmp_path: Path) -> None:
    in_the_way = tmp_path / "tickets.db"
    in_the_way.mkdir()  # a directory where the database file should be

    with pytest.raises(TicketError, match=r"tickets\.db"):
        TicketQueue(in_the_way).open()
