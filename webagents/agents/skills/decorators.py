"""``@tool``, ``@hook``, ``@handoff`` and ``@prompt``: markers, not wrappers.

Each decorator validates its arguments and the decorated function's signature right away (so
mistakes surface when the class is defined), stores one frozen options object under a single
attribute and returns the function itself. The agent's dispatcher reads the options back.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias, TypeVar, get_args, overload

from webagents.errors import DefinitionError

__all__ = [
    "HOOK_EVENTS",
    "SCOPES",
    "HandoffOptions",
    "HookEvent",
    "HookOptions",
    "MemberOptions",
    "PromptOptions",
    "Scope",
    "ToolOptions",
    "check_context_parameter",
    "handoff",
    "hook",
    "member_options",
    "prompt",
    "tool",
]

F = TypeVar("F", bound=Callable[..., Any])

HookEvent: TypeAlias = Literal[
    "on_connection",
    "on_message",
    "before_llm_call",
    "after_llm_call",
    "before_toolcall",
    "after_toolcall",
    "before_handoff",
    "after_handoff",
    "finalize_connection",
]
HOOK_EVENTS: Final[tuple[str, ...]] = get_args(HookEvent)

Scope: TypeAlias = Literal["all", "owner", "admin"]
SCOPES: Final[tuple[str, ...]] = get_args(Scope)

DEFAULT_PRIORITY: Final = 50
_MARKER: Final = "__webagents_member__"
_TOOL_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class ToolOptions:
    name: str | None = None
    description: str | None = None
    scope: Scope | None = None  # None: inherit the skill's scope
    in_thread: bool = True  # a sync tool runs in a worker thread unless it opts out
    show_errors: bool = False  # the model sees the exception text, not only that it failed


@dataclass(frozen=True, slots=True)
class HookOptions:
    event: HookEvent
    priority: int = DEFAULT_PRIORITY


@dataclass(frozen=True, slots=True)
class HandoffOptions:
    target: str | None  # None: a dynamic router returning the agent name
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    priority: int = DEFAULT_PRIORITY
    takes_context: bool = False


@dataclass(frozen=True, slots=True)
class PromptOptions:
    priority: int = DEFAULT_PRIORITY
    takes_context: bool = False


MemberOptions: TypeAlias = ToolOptions | HookOptions | HandoffOptions | PromptOptions


def member_options(func: object) -> MemberOptions | None:
    """The options a webagents decorator stored on ``func``, or None."""
    options = getattr(func, _MARKER, None)
    return options if isinstance(options, MemberOptions) else None


def _mark(func: F, options: MemberOptions, decorator: str) -> F:
    if not callable(func):
        raise DefinitionError(f"@{decorator} decorates a function, got {func!r}")
    existing = member_options(func)
    if existing is not None:
        raise DefinitionError(
            f"{func.__qualname__} carries two webagents decorators (@{decorator} and "
            f"@{type(existing).__name__.removesuffix('Options').lower()}); give each role "
            f"its own method"
        )
    setattr(func, _MARKER, options)
    return func


def _positional(func: Callable[..., Any]) -> list[inspect.Parameter]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p for p in inspect.signature(func).parameters.values() if p.kind in kinds]


def _required_keyword_only(func: Callable[..., Any]) -> bool:
    """True when ``func`` has a keyword-only parameter without a default (never passed)."""
    return any(
        p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
        for p in inspect.signature(func).parameters.values()
    )


def check_context_parameter(func: Callable[..., Any]) -> None:
    """Refuse a tool parameter named ``context`` without a type.

    A tool receives the run's Context through a parameter annotated ``Context``, whatever its
    name; a parameter annotated with another type is an argument the model fills. A bare
    ``context`` could be either, so it must say which.
    """
    try:
        param = inspect.signature(func).parameters.get("context")
    except (TypeError, ValueError):  # a callable without a signature: nothing to check
        return
    if param is not None and param.annotation is inspect.Parameter.empty:
        raise DefinitionError(
            f"tool {getattr(func, '__qualname__', repr(func))} has a parameter 'context' without "
            f"a type. To receive the run's Context, annotate it: `context: Context` (from "
            f"webagents import Context); to have the model fill it, give it another type, e.g. "
            f"`context: str`"
        )


def _check_priority(priority: object, decorator: str) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise DefinitionError(f"@{decorator}(priority=...) takes an int, got {priority!r}")
    return priority


def _check_scope(scope: object) -> Scope | None:
    if scope is not None and scope not in SCOPES:
        raise DefinitionError(f"tool scope {scope!r} is not one of {', '.join(SCOPES)}")
    return scope  # type: ignore[return-value]


@overload
def tool(func: F, /) -> F: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    scope: Scope | None = None,
    in_thread: bool = True,
    show_errors: bool = False,
) -> Callable[[F], F]: ...
def tool(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    scope: Scope | None = None,
    in_thread: bool = True,
    show_errors: bool = False,
) -> F | Callable[[F], F]:
    """Mark a function the LLM may call. Its schema comes from type hints and the docstring.

    A parameter annotated ``Context`` (``context: Context``, any name) receives the run's
    Context and is hidden from the model; a parameter named ``context`` with another type is an
    ordinary argument, and one without a type is an error. ``scope`` limits who may use it:
    ``all``, ``owner`` or ``admin``.
    A sync tool runs in a worker thread (with the run's context variables) so a blocking call
    never stalls other runs; ``in_thread=False`` runs a cheap pure function inline. When the
    tool raises, the model is told only that it failed (the exception is logged) unless
    ``show_errors=True``; ``raise ToolRetry("...")`` sends the model that message.
    """
    if isinstance(func, str):
        raise DefinitionError(f"@tool takes keyword options: write @tool(name={func!r})")
    options = ToolOptions(
        name=name,
        description=description,
        scope=_check_scope(scope),
        in_thread=bool(in_thread),
        show_errors=bool(show_errors),
    )
    if name is not None and (not isinstance(name, str) or not _TOOL_NAME.fullmatch(name)):
        raise DefinitionError(
            f"tool name {name!r} must be 1-64 ASCII letters, digits, '_' or '-' "
            f"(what model APIs accept)"
        )

    def decorate(f: F) -> F:
        check_context_parameter(f)
        return _mark(f, options, "tool")

    return decorate(func) if func is not None else decorate


def hook(event: HookEvent, priority: int = DEFAULT_PRIORITY) -> Callable[[F], F]:
    """Run ``handler(self, context)`` at a lifecycle point. Lower priority runs first.

    The handler may be sync or async and returns the context (or None: unchanged).
    """
    if callable(event):  # a bare ``@hook`` above the handler
        raise DefinitionError(
            f'@hook needs the event its handler runs at: write @hook("before_llm_call") '
            f"(or another event) above {getattr(event, '__qualname__', repr(event))}, not a "
            f"bare @hook. Events: {', '.join(HOOK_EVENTS)}"
        )
    if event not in HOOK_EVENTS:
        close = difflib.get_close_matches(str(event), HOOK_EVENTS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DefinitionError(
            f"unknown hook event {event!r}{hint} Events: {', '.join(HOOK_EVENTS)}"
        )
    options = HookOptions(event=event, priority=_check_priority(priority, "hook"))

    def decorate(f: F) -> F:
        params = _positional(f)
        if len(params) != 2 or any(
            p.default is inspect.Parameter.empty
            for p in inspect.signature(f).parameters.values()
            if p not in params and p.kind is not inspect.Parameter.VAR_KEYWORD
        ):
            raise DefinitionError(
                f"@hook({event!r}) handler {f.__qualname__}{inspect.signature(f)} must take "
                f"(self, context)"
            )
        return _mark(f, options, "hook")

    return decorate


@overload
def handoff(target: F, /) -> F: ...
@overload
def handoff(
    target: str | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
    priority: int = DEFAULT_PRIORITY,
) -> Callable[[F], F]: ...
def handoff(
    target: Any = None,
    *,
    metadata: Mapping[str, Any] | None = None,
    priority: int = DEFAULT_PRIORITY,
) -> Any:
    """Mark a handoff condition, evaluated when the agent receives a user turn.

    With a ``target``, the method returns bool: True hands the conversation to ``target``.
    Without one, it is a dynamic router returning an agent name, or None for no handoff.
    The method takes ``(self, query)`` or ``(self, query, context)``; sync or async.
    """
    if callable(target):  # bare ``@handoff``: a dynamic router
        return handoff()(target)
    if target is not None and (not isinstance(target, str) or not target.strip()):
        raise DefinitionError(f"@handoff target must be a non-empty agent name, got {target!r}")
    checked_priority = _check_priority(priority, "handoff")
    frozen_metadata = MappingProxyType(dict(metadata or {}))

    def decorate(f: F) -> F:
        params = _positional(f)
        names = [p.name for p in params]
        shape_ok = len(params) == 2 or (len(params) == 3 and names[2] == "context")
        shape_ok = shape_ok and not _required_keyword_only(f)
        if not shape_ok:
            raise DefinitionError(
                f"@handoff condition {f.__qualname__}{inspect.signature(f)} must take "
                f"(self, query) or (self, query, context)"
            )
        options = HandoffOptions(
            target=target,
            metadata=frozen_metadata,
            priority=checked_priority,
            takes_context=len(params) == 3,
        )
        return _mark(f, options, "handoff")

    return decorate


@overload
def prompt(priority: F, /) -> F: ...
@overload
def prompt(priority: int = DEFAULT_PRIORITY) -> Callable[[F], F]: ...
def prompt(priority: Any = DEFAULT_PRIORITY) -> Any:
    """Mark a method whose returned text is added to the system prompt, by priority."""
    if callable(priority):  # bare ``@prompt``
        return prompt()(priority)
    checked_priority = _check_priority(priority, "prompt")

    def decorate(f: F) -> F:
        params = _positional(f)
        if (
            len(params) not in (1, 2)
            or (len(params) == 2 and params[1].name != "context")
            or _required_keyword_only(f)
        ):
            raise DefinitionError(
                f"@prompt method {f.__qualname__}{inspect.signature(f)} must take (self) or "
                f"(self, context)"
            )
        options = PromptOptions(priority=checked_priority, takes_context=len(params) == 2)
        return _mark(f, options, "prompt")

    return decorate
