"""``RemoteClient``: every call to a remote agent goes through one of these, one per agent
network (``network.remote_client``).

- One pooled ``httpx.AsyncClient``, made on first use in the running event loop (a new one
  when the loop changed) and closed by ``aclose()`` (``AgentNetwork.aclose()`` calls it).
- A total deadline per attempt: ``asyncio.timeout`` around the whole request, so a server
  trickling bytes cannot stretch it.
- Retries with exponential backoff and full jitter on connect errors and HTTP 429, 502, 503
  and 504 (``Retry-After`` in seconds honoured up to ``retry_after_cap``); none on other
  statuses, and none on a timed-out or broken attempt unless ``retry_timeouts=True`` (a chat
  turn is not idempotent: the remote may have acted on it).
- A circuit breaker per remote agent: ``failure_threshold`` failed calls in a row open it;
  an open breaker fails at once with ``CircuitOpenError`` until ``cool_down`` seconds have
  passed; then one trial call (without retries) half-opens it: its success closes the
  breaker, its failure opens it again.
- Typed errors (``webagents.remote.errors``), all ``RemoteAgentError``s.

``transport``, ``sleep``, ``random`` and ``clock`` are injectable so tests need neither a
network nor real waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import random as _random
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from webagents.agents.network import RemoteAgent
from webagents.events import RunEvent, TextDelta
from webagents.remote.errors import (
    CircuitOpenError,
    RemoteAgentError,
    RemoteBadResponseError,
    RemoteStatusError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)
from webagents.remote.fallbacks import answer_locally, fallback_agents
from webagents.remote.reply import RemoteReply, reply_from_completion
from webagents.remote.signing import sign_request
from webagents.remote.streaming import read_stream

if TYPE_CHECKING:
    from webagents.agents.agent import BaseAgent
    from webagents.agents.network import AgentNetwork

logger = logging.getLogger("webagents")

__all__ = ["DEFAULT_TIMEOUT", "RemoteClient", "RemoteReply", "chat_endpoint"]

DEFAULT_TIMEOUT = 60.0


def chat_endpoint(url: str) -> str:
    """``POST`` target for the agent at ``url``: its path plus ``/chat/completions``, any query
    kept where it belongs (after the path)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/chat/completions"))


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    opened_at: float | None = None
    trial: bool = False  # a half-open trial call is in flight


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
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self.default_timeout = default_timeout
        self._sleep = sleep
        self._random = random
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard: AsyncGenerator[None] | None = None
        self._breakers: dict[tuple[str, str], _Breaker] = {}
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

    # breaker ------------------------------------------------------------------------------

    def breaker_state(self, remote: RemoteAgent) -> str:
        """``"closed"``, ``"open"`` (failing at once) or ``"half-open"`` (cool-down over: the
        next call is the trial) for ``remote``."""
        breaker = self._breakers.get(_key(remote))
        if breaker is None or breaker.opened_at is None:
            return "closed"
        if breaker.trial or self._clock() - breaker.opened_at >= self.cool_down:
            return "half-open"
        return "open"

    def _admit(self, remote: RemoteAgent) -> bool:
        """Whether the call may go; True when it is the half-open trial. ``CircuitOpenError``
        when the breaker is open (or a trial is already in flight)."""
        breaker = self._breakers.get(_key(remote))
        if breaker is None or breaker.opened_at is None:
            return False
        left = self.cool_down - (self._clock() - breaker.opened_at)
        if left > 0 or breaker.trial:
            raise CircuitOpenError(
                remote.name,
                remote.url,
                f"is not called: circuit open after {breaker.failures} failures in a row"
                + (f" (retry in {left:.3g}s)" if left > 0 else " (a trial call is in flight)"),
            )
        breaker.trial = True
        return True

    def _record(self, remote: RemoteAgent, failed: bool) -> None:
        key = _key(remote)
        if not failed:
            self._breakers.pop(key, None)
            return
        breaker = self._breakers.setdefault(key, _Breaker())
        breaker.failures += 1
        if breaker.trial or breaker.failures >= self.failure_threshold:
            breaker.opened_at = self._clock()
        breaker.trial = False

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
        """
        call = self._settings(remote, timeout, api_key, signing_key, retries)
        try:
            return await self._complete_one(remote, messages, call)
        except RemoteAgentError as failure:
            attempts = 1
            for backup in self._fallbacks(remote, fallbacks, network):
                attempts += 1
                try:
                    reply = await self._backup_reply(backup, messages, timeout, retries)
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
        call = self._settings(remote, timeout, api_key, signing_key, retries)
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
                    reply = await self._backup_reply(backup, messages, timeout, retries)
                    if reply.content:
                        yield TextDelta(agent=reply.agent, text=reply.content)
                    yield dataclasses.replace(reply, attempts=attempts)
                    return
                own = self._settings(backup, timeout, None, None, retries)
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
    ) -> _Call:
        if retries is not None and (
            isinstance(retries, bool) or not isinstance(retries, int) or retries < 0
        ):
            raise ValueError(f"retries must be an int >= 0, got {retries!r}")
        return _Call(
            timeout=timeout
            if timeout is not None
            else remote.timeout
            if remote.timeout is not None
            else self.default_timeout,
            api_key=api_key if api_key is not None else remote.api_key,
            signing_key=signing_key if signing_key is not None else remote.signing_key,
            retries=self.retries if retries is None else retries,
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
    ) -> RemoteReply:
        """A fallback's answer, with its own key and settings (the caller's ``timeout`` and
        ``retries`` still apply)."""
        if isinstance(backup, RemoteAgent):
            own = self._settings(backup, timeout, None, None, retries)
            return await self._complete_one(backup, messages, own)
        limit = timeout if timeout is not None else self.default_timeout
        return await answer_locally(backup, messages, limit)

    async def _complete_one(
        self, remote: RemoteAgent, messages: list[dict[str, Any]], call: _Call
    ) -> RemoteReply:
        trial = self._admit(remote)
        attempts = 1 if trial else call.retries + 1
        try:
            for attempt in range(attempts):
                try:
                    reply = await self._attempt(remote, messages, call)
                except RemoteAgentError as error:
                    delay = self._retry_delay(error, attempt)
                    if delay is None or attempt + 1 >= attempts:
                        raise
                    await self._sleep(delay)
                    continue
                self._record(remote, failed=False)
                return reply
        except RemoteAgentError as error:
            self._record(remote, failed=_counts_against(error))
            raise
        except BaseException:
            if trial:  # cancelled mid-trial: the next call may try again
                self._breakers[_key(remote)].trial = False
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self, remote: RemoteAgent, messages: list[dict[str, Any]], call: _Call
    ) -> RemoteReply:
        deadline = asyncio.get_running_loop().time() + call.timeout
        response = await self._open(remote, messages, call, deadline, stream=False)
        try:
            async with asyncio.timeout_at(deadline):
                body = await response.aread()
        except (TimeoutError, httpx.HTTPError) as error:
            raise _transport_failure(remote, error, call.timeout, sent=True) from None
        finally:
            await response.aclose()
        try:
            return reply_from_completion(remote, json.loads(body))
        except ValueError:
            raise RemoteBadResponseError(
                remote.name, remote.url, "sent no chat completion"
            ) from None

    async def _stream_one(
        self, remote: RemoteAgent, messages: list[dict[str, Any]], call: _Call
    ) -> AsyncGenerator[RunEvent | RemoteReply]:
        trial = self._admit(remote)
        attempts = 1 if trial else call.retries + 1
        settled = False
        try:
            for attempt in range(attempts):
                deadline = asyncio.get_running_loop().time() + call.timeout
                try:
                    response = await self._open(remote, messages, call, deadline, stream=True)
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
                                self._record(remote, failed=False)
                                settled = True
                            yield item
                finally:
                    await response.aclose()
                return
        except RemoteAgentError as error:
            self._record(remote, failed=_counts_against(error))
            raise
        except BaseException:
            if trial and not settled:  # abandoned or cancelled mid-trial: try again later
                self._breakers[_key(remote)].trial = False
            raise

    async def _open(
        self,
        remote: RemoteAgent,
        messages: list[dict[str, Any]],
        call: _Call,
        deadline: float,
        *,
        stream: bool,
    ) -> httpx.Response:
        """Send the request and read the status and headers by ``deadline``; the response
        (status 200, body unread) is the caller's to close."""
        payload: dict[str, Any] = {"model": remote.name, "messages": messages}
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        # Serialised here, so the bytes signed are the bytes sent.
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        url = httpx.URL(chat_endpoint(remote.url))
        headers = {"Content-Type": "application/json"}
        if stream:
            headers["Accept"] = "text/event-stream"
        if call.signing_key is not None:
            path = url.raw_path.decode("ascii")  # the path and query as the server sees them
            headers.update(sign_request(call.signing_key, "POST", path, body))
        client = await self._http()
        request = client.build_request(
            "POST", url, content=body, headers=headers, timeout=call.timeout
        )
        try:
            async with asyncio.timeout_at(deadline):
                response = await client.send(
                    request,
                    stream=True,
                    # The bearer key wins over credentials in the URL (which httpx would
                    # otherwise send as Basic auth in its place).
                    auth=_Bearer(call.api_key) if call.api_key else httpx.USE_CLIENT_DEFAULT,
                )
        except (TimeoutError, httpx.HTTPError) as error:
            raise _transport_failure(remote, error, call.timeout, sent=False) from None
        status = response.status_code
        if status == 200:
            return response
        await response.aclose()
        problem = (
            f"is unavailable: HTTP {status}"
            if status >= 500 or status == 429
            else f"refused the request: HTTP {status}"
        )
        raise RemoteStatusError(
            remote.name,
            remote.url,
            problem,
            status_code=status,
            retry_after=_retry_after(response),
        )

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


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


@dataclass(frozen=True, slots=True)
class _Call:
    """One call's settings, the caller's over the remote agent's over the client's."""

    timeout: float
    api_key: str | None = field(repr=False)
    signing_key: str | bytes | None = field(repr=False)
    retries: int


def _transport_failure(
    remote: RemoteAgent, error: BaseException, timeout: float, *, sent: bool
) -> RemoteAgentError:
    """The typed error for a request that got no (whole) answer. Only the exception's type
    is shown: httpx texts may quote the request URL with its credentials."""
    if isinstance(error, httpx.ConnectTimeout):
        # Nothing was sent: as safe to retry as a refused connection.
        return RemoteUnreachableError(remote.name, remote.url, "is unreachable (ConnectTimeout)")
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        return RemoteTimeoutError(
            remote.name, remote.url, f"timed out after {timeout:g}s", timed_out=True
        )
    return RemoteUnreachableError(
        remote.name,
        remote.url,
        f"is unreachable ({type(error).__name__})",
        request_sent=sent or not isinstance(error, httpx.ConnectError),
    )


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


def _key(remote: RemoteAgent) -> tuple[str, str]:
    return (remote.name, remote.url)


def _counts_against(error: RemoteAgentError) -> bool:
    """Whether a failed call counts toward opening the breaker: the remote being down, slow,
    overloaded or broken does; a refusal of this request (401, 404, 422, ...) does not, and
    since it shows the remote is up, it resets the count like a success."""
    if isinstance(error, RemoteStatusError):
        return error.status_code is not None and (
            error.status_code >= 500 or error.status_code == 429
        )
    return not isinstance(error, CircuitOpenError)


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is ignored: backoff applies)."""
    value: str | None = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
