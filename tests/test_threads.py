"""The worker-thread hop that sync tools and the SQLite store make: ``in_worker``."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from webagents._threads import _work, in_worker

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


async def test_runs_off_the_loop_thread_with_the_callers_context() -> None:
    request_id.set("r-1")
    seen = await in_worker(lambda: (threading.get_ident(), request_id.get()))
    assert seen[0] != threading.get_ident()
    assert seen[1] == "r-1"


async def test_a_raised_exception_reaches_the_awaiting_task() -> None:
    def fail(message: str) -> None:
        raise ValueError(message)

    with pytest.raises(ValueError, match="bad input"):
        await in_worker(fail, "bad input")


async def test_stop_iteration_comes_back_as_an_error_not_a_hang() -> None:
    with pytest.raises(RuntimeError, match="StopIteration"):
        await in_worker(next, iter(()))


async def test_keyword_arguments_are_passed() -> None:
    assert await in_worker(lambda a, b: a - b, b=1, a=3) == 2


async def test_a_cancelled_wait_leaves_the_call_to_finish_and_the_loop_healthy() -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(timeout=30)
        finished.set()
        return "late"

    waiting = asyncio.ensure_future(in_worker(slow))
    assert await asyncio.to_thread(started.wait, 30)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    assert await asyncio.to_thread(finished.wait, 30)
    assert await in_worker(str.upper, "next call") == "NEXT CALL"


def test_a_loop_closed_during_the_call_is_not_an_error_in_the_worker() -> None:
    loop = asyncio.new_event_loop()
    future: asyncio.Future[int] = loop.create_future()
    loop.close()
    # what the worker does once the call returns: settle a future whose loop has gone
    _work(loop, future, contextvars.copy_context(), abs, (-3,), {})
    assert not future.done()
