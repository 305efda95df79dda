"""The team files in the plugin READMEs load and run (models replaced by scripted ones)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webagents.messages import handoff_context_in
from webagents.teams import Team, load_team
from webagents.testing import script_member, tool_call, transfer

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
_YAML = re.compile(r"^```yaml\n(.*?)^```", re.M | re.S)


def readme_team(plugin: str, tmp_path: Path) -> Team:
    blocks = _YAML.findall((PLUGINS / plugin / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) == 1, f"{plugin}/README.md should show one team file"
    path = tmp_path / "team.yaml"
    path.write_text(blocks[0])
    return load_team(path)


async def test_router_readme_team(tmp_path: Path) -> None:
    team = readme_team("webagents-router", tmp_path)
    front = script_member(team, "FrontDesk", "Hello! How can I help?")
    script_member(team, "Billing", "Refund issued.")
    result = await team.run("I want a refund for order #123")
    assert (result.agent, result.content, result.handoffs[0].trigger) == (
        "Billing",
        "Refund issued.",
        "condition",
    )
    assert front.requests == []  # the router decided before the model was asked
    assert (await team.run("Hi there")).content == "Hello! How can I help?"


async def test_escalation_readme_team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the file names db: tickets.db
    team = readme_team("webagents-escalation", tmp_path)
    script_member(
        team,
        "SupportBot",
        tool_call("escalate_to_human", {"reason": "double charge", "priority": "high"}),
        transfer("HumanDesk", "needs a person"),
    )
    desk = script_member(team, "HumanDesk", "A colleague will call you today.")
    result = await team.run("I was charged twice!", user_id="cust-42")
    assert (result.agent, result.content) == ("HumanDesk", "A colleague will call you today.")
    data = [handoff_context_in(m) for m in desk.requests[0]["messages"]]
    escalation = next(d["escalation"] for d in data if d and "escalation" in d)
    assert escalation["customer_id"] == "cust-42" and escalation["to_agent"] == "HumanDesk"
    assert (tmp_path / "tickets.db").exists()


async def test_consult_readme_team(tmp_path: Path) -> None:
    team = readme_team("webagents-consult", tmp_path)
    script_member(
        team,
        "Assistant",
        tool_call("consult_expert", {"topic": "finance", "question": "Where to invest?"}),
        "Our expert says: index funds.",
    )
    expert = script_member(team, "FinanceExpert", "Index funds, mostly.")
    result = await team.run("Where should I invest?")
    assert (result.agent, result.content) == ("Assistant", "Our expert says: index funds.")
    assert result.messages[-2]["content"] == "Index funds, mostly."
    assert len(expert.requests) == 1
