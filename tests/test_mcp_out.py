"""Served agents' tools over MCP at ``/agents/{name}/mcp``, listed and called with the official
``mcp`` client over real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.mcp_apps import calculator
from webagents import BaseAgent, Context, Skill, ToolRetry, hook, tool
from webagents.errors import AgentConfigError
from webagents.mcp import MCPServerError, MCPSkill
from webagents.server import create_app
from webagents.testing import ScriptedModel, text, tool_call
from webagents.testing.served import ServedApp


class Desk(Skill):
    @tool
    def add(self, a: int, b: int = 1) -> int:
        """Add two integers.

        Args:
            a: The first.
            b: The second.
        """
        return a + b

    @tool
    def whoami(self, context: Context) -> str:
        """Who is calling."""
        return f"user={context.peer_user_id} scope={context.scope} agent={context.agent_name}"

    @tool
    def refuse(self) -> str:
        """Always refuses."""
        raise ToolRetry("not today")

    @tool
    def crash(self) -> str:
        """Raises."""
        raise RuntimeError("secret-token-123 leaked in a stack")

    @tool(scope="owner")
    def payroll(self) -> str:
        """Owners only."""
        return "salaries"

    @hook("before_toolcall")
    def double_b(self, context: Context) -> Context:
        call = context["tool_call"]
        if call["name"] == "add" and '"b": 5' in call["arguments"]:
            call["arguments"] = call["arguments"].replace('"b": 5', '"b": 10')
        return context


@pytest.fixture
def served() -> Iterator[ServedApp]:
    BaseAgent("desk", model=ScriptedModel(), description="Front desk", skills={"desk": Desk()})
    BaseAgent("calc", model=ScriptedModel(), skills={"calc": MCPSkill(server=calculator())})
    from webagents.agents.network import default_network

    with ServedApp(create_app(default_network(), api_keys={"k-ada": "ada"})) as app:
        yield app


@contextlib.asynccontextmanager
async def mcp_client(
    url: str, key: str | None = "k-ada", **options: object
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), **options) as client,  # type: ignore[arg-type]
    ):
        yield client


async def test_tools_are_listed_with_the_schema_the_model_sees(served: ServedApp) -> None:
    async with mcp_client(f"{served.url}/agents/desk/mcp") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"add", "whoami", "refuse", "crash"}  # not the owner-scope payroll
    from webagents.agents.network import default_network

    desk = default_network().get("desk")
    assert desk is not None
    schemas = {t["function"]["name"]: t["function"] for t in desk.capabilities.tool_schemas["all"]}
    assert tools["add"].input_schema == schemas["add"]["parameters"]
    assert tools["add"].description == schemas["add"]["description"]
    assert tools["add"].input_schema["properties"]["a"]["description"] == "The first."


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_calls_run_the_tool_as_a_run_would(served: ServedApp, mode: str) -> None:
    async with mcp_client(f"{served.url}/agents/desk/mcp", mode=mode) as client:
        added = await client.call_tool("add", {"a": 2})
        hooked = await client.call_tool("add", {"a": 2, "b": 5})
        bad = await client.call_tool("add", {"a": "two"})
        who = await client.call_tool("whoami", {})
        refused = await client.call_tool("refuse", {})
        crashed = await client.call_tool("crash", {})
        with pytest.raises(MCPError, match="Unknown tool: payroll"):
            await client.call_tool("payroll", {})

    def shown(result: object) -> tuple[str, bool]:
        content = result.content  # type: ignore[attr-defined]
        return content[0].text, result.is_error  # type: ignore[attr-defined]

    assert shown(added) == ("3", False)
    assert shown(hooked) == ("12", False)
    assert shown(bad)[1] and "invalid arguments for tool 'add': a:" in shown(bad)[0]
    assert shown(who) == ("user=ada scope=all agent=desk", False)
    assert shown(refused) == ("Error: not today", True)
    assert shown(crashed) == ("Error: tool 'crash' failed.", True)


async def test_an_agents_own_mcp_tools_are_served_too(served: ServedApp) -> None:
    async with mcp_client(f"{served.url}/agents/calc/mcp") as client:
        names = [t.name for t in (await client.list_tools()).tools]
        divided = await client.call_tool("divide", {"a": 1, "b": 0})
    assert names == ["add", "divide", "hang", "grow"]
    assert divided.is_error
    assert divided.content[0].text == "Error: Error executing tool divide: cannot divide by zero"  # type: ignore[union-attr]


def test_the_api_key_is_required(served: ServedApp) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = httpx.post(f"{served.url}/agents/desk/mcp", json=body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_an_unknown_agent_is_a_404_in_openais_shape(served: ServedApp) -> None:
    response = httpx.post(
        f"{served.url}/agents/nobody/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": "Bearer k-ada"},
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "agent_not_found"


def test_without_the_mcp_package_the_route_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)  # as if it were not installed
    agent = BaseAgent("desk", model=ScriptedModel(), skills={"desk": Desk()})
    with ServedApp(create_app([agent])) as app:
        response = httpx.post(f"{app.url}/agents/desk/mcp", json={})
    assert response.status_code == 501
    error = response.json()["error"]
    assert error["code"] == "mcp_unavailable"
    assert "pip install 'webagents-net[mcp]'" in error["message"]
    with pytest.raises(AgentConfigError, match=r"webagents-net\[mcp\]"):
        MCPSkill(command=["mcp-server-time"])


async def test_an_mcp_skill_reaches_a_served_agent_over_http(served: ServedApp) -> None:
    url = f"{served.url}/agents/desk/mcp"
    model = ScriptedModel(
        [tool_call("desk_add", {"a": 20, "b": 22}), tool_call("desk_whoami"), text("42")]
    )
    skill = MCPSkill(url=url, headers={"Authorization": "Bearer k-ada"}, prefix="desk")
    consumer = BaseAgent("consumer", model=model, skills={"desk": skill})
    async with consumer:
        result = await consumer.run("20 + 22?")
    outputs = [(e.name, e.output, e.is_error) for e in result.events if e.type == "tool.result"]
    assert outputs == [
        ("desk_add", "42", False),
        ("desk_whoami", "user=ada scope=all agent=desk", False),
    ]
    assert "desk_add" in [t["function"]["name"] for t in model.requests[0]["tools"]]


async def test_a_refused_key_fails_the_start_up_without_showing_it(served: ServedApp) -> None:
    skill = MCPSkill(
        url=f"{served.url}/agents/desk/mcp", headers={"Authorization": "Bearer wrong-key-42"}
    )
    consumer = BaseAgent("consumer", model=ScriptedModel(), skills={"desk": skill})
    with pytest.raises(MCPServerError) as caught:
        await consumer.ensure_initialized()
    assert "'desk'" in str(caught.value)
    assert "wrong-key-42" not in str(caught.value)
    await consumer.close()


def test_an_app_loads_mcp_only_when_asked_over_mcp() -> None:
    import subprocess

    code = (
        "import sys\n"
        "from webagents import BaseAgent\n"
        "from webagents.server import create_app\n"
        "from webagents.testing import ScriptedModel\n"
        "create_app([BaseAgent('a', model=ScriptedModel())])\n"
        "assert 'mcp' not in sys.modules, 'create_app imported mcp'\n"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)
