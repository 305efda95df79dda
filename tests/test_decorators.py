"""Decorators and skill classes: definition-time validation, markers and member collection.

Mistakes in a skill class must fail when the class body runs (or, for cross-skill problems,
when the agent is built), with a message that names the culprit and the fix.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from webagents import (
    AgentConfigError,
    BaseAgent,
    Context,
    DefinitionError,
    Skill,
    handoff,
    hook,
    prompt,
    tool,
)
from webagents.agents.skills.decorators import (
    HandoffOptions,
    HookOptions,
    PromptOptions,
    ToolOptions,
    member_options,
)
from webagents.testing import ScriptedModel, tool_call


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tool_names(agent: BaseAgent) -> set[str]:
    return set(agent.capabilities.tools)


# --- @hook -------------------------------------------------------------------------------------


def test_unknown_hook_event_fails_at_class_definition_and_suggests_closest() -> None:
    with pytest.raises(DefinitionError) as info:

        class Bad(Skill):
            @hook("before_handof")  # type: ignore[arg-type]
            def prepare(self, context: Any) -> Any:
                return context

    message = str(info.value)
    assert "'before_handof'" in message
    assert "did you mean 'before_handoff'" in message


def test_unknown_hook_event_without_close_match_lists_events() -> None:
    with pytest.raises(DefinitionError) as info:
        hook("zzz")  # type: ignore[arg-type]
    assert "did you mean" not in str(info.value)
    assert "on_connection" in str(info.value)
    assert "finalize_connection" in str(info.value)


def test_definition_error_is_a_type_error() -> None:
    # callers catching TypeError for a misuse of the API still catch it
    with pytest.raises(TypeError):
        hook("nope")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "source",
    [
        "def h(self): pass",
        "def h(self, context, extra): pass",
        "def h(self, context, *, flag): pass",
        "def h(): pass",
    ],
)
def test_hook_with_wrong_signature_fails(source: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(DefinitionError) as info:
        hook("on_message")(namespace["h"])
    assert "(self, context)" in str(info.value)
    assert "h(" in str(info.value)
    assert member_options(namespace["h"]) is None


def test_hook_signature_checked_inside_class_body() -> None:
    with pytest.raises(DefinitionError, match=r"Bad\.log"):

        class Bad(Skill):
            @hook("on_message")
            def log(self) -> None:
                pass


def test_hook_accepts_sync_async_and_optional_extras() -> None:
    class Fine(Skill):
        @hook("on_message")
        def sync_hook(self, context: Any) -> Any:
            return context

        @hook("after_llm_call", priority=10)
        async def async_hook(self, context: Any, *, verbose: bool = False, **extra: Any) -> None:
            return None

    members = {m.attr: m.options for m in Fine.__webagents_members__}
    assert members == {
        "sync_hook": HookOptions(event="on_message", priority=50),
        "async_hook": HookOptions(event="after_llm_call", priority=10),
    }


@pytest.mark.parametrize("priority", ["high", 1.5, None, True])
def test_hook_priority_must_be_an_int(priority: Any) -> None:
    with pytest.raises(DefinitionError, match=r"@hook\(priority=\.\.\.\) takes an int"):
        hook("on_message", priority=priority)


# --- @handoff ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "def cond(self): return True",
        "def cond(self, query, extra): return True",
        "def cond(self, query, context, more): return True",
        "def cond(self, query, *, context): return True",
    ],
)
def test_handoff_condition_with_wrong_signature_fails(source: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(DefinitionError) as info:
        handoff("target")(namespace["cond"])
    assert "(self, query) or (self, query, context)" in str(info.value)
    with pytest.raises(DefinitionError):
        handoff()(namespace["cond"])


def test_handoff_signature_checked_inside_class_body() -> None:
    with pytest.raises(DefinitionError, match=r"Bad\.needs_expert"):

        class Bad(Skill):
            @handoff("expert")
            def needs_expert(self) -> bool:
                return True


def test_handoff_context_parameter_is_detected() -> None:
    class Router(Skill):
        @handoff("a")
        def plain(self, query: str) -> bool:
            return True

        @handoff("b")
        async def with_context(self, query: str, context: Any) -> bool:
            return True

        @handoff("c")
        def optional_context(self, query: str, context: Any = None) -> bool:
            return True

    opts = {m.attr: m.options for m in Router.__webagents_members__}
    assert isinstance(opts["plain"], HandoffOptions)
    assert isinstance(opts["with_context"], HandoffOptions)
    assert isinstance(opts["optional_context"], HandoffOptions)
    assert not opts["plain"].takes_context
    assert opts["with_context"].takes_context
    assert opts["optional_context"].takes_context


@pytest.mark.parametrize("target", ["", "   ", 5])
def test_handoff_target_must_be_a_non_empty_name(target: Any) -> None:
    with pytest.raises(DefinitionError, match="non-empty agent name"):
        handoff(target)


@pytest.mark.parametrize("priority", ["1", 2.0, False])
def test_handoff_priority_must_be_an_int(priority: Any) -> None:
    with pytest.raises(DefinitionError, match=r"@handoff\(priority=\.\.\.\) takes an int"):
        handoff("x", priority=priority)


def test_handoff_metadata_is_a_frozen_copy() -> None:
    metadata = {"priority": "high"}

    @handoff("specialist", metadata=metadata, priority=7)
    def needs_specialist(self: Any, query: str) -> bool:
        return True

    metadata["priority"] = "low"
    options = member_options(needs_specialist)
    assert isinstance(options, HandoffOptions)
    assert options.target == "specialist"
    assert options.priority == 7
    assert dict(options.metadata) == {"priority": "high"}
    with pytest.raises(TypeError):
        options.metadata["x"] = 1  # type: ignore[index]


# --- @prompt -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "def p(): return ''",
        "def p(self, query): return ''",
        "def p(self, context, extra): return ''",
        "def p(self, *, context): return ''",
    ],
)
def test_prompt_with_wrong_signature_fails(source: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(DefinitionError, match=r"must take \(self\) or \(self, context\)"):
        prompt(namespace["p"])
    with pytest.raises(DefinitionError):
        prompt(priority=3)(namespace["p"])


def test_prompt_forms_and_context_detection() -> None:
    class Prompts(Skill):
        @prompt
        def bare(self) -> str:
            return "a"

        @prompt()
        def called(self) -> str:
            return "b"

        @prompt(priority=5)
        def with_context(self, context: Any) -> str:
            return "c"

    opts = {m.attr: m.options for m in Prompts.__webagents_members__}
    assert opts == {
        "bare": PromptOptions(priority=50, takes_context=False),
        "called": PromptOptions(priority=50, takes_context=False),
        "with_context": PromptOptions(priority=5, takes_context=True),
    }


@pytest.mark.parametrize("priority", ["x", 0.5, True])
def test_prompt_priority_must_be_an_int(priority: Any) -> None:
    with pytest.raises(DefinitionError, match=r"@prompt\(priority=\.\.\.\) takes an int"):
        prompt(priority=priority)


# --- @tool -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["has space", "dots.not.allowed", "café", "emoji😀", "", "a" * 65, 123]
)
def test_tool_name_with_invalid_characters_fails(name: Any) -> None:
    with pytest.raises(DefinitionError) as info:
        tool(name=name)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("name", ["lookup", "look-up_2", "A" * 64])
def test_valid_tool_names(name: str) -> None:
    @tool(name=name)
    def func() -> None:
        pass

    assert member_options(func) == ToolOptions(name=name)


def test_tool_name_checked_inside_class_body() -> None:
    with pytest.raises(DefinitionError, match="'bad name'"):

        class Bad(Skill):
            @tool(name="bad name")
            def lookup(self) -> str:
                return ""


@pytest.mark.parametrize("scope", ["root", "ALL", ""])
def test_bad_tool_scope_fails(scope: Any) -> None:
    with pytest.raises(DefinitionError) as info:
        tool(scope=scope)
    assert repr(scope) in str(info.value)
    assert "all, owner, admin" in str(info.value)


def test_tool_given_a_positional_name_points_at_keyword_form() -> None:
    with pytest.raises(DefinitionError, match=r"@tool\(name='lookup'\)"):
        tool("lookup")  # type: ignore[call-overload]


def test_skill_scope_must_be_valid() -> None:
    with pytest.raises(AgentConfigError, match="scope"):
        Skill(scope="root")  # type: ignore[arg-type]


# --- two decorators, duplicates ----------------------------------------------------------------


def test_two_decorators_on_one_method_fail() -> None:
    with pytest.raises(DefinitionError) as info:

        class Bad(Skill):
            @hook("on_message")
            @tool
            def both(self, context: Any) -> Any:
                return context

    message = str(info.value)
    assert "Bad.both" in message
    assert "@hook" in message
    assert "@tool" in message


@pytest.mark.parametrize(
    "outer",
    [
        lambda f: tool(f),
        lambda f: prompt(f),
        lambda f: handoff("x")(f),
        lambda f: handoff(f),
    ],
)
def test_any_second_decorator_fails(outer: Any) -> None:
    def method(self: Any, context: Any) -> Any:
        return context

    first = hook("on_message")(method)
    with pytest.raises(DefinitionError, match="two webagents decorators"):
        outer(first)
    assert member_options(method) == HookOptions(event="on_message")  # first one kept intact


def test_duplicate_tool_names_in_one_skill_fail_at_class_definition() -> None:
    with pytest.raises(DefinitionError) as info:

        class Bad(Skill):
            @tool
            def lookup(self, order_id: str) -> str:
                return order_id

            @tool(name="lookup")
            def find(self, order_id: str) -> str:
                return order_id

    message = str(info.value)
    assert "Bad" in message
    assert "'lookup'" in message
    assert "find" in message
    assert "@tool(name=...)" in message


def test_duplicate_tool_name_with_an_inherited_tool_fails_in_the_subclass() -> None:
    class Base(Skill):
        @tool
        def lookup(self) -> str:
            return ""

    with pytest.raises(DefinitionError, match="'lookup'"):

        class Child(Base):
            @tool(name="lookup")
            def other(self) -> str:
                return ""


def test_duplicate_tool_names_across_two_skills_fail_at_agent_construction() -> None:
    class Orders(Skill):
        @tool
        def lookup(self, order_id: str) -> str:
            return order_id

    class Customers(Skill):
        @tool(name="lookup")
        def find_customer(self, customer_id: str) -> str:
            return customer_id

    name = unique("dup-tools")
    with pytest.raises(AgentConfigError) as info:
        BaseAgent(name, skills={"orders": Orders(), "customers": Customers()})
    message = str(info.value)
    assert "Orders.lookup" in message
    assert "Customers.find_customer" in message
    assert "'lookup'" in message
    assert name in message


def test_skill_tool_clashing_with_plain_function_tool_fails() -> None:
    class Orders(Skill):
        @tool
        def lookup(self) -> str:
            return ""

    def lookup() -> str:
        return ""

    with pytest.raises(AgentConfigError, match=r"Orders\.lookup"):
        BaseAgent(unique("clash"), skills={"orders": Orders()}, tools=[lookup])


# --- agent construction ------------------------------------------------------------------------


class NeedsNLI(Skill):
    def __init__(self) -> None:
        super().__init__(dependencies=["nli"])


def test_missing_skill_dependency_names_skill_dependency_and_fix() -> None:
    name = unique("deps")
    with pytest.raises(AgentConfigError) as info:
        BaseAgent(name, skills={"routing": NeedsNLI(), "other": Skill()})
    message = str(info.value)
    assert name in message
    assert "'routing'" in message
    assert "NeedsNLI" in message
    assert "'nli'" in message
    assert "skills=" in message


def test_present_dependency_is_accepted() -> None:
    agent = BaseAgent(unique("deps-ok"), skills={"routing": NeedsNLI(), "nli": Skill()})
    assert set(agent.skills) == {"routing", "nli"}


@pytest.mark.parametrize("entry", [123, "", None, object()])
def test_invalid_handoffs_entry_fails(entry: Any) -> None:
    with pytest.raises(AgentConfigError) as info:
        BaseAgent(unique("bad-handoffs"), handoffs=["billing", entry])
    assert "handoffs=[...]" in str(info.value)
    assert repr(entry) in str(info.value)


def test_transfer_tool_name_clashing_with_a_tool_fails() -> None:
    def transfer_to_billing() -> str:
        """Pretend to transfer."""
        return ""

    with pytest.raises(AgentConfigError) as info:
        BaseAgent(unique("transfer-clash"), tools=[transfer_to_billing], handoffs=["billing"])
    assert "'transfer_to_billing'" in str(info.value)
    assert "'billing'" in str(info.value)


def test_two_handoff_targets_with_the_same_transfer_tool_fail() -> None:
    with pytest.raises(AgentConfigError, match="transfer_to_billing"):
        BaseAgent(unique("transfer-twice"), handoffs=["billing", "billing!"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_handoffs", -1),
        ("max_handoffs", "3"),
        ("max_handoffs", True),
        ("max_handoffs", 2.0),
        ("max_turns", 0),
        ("max_turns", None),
        ("max_turns", False),
    ],
)
def test_invalid_max_handoffs_and_max_turns_fail(field: str, value: Any) -> None:
    name = unique("limits")
    with pytest.raises(AgentConfigError) as info:
        BaseAgent(name, **{field: value})
    assert field in str(info.value)
    assert repr(value) in str(info.value)
    assert name in str(info.value)


def test_limits_at_their_minimum_are_accepted() -> None:
    agent = BaseAgent(unique("limits-ok"), max_handoffs=0, max_turns=1)
    assert (agent.max_handoffs, agent.max_turns) == (0, 1)


@pytest.mark.parametrize("policy", ["everything", "", None, 3])
def test_invalid_handoff_history_fails(policy: Any) -> None:
    with pytest.raises(AgentConfigError, match="handoff_history"):
        BaseAgent(unique("history"), handoff_history=policy)


@pytest.mark.parametrize("policy", ["full", "conversation", "last_user", lambda m: m[-1:]])
def test_valid_handoff_history_is_accepted(policy: Any) -> None:
    agent = BaseAgent(unique("history-ok"), handoff_history=policy)
    assert agent.handoff_history is policy


def test_invalid_agent_name_fails() -> None:
    with pytest.raises(AgentConfigError, match="non-empty name"):
        BaseAgent("  ")


# --- markers -----------------------------------------------------------------------------------


def test_decorators_return_the_very_same_function() -> None:
    def f_tool(x: int) -> int:
        return x + 1

    def f_hook(self: Any, context: Any) -> Any:
        return context

    def f_handoff(self: Any, query: str) -> bool:
        return True

    def f_prompt(self: Any) -> str:
        return "p"

    def f_named(x: int) -> int:
        return x

    def f_router(self: Any, query: str) -> str | None:
        return None

    def f_prompt2(self: Any, context: Any) -> str:
        return "p"

    assert tool(f_tool) is f_tool
    assert tool(name="named")(f_named) is f_named
    assert handoff(f_router) is f_router
    assert prompt(priority=1)(f_prompt2) is f_prompt2
    assert hook("on_message")(f_hook) is f_hook
    assert handoff("x")(f_handoff) is f_handoff
    assert prompt(f_prompt) is f_prompt
    assert f_tool(1) == 2  # still an ordinary, callable function


def test_options_are_readable_for_every_form() -> None:
    @tool
    def bare_tool() -> None:
        pass

    @tool(name="named", description="Does things.", scope="owner")
    def called_tool() -> None:
        pass

    @hook("before_toolcall", priority=3)
    def a_hook(self: Any, context: Any) -> None:
        pass

    @handoff
    def bare_handoff(self: Any, query: str) -> str | None:
        return None

    @handoff()
    def called_dynamic(self: Any, query: str) -> str | None:
        return None

    @handoff("billing")
    def static(self: Any, query: str) -> bool:
        return True

    @prompt
    def bare_prompt(self: Any) -> str:
        return ""

    def undecorated() -> None:
        pass

    assert member_options(bare_tool) == ToolOptions()
    assert member_options(called_tool) == ToolOptions(
        name="named", description="Does things.", scope="owner"
    )
    assert member_options(a_hook) == HookOptions(event="before_toolcall", priority=3)
    bare = member_options(bare_handoff)
    assert isinstance(bare, HandoffOptions)
    assert bare.target is None  # bare @handoff is a dynamic router
    called = member_options(called_dynamic)
    assert isinstance(called, HandoffOptions)
    assert called.target is None
    assert called.priority == 50
    static_options = member_options(static)
    assert isinstance(static_options, HandoffOptions)
    assert static_options.target == "billing"
    assert member_options(bare_prompt) == PromptOptions()
    assert member_options(undecorated) is None
    assert member_options(42) is None


def test_options_are_frozen() -> None:
    @tool(name="frozen")
    def func() -> None:
        pass

    options = member_options(func)
    assert options is not None
    with pytest.raises(AttributeError):
        options.name = "other"  # type: ignore[misc, union-attr]


def test_decorated_methods_still_work_as_methods() -> None:
    class Calc(Skill):
        @tool
        def add(self, a: int, b: int) -> int:
            """Add two numbers."""
            return a + b

    assert Calc().add(2, 3) == 5
    agent = BaseAgent(unique("calc"), skills={"calc": Calc()})
    entry = agent.capabilities.tools["add"]
    assert entry.where == "Calc.add"
    assert entry.call(a=2, b=3) == 5
    assert entry.schema.description == "Add two numbers."


# --- inheritance -------------------------------------------------------------------------------


class BaseOrders(Skill):
    @tool
    def lookup(self, order_id: str) -> str:
        return f"base:{order_id}"

    @tool
    def cancel(self, order_id: str) -> str:
        return f"cancel:{order_id}"

    @hook("on_message")
    def log(self, context: Any) -> Any:
        return context

    @handoff("billing")
    def needs_billing(self, query: str) -> bool:
        return "bill" in query


def test_subclass_override_without_decorator_removes_the_member() -> None:
    class NoLookup(BaseOrders):
        def lookup(self, order_id: str) -> str:  # plain method now
            return "plain"

        log = None  # type: ignore[assignment]

    attrs = [m.attr for m in NoLookup.__webagents_members__]
    assert "lookup" not in attrs
    assert "log" not in attrs
    assert attrs == ["cancel", "needs_billing"]
    agent = BaseAgent(unique("override"), skills={"orders": NoLookup()})
    assert tool_names(agent) == {"cancel"}
    assert "on_message" not in agent.capabilities.hooks
    # the base class is untouched
    assert [m.attr for m in BaseOrders.__webagents_members__] == [
        "lookup",
        "cancel",
        "log",
        "needs_billing",
    ]


def test_inherited_members_are_kept_and_bound_to_the_subclass_instance() -> None:
    class Extra(BaseOrders):
        @tool
        def refund(self, order_id: str) -> str:
            return f"refund:{order_id}"

    agent = BaseAgent(unique("inherit"), skills={"orders": Extra()})
    assert tool_names(agent) == {"lookup", "cancel", "refund"}
    assert agent.capabilities.tools["lookup"].call(order_id="7") == "base:7"
    assert agent.capabilities.tools["lookup"].where == "Extra.lookup"
    assert [h.where for h in agent.capabilities.hooks["on_message"]] == ["Extra.log"]
    assert [c.target for c in agent.capabilities.conditions] == ["billing"]


def test_subclass_override_with_a_decorator_replaces_the_member() -> None:
    class Renamed(BaseOrders):
        @tool(name="find_order")
        def lookup(self, order_id: str) -> str:
            return f"child:{order_id}"

    agent = BaseAgent(unique("renamed"), skills={"orders": Renamed()})
    assert tool_names(agent) == {"find_order", "cancel"}
    assert agent.capabilities.tools["find_order"].call(order_id="1") == "child:1"


def test_members_from_multiple_bases_are_merged() -> None:
    class Greeter(Skill):
        @prompt
        def greet(self) -> str:
            return "hello"

    class Both(BaseOrders, Greeter):
        pass

    attrs = {m.attr for m in Both.__webagents_members__}
    assert attrs == {"lookup", "cancel", "log", "needs_billing", "greet"}


# --- collection never evaluates properties -----------------------------------------------------


def test_skill_class_collection_never_evaluates_properties() -> None:
    evaluated: list[str] = []

    class Lazy(Skill):
        @property
        def connection(self) -> str:
            evaluated.append("connection")
            raise RuntimeError("must not be evaluated while collecting")

        @property
        def __webagents_probe__(self) -> str:
            evaluated.append("dunder")
            raise RuntimeError("must not be evaluated while collecting")

        @tool
        def ping(self) -> str:
            return "pong"

    class LazyChild(Lazy):
        @property
        def other(self) -> str:
            evaluated.append("other")
            raise RuntimeError("must not be evaluated")

    agent = BaseAgent(unique("lazy"), skills={"lazy": LazyChild()})
    assert tool_names(agent) == {"ping"}
    assert [m.attr for m in LazyChild.__webagents_members__] == ["ping"]
    assert evaluated == []


# --- ordering ----------------------------------------------------------------------------------


def test_hooks_conditions_and_prompts_sorted_by_priority_then_declaration() -> None:
    class Ordered(Skill):
        @hook("on_message", priority=60)
        def late(self, context: Any) -> None:
            pass

        @hook("on_message")
        def first_default(self, context: Any) -> None:
            pass

        @hook("on_message", priority=1)
        def early(self, context: Any) -> None:
            pass

        @hook("on_message")
        def second_default(self, context: Any) -> None:
            pass

        @handoff("b", priority=90)
        def to_b(self, query: str) -> bool:
            return True

        @handoff("a", priority=10)
        def to_a(self, query: str) -> bool:
            return True

        @prompt(priority=2)
        def p2(self) -> str:
            return ""

        @prompt(priority=1)
        def p1(self) -> str:
            return ""

    agent = BaseAgent(unique("ordered"), skills={"o": Ordered()})
    hooks = [h.where for h in agent.capabilities.hooks["on_message"]]
    assert hooks == [
        "Ordered.early",
        "Ordered.first_default",
        "Ordered.second_default",
        "Ordered.late",
    ]
    assert [c.target for c in agent.capabilities.conditions] == ["a", "b"]
    assert [p.where for p in agent.capabilities.prompts] == ["Ordered.p1", "Ordered.p2"]


# --- natural mistakes: caught early, with the fix in the message --------------------------------


def test_bare_hook_without_an_event_shows_the_called_form() -> None:
    with pytest.raises(DefinitionError) as info:

        class Logger(Skill):
            @hook  # type: ignore[arg-type]
            def log(self, context: Any) -> Any:
                return context

    message = str(info.value)
    assert '@hook("before_llm_call")' in message
    assert "Logger.log" in message
    assert "on_connection" in message  # the events to choose from


class Forgetful(Skill):
    """Sets its own state but never runs Skill.__init__."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.limit = (config or {}).get("limit", 3)


def test_skill_whose_init_skips_super_fails_when_attached() -> None:
    name = unique("forgetful")
    with pytest.raises(AgentConfigError) as info:
        BaseAgent(name, skills={"memory": Forgetful({"limit": 5})})
    message = str(info.value)
    assert "Forgetful" in message
    assert "super().__init__(config)" in message
    assert repr(name) in message
    assert "'memory'" in message


@pytest.mark.parametrize(
    ("source", "fix"),
    [
        ("def initialize(self, agent): pass", "`async def initialize(self, agent)`"),
        ("def cleanup(self): pass", "`async def cleanup(self)`"),
        ("async def initialize(self): pass", "`async def initialize(self, agent)`"),
        ("async def cleanup(self, agent): pass", "`async def cleanup(self)`"),
    ],
    ids=["sync-initialize", "sync-cleanup", "initialize-without-agent", "cleanup-with-agent"],
)
def test_lifecycle_methods_must_be_coroutines_with_the_agents_arguments(
    source: str, fix: str
) -> None:
    with pytest.raises(DefinitionError) as info:
        exec(f"class Resource(Skill):\n    {source}\n", {"Skill": Skill})
    message = str(info.value)
    assert f"Resource.{source.split('def ')[1].split('(')[0]}" in message
    assert fix in message


def test_lifecycle_methods_in_their_accepted_forms() -> None:
    class Resource(Skill):
        async def initialize(self, agent: Any, *, retries: int = 3) -> None:
            pass

        async def cleanup(self, *args: Any) -> None:
            pass

    class Inherits(Resource):
        pass

    assert Inherits.__webagents_members__ == ()


def tool_output(result: Any) -> str:
    [message] = [m for m in result.messages if m["role"] == "tool"]
    return str(message["content"])


def test_tool_gets_the_context_through_its_annotation_whatever_the_name() -> None:
    class Account(Skill):
        @tool
        def whoami(self, run: Context) -> str:
            """Who is asking."""
            assert run is self.get_context()
            return run.peer_user_id or "nobody"

    model = ScriptedModel([tool_call("whoami"), "ok"])
    agent = BaseAgent(unique("ctx-annotation"), model=model, skills={"a": Account()})
    result = agent.run_sync("who am I?", user_id="u-1")
    assert tool_output(result) == "u-1"
    assert model.requests[0]["tools"][0]["function"]["parameters"]["properties"] == {}


def test_a_tool_parameter_named_context_with_another_type_is_the_models() -> None:
    class Search(Skill):
        @tool
        def search(self, query: str, context: str = "") -> str:
            """Search the catalogue.

            Args:
                query: What to look for.
                context: Words that narrow the search.
            """
            return f"{query} | {context}"

    model = ScriptedModel([tool_call("search", {"query": "shoes", "context": "running"}), "ok"])
    agent = BaseAgent(unique("ctx-ordinary"), model=model, skills={"s": Search()})
    result = agent.run_sync("running shoes")
    assert tool_output(result) == "shoes | running"
    parameters = model.requests[0]["tools"][0]["function"]["parameters"]
    assert parameters["properties"]["context"] == {
        "type": "string",
        "default": "",
        "description": "Words that narrow the search.",
    }


def test_an_unannotated_context_parameter_fails_at_class_definition_with_the_fix() -> None:
    with pytest.raises(DefinitionError) as info:

        class Account(Skill):
            @tool
            def whoami(self, context) -> str:  # type: ignore[no-untyped-def]
                return str(context.peer_user_id)

    message = str(info.value)
    assert "Account.whoami" in message
    assert "`context: Context`" in message
    assert "from webagents import Context" in message


def test_an_unannotated_context_parameter_of_a_plain_function_tool_fails() -> None:
    def whoami(context) -> str:  # type: ignore[no-untyped-def]
        return str(context.peer_user_id)

    with pytest.raises(DefinitionError, match="`context: Context`"):
        BaseAgent(unique("ctx-plain"), tools=[whoami])
    with pytest.raises(DefinitionError, match="whoami"):
        tool(whoami)
