"""MCPSkill against in-process MCP servers built with the ``mcp`` SDK: tools offered with the
server's schemas, results and errors as the model sees them, deadlines, cancellation, tool
list changes, name clashes, and the task that owns each connection."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.mcp_apps import Gate, calculator, named, tool_names
from webagents import BaseAgent, Skill, tool
from webagents.errors import AgentConfigError, ToolRetry
from webagents.mcp import MCPServerError, MCPSkill, MCPTimeout
from webagents.testing import ScriptedModel, text, tool_call


def tool_results(result: Any) -> list[tuple[str, str, bool]]:
    return [(e.name, e.output, e.is_error) for e in result.events if e.type == "tool.result"]


async def test_tools_are_offered_with_the_servers_schemas() -> None:
    model = ScriptedModel([text("hi")])
    agent = BaseAgent("calc", model=model, skills={"calc": MCPSkill(server=calculator())})
    async with agent:
        await agent.run("hello")
        card_tools = [t["name"] for t in agent.card()["tools"]]
    offered = {t["function"]["name"]: t["function"] for t in model.requests[0]["tools"]}
    assert set(offered) == {"add", "divide", "hang", "grow"}
    assert offered["add"]["description"] == "Add two integers."
    assert offered["add"]["parameters"]["required"] == ["a", "b"]
    assert offered["add"]["parameters"]["properties"]["a"]["type"] == "integer"
    assert card_tools == ["add", "divide", "hang", "grow"]


async def test_a_call_reaches_the_server_and_its_answer_the_model() -> None:
    model = ScriptedModel([tool_call("add", {"a": 2, "b": 40}), text("42")])
    agent = BaseAgent("calc", model=model, skills={"calc": MCPSkill(server=calculator())})
    async with agent:
        result = await agent.run("2 + 40?")
    assert tool_results(result) == [("add", "42", False)]
    assert model.requests[1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": result.messages[-2]["tool_call_id"],
        "content": "42",
    }


async def test_server_side_errors_and_bad_arguments_are_tool_errors() -> None:
    model = ScriptedModel(
        [
            tool_call("divide", {"a": 1, "b": 0}),
            tool_call("add", {"a": "many"}),
            tool_call("add", "[1, 2]"),
            text("done"),
        ]
    )
    agent = BaseAgent("calc", model=model, skills={"calc": MCPSkill(server=calculator())})
    async with agent:
        result = await agent.run("go")
    (divide, bad, not_object) = tool_results(result)
    assert divide == ("divide", "Error: Error executing tool divide: cannot divide by zero", True)
    assert bad[2] and "validation error" in bad[1] and "a\n" in bad[1]
    assert not_object == (
        "add",
        "Error: invalid arguments for tool 'add': arguments must be a JSON object",
        True,
    )
    assert result.content == "done"


async def test_a_hung_server_gives_a_tool_error_and_the_connection_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = ScriptedModel([tool_call("hang"), tool_call("add", {"a": 1, "b": 1}), text("ok")])
    skill = MCPSkill(server=calculator(), timeout=2)
    agent = BaseAgent("calc", model=model, skills={"calc": skill})
    async with agent:
        with caplog.at_level(logging.WARNING, logger="webagents"):
            result = await agent.run("go")
    assert tool_results(result) == [
        (
            "hang",
            "Error: tool 'hang' timed out after 2 s; the MCP server 'calc' did not answer",
            True,
        ),
        ("add", "2", False),
    ]
    assert any("'hang'" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


async def test_a_cancelled_run_leaves_the_connection_to_the_others() -> None:
    gate = Gate()
    skill = MCPSkill(server=calculator(gate))
    agent = BaseAgent("calc", model=ScriptedModel(), skills={"calc": skill})
    async with agent:
        await agent.ensure_initialized()
        hung = asyncio.create_task(skill.call_tool("hang", {}))
        await gate.entered.wait()
        hung.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hung
        answers = await asyncio.gather(
            *(skill.call_tool("add", {"a": i, "b": 1}) for i in range(5))
        )
        assert answers == ["1", "2", "3", "4", "5"]


async def test_a_changed_tool_list_is_followed() -> None:
    changed = asyncio.Event()

    class Watched(MCPSkill):
        def _tools_changed(self, tools: list[Any]) -> None:
            super()._tools_changed(tools)
            changed.set()

    model = ScriptedModel([tool_call("grow"), text("grown"), tool_call("shout", {"text": "hi"})])
    model.add_replies(text("HI"))
    agent = BaseAgent("calc", model=model, skills={"calc": Watched(server=calculator())})
    async with agent:
        await agent.run("grow")
        await changed.wait()
        assert "shout" in tool_names(agent.own_tools("all"))
        result = await agent.run("shout hi")
    assert "shout" in tool_names(model.requests[2]["tools"])
    assert tool_results(result) == [("shout", "HI", False)]


async def test_two_sources_of_one_name_is_an_error_that_suggests_prefix() -> None:
    agent = BaseAgent(
        "twins",
        model=ScriptedModel(),
        skills={"one": MCPSkill(server=named("status")), "two": MCPSkill(server=named("status"))},
    )
    with pytest.raises(AgentConfigError) as caught:
        await agent.ensure_initialized()
    message = str(caught.value)
    assert "MCPSkill 'one' (tool 'status')" in message
    assert "MCPSkill 'two' (tool 'status')" in message
    assert "prefix='two_'" in message
    await agent.close()


async def test_prefix_resolves_the_clash() -> None:
    model = ScriptedModel([tool_call("b_status", {"text": "x"}), text("ok")])
    agent = BaseAgent(
        "twins",
        model=model,
        skills={
            "a": MCPSkill(server=named("status")),
            "b": MCPSkill({"prefix": "b"}, server=named("status")),
            "c": MCPSkill(server=named("status"), prefix="c-"),
        },
    )
    async with agent:
        result = await agent.run("go")
    assert tool_names(model.requests[0]["tools"]) == ["status", "b_status", "c-status"]
    assert tool_results(result) == [("b_status", "x", False)]


async def test_a_clash_with_a_decorated_tool_names_both() -> None:
    class Local(Skill):
        @tool
        def add(self, a: int, b: int) -> int:
            """Local add."""
            return a + b

    agent = BaseAgent(
        "mixed",
        model=ScriptedModel(),
        skills={"local": Local(), "calc": MCPSkill(server=calculator())},
    )
    with pytest.raises(AgentConfigError, match=r"Local\.add and MCPSkill 'calc' \(tool 'add'\)"):
        await agent.ensure_initialized()
    await agent.close()


async def test_a_clash_with_a_transfer_tool_is_an_error() -> None:
    BaseAgent("billing", model=ScriptedModel())
    agent = BaseAgent(
        "desk",
        model=ScriptedModel(),
        handoffs=["billing"],
        skills={"x": MCPSkill(server=named("transfer_to_billing"))},
    )
    with pytest.raises(AgentConfigError, match="already taken by the handoff to 'billing'"):
        await agent.ensure_initialized()
    await agent.close()


async def test_names_providers_refuse_are_not_offered(caplog: pytest.LogCaptureFixture) -> None:
    agent = BaseAgent("n", model=ScriptedModel(), skills={"x": MCPSkill(server=named("ok", "a.b"))})
    with caplog.at_level(logging.WARNING, logger="webagents"):
        async with agent:
            await agent.ensure_initialized()
            assert tool_names(agent.own_tools("all")) == ["ok"]
    assert any("'a.b' is not offered" in r.getMessage() for r in caplog.records)


async def test_scope_applies_to_every_tool_of_the_server() -> None:
    agent = BaseAgent(
        "n", model=ScriptedModel(), skills={"x": MCPSkill(server=named("ok"), scope="owner")}
    )
    async with agent:
        await agent.ensure_initialized()
        assert agent.own_tools("all") == []
        assert tool_names(agent.own_tools("owner")) == ["ok"]


async def test_close_ends_the_connection_and_a_later_run_connects_again() -> None:
    model = ScriptedModel(responder=lambda request: text("x"))
    skill = MCPSkill(server=calculator())
    agent = BaseAgent("calc", model=model, skills={"calc": skill})
    await agent.ensure_initialized()
    connection = skill._connection
    assert connection is not None and connection.usable
    await agent.close()
    assert not connection.usable and skill._connection is None
    assert agent.own_tools("all") == []
    async with agent:
        await agent.run("again")
        assert "add" in tool_names(agent.own_tools("all"))
        assert await skill.call_tool("add", {"a": 1, "b": 2}) == "3"


def test_run_sync_twice_uses_a_connection_of_each_loop() -> None:
    model = ScriptedModel(
        [
            tool_call("add", {"a": 1, "b": 2}),
            text("3"),
            tool_call("add", {"a": 2, "b": 2}),
            text("4"),
        ]
    )
    agent = BaseAgent("calc", model=model, skills={"calc": MCPSkill(server=calculator())})
    first = agent.run_sync("1 + 2")
    second = agent.run_sync("2 + 2")
    assert tool_results(first) == [("add", "3", False)]
    assert tool_results(second) == [("add", "4", False)]


async def test_a_server_that_cannot_start_fails_the_start_up_naming_it() -> None:
    skill = MCPSkill(command=["/nonexistent/mcp-server", "--token=hunter2"], timeout=5)
    agent = BaseAgent("n", model=ScriptedModel(), skills={"broken": skill})
    with pytest.raises(MCPServerError) as caught:
        await agent.ensure_initialized()
    assert "'broken'" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    await agent.close()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({}, "exactly one server"),
        ({"command": ["x"], "url": "http://h/mcp"}, "exactly one server"),
        ({"url": "ftp://h/mcp"}, "url must be an http"),
        ({"url": "http://h/mcp", "env": {"A": "1"}}, "env and cwd apply to a command"),
        ({"command": ["x"], "prefix": "a.b"}, "prefix may hold only"),
        ({"command": ["x"], "timeout": 0}, "timeout"),
        ({"command": []}, "command"),
    ],
)
def test_configuration_errors_name_the_field(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(AgentConfigError, match=fragment):
        MCPSkill(**kwargs)


def test_an_unknown_config_key_is_named() -> None:
    with pytest.raises(AgentConfigError, match="comand: unknown key; did you mean 'command'"):
        MCPSkill({"comand": ["x"], "url": "http://h/mcp"})


def test_importing_webagents_does_not_import_mcp() -> None:
    code = (
        "import sys, webagents, webagents.mcp\n"
        "from webagents.mcp import MCPSkill\n"
        "MCPSkill(command=['x'])\n"
        "assert 'mcp' not in sys.modules, 'mcp was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


FRAGILE = [sys.executable, str(Path(__file__).with_name("mcp_stdio_app.py"))]


async def test_a_crashed_server_is_a_tool_error_and_the_next_call_restarts_it() -> None:
    skill = MCPSkill(command=FRAGILE, timeout=60)
    agent = BaseAgent("n", model=ScriptedModel(), skills={"fragile": skill})
    async with agent:
        await agent.ensure_initialized()
        first = await skill.call_tool("pid", {})
        with pytest.raises(ToolRetry, match="MCP server 'fragile' is unavailable"):
            await skill.call_tool("die", {})
        second = await skill.call_tool("pid", {})
    assert first != second


async def test_a_server_that_never_answers_fails_the_start_up_at_the_deadline() -> None:
    silent = [sys.executable, "-c", "import time; time.sleep(600)"]
    agent = BaseAgent(
        "n", model=ScriptedModel(), skills={"mute": MCPSkill(command=silent, timeout=1)}
    )
    with pytest.raises(MCPTimeout, match="'mute' did not answer within 1 s while connecting"):
        await agent.ensure_initialized()
    await agent.close()


async def test_cancelling_a_run_mid_call_leaves_other_runs_their_tools() -> None:
    gate = Gate()

    def script(request: dict[str, Any]) -> Any:
        asked = request["messages"][-1]
        if asked["role"] == "tool":
            return text(f"result: {asked['content']}")
        if asked["content"] == "hang":
            return tool_call("hang")
        return tool_call("add", {"a": 40, "b": 2})

    model = ScriptedModel(responder=script)
    agent = BaseAgent("calc", model=model, skills={"calc": MCPSkill(server=calculator(gate))})
    async with agent:
        hung = asyncio.create_task(agent.run("hang"))
        await gate.entered.wait()
        hung.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hung
        results = await asyncio.gather(*(agent.run("add") for _ in range(3)))
    assert [r.content for r in results] == ["result: 42"] * 3


async def test_a_call_carries_the_runs_trace_context() -> None:
    from opentelemetry import context as otel
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    skill = MCPSkill(command=FRAGILE, timeout=60)
    agent = BaseAgent("n", model=ScriptedModel(), skills={"fragile": skill})
    span = NonRecordingSpan(
        SpanContext(trace_id=0xABC, span_id=0x42, is_remote=False, trace_flags=TraceFlags(1))
    )
    async with agent:
        await agent.ensure_initialized()  # connected outside the span: the call still has it
        token = otel.attach(trace.set_span_in_context(span))
        try:
            carried = await skill.call_tool("traceparent", {})
        finally:
            otel.detach(token)
        untraced = await skill.call_tool("traceparent", {})
    assert carried == f"00-{0xABC:032x}-{0x42:016x}-01"
    assert untraced == "none"
