"""YAML team files: loading, running, and errors that name the file, line, agent and field."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from webagents import BaseAgent
from webagents.agents.network import RemoteAgent, default_network
from webagents.messages import handoff_context_in
from webagents.teams import TeamFileError, load_team
from webagents.teams.files import team_schema
from webagents.testing import script_member, transfer

SUPPORT = """\
name: Customer Support Team
model: openai/gpt-4o-mini          # the default of agents that name none
agents:
  - name: FrontDesk
    description: Routes customers
    instructions: Welcome customers and route them.
    model: openai/gpt-4o
    can_transfer_to:
      - TechnicalSupport
      - agent: Billing
        instructions: The customer was already identified; do not ask again.
    skills: [router, {name: consult, config: {experts: {finance: Billing}}}]
  - name: TechnicalSupport
    description: Technical issues
    instructions: Fix technical issues.
    can_transfer_to: [FrontDesk]
  - name: Billing
    description: Invoices and refunds
    instructions: Handle billing.
    metadata: {price: 0.05, tier: gold}
  - name: RemoteExpert
    description: Investment advice
    url: http://127.0.0.1:9/agents/expert
    api_key_env: EXPERT_KEY
    timeout: 5
"""


def write(tmp_path: Path, text: str, name: str = "team.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_team_file_loads_into_its_own_network(tmp_path: Path) -> None:
    team = load_team(write(tmp_path, SUPPORT), env={"EXPERT_KEY": "sk-expert"})
    assert team.name == "Customer Support Team" and team.network.name == team.name
    assert team.network is not default_network()
    assert list(team.agents) == ["FrontDesk", "TechnicalSupport", "Billing", "RemoteExpert"]
    desk = team.start
    assert desk.name == "FrontDesk" and desk.description == "Routes customers"
    assert desk.target_names() == ["TechnicalSupport", "Billing"]
    assert set(desk.skills) >= {"router", "consult"}
    assert desk.model is not None and desk.model.name == "gpt-4o"
    tech = team.agents["TechnicalSupport"]
    assert isinstance(tech, BaseAgent) and tech.model is not None
    assert tech.model.name == "gpt-4o-mini"  # the team's default
    billing = team.agents["Billing"]
    assert isinstance(billing, BaseAgent) and billing.card()["price"] == 0.05
    remote = team.agents["RemoteExpert"]
    assert isinstance(remote, RemoteAgent) and remote.api_key == "sk-expert"
    assert remote.timeout == 5 and team.network.get("RemoteExpert") is remote
    assert team.source == str(tmp_path / "team.yaml")


async def test_a_loaded_team_runs_and_edge_instructions_reach_the_target(tmp_path: Path) -> None:
    team = load_team(write(tmp_path, SUPPORT), env={"EXPERT_KEY": "k"})
    script_member(team, "FrontDesk", transfer("Billing", "invoice question"))
    billing = script_member(team, "Billing", "Refund issued.")
    result = await team.run("I was charged twice")
    assert (result.content, result.handoff_chain) == ("Refund issued.", ["FrontDesk", "Billing"])
    shown = [handoff_context_in(m) for m in billing.requests[0]["messages"]]
    assert {"instructions": "The customer was already identified; do not ask again."} in shown


async def test_sessions_use_the_store_given(tmp_path: Path) -> None:
    from webagents.sessions.memory import InMemorySessionStore

    store = InMemorySessionStore()
    team = load_team(write(tmp_path, SUPPORT), env={"EXPERT_KEY": "k"}, sessions=store)
    script_member(team, "FrontDesk", transfer("TechnicalSupport"))
    script_member(team, "TechnicalSupport", "Restart it.", "Then reinstall.")
    await team.run("It crashes", session_id="s")
    again = await team.run("Still crashes", session_id="s")
    assert (again.agent, again.content) == ("TechnicalSupport", "Then reinstall.")


def test_start_defaults_to_the_first_agent_and_can_be_named(tmp_path: Path) -> None:
    text = SUPPORT.replace("agents:\n", "start: Billing\nagents:\n", 1)
    assert load_team(write(tmp_path, text), env={"EXPERT_KEY": "k"}).start.name == "Billing"


def test_the_schema_for_editors_is_current() -> None:
    path = Path(__file__).parent.parent / "docs" / "team.schema.json"
    current = json.dumps(team_schema(), indent=2) + "\n"
    if not path.exists() or path.read_text() != current:
        path.write_text(current)
        pytest.fail(f"{path} was stale and has been rewritten; commit it")
    assert team_schema()["properties"]["agents"]["type"] == "array"


# errors ------------------------------------------------------------------------------------

MINIMAL = """\
name: t
model: openai/gpt-4o-mini
agents:
  - name: Desk
    can_transfer_to: [Billing]
  - name: Billing
"""


def error_for(tmp_path: Path, text: str, **kwargs: object) -> TeamFileError:
    with pytest.raises(TeamFileError) as caught:
        load_team(write(tmp_path, text), **kwargs)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(
    ("old", "new", "line", "agent", "field", "problem"),
    [
        (
            "[Billing]",
            "[Biling]",
            5,
            "Desk",
            "can_transfer_to[0]",
            "unknown agent 'Biling'; did you mean 'Billing'?",
        ),
        (
            "[Billing]",
            "[{agent: Billing, instructoins: x}]",
            5,
            "Desk",
            "can_transfer_to[0].instructoins",
            "unknown field; did you mean `instructions`?",
        ),
        (
            "  - name: Billing\n",
            "  - name: Billing\n    skills: [routr]\n",
            7,
            "Billing",
            "skills[0]",
            "unknown skill 'routr'; did you mean 'router'?",
        ),
        (
            "  - name: Billing\n",
            "  - name: Billing\n    skills:\n      - name: router\n        config: {rules: 3}\n",
            9,
            "Billing",
            "skills[0].config",
            "RouterSkill config is invalid: rules",
        ),
        (
            "model: openai/gpt-4o-mini\n",
            "",
            3,
            "Desk",
            "name",
            "no model: add `model: openai/gpt-4o-mini`",
        ),
        (
            "  - name: Billing\n",
            "  - name: Desk\n",
            6,
            "Desk",
            "name",
            "agent name 'Desk' is taken by agent #1",
        ),
        (
            "  - name: Billing\n",
            "  - name: Billing\n    url: http://h/agents/b\n    instructions: hi\n",
            8,
            "Billing",
            "instructions",
            "a remote agent (with `url:`) has no `instructions` here",
        ),
        (
            "  - name: Billing\n",
            "  - name: Billing\n    modle: openai/x\n",
            7,
            "Billing",
            "modle",
            "unknown field; did you mean `model`?",
        ),
        ("name: t\n", "name: t\nstart: Dsk\n", 2, None, "start", "did you mean 'Desk'?"),
        (
            "model: openai/gpt-4o-mini\n",
            "model: nosuch/x\n",
            2,
            None,
            "model",
            "unknown model provider 'nosuch'",
        ),
        (
            "[Billing]",
            "[Desk]",
            5,
            "Desk",
            "can_transfer_to[0]",
            "an agent cannot hand off to itself",
        ),
        (
            "  - name: Billing\n",
            "  - name: Billing\n    metadata: {price: -1}\n",
            7,
            "Billing",
            "metadata",
            "price must be a non-negative amount",
        ),
    ],
)
def test_errors_name_file_line_agent_and_field(
    tmp_path: Path,
    old: str,
    new: str,
    line: int,
    agent: str | None,
    field: str,
    problem: str,
) -> None:
    assert old in MINIMAL
    error = error_for(tmp_path, MINIMAL.replace(old, new, 1))
    assert (error.file, error.line, error.agent, error.field) == (
        str(tmp_path / "team.yaml"),
        line,
        agent,
        field,
    )
    assert problem in error.problem
    assert str(error).startswith(f"{tmp_path / 'team.yaml'}:{line}: ")
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("name: t\nagents: [42]\n", ":2: agent '#1': ", "an agent should be a mapping"),
        (
            MINIMAL.replace("[Billing]", "Billing"),
            ":5: agent 'Desk', can_transfer_to: ",
            "should be a list, e.g. `can_transfer_to: [Billing]`",
        ),
        (
            MINIMAL.replace("  - name: Desk\n", "  - name: Desk\n    url: http://h/agents/d\n"),
            ":5: agent 'Desk', url: ",
            "the first agent starts the team, and this one is remote",
        ),
        (
            MINIMAL + "    url: ftp://h/agents/b\n",
            ":7: agent 'Billing', url: ",
            "needs an http(s):// URL with a host",
        ),
        (
            MINIMAL.replace("  - name: Billing\n", "  - name: Billing\n    timeout: 3\n"),
            ":7: agent 'Billing', timeout: ",
            "`timeout` is for remote agents (with `url:`); remove it",
        ),
    ],
)
def test_shape_errors_say_what_to_write(
    tmp_path: Path, text: str, where: str, problem: str
) -> None:
    message = str(error_for(tmp_path, text))
    assert where in message and problem in message


def test_invalid_yaml_tags_and_shapes(tmp_path: Path) -> None:
    error = error_for(tmp_path, "name: t\nagents: [\n  - name: x\n")
    assert error.line is not None and "invalid YAML, column" in str(error)
    error = error_for(tmp_path, "name: !!python/object:os.system x\nagents: []\n")
    assert error.line == 1 and "YAML tags are not allowed" in str(error)
    error = error_for(tmp_path, "- just a list\n")
    assert "a team file is a mapping" in str(error)
    error = error_for(tmp_path, "name: t\nname: u\nagents: []\n")
    assert error.line == 2 and "`name` is given twice" in str(error)
    error = error_for(tmp_path, "name: t\nagents: []\n")
    assert (error.line, error.field) == (2, "agents")
    error = error_for(tmp_path, "name: t\nagnets: []\n")
    assert error.field == "agnets" and "did you mean `agents`?" in str(error)
    with pytest.raises(TeamFileError, match="no such file; check the path"):
        load_team(tmp_path / "missing.yaml")


def test_an_unset_api_key_variable_is_named(tmp_path: Path) -> None:
    error = error_for(tmp_path, SUPPORT, env={})
    assert error.agent == "RemoteExpert" and error.field == "api_key_env"
    assert "environment variable EXPERT_KEY is not set" in str(error)


def test_graph_errors_point_at_the_agent(tmp_path: Path) -> None:
    text = MINIMAL.replace("  - name: Desk\n", "  - name: Desk\n    max_handoffs: 0\n")
    error = error_for(tmp_path, text)
    assert (error.line, error.agent, error.field) == (6, "Desk", "can_transfer_to")
    assert "has max_handoffs=0" in error.problem
    from webagents.teams.graph import TeamGraphError

    assert isinstance(error.__cause__, TeamGraphError)  # the whole report, for webagents graph
    assert error.__cause__.report.errors[0].agent == "Desk"


async def test_two_loads_of_a_file_are_separate_teams_that_share_a_sqlite_store(
    tmp_path: Path,
) -> None:
    from webagents.sessions.sqlite import SQLiteSessionStore

    path = write(tmp_path, SUPPORT)
    store = SQLiteSessionStore(tmp_path / "sessions.db")
    try:
        first = load_team(path, env={"EXPERT_KEY": "k"}, sessions=store)
        script_member(first, "FrontDesk", transfer("Billing"))
        script_member(first, "Billing", "Refund issued.")
        await first.run("Charged twice", session_id="ada")
        # A second load (another process, a restart): its own agents, the same conversation.
        second = load_team(path, env={"EXPERT_KEY": "k"}, sessions=store)
        assert second.agents["Billing"] is not first.agents["Billing"]
        assert second.network.get("Billing") is second.agents["Billing"]
        script_member(second, "FrontDesk")
        billing = script_member(second, "Billing", "It will arrive in 3 days.")
        again = await second.run("When?", session_id="ada")
        assert (again.agent, again.content) == ("Billing", "It will arrive in 3 days.")
        users = [m["content"] for m in billing.requests[0]["messages"] if m["role"] == "user"]
        assert users == ["Charged twice", "When?"]
    finally:
        await store.aclose()
