"""The handoff graph: every error and warning with a graph that has it and one that does not,
the Mermaid and Graphviz drawings, the demo team's diagram in docs/graph.md, and
``webagents graph`` through the real entry point."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from webagents import BaseAgent, Skill, handoff, tool
from webagents.agents.network import RemoteAgent
from webagents.teams.graph import (
    GraphReport,
    GraphvizNotFoundError,
    TeamGraphError,
    check_graph,
    render,
    to_mermaid,
    validate_team,
)
from webagents.testing import ScriptedModel

ROOT = Path(__file__).resolve().parents[1]
WEBAGENTS = str(Path(sys.executable).parent / "webagents")
Member = BaseAgent | RemoteAgent


def agent(name: str, *, model: bool = True, **options: Any) -> BaseAgent:
    return BaseAgent(name, model=ScriptedModel([]) if model else None, **options)


def team(*members: Member) -> dict[str, Member]:
    return {member.name: member for member in members}


def check(*members: Member) -> GraphReport:
    """The graph of ``members``, started at the first."""
    start = members[0]
    assert isinstance(start, BaseAgent)
    return check_graph(start, team(*members))


def kinds(report: GraphReport) -> tuple[list[str], list[str]]:
    return [i.kind for i in report.errors], [i.kind for i in report.warnings]


def only(report: GraphReport, kind: str) -> str:
    found = [i for i in (*report.errors, *report.warnings) if i.kind == kind]
    assert len(found) == 1, (kind, report)
    return found[0].message


def condition_to(target: str) -> Skill:
    class Route(Skill):
        @handoff(target)
        def matches(self, query: str) -> bool:
            """Matching questions go on."""
            return target in query

    return Route()


# --- errors ------------------------------------------------------------------------------


def test_a_misspelled_target_is_an_error_with_a_close_name() -> None:
    billing = agent("billing")
    wrong = check(agent("desk", handoffs=["billng"]), billing)
    right = check(agent("desk2", handoffs=["billing"]), billing)

    message = only(wrong, "unknown_target")
    assert "'desk' hands off to 'billng'" in message and "did you mean 'billing'?" in message
    assert kinds(right) == ([], [])


def test_a_condition_target_outside_the_team_is_an_error_naming_the_condition() -> None:
    sales = agent("sales")
    report = check(agent("desk", skills={"route": condition_to("saless")}), sales)
    message = only(report, "unknown_target")
    assert "condition Route.matches" in message and "did you mean 'sales'?" in message
    assert kinds(check(agent("desk2", skills={"route": condition_to("sales")}), sales)) == ([], [])


def test_an_agent_object_that_is_not_the_teams_agent_of_that_name_is_an_error() -> None:
    stray = BaseAgent("billing", model=ScriptedModel([]), register=False)
    billing = agent("billing")
    assert "not the team's 'billing'" in only(
        check(agent("desk", handoffs=[stray]), billing), "unknown_target"
    )
    assert kinds(check(agent("desk2", handoffs=[billing]), billing)) == ([], [])


def test_transfer_tool_name_collisions_are_errors() -> None:
    @tool
    def transfer_to_sales() -> str:
        """A tool that happens to have a transfer's name."""
        return "no"

    pair = agent("desk")
    pair.handoff_targets = ("x y", "x_y")  # assigned after construction: no check ran
    shadowed = agent("desk2", tools=[transfer_to_sales])
    shadowed.handoff_targets = ("sales",)
    fine = agent("desk3", handoffs=["x y", "sales"])
    members = (agent("x y"), agent("x_y"), agent("sales"))

    assert "target 'x y' gives the same tool" in only(check(pair, *members), "tool_collision")
    assert "<locals>.transfer_to_sales has that name" in only(
        check(shadowed, *members), "tool_collision"
    )
    assert "tool_collision" not in kinds(check(fine, *members))[0]


def test_a_cycle_where_no_agent_can_answer_is_an_error() -> None:
    desk = agent("desk", handoffs=["router"])
    router = agent("router", model=False, skills={"go": condition_to("relay")})
    relay = agent("relay", model=False, skills={"back": condition_to("router")})
    message = only(check(desk, router, relay), "no_answer")
    assert "'router', 'relay'" in message and "(router -> relay -> router)" in message

    answering = agent("relay2", skills={"back": condition_to("router2")})
    router2 = agent("router2", model=False, skills={"go": condition_to("relay2")})
    errors, warnings = kinds(check(agent("desk2", handoffs=["router2"]), router2, answering))
    assert errors == [] and "cycle" in warnings


def test_a_model_less_leaf_cannot_answer() -> None:
    report = check(agent("desk", handoffs=["blank"]), agent("blank", model=False))
    assert "agent 'blank' has no model" in only(report, "no_answer")
    remote = RemoteAgent("expert", "http://127.0.0.1:9/agents/expert")
    relay = agent("relay", model=False, skills={"go": condition_to("expert")})
    assert kinds(check(agent("desk2", handoffs=["relay"]), relay, remote))[0] == []


def test_transfers_no_run_can_offer_are_errors() -> None:
    class AdminTransfers(BaseAgent):
        """Transfers offered to admin callers alone: a scope that can use them exists."""

        def tools_with_transfers(self, scope: str) -> list[dict[str, Any]]:
            tools = super().tools_with_transfers(scope)
            return tools if scope == "admin" else self.capabilities.tool_schemas[scope]

    class NoTransfers(BaseAgent):
        def tools_with_transfers(self, scope: str) -> list[dict[str, Any]]:
            return self.capabilities.tool_schemas[scope]

    sales = agent("sales")
    hidden = NoTransfers("desk", model=ScriptedModel([]), handoffs=["sales"])
    assert "offered to no scope" in only(check(hidden, sales), "unusable_transfer")
    admin = AdminTransfers("desk2", model=ScriptedModel([]), handoffs=["sales"])
    assert kinds(check(admin, sales))[0] == []

    no_budget = agent("desk3", handoffs=["sales"], max_handoffs=0)
    assert "max_handoffs=0" in only(check(no_budget, sales), "unusable_transfer")
    assert kinds(check(agent("desk4", handoffs=["sales"], max_handoffs=1), sales))[0] == []


def test_a_start_outside_the_team_is_an_error() -> None:
    desk = agent("desk")
    report = check_graph(desk, team(agent("billing")))
    assert "the start agent 'desk' is not an agent of the team" in only(report, "missing_start")


def test_raise_for_errors_lists_every_error_and_validate_team_logs_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        name = "support"
        start = agent("desk", handoffs=["billng", "salez"])
        agents = team(start, agent("billing"), agent("sales"), agent("orphan"))

    with pytest.raises(TeamGraphError) as raised, caplog.at_level(logging.WARNING, "webagents"):
        validate_team(Broken())
    assert isinstance(raised.value, ValueError)
    lines = str(raised.value).splitlines()
    assert lines[0] == "team 'support': the handoff graph has 2 errors:"
    assert ["'billng'" in lines[1], "'salez'" in lines[2]] == [True, True]
    assert [r.getMessage() for r in caplog.records] == [
        f"team 'support': {issue}" for issue in raised.value.report.warnings
    ]
    assert any("'orphan'" in r.getMessage() for r in caplog.records)

    class Sound:
        name = "support"
        start = agent("desk2", handoffs=["billing"])
        agents = team(start, Broken.agents["billing"])

    assert validate_team(Sound()).ok


def test_a_team_that_hands_back_builds_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BothWays:
        name = "tutors"
        start = agent("triage", handoffs=["math"])
        agents = team(start, agent("math", handoffs=["triage"]))

    with caplog.at_level(logging.INFO, "webagents"):
        report = validate_team(BothWays())

    assert [issue.kind for issue in report.warnings] == ["cycle"]  # still reported
    assert [(r.levelno, "cycle" in r.getMessage()) for r in caplog.records] == [
        (logging.INFO, True)
    ]


# --- warnings ----------------------------------------------------------------------------


def test_an_agent_nobody_reaches_is_a_warning() -> None:
    report = check(agent("desk", handoffs=["sales"]), agent("sales"), agent("orphan"))
    assert "agent 'orphan' cannot be reached from the start 'desk'" in only(report, "unreachable")
    assert kinds(check(agent("desk2", handoffs=["sales2"]), agent("sales2"))) == ([], [])

    class ByLanguage(Skill):
        @handoff()
        def route(self, query: str) -> str | None:
            return None

    dynamic = agent("desk3", skills={"route": ByLanguage()})
    assert kinds(check(dynamic, agent("anyone"))) == ([], [])


def test_targets_without_a_model_are_a_warning() -> None:
    report = check(
        agent("desk", model=False, handoffs=["sales"], skills={"go": condition_to("sales")}),
        agent("sales"),
    )
    assert "agent 'desk' lists transfer targets ('sales') but has no model" in only(
        report, "no_model"
    )
    routed = check(
        agent("desk2", model=False, skills={"go": condition_to("sales2")}), agent("sales2")
    )
    assert kinds(routed) == ([], [])


def test_a_cycle_is_a_warning_naming_its_agents() -> None:
    report = check(agent("desk", handoffs=["billing"]), agent("billing", handoffs=["desk"]))
    assert "(desk -> billing -> desk)" in only(report, "cycle")
    assert kinds(check(agent("desk2", handoffs=["b2"]), agent("b2"))) == ([], [])


def test_a_remote_target_is_a_dead_end_warning() -> None:
    expert = RemoteAgent("expert", "http://127.0.0.1:9/agents/expert")
    report = check(agent("desk", handoffs=["expert"]), expert)
    assert "remote agent 'expert' is a dead end" in only(report, "remote_dead_end")
    untargeted = check(agent("desk2"), expert)
    assert kinds(untargeted) == ([], ["unreachable"])


# --- drawing -----------------------------------------------------------------------------


def small_team() -> tuple[BaseAgent, dict[str, Member]]:
    expert = RemoteAgent("tax expert", "http://127.0.0.1:9/agents/tax")
    billing = agent("billing", handoffs=["desk"])
    desk = agent(
        "desk", skills={"r": condition_to("billing")}, handoffs=[billing, "tax expert", "helpdsk"]
    )
    return desk, team(desk, billing, expert)


def test_mermaid_of_a_small_team() -> None:
    start, members = small_team()
    assert to_mermaid(start, members) == (
        "flowchart LR\n"
        '    n0(["desk (start)"]):::start\n'
        '    n1["billing"]\n'
        '    n2{{"tax expert"}}:::remote\n'
        '    n3["helpdsk"]:::unknown\n'
        "    n0 -->|transfer + condition| n1\n"
        "    n0 -->|transfer| n2\n"
        "    n0 -->|transfer| n3\n"
        "    n1 -->|transfer| n0\n"
        "    classDef start fill:#dbeafe,stroke:#1d4ed8,stroke-width:2px\n"
        "    classDef remote fill:#f3f4f6,stroke:#6b7280,stroke-dasharray:5 5\n"
        "    classDef unknown fill:#fee2e2,stroke:#b91c1c,stroke-dasharray:3 3\n"
    )


def test_render_draws_png_and_svg_with_graphviz(tmp_path: Path) -> None:
    if shutil.which("dot") is None:  # make test installs it (scripts/install-services.sh)
        if os.environ.get("CI"):
            pytest.fail("Graphviz's dot is missing: run scripts/install-services.sh")
        pytest.skip("Graphviz's dot is missing: run scripts/install-services.sh")
    start, members = small_team()
    png = render(start, members, tmp_path / "team.png")
    svg = render(start, members, tmp_path / "team.svg")
    assert png.read_bytes().startswith(b"\x89PNG\r\n")
    text = svg.read_text()
    assert "<svg" in text and "tax expert" in text and "desk (start)" in text


def test_render_without_graphviz_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, members = small_team()
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without dot, whatever is installed
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz"):
        render(start, members, tmp_path / "team.png")
    assert render(start, members, tmp_path / "team.mmd").read_text() == to_mermaid(start, members)
    with pytest.raises(ValueError, match=r"'team\.gif'.*\.png, \.svg, \.mmd, \.dot"):
        render(start, members, tmp_path / "team.gif")


# --- the demo team in the docs -----------------------------------------------------------


def test_docs_show_the_demo_teams_current_diagram(
    load_example: Callable[[str], ModuleType],
) -> None:
    demo = load_example("customer_service")
    agents: Mapping[str, Member] = demo.build_agents(ScriptedModel([]))
    start = agents["front-desk"]
    assert isinstance(start, BaseAgent)
    diagram = to_mermaid(start, agents)
    page = (ROOT / "docs" / "graph.md").read_text()
    committed = re.findall(r"^```mermaid\n(.*?)^```", page, re.M | re.S)
    assert diagram in committed, (
        "docs/graph.md shows a stale diagram of the customer-service team; paste this into "
        f"its ```mermaid block:\n{diagram}"
    )
    assert check_graph(start, agents).ok


def test_the_docs_python_examples_run() -> None:
    page = (ROOT / "docs" / "graph.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", page, re.M | re.S)
    assert blocks
    for number, source in enumerate(blocks):
        exec(compile(source, f"docs/graph.md (python block {number + 1})", "exec"), {})


# --- the command -------------------------------------------------------------------------

TEAM_PY = """
from webagents import BaseAgent
from webagents.testing import ScriptedModel

sales = BaseAgent("sales", model=ScriptedModel([]))
desk = BaseAgent("desk", model=ScriptedModel([]), handoffs=[{targets}])
"""


def graph_command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WEBAGENTS, "graph", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_the_graph_command_prints_errors_and_mermaid_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(TEAM_PY.format(targets='"sales", "billng"'))
    broken = graph_command("broken.py:desk", "--output", "broken.mmd", cwd=tmp_path)

    assert broken.returncode == 1, broken.stderr
    errors = [line for line in broken.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: [unknown_target] agent 'desk' hands off to 'billng' (handoffs), not an agent "
        "of the team; fix the name, or add the agent to the team"
    ]
    assert broken.stdout.startswith("flowchart LR\n") and '["billng"]:::unknown' in broken.stdout
    assert (tmp_path / "broken.mmd").read_text() == broken.stdout
    assert "Traceback" not in broken.stderr


TEAM_YAML = """
name: Support
agents:
  - name: desk
    model: openai/gpt-4o-mini
    can_transfer_to: [billing]
  - name: billing
    model: openai/gpt-4o-mini
    can_transfer_to: [desk]
  - name: orphan
    model: openai/gpt-4o-mini
"""


def test_the_graph_command_on_sound_teams_and_bad_input(tmp_path: Path) -> None:
    (tmp_path / "team.py").write_text(TEAM_PY.format(targets='"sales"'))
    (tmp_path / "team.yaml").write_text(TEAM_YAML)
    checked = graph_command("team.py:desk", "--check", cwd=tmp_path)
    warned = graph_command("team.yaml", cwd=tmp_path)
    missing = graph_command("nowhere.py", cwd=tmp_path)

    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
    assert warned.returncode == 0, warned.stderr
    assert [line.split("]")[0] for line in warned.stderr.splitlines()] == [
        "warning: [unreachable",
        "warning: [cycle",
    ]
    assert "n1 -->|transfer| n0" in warned.stdout
    assert missing.returncode == 2 and "no file 'nowhere.py'" in missing.stderr
    assert "Traceback" not in missing.stderr
