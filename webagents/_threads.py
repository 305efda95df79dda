"""Blocking calls off the event loop: ``await in_worker(fn, *args)``.

The same contract as ``asyncio.to_thread`` (the call runs in a worker thread with a copy of
the caller's context variables; its result or exception comes back to the awaiting task; a
cancelled wait leaves the call running to its end), at about two thirds of the cost:
``to_thread`` settles a ``concurrent.futures.Future`` and then copies it onto an asyncio
future through a chain of callbacks, while here the worker settles the asyncio future itself
with one ``call_soon_threadsafe``. Sync tools and the SQLite store make this hop on every
call, so it shows in every tool round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["in_worker"]

T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                # as many workers as asyncio's default executor would have
                size = min(32, (os.cpu_count() or 1) + 4)
                _executor = ThreadPoolExecutor(size, thread_name_prefix="webagents-worker")
    return _executor


def in_worker(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> asyncio.Future[T]:
    """Run ``fn(*args, **kwargs)`` in a worker thread; await the returned future for its
    result. Must be called from a running event loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()
    _workers().submit(_work, loop, future, context, fn, args, kwargs)
    return future


def _work(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    context: contextvars.Context,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    try:
        value = context.run(fn, *args, **kwargs)
    except BaseException as error:  # handed to the awaiting task, as to_thread does
        outcome: tuple[bool, Any] = (False, error)
    else:
        outcome = (True, value)
    # RuntimeError: the loop closed while the call ran, so nobody is waiting any more
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, future, *outcome)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the wait was cancelled; the call's outcome has no reader
        return
    if ok:
        future.set_result(value)
    elif isinstance(value, StopIteration):  # an asyncio future refuses StopIteration itself
        future.set_exception(RuntimeError(f"{value!r} escaped a worker call"))
    else:
        future.set_exception(value)
