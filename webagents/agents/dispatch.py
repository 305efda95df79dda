"""Calling user code: hooks in order, sync or async, with errors that name ``Skill.method``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from webagents.agents.capabilities import HookEntry
from webagents.context import Context
from webagents.errors import HandoffError, HookError

__all__ = ["call_user", "run_hooks"]


async def call_user(where: str, event: str, func: Callable[..., Any], *args: Any) -> Any:
    """Call ``func``; await the result if it is awaitable. Errors become ``HookError``
    naming ``where``, except ``HandoffError`` in a ``before_handoff`` hook: that is a veto."""
    try:
        result = func(*args)
        if inspect.isawaitable(result):
            result = await result
    except HookError:
        raise
    except HandoffError as error:
        if event == "before_handoff":
            raise
        raise HookError(where, event, error) from error
    except Exception as error:
        raise HookError(where, event, error) from error
    return result


async def run_hooks(entries: tuple[HookEntry, ...], context: Context) -> Context:
    """Run hook handlers one by one; a handler returns the context, a new one, or None."""
    for entry in entries:
        returned = await call_user(entry.where, entry.event, entry.call, context)
        if returned is None or returned is context:
            continue
        if not isinstance(returned, Context):
            raise HookError(
                entry.where,
                entry.event,
                TypeError(f"a hook must return the context or None, got {type(returned).__name__}"),
            )
        context = returned
    return context
