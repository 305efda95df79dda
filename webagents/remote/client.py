"""``RemoteClient``: every call to a remote agent goes through one of these, one per agent
network (``network.remote_client``).

- One pooled ``httpx.AsyncClient``, made on first use in the running event loop (a new one
  when the loop changed) and closed by ``aclose()`` (``AgentNetwork.aclose()`` calls it).
- ``complete()`` answers with a ``RemoteReply`` (text, who answered, the remote handoff
  chain, usage); ``stream()`` yields the answer as run events as it comes; ``chat()`` gives
  the text alone.
- A total deadline per attempt, over the whole request (a stream included), so a server
  trickling bytes cannot stretch it.
- Retries with exponential backoff and full jitter on connect errors and HTTP 429, 502, 503
  and 504 (``Retry-After`` in seconds honoured up to ``retry_after_cap``); none on other
  statuses, and none on a timed-out or broken attempt unless ``retry_timeouts=True`` (a chat
  turn is not idempotent: the remote may have acted on it). A stream is retried only before
  its body began.
- A circuit breaker per remote agent (``webagents.remote.breaker``).
- Ordered fallbacks (the agent's own, or the call's), resolved in the client's network.
- Signed requests when the agent (or the call) has a signing key
  (``webagents.remote.transport``, ``webagents.remote.signing``).
- Typed errors (``webagents.remote.errors``), all ``RemoteAgentError``s.

``transport``, ``sleep``, ``random`` and ``clock`` are injectable so tests need neither a
network nor real waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import random as _random
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from webagents.agents.network import RemoteAgent
from webagents.events import RunEvent, TextDelta
from webagents.remote.breaker import Breakers
from webagents.remote.errors import (
    RemoteAgentError,
    RemoteStatusError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)
from webagents.remote.fallbacks import answer_locally, fallback_agents
from webagents.remote.reply import RemoteReply
from webagents.remote.streaming import read_stream
from webagents.remote.transport import CallSettings, chat_endpoint, open_chat, read_completion

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.agents.network import AgentNetwork

logger = logging.getLogger("webagents")

__all__ = ["DEFAULT_TIMEOUT", "RemoteClient", "RemoteReply", "chat_endpoint"]

DEFAULT_TIMEOUT = 60.0


class RemoteClient:
    """Calls remote agents' ``POST {url}/chat/completions``; see the module text."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retries: int = 2,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        retry_after_cap: float = 30.0,
        retry_timeouts: bool = False,
        failure_threshold: int = 5,
        cool_down: float = 30.0,
        default_timeout: float = DEFAULT_TIMEOUT,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an int >= 0, got {retries!r}")
        if isinstance(failure_threshold, bool) or not isinstance(failure_threshold, int):
            raise ValueError(f"failure_threshold must be an int >= 1, got {failure_threshold!r}")
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be an int >= 1, got {failure_threshold!r}")
        for label, value in (
            ("backoff", backoff),
            ("max_backoff", max_backoff),
            ("retry_after_cap", retry_after_cap),
            ("cool_down", cool_down),
        ):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{label} must be a number of seconds >= 0, got {value!r}")
        if not math.isfinite(default_timeout) or default_timeout <= 0:
            raise ValueError(f"default_timeout must be seconds > 0, got {default_timeout!r}")
        self.transport = transport
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.retry_after_cap = retry_after_cap
        self.retry_timeouts = retry_timeouts
        self.default_timeout = default_timeout
        self._sleep = sleep
        self._random = random
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard: AsyncGenerator[None] | None = None
        self._breakers = Breakers(failure_threshold, cool_down, clock)
        self._network: weakref.ref[AgentNetwork] | None = None

    # the pooled client ----------------------------------------------------------------------

    @property
    def pooled(self) -> httpx.AsyncClient | None:
        """The pooled HTTP client of the loop that made it last, if open (None before the
        first call and after ``aclose()``)."""
        client = self._client
        return client if client is not None and not client.is_closed else None

    async def _http(self) -> httpx.AsyncClient:
        """The pooled client of the running event loop (made on first use).

        Its connections close with the network (``aclose()``) or, at the latest, when the
        loop shuts down: a guard async generator is registered with the loop, whose
        ``shutdown_asyncgens()`` (``asyncio.run``, ``asyncio.Runner``) closes it, so a
        network nobody closed leaves no socket open behind a finished loop."""
        loop = asyncio.get_running_loop()
        client = self._client
        if client is not None and not client.is_closed and self._loop is loop:
            return client
        # A client of another (finished) loop was closed by that loop's shutdown, or cannot
        # be closed from here: it is dropped.
        client = httpx.AsyncClient(transport=self.transport)
        guard = _close_at_loop_end(client)
        await guard.__anext__()  # registers it with this loop's async generator hooks
        self._client, self._loop, self._guard = client, loop, guard
        return client

    async def aclose(self) -> None:
        """Close the pooled client; the next call makes a new one."""
        client, loop, guard = self._client, self._loop, self._guard
        self._client = self._loop = self._guard = None
        if client is None or client.is_closed:
            return
        if loop is asyncio.get_running_loop() and guard is not None:
            await guard.aclose()

    @property
    def failure_threshold(self) -> int:
        return self._breakers.threshold

    @property
    def cool_down(self) -> float:
        return self._breakers.cool_down

    def breaker_state(self, remote: RemoteAgent) -> str:
        """``"closed"``, ``"open"`` (failing at once) or ``"half-open"`` (cool-down over: the
        next call is the trial) for ``remote``."""
        return self._breakers.state(remote)

    # the calls ------------------------------------------------------------------------------

    def bind(self, network: AgentNetwork) -> None:
        """Resolve fallback names in ``network`` (done by ``network.remote_client``); a call
        may name another with ``network=``. Held weakly: the network owns this client."""
        self._network = weakref.ref(network)

    async def chat(
        self,
        remote: RemoteAgent,
        messages: list[dict[str, Any]],
        *,
        timeout: float | None = None,
        api_key: str | None = None,
        signing_key: str | bytes | None = None,
        retries: int | None = None,
        fallbacks: Sequence[str] | None = None,
        network: AgentNetwork | None = None,
    ) -> str:
        """The answer text of ``complete(...)``."""
        reply = await self.complete(
            remote,
            messages,
            timeout=timeout,
            api_key=api_key,
            signing_key=signing_key,
            retries=retries,
            fallbacks=fallbacks,
            network=network,
        )
        return reply.content

    async def complete(
        self,
        remote: RemoteAgent,
        messages: list[dict[str, Any]],
        *,
        timeout: float | None = None,
        api_key: str | None = None,
        signing_key: str | bytes | None = None,
        retries: int | None = None,
        fallbacks: Sequence[str] | None = None,
        network: AgentNetwork | None = None,
        session: str | None = None,
    ) -> RemoteReply:
        """The remote agent's answer to ``messages`` with who gave it and the remote handoff
        chain; a ``RemoteAgentError`` if neither it nor a fallback answered.

        ``timeout`` (a total deadline per attempt), ``api_key`` (bearer token) and
        ``signing_key`` default to the remote agent's own, then to ``default_timeout``, no
        token and no signature; ``retries`` to the client's. When the agent fails (after its
        retries, or at once when its breaker is open), ``fallbacks`` (default: the agent's
        own) are asked in order, each with its own key and settings (a local one answers
        in-process); names resolve in ``network`` (default: the network this client belongs
        to). If none answers, the agent's own error is raised, its ``attempts`` set.
        ``session`` names the local conversation (an A2A agent continues its context for it).
        """
        call = self._settings(remote, timeout, api_key, signing_key, retries, session)
        try:
            return await self._complete_one(remote, messages, call)
        except RemoteAgentError as failure:
            attempts = 1
            for backup in self._fallbacks(remote, fallbacks, network):
                attempts += 1
                try:
                    reply = await self._backup_reply(backup, messages, timeout, retries, session)
                except Exception as error:  # a fallback failing is the next one's turn
                    _log_fallback_failure(remote, backup, error)
                    continue
                return dataclasses.replace(reply, attempts=attempts)
            failure.attempts = attempts
            raise

    async def stream(
        self,
        remote: RemoteAgent,
        messages: list[dict[str, Any]],
        *,
        timeout: float | None = None,
        api_key: str | None = None,
        signing_key: str | bytes | None = None,
        retries: int | None = None,
        fallbacks: Sequence[str] | None = None,
        network: AgentNetwork | None = None,
        session: str | None = None,
    ) -> AsyncGenerator[RunEvent | RemoteReply]:
        """The remote agent's answer as it is produced: ``TextDelta``s and other run events
        (``agent.started``, ``handoff.transfer``, ...), named by agent in local names, then
        one ``RemoteReply`` (as ``complete`` returns).

        Settings as for ``complete``. ``timeout`` bounds each attempt as a whole: connecting,
        and reading the stream to its end (the caller's own time between items counts; it is
        never interrupted). Retries and fallbacks happen only before anything was yielded
        (before the first byte of a stream); a stream that breaks later (cut, timed out, a
        malformed or ``{"error": ...}`` chunk) raises ``RemoteStreamError`` or
        ``RemoteTimeoutError`` after what it already yielded. Close the iterator early
        (``contextlib.aclosing``) to drop the connection.
        """
        call = self._settings(remote, timeout, api_key, signing_key, retries, session)
        started = False
        try:
            # Closed with this iterator: a caller leaving early settles the breaker now.
            async with contextlib.aclosing(self._stream_one(remote, messages, call)) as items:
                async for item in items:
                    started = True
                    yield item
            return
        except RemoteAgentError as failure:
            if started:
                raise
            primary = failure
        attempts = 1
        for backup in self._fallbacks(remote, fallbacks, network):
            attempts += 1
            try:
                if not isinstance(backup, RemoteAgent):
                    reply = await self._backup_reply(backup, messages, timeout, retries, session)
                    if reply.content:
                        yield TextDelta(agent=reply.agent, text=reply.content)
                    yield dataclasses.replace(reply, attempts=attempts)
                    return
                own = self._settings(backup, timeout, None, None, retries, session)
                async with contextlib.aclosing(self._stream_one(backup, messages, own)) as items:
                    async for item in items:
                        started = True
                        if isinstance(item, RemoteReply):
                            item = dataclasses.replace(item, attempts=attempts)
                        yield item
                return
            except Exception as error:
                if started:
                    raise
                _log_fallback_failure(remote, backup, error)
        primary.attempts = attempts
        raise primary

    # one agent -----------------------------------------------------------------------------

    def _settings(
        self,
        remote: RemoteAgent,
        timeout: float | None,
        api_key: str | None,
        signing_key: str | bytes | None,
        retries: int | None,
        session: str | None = None,
    ) -> CallSettings:
        if retries is not None and (
            isinstance(retries, bool) or not isinstance(retries, int) or retries < 0
        ):
            raise ValueError(f"retries must be an int >= 0, got {retries!r}")
        return CallSettings(
            timeout=timeout
            if timeout is not None
            else remote.timeout
            if remote.timeout is not None
            else self.default_timeout,
            api_key=api_key if api_key is not None else remote.api_key,
            signing_key=signing_key if signing_key is not None else remote.signing_key,
            retries=self.retries if retries is None else retries,
            session=session,
        )

    def _fallbacks(
        self, remote: RemoteAgent, names: Sequence[str] | None, network: AgentNetwork | None
    ) -> list[BaseAgent | RemoteAgent]:
        names = remote.fallbacks if names is None else names
        if not names:
            return []
        if network is None and self._network is not None:
            network = self._network()
        return fallback_agents(network, remote, names)

    async def _backup_reply(
        self,
        backup: BaseAgent | RemoteAgent,
        messages: list[dict[str, Any]],
        timeout: float | None,
        retries: int | None,
        session: str | None = None,
    ) -> RemoteReply:
        """A fallback's answer, with its own key and settings (the caller's ``timeout`` and
        ``retries`` still apply)."""
        if isinstance(backup, RemoteAgent):
            own = self._settings(backup, timeout, None, None, retries, session)
            return await self._complete_one(backup, messages, own)
        limit = timeout if timeout is not None else self.default_timeout
        return await answer_locally(backup, messages, limit)

    async def _complete_one(
        self, remote: RemoteAgent, messages: list[dict[str, Any]], call: CallSettings
    ) -> RemoteReply:
        trial = self._breakers.admit(remote)
        attempts = 1 if trial else call.retries + 1
        try:
            for attempt in range(attempts):
                try:
                    deadline = asyncio.get_running_loop().time() + call.timeout
                    client = await self._http()
                    response = await open_chat(
                        client, remote, messages, call, deadline, stream=False
                    )
                    reply = await read_completion(remote, response, call.timeout, deadline)
                except RemoteAgentError as error:
                    delay = self._retry_delay(error, attempt)
                    if delay is None or attempt + 1 >= attempts:
                        raise
                    await self._sleep(delay)
                    continue
                self._breakers.record(remote, None)
                return reply
        except RemoteAgentError as error:
            self._breakers.record(remote, error)
            raise
        except BaseException:
            if trial:  # cancelled mid-trial: the next call may try again
                self._breakers.abandon(remote)
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _stream_one(
        self, remote: RemoteAgent, messages: list[dict[str, Any]], call: CallSettings
    ) -> AsyncGenerator[RunEvent | RemoteReply]:
        trial = self._breakers.admit(remote)
        attempts = 1 if trial else call.retries + 1
        settled = False
        try:
            for attempt in range(attempts):
                deadline = asyncio.get_running_loop().time() + call.timeout
                try:
                    client = await self._http()
                    response = await open_chat(
                        client, remote, messages, call, deadline, stream=True
                    )
                except RemoteAgentError as error:
                    delay = self._retry_delay(error, attempt)
                    if delay is None or attempt + 1 >= attempts:
                        raise
                    await self._sleep(delay)
                    continue
                try:
                    reading = read_stream(remote, response, call.timeout, deadline)
                    async with contextlib.aclosing(reading):
                        async for item in reading:
                            if isinstance(item, RemoteReply):
                                # Settled before the caller sees it: a caller may stop here.
                                self._breakers.record(remote, None)
                                settled = True
                            yield item
                finally:
                    await response.aclose()
                return
        except RemoteAgentError as error:
            self._breakers.record(remote, error)
            raise
        except BaseException:
            if trial and not settled:  # abandoned or cancelled mid-trial: try again later
                self._breakers.abandon(remote)
            raise

    def _retry_delay(self, error: RemoteAgentError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None when ``error`` is not retried."""
        if isinstance(error, RemoteStatusError):
            if not error.retryable:
                return None
            if error.retry_after is not None:
                return min(error.retry_after, self.retry_after_cap)
        elif isinstance(error, RemoteTimeoutError):
            if not self.retry_timeouts:
                return None
        elif isinstance(error, RemoteUnreachableError):
            if error.request_sent and not self.retry_timeouts:
                return None
        else:
            return None
        ceiling = min(self.max_backoff, self.backoff * 2.0**attempt)
        return self._random() * ceiling  # full jitter


async def _close_at_loop_end(client: httpx.AsyncClient) -> AsyncGenerator[None]:
    try:
        yield
    finally:
        await client.aclose()


def _log_fallback_failure(
    remote: RemoteAgent, backup: BaseAgent | RemoteAgent, error: Exception
) -> None:
    if isinstance(error, RemoteAgentError):
        logger.info("remote agent %r: fallback failed: %s", remote.name, error)
    else:  # a local agent's run raised: its text may hold secrets, so the log only
        logger.warning(
            "remote agent %r: fallback %r failed (%s)",
            remote.name,
            backup.name,
            type(error).__name__,
            exc_info=error,
        )
