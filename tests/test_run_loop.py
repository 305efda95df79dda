"""The run loop with ``ScriptedModel``: tools, hooks, prompts, bounds, streaming, results,
sessions, concurrency, skill lifecycle, the agent network and local NLI queries.

Each test runs in a fresh agent network (the ``agent_network`` fixture, autouse here), so
agent names are plain; session ids stay unique (the session store is the process's).
"""

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from webagents import (
    AgentConfigError,
    BaseAgent,
    Context,
    HookError,
    MaxTurnsExceeded,
    Skill,
    UnknownAgentError,
    register_remote,
)
from webagents.agents import RemoteAgent, default_network
from webagents.agents.skills import NLISkill
from webagents.agents.skills.decorators import hook, prompt, tool
from webagents.events import (
    AgentCompleted,
    AgentStarted,
    ErrorEvent,
    HandoffComplete,
    HandoffTransfer,
    RunEvent,
    TextDelta,
    ToolCallEvent,
    ToolResultEvent,
)
from webagents.models.base import ModelRequest, ModelResponse, Usage
from webagents.testing import (
    error,
    scripted_agent,
    text,
    tool_call,
    tool_calls,
    transfer,
)
from webagents.testing.replies import ReplyLike

make = scripted_agent


def tool_names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request["tools"]]


def last_message(request: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = request["messages"][-1]
    return message


def system_prompt(request: dict[str, Any]) -> str:
    first = request["messages"][0]
    assert first["role"] == "system"
    return str(first["content"])


def without_system(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["messages"] if m["role"] != "system"]


class Order(BaseModel):
    sku: str
    quantity: int = 1


# --- tools -----------------------------------------------------------------------------------


class Shop(Skill):
    @tool
    def add(self, a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @tool
    async def greet(self, name: str, context: Context) -> str:
        """Greet someone."""
        await asyncio.sleep(0)
        return f"hello {name} from {context.agent_name} for {context.peer_user_id}"

    @tool
    def place(self, order: Order) -> dict[str, Any]:
        """Place an order."""
        assert isinstance(order, Order)
        return {"sku": order.sku, "quantity": order.quantity}

    @tool
    def explode(self) -> str:
        """Always fails."""
        raise ValueError("kaboom")


async def test_sync_async_context_and_pydantic_tools() -> None:
    agent, model = make(
        "shop",
        [
            tool_calls(
                ("add", {"a": 2, "b": 3}),
                ("greet", {"name": "Ada"}),
                ("place", {"order": {"sku": "X-1", "quantity": 4}}),
            ),
            text("done"),
        ],
        skills={"shop": Shop()},
    )

    result = await agent.run("do things", user_id="u-7")

    assert result.content == "done"
    outputs = [m["content"] for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert outputs == [
        "5",
        f"hello Ada from {agent.name} for u-7",
        '{"sku":"X-1","quantity":4}',
    ]
    greet_schema = next(t for t in model.requests[0]["tools"] if t["function"]["name"] == "greet")
    assert "context" not in greet_schema["function"]["parameters"]["properties"]
    results = [e for e in result.events if isinstance(e, ToolResultEvent)]
    assert [(e.name, e.is_error, e.agent) for e in results] == [
        ("add", False, agent.name),
        ("greet", False, agent.name),
        ("place", False, agent.name),
    ]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (tool_call("add", {"a": "many", "b": 1}), r"^Error: invalid arguments for tool 'add'"),
        (tool_call("add", "{not json"), r"^Error: invalid arguments for tool 'add'"),
        (tool_call("place", {"order": {"quantity": 2}}), r"^Error: invalid arguments.*sku"),
        (tool_call("explode"), r"^Error: tool 'explode' failed\.$"),
        (tool_call("nope", {}), r"^Error: there is no tool 'nope'; available: .*'add'"),
    ],
    ids=["bad-type", "bad-json", "missing-field", "raising", "unknown"],
)
async def test_tool_errors_reach_the_model_and_the_run_continues(
    call: ReplyLike, expected: str
) -> None:
    agent, model = make("shop", [call, text("recovered")], skills={"shop": Shop()})

    result = await agent.run("try it")

    assert result.content == "recovered"
    message = last_message(model.requests[1])
    assert message["role"] == "tool"
    assert re.search(expected, message["content"]), message["content"]
    [event] = [e for e in result.events if isinstance(e, ToolResultEvent)]
    assert event.is_error is True
    assert event.output == message["content"]


class Scoped(Skill):
    @tool
    def public(self) -> str:
        """Anyone."""
        return "public ran"

    @tool(scope="owner")
    def owner_only(self) -> str:
        """The owner."""
        return "owner ran"

    @tool(scope="admin")
    def admin_only(self) -> str:
        """Admins."""
        return "admin ran"


@pytest.mark.parametrize(
    ("scope", "offered"),
    [
        ("all", ["public"]),
        ("owner", ["public", "owner_only"]),
        ("admin", ["public", "owner_only", "admin_only"]),
    ],
)
async def test_tool_scopes(scope: str, offered: list[str]) -> None:
    agent, model = make(
        "scoped",
        [tool_calls(("owner_only", {}), ("admin_only", {})), text("ok")],
        skills={"s": Scoped()},
    )

    await agent.run("hi", scope=scope)

    assert tool_names(model.requests[0]) == offered
    outputs = [m["content"] for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert (outputs[0] == "owner ran") is ("owner_only" in offered)
    assert (outputs[1] == "admin ran") is ("admin_only" in offered)
    for output, name in zip(outputs, ["owner_only", "admin_only"], strict=True):
        if name not in offered:
            assert output.startswith(f"Error: there is no tool {name!r}")


async def test_skill_scope_is_the_default_scope_of_its_tools() -> None:
    class Private(Skill):
        @tool
        def secret(self) -> str:
            """Owner by default."""
            return "secret"

        @tool(scope="all")
        def shared(self) -> str:
            """Explicitly public."""
            return "shared"

    agent, model = make(
        "private",
        [text("a"), text("b")],
        skills={"p": Private(scope="owner")},
    )

    await agent.run("hi")
    await agent.run("hi", scope="owner")

    assert tool_names(model.requests[0]) == ["shared"]
    assert tool_names(model.requests[1]) == ["secret", "shared"]


# --- hooks -----------------------------------------------------------------------------------


async def test_hooks_run_in_priority_then_declaration_order_across_skills() -> None:
    order: list[str] = []

    class First(Skill):
        @hook("before_llm_call")
        def a50(self, context: Context) -> Context:
            order.append("a50")
            return context

        @hook("before_llm_call", priority=10)
        async def a10(self, context: Context) -> None:
            order.append("a10")

    class Second(Skill):
        @hook("before_llm_call", priority=10)
        async def b10(self, context: Context) -> Context:
            order.append("b10")
            return context

        @hook("before_llm_call", priority=50)
        def b50(self, context: Context) -> None:
            order.append("b50")

        @hook("before_llm_call", priority=-1)
        def first_of_all(self, context: Context) -> None:
            order.append("b-1")

    agent, _ = make("hooks", [text("ok")], skills={"1": First(), "2": Second()})

    await agent.run("hi")

    assert order == ["b-1", "a10", "b10", "a50", "b50"]


async def test_hook_returning_none_keeps_the_context_and_a_non_context_is_a_hook_error() -> None:
    class Keeps(Skill):
        @hook("on_message")
        def mark(self, context: Context) -> None:
            context["marked"] = True

        @tool
        def marked(self, context: Context) -> str:
            """Whether the hook ran."""
            return str(context.get("marked"))

    agent, model = make("keeps", [tool_call("marked"), text("ok")], skills={"k": Keeps()})
    await agent.run("hi")
    assert last_message(model.requests[1])["content"] == "True"

    class Bad(Skill):
        @hook("before_llm_call")
        def bad(self, context: Context) -> Any:
            return {"not": "a context"}

    broken, _ = make("bad", [text("never")], skills={"b": Bad()})
    with pytest.raises(HookError, match=r"before_llm_call hook Bad\.bad") as raised:
        await broken.run("hi")
    assert "dict" in str(raised.value)


async def test_hook_raising_is_a_hook_error_naming_skill_and_method() -> None:
    class Buggy(Skill):
        @hook("after_toolcall")
        async def broken(self, context: Context) -> None:
            raise ZeroDivisionError("oops")

    agent, _ = make(
        "buggy",
        [tool_call("add", {"a": 1, "b": 1}), text("x")],
        skills={"b": Buggy(), "s": Shop()},
    )

    with pytest.raises(HookError) as raised:
        await agent.run("hi")

    assert raised.value.where == "Buggy.broken"
    assert raised.value.event == "after_toolcall"
    assert "ZeroDivisionError" in str(raised.value)


async def test_every_event_fires_at_the_right_time() -> None:
    log: list[str] = []

    class Recorder(Skill):
        @hook("on_connection")
        def on_connection(self, context: Context) -> None:
            log.append("on_connection")

        @hook("on_message")
        def on_message(self, context: Context) -> None:
            log.append(f"on_message:{context.messages[-1]['content']}")

        @hook("before_llm_call")
        def before_llm_call(self, context: Context) -> None:
            log.append("before_llm_call")

        @hook("after_llm_call")
        def after_llm_call(self, context: Context) -> None:
            log.append(f"after_llm_call:{context['llm_response'].content}")

        @hook("before_toolcall")
        def before_toolcall(self, context: Context) -> None:
            log.append(f"before_toolcall:{context['tool_call']['name']}")

        @hook("after_toolcall")
        def after_toolcall(self, context: Context) -> None:
            log.append(f"after_toolcall:{context['tool_result']['output']}")

        @hook("finalize_connection")
        async def finalize_connection(self, context: Context) -> None:
            log.append("finalize_connection")

        @tool
        def work(self) -> str:
            """Work."""
            log.append("tool")
            return "worked"

    agent, _ = make(
        "events",
        [tool_call("work", content="working"), text("finished")],
        skills={"r": Recorder()},
    )

    await agent.run("go")

    assert log == [
        "on_connection",
        "on_message:go",
        "before_llm_call",
        "after_llm_call:working",
        "before_toolcall:work",
        "tool",
        "after_toolcall:worked",
        "before_llm_call",
        "after_llm_call:finished",
        "finalize_connection",
    ]


async def test_finalize_connection_runs_when_the_run_fails() -> None:
    log: list[str] = []

    class Recorder(Skill):
        @hook("finalize_connection")
        def finalize(self, context: Context) -> None:
            log.append("finalize")

    agent, _ = make("fails", [error(500, "down")], skills={"r": Recorder()})

    with pytest.raises(Exception, match="down"):
        await agent.run("go")

    assert log == ["finalize"]


async def test_toolcall_hooks_may_change_arguments_and_output() -> None:
    class Rewrite(Skill):
        @hook("before_toolcall")
        def double_a(self, context: Context) -> Context:
            context["tool_call"]["arguments"] = {"a": 20, "b": 1}
            return context

        @hook("after_toolcall")
        def annotate(self, context: Context) -> Context:
            context["tool_result"]["output"] = f"<{context['tool_result']['output']}>"
            return context

    agent, model = make(
        "rewrite",
        [tool_call("add", {"a": 1, "b": 1}), text("ok")],
        skills={"rewrite": Rewrite(), "shop": Shop()},
    )

    result = await agent.run("add")

    assert last_message(model.requests[1])["content"] == "<21>"
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == ["<21>"]


async def test_get_context_in_a_tool_is_the_runs_context() -> None:
    seen: list[Context] = []

    class Inspect(Skill):
        @tool
        def inspect_context(self) -> str:
            """Look at the context."""
            context = self.get_context()
            seen.append(context)
            return f"{context.peer_user_id}/{context.session_id}/{context.agent_name}"

    skill = Inspect()
    agent, model = make("ctx", [tool_call("inspect_context"), text("ok")], skills={"i": skill})

    result = await agent.run("hi", user_id="alice", session_id=uuid.uuid4().hex)

    [context] = seen
    assert context.peer_user_id == "alice"
    assert context.session_id == result.session_id
    assert context.run_id == result.run_id
    assert last_message(model.requests[1])["content"] == f"alice/{result.session_id}/{agent.name}"
    with pytest.raises(RuntimeError, match="outside a run"):
        skill.get_context()


# --- prompts ---------------------------------------------------------------------------------


async def test_prompts_are_added_to_the_system_prompt_in_priority_order() -> None:
    class Prompts(Skill):
        @prompt(priority=90)
        def late(self) -> str:
            return "LATE"

        @prompt
        async def middle(self, context: Context) -> str:
            return f"MIDDLE for {context.peer_user_id}"

        @prompt(priority=10)
        async def early(self) -> str:
            return "EARLY"

        @prompt(priority=20)
        def nothing(self, context: Context) -> str:
            return ""

    agent, model = make("prompts", [text("ok")], instructions="BASE", skills={"p": Prompts()})

    await agent.run("hi", user_id="bob")

    assert system_prompt(model.requests[0]) == "BASE\n\nEARLY\n\nMIDDLE for bob\n\nLATE"


# --- max_turns -------------------------------------------------------------------------------


async def test_max_turns_raises_naming_the_agent() -> None:
    agent, model = make(
        "looper",
        responder=lambda request: tool_call("add", {"a": 1, "b": 1}),
        skills={"s": Shop()},
        max_turns=3,
    )

    with pytest.raises(MaxTurnsExceeded) as raised:
        await agent.run("loop")

    assert raised.value.agent == agent.name
    assert agent.name in str(raised.value)
    assert len(model.requests) == 3


async def test_max_turns_streaming_yields_an_error_event_first() -> None:
    agent, _ = make(
        "looper",
        responder=lambda request: tool_call("add", {"a": 1, "b": 1}),
        skills={"s": Shop()},
        max_turns=2,
    )
    events: list[RunEvent] = []

    with pytest.raises(MaxTurnsExceeded):
        async for event in agent.run_streaming("loop"):
            events.append(event)

    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].error_type == "MaxTurnsExceeded"
    assert events[-1].agent == agent.name


# --- streaming -------------------------------------------------------------------------------


async def test_streaming_events_name_their_agents() -> None:
    answer = "Hello from the specialist, streamed in pieces."
    specialist, _ = make(
        "specialist",
        [tool_call("add", {"a": 1, "b": 2}), text(answer)],
        skills={"s": Shop()},
    )
    front, _ = make("front", [transfer(specialist.name, "expert")], handoffs=[specialist])

    events = [event async for event in front.run_streaming("hi")]

    types = [(event.type, event.agent) for event in events]
    f, s = front.name, specialist.name
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    assert all(d.agent == s for d in deltas)
    assert "".join(d.text for d in deltas) == answer
    assert [t for t in types if t[0] != "text.delta"] == [
        ("agent.started", f),
        ("tool.call", f),
        ("handoff.transfer", f),
        ("agent.started", s),
        ("tool.call", s),
        ("tool.result", s),
        ("agent.completed", s),
        ("handoff.complete", s),
    ]
    transfer_event = next(e for e in events if isinstance(e, HandoffTransfer))
    assert (transfer_event.from_agent, transfer_event.to_agent, transfer_event.reason) == (
        f,
        s,
        "expert",
    )
    completed = next(e for e in events if isinstance(e, AgentCompleted))
    assert completed.content == answer
    complete = events[-1]
    assert isinstance(complete, HandoffComplete)
    assert (complete.chain, complete.final_agent) == ((f, s), s)
    call = next(e for e in events if isinstance(e, ToolCallEvent) and e.agent == s)
    assert (call.name, call.arguments) == ("add", '{"a": 1, "b": 2}')


class OnePieceModel:
    """A model whose stream yields its whole response at once, as many adapters do."""

    name = "one-piece"

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return ModelResponse("All of it at once.", [], Usage(requests=1), "stop")

    async def stream(self, request: ModelRequest) -> AsyncIterator[str | ModelResponse]:
        yield await self.complete(request)


async def test_a_model_answering_in_one_piece_still_streams_its_text() -> None:
    agent = BaseAgent(f"one-piece-{uuid.uuid4().hex[:6]}", "Answer.", model=OnePieceModel())

    events = [event async for event in agent.run_streaming("hi")]

    deltas = [(e.agent, e.text) for e in events if isinstance(e, TextDelta)]
    assert deltas == [(agent.name, "All of it at once.")]


@pytest.mark.parametrize("how", ["aclosing", "aclose"])
async def test_breaking_out_of_a_stream_early_leaves_nothing_running(how: str) -> None:
    cleaned: list[str] = []

    class Final(Skill):
        @hook("finalize_connection")
        def finalize(self, context: Context) -> None:
            cleaned.append("finalize")

    agent, model = make(
        "stream",
        [text("a long answer " * 20)],
        skills={"f": Final()},
    )
    before = asyncio.all_tasks()

    if how == "aclosing":
        async with contextlib.aclosing(agent.run_streaming("hi")) as stream:
            async for event in stream:
                assert isinstance(event, AgentStarted)
                break
    else:
        stream = agent.run_streaming("hi")
        first = await anext(stream)
        assert isinstance(first, AgentStarted)
        await stream.aclose()

    assert asyncio.all_tasks() == before
    assert cleaned == ["finalize"]
    assert len(model.requests) <= 1


# --- RunResult -------------------------------------------------------------------------------


async def test_run_result_shape_usage_and_messages() -> None:
    agent, model = make(
        "result",
        [tool_call("add", {"a": 40, "b": 2}), text("The answer is 42")],
        skills={"s": Shop()},
    )

    result = await agent.run("what is 40 + 2?")

    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "assistant"]
    assert result.messages[2]["content"] == "42"
    assert result.messages[2]["tool_call_id"] == result.messages[1]["tool_calls"][0]["id"]
    prompt_tokens = sum(
        len(str(m.get("content") or "").split()) for r in model.requests for m in r["messages"]
    )
    completion_tokens = 1 + len("The answer is 42".split())  # one call, then four words
    assert result.usage.requests == 2
    assert result.usage.prompt_tokens == prompt_tokens
    assert result.usage.completion_tokens == completion_tokens
    assert result.usage.total_tokens == prompt_tokens + completion_tokens
    completion = result.to_chat_completion()
    assert completion["object"] == "chat.completion"
    assert completion["id"].startswith("chatcmpl-")
    assert completion["model"] == agent.name
    assert completion["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "The answer is 42"},
            "finish_reason": "stop",
        }
    ]
    assert completion["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    assert [e.type for e in result.events] == [
        "agent.started",
        "tool.call",
        "tool.result",
        "agent.completed",
    ]
    assert result.handoff_chain == [agent.name]
    assert result.to_dict()["content"] == "The answer is 42"


def test_run_sync_from_sync_code() -> None:
    agent, model = make("sync", [text("sync answer")])

    result = agent.run_sync("hello")

    assert (result.content, result.agent) == ("sync answer", agent.name)
    assert without_system(model.requests[0]) == [{"role": "user", "content": "hello"}]


# --- sessions in memory ----------------------------------------------------------------------


async def test_session_history_accumulates_and_resent_history_is_not_duplicated() -> None:
    agent, model = make("memory", [text("one"), text("two"), text("three")])
    session = uuid.uuid4().hex

    await agent.run("first", session_id=session)
    await agent.run("second", session_id=session)
    third = await agent.run(
        [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "one"},
            {"role": "user", "content": "second"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "third"},
        ],
        session_id=session,
    )

    assert without_system(model.requests[1]) == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "one"},
        {"role": "user", "content": "second"},
    ]
    assert [m["content"] for m in without_system(model.requests[2])] == [
        "first",
        "one",
        "second",
        "two",
        "third",
    ]
    assert [m["content"] for m in third.messages] == [
        "first",
        "one",
        "second",
        "two",
        "third",
        "three",
    ]


async def test_runs_without_a_session_share_nothing() -> None:
    agent, model = make("stateless", [text("one"), text("two")])

    await agent.run("first")
    await agent.run("second")

    assert without_system(model.requests[1]) == [{"role": "user", "content": "second"}]


# --- concurrency -----------------------------------------------------------------------------


async def test_concurrent_runs_through_a_shared_chain_do_not_cross_talk() -> None:
    seen_users: list[tuple[str, str | None]] = []

    class WhoAmI(Skill):
        @tool
        async def whoami(self) -> str:
            """Who is asking."""
            context = self.get_context()
            await asyncio.sleep(0)
            seen_users.append((context.run_id, context.peer_user_id))
            return f"user={self.get_context().peer_user_id}"

    def request_id(request: dict[str, Any]) -> str:
        users = [m["content"] for m in request["messages"] if m["role"] == "user"]
        match = re.fullmatch(r"request (\d+)", users[-1])
        assert match is not None
        return match.group(1)

    def answer(request: dict[str, Any]) -> ReplyLike:
        last = request["messages"][-1]
        if last["role"] == "tool" and last["content"].startswith("user="):
            return text(f"answer {request_id(request)} {last['content']}")
        return tool_call("whoami")

    c, _ = make("c", responder=answer, skills={"w": WhoAmI()})
    b, _ = make("b", responder=lambda request: transfer(c.name), handoffs=[c])
    a, _ = make("a", responder=lambda request: transfer(b.name), handoffs=[b])

    results = await asyncio.gather(
        *(a.run(f"request {i}", user_id=f"user-{i}") for i in range(200))
    )

    for i, result in enumerate(results):
        assert result.content == f"answer {i} user=user-{i}"
        assert result.handoff_chain == [a.name, b.name, c.name]
        assert result.agent == c.name
        assert [m["content"] for m in result.messages if m["role"] == "user"] == [f"request {i}"]
    run_ids = {result.run_id for result in results}
    assert len(run_ids) == 200
    by_run = dict(seen_users)
    assert len(by_run) == 200
    for result in results:
        i = result.content.split()[1]
        assert by_run[result.run_id] == f"user-{i}"


# --- skill lifecycle -------------------------------------------------------------------------


class Lifecycle(Skill):
    def __init__(self) -> None:
        super().__init__()
        self.initialized: list[BaseAgent] = []
        self.cleanups = 0

    async def initialize(self, agent: BaseAgent) -> None:
        await asyncio.sleep(0)  # let concurrent first runs overlap
        self.initialized.append(agent)

    async def cleanup(self) -> None:
        self.cleanups += 1


async def test_initialize_once_and_cleanup_on_close() -> None:
    skill = Lifecycle()
    agent, _ = make("life", responder=lambda request: text("ok"), skills={"l": skill})

    await asyncio.gather(*(agent.run(f"hi {i}") for i in range(5)))
    await agent.run("again")
    await agent.run("and again")

    assert skill.initialized == [agent]
    assert skill.cleanups == 0
    await agent.close()
    assert skill.cleanups == 1
    await agent.close()
    assert skill.cleanups == 1


async def test_skill_instance_cannot_serve_two_agents() -> None:
    skill = Shop()
    first, _ = make("first", skills={"s": skill})

    with pytest.raises(AgentConfigError, match=first.name):
        make("second", skills={"s": skill})


async def test_registering_a_skill_does_not_evaluate_its_properties() -> None:
    evaluated: list[str] = []

    class Lazy(Skill):
        @property
        def expensive(self) -> str:
            evaluated.append("expensive")
            raise RuntimeError("must not be evaluated at registration")

        @tool
        def ping(self) -> str:
            """Ping."""
            return "pong"

    agent, model = make("lazy", [tool_call("ping"), text("ok")], skills={"l": Lazy()})

    await agent.run("ping")

    assert evaluated == []
    assert last_message(model.requests[1])["content"] == "pong"


# --- agent network ---------------------------------------------------------------------------


async def test_unknown_agent_error_suggests_only_close_candidates() -> None:
    agent, _ = make("support-desk")
    missing = "invoice-team"

    with pytest.raises(UnknownAgentError) as raised:
        default_network().resolve(missing, ["billing", "billing-eu", "support"])

    assert raised.value.name == missing
    assert agent.name not in str(raised.value)  # never a listing of the process's agents
    assert missing in str(raised.value)
    with pytest.raises(UnknownAgentError, match=r"did you mean 'billing'"):
        default_network().resolve("biling", ["billing", "support"])
    assert default_network().resolve(agent.name) is agent


async def test_register_remote_resolves_to_a_remote_agent() -> None:
    name = "finance-expert"
    url = f"http://127.0.0.1:9/agents/{name}"

    register_remote(name, url + "/", description="Remote finance")

    found = default_network().resolve(name)
    assert isinstance(found, RemoteAgent)
    assert (found.name, found.url, found.description) == (name, url, "Remote finance")
    assert name in default_network().names()


# --- NLI against local agents ----------------------------------------------------------------


async def test_nli_query_local_agent_success() -> None:
    helper, model = make("helper", [text("helper says hi")])

    outcome = await NLISkill().query_agent(helper.name, "hello there")

    assert set(outcome) == {"success", "response", "agent", "error", "attempts", "latency_ms"}
    assert outcome["success"] is True
    assert outcome["response"] == "helper says hi"
    assert outcome["agent"] == helper.name
    assert outcome["error"] is None
    assert outcome["attempts"] == 1
    assert outcome["latency_ms"] >= 0
    assert last_message(model.requests[0]) == {"role": "user", "content": "hello there"}


async def test_nli_unknown_agent_is_reported_not_raised() -> None:
    known, _ = make("support-desk")
    missing = "invoice-team"

    outcome = await NLISkill().query_agent(missing, "hello")

    assert outcome["success"] is False
    assert outcome.get("response") is None
    assert outcome["agent"] == missing
    assert outcome["attempts"] == 1
    assert missing in outcome["error"]
    assert known.name not in outcome["error"]  # never a listing of other agents


async def test_nli_falls_back_to_the_next_agent() -> None:
    broken, broken_model = make("broken", [error(500, "down")])
    backup, _ = make("backup", [text("backup answer")])
    nli = NLISkill({"fallbacks": {broken.name: [backup.name]}})

    outcome = await nli.query_agent(broken.name, "help")

    assert len(broken_model.requests) == 1
    assert outcome["success"] is True
    assert outcome["response"] == "backup answer"
    assert outcome["agent"] == backup.name
    assert outcome["attempts"] == 2

    both_down, _ = make("down", [error(500, "also down")])
    nli = NLISkill({"fallbacks": {both_down.name: ["nobody"]}})
    failed = await nli.query_agent(both_down.name, "help")
    assert failed["success"] is False
    assert failed.get("response", "Expert unavailable") == "Expert unavailable"
    assert failed["attempts"] == 2
    assert "unknown agent" in failed["error"]
    assert "also down" not in failed["error"]  # the agent's exception text stays in the log
