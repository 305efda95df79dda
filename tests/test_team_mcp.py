"""A team file gives an agent an MCP server's tools: the built-in ``mcp`` skill, configured
like ``MCPSkill``, against the real ``mcp-server-time`` (run as a stdio subprocess)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from webagents.teams import TeamFileError, load_team
from webagents.testing import script_member, text, tool_call, transfer

TEAM = f"""\
name: clock-desk
model: openai/gpt-4o-mini
agents:
  - name: desk
    can_transfer_to: [clock]
  - name: clock
    description: Times and time zones
    skills:
      - name: mcp
        config:
          command:
            [{json.dumps(sys.executable)}, "-m", "mcp_server_time", "--local-timezone", "UTC"]
          prefix: time_
          timeout: 60
"""


async def test_a_team_file_gives_an_agent_an_mcp_servers_tools(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(TEAM)
    async with load_team(path) as team:
        script_member(team, "desk", transfer("clock"))
        convert = {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
        clock = script_member(team, "clock", tool_call("time_convert_time", convert), text("21:00"))
        result = await team.run("Noon UTC in Tokyo?")
    assert (result.agent, result.content) == ("clock", "21:00")
    offered = {tool["function"]["name"] for tool in clock.requests[0]["tools"]}
    assert {"time_get_current_time", "time_convert_time"} <= offered
    [output] = [m["content"] for m in result.messages if m["role"] == "tool"][-1:]
    assert json.loads(output)["target"]["datetime"].endswith("T21:00:00+09:00")


def test_a_bad_mcp_config_names_the_file_agent_and_field(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: broken
            model: openai/gpt-4o-mini
            agents:
              - name: clock
                skills:
                  - name: mcp
                    config: {prefix: time_}
            """
        )
    )
    with pytest.raises(TeamFileError) as caught:
        load_team(path)
    message = str(caught.value)
    assert "team.yaml" in message and "clock" in message and "config" in message
