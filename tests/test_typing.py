"""The decorators keep the decorated function's type, parameter names included.

Checked statically by ``mypy --strict tests/test_typing.py``: ``assert_type`` fails type
checking when a decorator loses, widens or renames the type (``Arg``/``DefaultArg`` spell the
parameter names mypy keeps for a ``def``). At run time ``assert_type`` is a no-op, so each
check also asserts that the very same function came back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, assert_type

from webagents import Context, Skill, handoff, hook, prompt, tool

if TYPE_CHECKING:  # only the type checker reads these; the types below are strings
    from collections.abc import Callable, Coroutine

    from mypy_extensions import Arg, DefaultArg


def lookup(order_id: str, verbose: bool = False) -> dict[str, int]:
    return {order_id: int(verbose)}


async def fetch(url: str) -> bytes:
    return url.encode()


def test_tool_bare_keeps_the_type() -> None:
    decorated = tool(lookup)
    assert_type(
        decorated,
        "Callable[[Arg(str, 'order_id'), DefaultArg(bool, 'verbose')], dict[str, int]]",
    )
    assert decorated is lookup


def test_tool_called_keeps_the_type() -> None:
    decorated = tool(name="fetch_url", description="Fetch a URL.", scope="owner")(fetch)
    assert_type(decorated, "Callable[[Arg(str, 'url')], Coroutine[Any, Any, bytes]]")
    assert decorated is fetch


def test_module_level_functions_keep_their_types() -> None:
    def handler(self: Any, context: Context) -> Context:
        return context

    def router(self: Any, query: str) -> str | None:
        return None

    async def condition(self: Any, query: str, context: Context) -> bool:
        return True

    def text(self: Any) -> str:
        return ""

    def text_with_context(self: Any, context: Context) -> str:
        return ""

    hooked = hook("after_toolcall", priority=1)(handler)
    assert_type(hooked, "Callable[[Arg(Any, 'self'), Arg(Context, 'context')], Context]")
    assert hooked is handler

    bare_router = handoff(router)
    assert_type(bare_router, "Callable[[Arg(Any, 'self'), Arg(str, 'query')], str | None]")
    assert bare_router is router

    called_router = handoff()(router)
    assert_type(called_router, "Callable[[Arg(Any, 'self'), Arg(str, 'query')], str | None]")

    static = handoff("target", metadata={"k": 1}, priority=5)(condition)
    assert_type(
        static,
        "Callable[[Arg(Any, 'self'), Arg(str, 'query'), Arg(Context, 'context')],"
        " Coroutine[Any, Any, bool]]",
    )
    assert static is condition

    bare_prompt = prompt(text)
    assert_type(bare_prompt, "Callable[[Arg(Any, 'self')], str]")
    assert bare_prompt is text

    called_prompt = prompt(priority=3)(text_with_context)
    assert_type(called_prompt, "Callable[[Arg(Any, 'self'), Arg(Context, 'context')], str]")
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
    assert_type(skill.bare_tool, "Callable[[Arg(str, 'city')], str]")
    assert_type(skill.called_tool, "Callable[[Arg(int, 'count')], Coroutine[Any, Any, list[int]]]")
    assert_type(skill.on_handoff, "Callable[[Arg(Context, 'context')], Coroutine[Any, Any, Context]]")
    assert_type(skill.bare_router, "Callable[[Arg(str, 'query')], str | None]")
    assert_type(skill.needs_billing, "Callable[[Arg(str, 'query')], bool]")
    assert_type(skill.bare_prompt, "Callable[[], str]")
    assert_type(skill.bare_tool("Oslo"), str)
    assert skill.bare_tool("Oslo") == "Oslo"
    assert skill.needs_billing("my bill") is True
    assert skill.bare_router("x") is None
    assert skill.bare_prompt() == "Be brief."
    # the class holds the undecorated functions themselves
    assert vars(Typed)["bare_tool"].__qualname__ == "Typed.bare_tool"
