"""The decorators keep the decorated function's type, parameter names included.

Checked statically by ``mypy --strict tests/test_typing.py``: ``assert_type`` fails type
checking when a decorator loses, widens or renames the type (``Arg``/``DefaultArg`` spell the
parameter names mypy keeps for a ``def``). At run time ``assert_type`` is a no-op, so each
check also asserts that the very same function came back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, assert_type

from webagents import Context, Skill, handoff, hook, prompt, tool

if TYPE_CHECKING:  # only mypy reads these; assert_type names them as strings
    from collections.abc import Callable, Coroutine
    from typing import TypeAlias

    from mypy_extensions import Arg, DefaultArg

    LookupType: TypeAlias = Callable[
        [Arg(str, "order_id"), DefaultArg(bool, "verbose")], dict[str, int]
    ]
    FetchType: TypeAlias = Callable[[Arg(str, "url")], Coroutine[Any, Any, bytes]]
    HookType: TypeAlias = Callable[[Arg(Any, "self"), Arg(Context, "context")], Context]
    RouterType: TypeAlias = Callable[[Arg(Any, "self"), Arg(str, "query")], str | None]
    ConditionType: TypeAlias = Callable[
        [Arg(Any, "self"), Arg(str, "query"), Arg(Context, "context")],
        Coroutine[Any, Any, bool],
    ]
    PromptType: TypeAlias = Callable[[Arg(Any, "self")], str]
    ContextPromptType: TypeAlias = Callable[[Arg(Any, "self"), Arg(Context, "context")], str]
    # bound methods: ``self`` is gone
    BoundToolType: TypeAlias = Callable[[Arg(str, "city")], str]
    BoundAsyncToolType: TypeAlias = Callable[[Arg(int, "count")], Coroutine[Any, Any, list[int]]]
    BoundHookType: TypeAlias = Callable[[Arg(Context, "context")], Coroutine[Any, Any, Context]]
    BoundRouterType: TypeAlias = Callable[[Arg(str, "query")], str | None]
    BoundConditionType: TypeAlias = Callable[[Arg(str, "query")], bool]
    BoundPromptType: TypeAlias = Callable[[], str]


def test_tool_bare_keeps_the_type() -> None:
    def lookup(order_id: str, verbose: bool = False) -> dict[str, int]:
        return {order_id: int(verbose)}

    decorated = tool(lookup)
    assert_type(decorated, "LookupType")
    assert decorated is lookup
    assert_type(decorated("A-1", verbose=True), dict[str, int])


def test_tool_called_keeps_the_type() -> None:
    async def fetch(url: str) -> bytes:
        return url.encode()

    decorated = tool(name="fetch_url", description="Fetch a URL.", scope="owner")(fetch)
    assert_type(decorated, "FetchType")
    assert decorated is fetch


def test_hook_handoff_prompt_keep_the_type() -> None:
    def handler(self: Any, context: Context) -> Context:
        return context

    def router(self: Any, query: str) -> str | None:
        return None

    def other_router(self: Any, query: str) -> str | None:
        return None

    async def condition(self: Any, query: str, context: Context) -> bool:
        return True

    def text(self: Any) -> str:
        return ""

    def text_with_context(self: Any, context: Context) -> str:
        return ""

    hooked = hook("after_toolcall", priority=1)(handler)
    assert_type(hooked, "HookType")
    assert hooked is handler

    bare_router = handoff(router)
    assert_type(bare_router, "RouterType")
    assert bare_router is router

    called_router = handoff()(other_router)
    assert_type(called_router, "RouterType")
    assert called_router is other_router

    static = handoff("target", metadata={"k": 1}, priority=5)(condition)
    assert_type(static, "ConditionType")
    assert static is condition

    bare_prompt = prompt(text)
    assert_type(bare_prompt, "PromptType")
    assert bare_prompt is text

    called_prompt = prompt(priority=3)(text_with_context)
    assert_type(called_prompt, "ContextPromptType")
    assert called_prompt is text_with_context


class Typed(Skill):
    @tool
    def bare_tool(self, city: str) -> str:
        return city

    @tool(name="renamed")
    async def called_tool(self, count: int) -> list[int]:
        return list(range(count))

    @hook("before_handoff", priority=10)
    async def on_handoff(self, context: Context) -> Context:
        return context

    @handoff
    def bare_router(self, query: str) -> str | None:
        return None

    @handoff("billing")
    def needs_billing(self, query: str) -> bool:
        return "bill" in query

    @prompt
    def bare_prompt(self) -> str:
        return "Be brief."


def test_decorated_methods_bind_like_plain_methods() -> None:
    skill = Typed()
    assert_type(skill.bare_tool, "BoundToolType")
    assert_type(skill.called_tool, "BoundAsyncToolType")
    assert_type(skill.on_handoff, "BoundHookType")
    assert_type(skill.bare_router, "BoundRouterType")
    assert_type(skill.needs_billing, "BoundConditionType")
    assert_type(skill.bare_prompt, "BoundPromptType")
    assert_type(skill.bare_tool("Oslo"), str)
    assert skill.bare_tool("Oslo") == "Oslo"
    assert skill.needs_billing("my bill") is True
    assert skill.bare_router("x") is None
    assert skill.bare_prompt() == "Be brief."
    # the class holds the undecorated functions themselves
    assert vars(Typed)["bare_tool"].__qualname__ == "Typed.bare_tool"
