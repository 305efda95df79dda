"""MCP clock: an agent that answers time-zone questions with the tools of ``mcp-server-time``.

## Run it

Offline: the model is scripted, the MCP server is the real one from PyPI (``pip install
mcp-server-time``, which the dev extra installs), started as a subprocess::

    python examples/mcp_clock.py
    python examples/mcp_clock.py --time 09:30 --source Europe/London --target America/New_York

## What it shows

* ``MCPSkill(command=[...])`` starts an MCP server when the agent starts and offers its tools
  (``get_current_time``, ``convert_time``) to the model with the server's own JSON schemas.
* The model calls ``convert_time``; the server's answer (JSON text) comes back as the tool
  result, which the scripted model reads to word its answer, as a real model would.
* ``async with agent:`` closes the server when the block ends, in the task that opened it.

With a real model, replace ``model=`` with ``"openai/gpt-4o-mini"`` and set ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from webagents import BaseAgent
from webagents.mcp import MCPSkill
from webagents.testing import ScriptedModel, text, tool_call
from webagents.testing.replies import Reply

TIME_SERVER = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]


def scripted_clock(time: str, source: str, target: str) -> ScriptedModel:
    """A model that asks ``convert_time`` once, then words the server's answer."""

    def answer(request: dict[str, Any]) -> Reply:
        last = request["messages"][-1]
        if last["role"] != "tool":
            return text("Which time and zones?")
        if last["content"].startswith("Error:"):
            return text(f"The clock server could not convert that: {last['content']}")
        result = json.loads(last["content"])
        when = result["target"]["datetime"][11:16]
        return text(f"{time} in {source} is {when} in {target} ({result['time_difference']}).")

    arguments = {"source_timezone": source, "time": time, "target_timezone": target}
    return ScriptedModel([tool_call("convert_time", arguments)], responder=answer)


async def main(time: str = "12:00", source: str = "UTC", target: str = "Asia/Tokyo") -> str:
    agent = BaseAgent(
        "clock",
        "You answer questions about time zones with your time tools.",
        model=scripted_clock(time, source, target),
        skills={"time": MCPSkill(command=TIME_SERVER, timeout=60)},
    )
    async with agent:
        result = await agent.run(f"What time is {time} {source} in {target}?")
    return result.content


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time", default="12:00", help="HH:MM (24-hour)")
    parser.add_argument("--source", default="UTC", help="IANA zone of the time")
    parser.add_argument("--target", default="Asia/Tokyo", help="IANA zone to convert to")
    args = parser.parse_args()
    print(asyncio.run(main(args.time, args.source, args.target)))
