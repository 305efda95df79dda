"""MCPSkill against real MCP servers from PyPI, run as stdio subprocesses: ``mcp-server-time``
(deterministic conversions between zones without daylight saving, and its error for an
unknown zone) and two ``mcp-server-git`` servers on a repository made in the test's folder
(the name clash, and ``prefix`` resolving it). The dev extra installs both; they are never
skipped."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.mcp_apps import TIME_SERVER, git_server, tool_names
from webagents import BaseAgent
from webagents.errors import AgentConfigError
from webagents.mcp import MCPSkill
from webagents.testing import ScriptedModel, text, tool_call

TIMEOUT = 60  # seconds: a cold interpreter on a busy machine starts slowly


def tool_results(result: Any) -> list[tuple[str, str, bool]]:
    return [(e.name, e.output, e.is_error) for e in result.events if e.type == "tool.result"]


async def test_time_server_converts_between_fixed_zones() -> None:
    convert = {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
    model = ScriptedModel([tool_call("convert_time", convert), text("21:00 in Tokyo")])
    agent = BaseAgent(
        "clock", model=model, skills={"time": MCPSkill(command=TIME_SERVER, timeout=TIMEOUT)}
    )
    async with agent:
        result = await agent.run("What time is it in Tokyo at noon UTC?")
    offered = {t["function"]["name"]: t["function"] for t in model.requests[0]["tools"]}
    assert set(offered) == {"get_current_time", "convert_time"}
    assert offered["convert_time"]["parameters"]["required"] == [
        "source_timezone",
        "time",
        "target_timezone",
    ]
    [(name, output, is_error)] = tool_results(result)
    assert (name, is_error) == ("convert_time", False)
    answer = json.loads(output)
    assert answer["source"]["datetime"].endswith("T12:00:00+00:00")
    assert answer["target"]["datetime"].endswith("T21:00:00+09:00")
    assert answer["time_difference"] == "+9.0h"


async def test_time_server_error_reaches_the_model_as_a_tool_error() -> None:
    convert = {"source_timezone": "Mars/Olympus_Mons", "time": "12:00", "target_timezone": "UTC"}
    model = ScriptedModel([tool_call("convert_time", convert), text("no such zone")])
    agent = BaseAgent(
        "clock", model=model, skills={"time": MCPSkill(command=TIME_SERVER, timeout=TIMEOUT)}
    )
    async with agent:
        result = await agent.run("Mars time?")
    [(name, output, is_error)] = tool_results(result)
    assert (name, is_error) == ("convert_time", True)
    assert "Invalid timezone" in output and "Mars/Olympus_Mons" in output
    assert result.content == "no such zone"


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-C", str(repo)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (repo / "README.md").write_text("hello\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "First commit"], check=True)
    (repo / "notes.txt").write_text("draft\n")
    return repo


async def test_two_git_servers_clash_until_one_has_a_prefix(repository: Path) -> None:
    clashing = BaseAgent(
        "dev",
        model=ScriptedModel(),
        skills={
            "git1": MCPSkill(command=git_server(str(repository)), timeout=TIMEOUT),
            "git2": MCPSkill(command=git_server(str(repository)), timeout=TIMEOUT),
        },
    )
    with pytest.raises(AgentConfigError) as caught:
        await clashing.ensure_initialized()
    message = str(caught.value)
    assert "two tools named 'git_status'" in message
    assert "MCPSkill 'git1' (tool 'git_status')" in message
    assert "MCPSkill 'git2' (tool 'git_status')" in message
    assert "prefix='git2_'" in message
    await clashing.close()

    model = ScriptedModel(
        [
            tool_call("git2_git_status", {"repo_path": str(repository)}),
            tool_call("git_log", {"repo_path": str(repository)}),
            text("clean enough"),
        ]
    )
    agent = BaseAgent(
        "dev",
        model=model,
        skills={
            "git1": MCPSkill(command=git_server(str(repository)), timeout=TIMEOUT),
            "git2": MCPSkill(command=git_server(str(repository)), prefix="git2_", timeout=TIMEOUT),
        },
    )
    async with agent:
        result = await agent.run("What is the state of the repository?")
    offered = tool_names(model.requests[0]["tools"])
    assert "git_status" in offered and "git2_git_status" in offered
    assert (
        len(offered) == len(set(offered)) == 2 * len([n for n in offered if n.startswith("git_")])
    )
    (status, log) = tool_results(result)
    assert status[0] == "git2_git_status" and not status[2]
    assert "notes.txt" in status[1]
    assert log[0] == "git_log" and not log[2] and "First commit" in log[1]
