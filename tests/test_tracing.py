"""OpenTelemetry traces of runs (``webagents.tracing``), read back from the SDK's in-memory
exporter: span names and nesting, token usage, tool and handoff outcomes, errors (their type,
never their text), a trace kept across a handoff over real HTTP, and nothing without a
provider."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.tracing_support import set_global_provider
from webagents import BaseAgent, Context, Skill, handoff, hook, tracing
from webagents.agents import AgentNetwork
from webagents.agents.runner import Run
from webagents.errors import HandoffError, HookError
from webagents.server import create_app
from webagents.testing import ScriptedModel, error, scripted_agent, text, tool_call, transfer
from webagents.testing.served import ServedApp

SECRET = "sk-secret-0000"  # text that must never reach a span


def spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


def named(found: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in found if span.name == name]


def one(found: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    [span] = named(found, name)
    return span


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def served_from(
    server_side: ReadableSpan, client_side: ReadableSpan, found: Sequence[ReadableSpan]
) -> bool:
    """Whether the served run's span descends from the caller's client span, through nothing
    but the HTTP server's own spans (FastAPI's telemetry makes one when a provider is set)."""
    by_id = {span_id(span): span for span in found}
    parent = by_id.get(parent_of(server_side) or 0)
    while parent is not None and parent is not client_side:
        if parent.kind is not SpanKind.SERVER:
            return False
        parent = by_id.get(parent_of(parent) or 0)
    return parent is client_side


def trace_ids(found: Sequence[ReadableSpan]) -> set[int]:
    return {span.context.trace_id for span in found if span.context is not None}


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def everything_recorded(found: Sequence[ReadableSpan]) -> str:
    """All a trace says (names, attributes, events, statuses), as one text to search."""
    parts = []
    for span in found:
        parts.append(span.name)
        parts.append(json.dumps(attributes(span), default=str))
        parts.append(str(span.status.description))
        for event in span.events:
            parts.append(event.name + json.dumps(dict(event.attributes or {}), default=str))
    return "\n".join(parts)


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def leaky(code: str) -> str:
    """A tool that fails with a secret in its message."""
    raise ValueError(f"cannot use {code}: {SECRET}")


async def test_a_handoff_chain_is_one_trace_with_each_target_inside_its_transfer(
    exporter: InMemorySpanExporter,
) -> None:
    expert = BaseAgent(
        "expert", model=ScriptedModel([tool_call("add", {"a": 2, "b": 3}), "It is 5."]), tools=[add]
    )
    billing = BaseAgent(
        "billing", model=ScriptedModel([transfer("expert", "math")]), handoffs=[expert]
    )
    desk = BaseAgent(
        "desk",
        description="Front desk",
        model=ScriptedModel([transfer("billing", "a bill")], name="desk-model"),
        handoffs=[billing],
    )

    result = await desk.run("What is 2 + 3?")

    assert result.content == "It is 5."
    found = spans(exporter)
    assert len(trace_ids(found)) == 1
    desk_span = one(found, "invoke_agent desk")
    to_billing = one(found, "execute_tool transfer_to_billing")
    billing_span = one(found, "invoke_agent billing")
    to_expert = one(found, "execute_tool transfer_to_expert")
    expert_span = one(found, "invoke_agent expert")
    assert parent_of(desk_span) is None
    assert parent_of(to_billing) == span_id(desk_span)
    assert parent_of(billing_span) == span_id(to_billing)
    assert parent_of(to_expert) == span_id(billing_span)
    assert parent_of(expert_span) == span_id(to_expert)
    assert attributes(desk_span) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "desk",
        "gen_ai.agent.description": "Front desk",
        "gen_ai.request.model": "desk-model",
        "webagents.run.id": result.run_id,
    }
    assert desk_span.kind is SpanKind.INTERNAL
    handoff_attributes = {
        "webagents.handoff.source": "desk",
        "webagents.handoff.target": "billing",
        "webagents.handoff.trigger": "llm",
        "webagents.handoff.success": True,
    }
    assert attributes(to_billing) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "transfer_to_billing",
        "gen_ai.tool.call.id": result.messages[1]["tool_calls"][0]["id"],
        "gen_ai.tool.type": "function",
        "webagents.run.id": result.run_id,
        **handoff_attributes,
    }
    [event] = desk_span.events
    assert (event.name, dict(event.attributes or {})) == ("webagents.handoff", handoff_attributes)
    # every span ends after its children (nothing is left open or ended early)
    by_id = {span_id(span): span for span in found}
    for span in found:
        parent = by_id.get(parent_of(span) or 0)
        if parent is not None:
            assert parent.start_time <= span.start_time and span.end_time <= parent.end_time
    assert all(span.status.status_code is StatusCode.UNSET for span in found)


async def test_model_and_tool_spans_are_children_of_their_agent_with_token_usage(
    exporter: InMemorySpanExporter,
) -> None:
    agent = BaseAgent(
        "calc",
        model=ScriptedModel([tool_call("add", {"a": 1, "b": 2}), "3"], name="calc-model"),
        tools=[add],
        model_settings={"temperature": 0.2, "max_tokens": 50},
    )

    result = await agent.run("1 + 2?", session_id="s-42")

    found = spans(exporter)
    agent_span = one(found, "invoke_agent calc")
    chats = named(found, "chat calc-model")
    tool = one(found, "execute_tool add")
    assert len(chats) == 2
    assert {parent_of(span) for span in [*chats, tool]} == {span_id(agent_span)}
    assert chats[0].end_time <= tool.start_time and tool.end_time <= chats[1].start_time
    first = attributes(chats[0])
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.request.model"] == "calc-model"
    assert first["gen_ai.request.temperature"] == 0.2
    assert first["gen_ai.request.max_tokens"] == 50
    assert first["gen_ai.conversation.id"] == "s-42"
    assert first["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert attributes(chats[1])["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.request.stream" not in first
    assert chats[0].kind is SpanKind.CLIENT
    input_tokens = sum(attributes(span)["gen_ai.usage.input_tokens"] for span in chats)
    output_tokens = sum(attributes(span)["gen_ai.usage.output_tokens"] for span in chats)
    assert (input_tokens, output_tokens) == (
        result.usage.prompt_tokens,
        result.usage.completion_tokens,
    )
    assert attributes(tool)["gen_ai.tool.call.id"] == result.messages[1]["tool_calls"][0]["id"]
    assert attributes(agent_span)["gen_ai.conversation.id"] == "s-42"
    # no content by default: neither the question, the arguments nor the answer
    recorded = everything_recorded(found)
    assert "1 + 2?" not in recorded and '"a": 1' not in recorded and '"3"' not in recorded


async def test_a_failing_tool_records_its_exception_type_never_its_message(
    exporter: InMemorySpanExporter,
) -> None:
    agent = BaseAgent(
        "vault",
        model=ScriptedModel(
            [
                tool_call("leaky", {"code": SECRET}),
                tool_call("nothing_here", {}),
                tool_call("add", {"a": "x"}),
                "Sorry.",
            ]
        ),
        tools=[leaky, add],
    )

    result = await agent.run(f"Open with {SECRET}")

    assert result.content == "Sorry."
    found = spans(exporter)
    raised, unknown, invalid = (
        one(found, "execute_tool leaky"),
        one(found, "execute_tool nothing_here"),
        one(found, "execute_tool add"),
    )
    assert attributes(raised)["error.type"] == "ValueError"
    assert attributes(unknown)["error.type"] == "tool_error"
    assert attributes(invalid)["error.type"] == "webagents.errors.ToolArgumentsError"
    for span in (raised, unknown, invalid):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is None
    assert one(found, "invoke_agent vault").status.status_code is StatusCode.UNSET
    assert SECRET not in everything_recorded(found)


async def test_a_failed_handoff_ends_the_target_in_error_and_the_source_answers_in_its_span(
    exporter: InMemorySpanExporter,
) -> None:
    broken = BaseAgent(
        "broken", model=ScriptedModel([error(500, f"upstream said {SECRET}")], name="flaky")
    )
    desk = BaseAgent(
        "desk",
        model=ScriptedModel([transfer("broken", "try it"), "I'll answer myself."]),
        handoffs=[broken],
    )

    result = await desk.run("Help")

    assert result.content == "I'll answer myself."
    found = spans(exporter)
    desk_span = one(found, "invoke_agent desk")  # one activation, resumed after the failure
    transfer_span = one(found, "execute_tool transfer_to_broken")
    broken_span = one(found, "invoke_agent broken")
    broken_chat = one(found, "chat flaky")
    assert parent_of(broken_span) == span_id(transfer_span)
    assert broken_span.status.status_code is StatusCode.ERROR
    assert attributes(broken_span)["error.type"] == "webagents.errors.ModelError"
    assert attributes(broken_chat)["error.type"] == "webagents.errors.ModelError"
    assert transfer_span.status.status_code is StatusCode.ERROR
    assert attributes(transfer_span)["webagents.handoff.success"] is False
    assert attributes(transfer_span)["error.type"] == "webagents.errors.ModelError"
    [event] = desk_span.events
    assert dict(event.attributes or {})["webagents.handoff.success"] is False
    desk_chats = [
        s for s in found if parent_of(s) == span_id(desk_span) and s.name.startswith("chat")
    ]
    assert len(desk_chats) == 2  # the transfer, then the answer after the failed handoff
    assert desk_span.status.status_code is StatusCode.UNSET
    assert SECRET not in everything_recorded(found)


class Gatekeeper(Skill):
    @hook("before_handoff")
    def refuse(self, context: Context) -> Context:
        raise HandoffError(f"not today ({SECRET})")


async def test_a_vetoed_handoff_is_a_refused_transfer(exporter: InMemorySpanExporter) -> None:
    target = BaseAgent("target", model=ScriptedModel(["unused"]))
    desk = BaseAgent(
        "desk",
        model=ScriptedModel([transfer("target"), "Staying with you."]),
        handoffs=[target],
        skills={"gate": Gatekeeper()},
    )

    result = await desk.run("Hi")

    assert result.content == "Staying with you."
    found = spans(exporter)
    assert named(found, "invoke_agent target") == []
    transfer_span = one(found, "execute_tool transfer_to_target")
    assert attributes(transfer_span)["error.type"] == "refused"
    assert attributes(transfer_span)["webagents.handoff.success"] is False
    assert SECRET not in everything_recorded(found)


class Router(Skill):
    @handoff("specialist")
    def wants_specialist(self, query: str) -> bool:
        """Questions about plans go to the specialist."""
        return "plan" in query


async def test_a_conditions_handoff_is_an_event_and_its_target_a_child_of_the_source(
    exporter: InMemorySpanExporter,
) -> None:
    specialist = BaseAgent("specialist", model=ScriptedModel(["Plan A."]))
    desk = BaseAgent(
        "desk", model=ScriptedModel([]), handoffs=[specialist], skills={"router": Router()}
    )

    result = await desk.run("Which plan?")

    assert result.content == "Plan A."
    found = spans(exporter)
    desk_span = one(found, "invoke_agent desk")
    assert parent_of(one(found, "invoke_agent specialist")) == span_id(desk_span)
    assert not [span for span in found if span.name.startswith("execute_tool")]
    [event] = desk_span.events
    assert dict(event.attributes or {}) == {
        "webagents.handoff.source": "desk",
        "webagents.handoff.target": "specialist",
        "webagents.handoff.trigger": "condition",
        "webagents.handoff.success": True,
    }


async def test_a_streamed_run_has_the_same_spans_marked_as_streamed(
    exporter: InMemorySpanExporter,
) -> None:
    expert = BaseAgent("expert", model=ScriptedModel(["Streaming answer here."]))
    desk = BaseAgent("desk", model=ScriptedModel([transfer("expert")]), handoffs=[expert])

    events = [event async for event in desk.run_streaming("Go")]

    assert events[-1].type == "handoff.complete"
    found = spans(exporter)
    assert len(trace_ids(found)) == 1
    transfer_span = one(found, "execute_tool transfer_to_expert")
    expert_span = one(found, "invoke_agent expert")
    assert parent_of(expert_span) == span_id(transfer_span)
    chats = named(found, "chat scripted")
    assert len(chats) == 2
    assert all(attributes(span)["gen_ai.request.stream"] is True for span in chats)
    assert all(span.status.status_code is StatusCode.UNSET for span in found)


async def test_a_failed_run_ends_every_span_with_the_error_type(
    exporter: InMemorySpanExporter,
) -> None:
    class Crash(Skill):
        @hook("before_llm_call")
        def crash(self, context: Context) -> Context:
            raise RuntimeError(SECRET)

    target = BaseAgent("fragile", model=ScriptedModel(["unused"]), skills={"crash": Crash()})
    desk = BaseAgent("desk", model=ScriptedModel([transfer("fragile")]), handoffs=[target])
    parent_tracer = trace.get_tracer("the-application")

    with (
        parent_tracer.start_as_current_span("request") as request_span,
        pytest.raises(HookError),
    ):
        await desk.run("Go")

    found = spans(exporter)
    desk_span = one(found, "invoke_agent desk")
    assert parent_of(desk_span) == request_span.get_span_context().span_id
    for name in ("invoke_agent desk", "execute_tool transfer_to_fragile", "invoke_agent fragile"):
        span = one(found, name)
        assert span.status.status_code is StatusCode.ERROR, name
        assert attributes(span)["error.type"] == "webagents.errors.HookError", name
    assert SECRET not in everything_recorded(found)


async def test_concurrent_runs_keep_their_own_traces(exporter: InMemorySpanExporter) -> None:
    model = ScriptedModel(responder=lambda request: text("ok"), name="shared")
    agent = BaseAgent("shared", model=model)
    tracer = trace.get_tracer("the-application")

    async def request(number: int) -> None:
        with tracer.start_as_current_span(f"request {number}"):
            await agent.run(f"question {number}")

    await asyncio.gather(*(request(n) for n in range(5)))

    found = spans(exporter)
    assert len(trace_ids(found)) == 5
    for number in range(5):
        root = one(found, f"request {number}")
        [agent_span] = [s for s in found if parent_of(s) == span_id(root)]
        [chat] = [s for s in found if parent_of(s) == span_id(agent_span)]
        assert (agent_span.name, chat.name) == ("invoke_agent shared", "chat shared")


async def test_a_handoff_over_http_continues_the_trace_on_the_server(
    exporter: InMemorySpanExporter,
) -> None:
    served = AgentNetwork("traced-server")
    scripted_agent("tax", [text("Deductible.")], network=served)
    scripted_agent("accounts", [transfer("tax", "tax question")], network=served, handoffs=["tax"])
    caller = AgentNetwork("traced-caller")
    with ServedApp(create_app(served)) as server:
        caller.register_remote("accounts", f"{server.url}/agents/accounts")
        desk, _ = scripted_agent(
            "desk", [transfer("accounts")], network=caller, handoffs=["accounts"]
        )
        result = await desk.run("Can I deduct my desk?")
        await caller.aclose()

    assert result.content == "Deductible."
    found = spans(exporter)
    assert len(trace_ids(found)) == 1
    desk_span = one(found, "invoke_agent desk")
    transfer_span = one(found, "execute_tool transfer_to_accounts")
    [client_side, server_side] = sorted(
        named(found, "invoke_agent accounts"), key=lambda span: span.kind is SpanKind.INTERNAL
    )
    assert client_side.kind is SpanKind.CLIENT and server_side.kind is SpanKind.INTERNAL
    assert parent_of(transfer_span) == span_id(desk_span)
    assert parent_of(client_side) == span_id(transfer_span)
    assert served_from(server_side, client_side, found)
    tax_transfer = one(found, "execute_tool transfer_to_tax")
    assert parent_of(tax_transfer) == span_id(server_side)
    assert parent_of(one(found, "invoke_agent tax")) == span_id(tax_transfer)
    assert attributes(transfer_span)["webagents.handoff.success"] is True


async def test_a_streamed_handoff_over_http_continues_the_trace_too(
    exporter: InMemorySpanExporter,
) -> None:
    served = AgentNetwork("traced-stream-server")
    scripted_agent("poet", [text("Roses are red.")], network=served)
    caller = AgentNetwork("traced-stream-caller")
    with ServedApp(create_app(served)) as server:
        caller.register_remote("poet", f"{server.url}/agents/poet")
        desk, _ = scripted_agent("desk", [transfer("poet")], network=caller, handoffs=["poet"])
        events = [event async for event in desk.run_streaming("A poem?")]
        await caller.aclose()

    assert "".join(e.text for e in events if e.type == "text.delta") == "Roses are red."
    found = spans(exporter)
    assert len(trace_ids(found)) == 1
    [client_side, server_side] = sorted(
        named(found, "invoke_agent poet"), key=lambda span: span.kind is SpanKind.INTERNAL
    )
    assert served_from(server_side, client_side, found)
    assert attributes(one(found, "chat model-of-poet"))["gen_ai.request.stream"] is True


async def test_inject_and_extract_carry_the_current_span_over_headers(
    exporter: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("the-application")
    with tracer.start_as_current_span("outgoing") as span:
        headers = tracing.inject_headers({"Accept": "application/json"})
    context = span.get_span_context()
    assert headers["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    extracted = tracing.extract_context({key.lower(): value for key, value in headers.items()})
    assert extracted is not None
    remote = trace.get_current_span(extracted).get_span_context()
    assert (remote.trace_id, remote.span_id, remote.is_remote) == (
        context.trace_id,
        context.span_id,
        True,
    )
    assert tracing.inject_headers({}) == {}  # no span is current


async def test_without_a_provider_runs_are_not_traced() -> None:
    set_global_provider(None)  # the API's default: a proxy provider, nothing set
    agent, _ = scripted_agent("plain", ["Hi."])
    run = Run.create(agent, "hello", None, None, None, "all")
    assert run.trace is None
    assert (await run.execute()).content == "Hi."
    assert tracing.run_trace() is None


async def test_without_a_provider_a_run_asks_for_one_only_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FastAPI and mcp import opentelemetry without setting a provider. A run does not call
    ``get_tracer_provider()`` again (it tests ``os.environ`` each time) until one is set."""
    set_global_provider(None)
    asked = 0
    get_tracer_provider = trace.get_tracer_provider

    def counted() -> trace.TracerProvider:
        nonlocal asked
        asked += 1
        return get_tracer_provider()

    monkeypatch.setattr(trace, "get_tracer_provider", counted)
    assert tracing.run_trace() is None
    first = asked
    assert [tracing.run_trace() for _ in range(3)] == [None, None, None]
    assert asked == first <= 1
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    set_global_provider(provider)
    try:
        agent, _ = scripted_agent("later", ["Hi."])
        assert (await agent.run("hello")).content == "Hi."
        assert asked == first + 1
        assert named(spans(exporter), "invoke_agent later")
    finally:
        set_global_provider(None)
        provider.shutdown()
    assert tracing.run_trace() is None


def run_python(code: str) -> Any:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_and_a_run_load_no_opentelemetry() -> None:
    loaded = run_python(
        "import asyncio, json, sys\n"
        "import webagents\n"
        "from webagents.testing import scripted_agent\n"
        "agent, _ = scripted_agent('a', ['Hi.'])\n"
        "asyncio.run(agent.run('hello'))\n"
        "headers = webagents.tracing.inject_headers({})\n"
        "print(json.dumps([m for m in sys.modules if m.startswith('opentelemetry')] + [headers]))"
    )
    assert loaded == [{}]


def test_an_sdk_provider_that_is_not_set_records_nothing() -> None:
    recorded = run_python(
        "import asyncio, json\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import "
        "InMemorySpanExporter\n"
        "exporter = InMemorySpanExporter()\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "from webagents import tracing\n"
        "from webagents.testing import scripted_agent\n"
        "agent, _ = scripted_agent('a', ['Hi.'])\n"
        "asyncio.run(agent.run('hello'))\n"
        "print(json.dumps([len(exporter.get_finished_spans()), tracing.run_trace() is None]))"
    )
    assert recorded == [0, True]


def test_the_attribute_names_are_the_semantic_conventions() -> None:
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
    from opentelemetry.semconv.attributes import error_attributes

    assert [
        tracing.OPERATION,
        tracing.PROVIDER,
        tracing.AGENT_NAME,
        tracing.AGENT_DESCRIPTION,
        tracing.CONVERSATION,
        tracing.REQUEST_MODEL,
        tracing.REQUEST_STREAM,
        tracing.FINISH_REASONS,
        tracing.INPUT_TOKENS,
        tracing.OUTPUT_TOKENS,
        tracing.TOOL_NAME,
        tracing.TOOL_CALL_ID,
        tracing.TOOL_TYPE,
        tracing.ERROR_TYPE,
    ] == [
        gen_ai.GEN_AI_OPERATION_NAME,
        gen_ai.GEN_AI_PROVIDER_NAME,
        gen_ai.GEN_AI_AGENT_NAME,
        gen_ai.GEN_AI_AGENT_DESCRIPTION,
        gen_ai.GEN_AI_CONVERSATION_ID,
        gen_ai.GEN_AI_REQUEST_MODEL,
        gen_ai.GEN_AI_REQUEST_STREAM,
        gen_ai.GEN_AI_RESPONSE_FINISH_REASONS,
        gen_ai.GEN_AI_USAGE_INPUT_TOKENS,
        gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS,
        gen_ai.GEN_AI_TOOL_NAME,
        gen_ai.GEN_AI_TOOL_CALL_ID,
        gen_ai.GEN_AI_TOOL_TYPE,
        error_attributes.ERROR_TYPE,
    ]
    assert set(tracing.attributes.SETTINGS.values()) <= {
        v for v in vars(gen_ai).values() if isinstance(v, str)
    }


def test_the_traced_run_workload_of_the_benchmark() -> None:
    """``bench/workloads_ours.py run_traced`` sets a global provider, so it runs in a process
    of its own (as the benchmark runs every workload)."""
    script = Path(__file__).resolve().parent.parent / "bench" / "workloads_ours.py"
    done = subprocess.run(
        [sys.executable, str(script), "run_traced", "--rounds", "1", "--round-ms", "1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["workload"] == "run_traced"
    assert result["run_traced_us"] > 0 and result["run_us"] > 0


async def test_a_remote_agent_that_is_down_is_a_failed_client_span(
    exporter: InMemorySpanExporter,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    caller = AgentNetwork("traced-down-caller")
    caller.register_remote("gone", f"http://user:{SECRET}@127.0.0.1:{port}/agents/gone")
    desk, _ = scripted_agent(
        "desk", [transfer("gone"), text("Nobody else is here.")], network=caller, handoffs=["gone"]
    )

    result = await desk.run("Anyone?")
    await caller.aclose()

    assert result.content == "Nobody else is here."
    found = spans(exporter)
    client_side = one(found, "invoke_agent gone")
    transfer_span = one(found, "execute_tool transfer_to_gone")
    assert client_side.kind is SpanKind.CLIENT
    assert parent_of(client_side) == span_id(transfer_span)
    failure = "webagents.remote.errors.RemoteUnreachableError"
    assert attributes(client_side)["error.type"] == failure
    assert attributes(transfer_span)["error.type"] == failure
    assert attributes(transfer_span)["webagents.handoff.success"] is False
    assert SECRET not in everything_recorded(found)


def test_a_disabled_sdk_records_nothing() -> None:
    code = (
        "import json, os\n"
        "os.environ['OTEL_SDK_DISABLED'] = 'true'\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "from webagents import tracing\n"
        "print(json.dumps(tracing.run_trace() is None))"
    )
    assert run_python(code) is True


async def test_a_session_turn_owned_by_a_remote_agent_is_a_client_span_continued_remotely(
    exporter: InMemorySpanExporter,
) -> None:
    served = AgentNetwork("traced-owner-server")
    scripted_agent("owner", [text("First answer."), text("Second answer.")], network=served)
    caller = AgentNetwork("traced-owner-caller")
    with ServedApp(create_app(served)) as server:
        caller.register_remote("owner", f"{server.url}/agents/owner")
        desk, _ = scripted_agent("desk", [transfer("owner")], network=caller, handoffs=["owner"])
        tracer = trace.get_tracer("the-application")
        await desk.run("First question", session_id="conversation-7")
        with tracer.start_as_current_span("second turn") as turn:
            second = await desk.run("Second question", session_id="conversation-7")
        await caller.aclose()

    assert second.content == "Second answer."
    trace_id = turn.get_span_context().trace_id
    found = [s for s in spans(exporter) if s.context and s.context.trace_id == trace_id]
    assert named(found, "invoke_agent desk") == []  # the owner answers, the desk does not
    [client_side, server_side] = sorted(
        named(found, "invoke_agent owner"), key=lambda span: span.kind is SpanKind.INTERNAL
    )
    assert client_side.kind is SpanKind.CLIENT
    assert parent_of(client_side) == turn.get_span_context().span_id
    assert served_from(server_side, client_side, found)
    assert attributes(client_side)["gen_ai.conversation.id"] == "conversation-7"


async def test_a_server_without_http_spans_continues_the_trace_from_traceparent(
    exporter: InMemorySpanExporter,
) -> None:
    """FastAPI makes a server span (continuing the caller's trace) only when a provider was
    set before the app started; otherwise the chat route reads ``traceparent`` itself."""
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    served = AgentNetwork("traced-plain-server")
    scripted_agent("clerk", [text("Filed.")], network=served)
    caller = AgentNetwork("traced-plain-caller")
    set_global_provider(None)
    with ServedApp(create_app(served)) as server:
        async with httpx.AsyncClient() as client:  # answered once the app has started
            assert (await client.get(f"{server.url}/health")).status_code == 200
        set_global_provider(provider)
        caller.register_remote("clerk", f"{server.url}/agents/clerk")
        desk, _ = scripted_agent("desk", [transfer("clerk")], network=caller, handoffs=["clerk"])
        result = await desk.run("File this")
        await caller.aclose()

    assert result.content == "Filed."
    found = spans(exporter)
    assert len(trace_ids(found)) == 1
    assert not [span for span in found if span.kind is SpanKind.SERVER]
    [client_side, server_side] = sorted(
        named(found, "invoke_agent clerk"), key=lambda span: span.kind is SpanKind.INTERNAL
    )
    assert parent_of(server_side) == span_id(client_side)
    assert server_side.parent is not None and server_side.parent.is_remote


def lookup(code: str) -> str:
    """A sync tool (it runs in a worker thread) that makes a span of its own."""
    with trace.get_tracer("the-application").start_as_current_span("database query"):
        return f"{code}: found"


async def test_spans_made_inside_a_tool_are_children_of_its_span(
    exporter: InMemorySpanExporter,
) -> None:
    agent = BaseAgent(
        "clerk",
        model=ScriptedModel([tool_call("lookup", {"code": "A1"}), "Found."]),
        tools=[lookup],
    )

    await agent.run("Find A1")

    found = spans(exporter)
    assert parent_of(one(found, "database query")) == span_id(one(found, "execute_tool lookup"))
