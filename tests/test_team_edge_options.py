"""Per-edge options, the cycle policy and the complete tool, declared for a whole team: in a
YAML team file and with ``TeamBuilder``."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from webagents import AgentConfigError, BaseAgent, Context
from webagents.messages import handoff_context_in
from webagents.teams import Team, TeamBuilder, TeamFileError, load_team
from webagents.testing import ScriptedModel, complete, script_member, transfer

TEAM = """\
name: Support
model: openai/gpt-4o-mini
cycles: allow
complete_tool: true
agents:
  - name: FrontDesk
    description: Routes customers
    max_handoffs: 3
    complete_tool: false
    can_transfer_to:
      - agent: Billing
        description: Duplicate charges and refunds
        instructions: The customer is verified.
        history: last_user
        carry_state: false
      - agent: Admin
        scope: admin
  - name: Billing
    description: Invoices
    can_transfer_to: [FrontDesk]
  - name: Admin
    description: Account deletion
"""


def load(tmp_path: Path, text: str = TEAM) -> Team:
    path = tmp_path / "team.yaml"
    path.write_text(textwrap.dedent(text))
    return load_team(path)


def tools(request: dict[str, Any]) -> dict[str, str]:
    return {t["function"]["name"]: t["function"]["description"] for t in request["tools"]}


async def test_a_team_file_declares_edge_options_cycles_and_complete(tmp_path: Path) -> None:
    team = load(tmp_path)
    desk = script_member(team, "FrontDesk", transfer("Billing"))
    billing = script_member(team, "Billing", complete("Refund issued."))
    result = await team.run(
        [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": "I was charged twice"},
        ]
    )
    assert (result.agent, result.content, result.completed) == ("Billing", "Refund issued.", True)
    offered = tools(desk.requests[0])
    assert offered["transfer_to_Billing"].endswith("Duplicate charges and refunds")
    assert "transfer_to_Admin" not in offered  # an admin-scope edge, and this run's scope is all
    assert "complete" not in offered  # the agent's own complete_tool: false wins
    assert "complete" in tools(billing.requests[0])  # the team's default
    sent = [m for m in billing.requests[0]["messages"] if m["role"] == "user"]
    assert sent[0]["content"] == "I was charged twice" and len(sent) == 2  # + the context
    assert handoff_context_in(sent[1]) == {"instructions": "The customer is verified."}
    (record,) = result.handoffs
    assert (record.history_length, record.context) == (
        1,
        {"instructions": "The customer is verified."},
    )
    # carry_state: false, and cycles: allow on every agent of the team
    front, billing_agent = team.agents["FrontDesk"], team.agents["Billing"]
    assert isinstance(front, BaseAgent) and isinstance(billing_agent, BaseAgent)
    edge = front.edge("Billing")
    assert edge is not None and edge.carry_state is False
    assert front.handoff_cycles == billing_agent.handoff_cycles == "allow"
    await team.aclose()


async def test_cycles_allow_lets_a_team_hand_back_and_forth(tmp_path: Path) -> None:
    team = load(tmp_path)
    script_member(team, "FrontDesk", transfer("Billing"), transfer("Billing"))
    billing = script_member(team, "Billing", transfer("FrontDesk"), "Billing answers.")
    result = await team.run("Help")
    # the same edge twice is allowed, until the start agent's max_handoffs: 3
    assert result.handoff_chain == ["FrontDesk", "Billing", "FrontDesk", "Billing"]
    assert result.content == "Billing answers." and all(r.success for r in result.handoffs)
    assert "transfer_to_FrontDesk" not in tools(billing.requests[-1])  # the budget is spent
    await team.aclose()


def test_edge_options_in_a_file_are_validated_with_their_place(tmp_path: Path) -> None:
    bad = TEAM.replace("history: last_user", "history: recent")
    with pytest.raises(TeamFileError) as caught:
        load(tmp_path, bad)
    message = str(caught.value)
    assert "team.yaml" in message and "FrontDesk" in message and "history" in message
    with pytest.raises(TeamFileError, match="cycles"):
        load(tmp_path, TEAM.replace("cycles: allow", "cycles: sometimes"))


async def test_the_builder_takes_edge_options_for_each_target() -> None:
    seen: list[str] = []

    def log(context: Context) -> None:
        seen.append(f"{context.agent_name} -> {context['handoff_agent']}")

    builder = TeamBuilder("tutors", cycles="allow", complete_tool=True)
    triage = BaseAgent("triage", model=ScriptedModel([transfer("math")]), network=builder.network)
    math = BaseAgent("math", model=ScriptedModel([complete("4")]), network=builder.network)
    history = BaseAgent("history", model=ScriptedModel(["1066"]), network=builder.network)
    team = (
        builder.start_with(triage)
        .handoff(triage, [math, history], both_ways=True, on_handoff=log, history="last_user")
        .build()
    )
    result = await team.run("What is 2 + 2?")
    assert (result.content, result.completed, seen) == ("4", True, ["triage -> math"])
    assert triage.handoff_cycles == math.handoff_cycles == "allow"
    assert math.complete_tool and history.complete_tool
    assert math.edge("triage") is None  # the back edge is plain
    edge = triage.edge("history")
    assert edge is not None and edge.history == "last_user"
    await team.aclose()


def test_the_builder_refuses_unknown_or_bad_edge_options() -> None:
    builder = TeamBuilder("bad")
    a = BaseAgent("a", network=builder.network)
    b = BaseAgent("b", network=builder.network)
    with pytest.raises(AgentConfigError, match="unknown handoff option 'instruction'"):
        builder.handoff(a, b, instruction="typo")
    with pytest.raises(AgentConfigError, match="scope='root' must be one of"):
        builder.handoff(a, b, scope="root")
    with pytest.raises(AgentConfigError, match="cycles='loop' must be 'forbid'"):
        TeamBuilder("bad2", cycles="loop")  # type: ignore[arg-type]
