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
import math
import random as _random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from webagents.remote.errors import (
    CircuitOpenError,
    RemoteAgentError,
    RemoteBadResponseError,
    RemoteStatusError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)

if TYPE_CHECKING:
    from webagents.agents.network import RemoteAgent

__all__ = ["DEFAULT_TIMEOUT", "RemoteClient", "chat_endpoint"]

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

    # the call -------------------------------------------------------------------------------

    async def chat(
        self,
        remote: RemoteAgent,
        messages: list[dict[str, Any]],
        *,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> str:
        """The remote agent's answer to ``messages``; a ``RemoteAgentError`` if there is none.

        ``timeout`` (a total deadline per attempt) and ``api_key`` (bearer token) default to
        the remote agent's own, then to ``default_timeout`` and no token.
        """
        if timeout is None:
            timeout = remote.timeout if remote.timeout is not None else self.default_timeout
        if api_key is None:
            api_key = remote.api_key
        trial = self._admit(remote)
        attempts = 1 if trial else self.retries + 1
        try:
            for attempt in range(attempts):
                try:
                    answer = await self._attempt(remote, messages, timeout, api_key)
                except RemoteAgentError as error:
                    delay = self._retry_delay(error, attempt)
                    if delay is None or attempt + 1 >= attempts:
                        raise
                    await self._sleep(delay)
                    continue
                self._record(remote, failed=False)
                return answer
        except RemoteAgentError as error:
            self._record(remote, failed=_counts_against(error))
            raise
        except BaseException:
            if trial:  # cancelled mid-trial: the next call may try again
                self._breakers[_key(remote)].trial = False
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self,
        remote: RemoteAgent,
        messages: list[dict[str, Any]],
        timeout: float,
        api_key: str | None,
    ) -> str:
        body = {"model": remote.name, "messages": messages}
        client = await self._http()

        def failure(kind: type[RemoteAgentError], problem: str, **fields: Any) -> RemoteAgentError:
            return kind(remote.name, remote.url, problem, **fields)

        try:
            async with asyncio.timeout(timeout):
                response = await client.post(
                    chat_endpoint(remote.url),
                    json=body,
                    # The bearer key wins over credentials in the URL (which httpx would
                    # otherwise send as Basic auth in its place).
                    auth=_Bearer(api_key) if api_key else httpx.USE_CLIENT_DEFAULT,
                    timeout=timeout,
                )
        except httpx.ConnectTimeout:
            # Nothing was sent: as safe to retry as a refused connection.
            raise failure(RemoteUnreachableError, "is unreachable (ConnectTimeout)") from None
        except (TimeoutError, httpx.TimeoutException):
            raise failure(
                RemoteTimeoutError, f"timed out after {timeout:g}s", timed_out=True
            ) from None
        except httpx.HTTPError as error:
            # The type only: httpx texts may quote the request URL with its credentials.
            raise RemoteUnreachableError(
                remote.name,
                remote.url,
                f"is unreachable ({type(error).__name__})",
                request_sent=not isinstance(error, httpx.ConnectError),
            ) from None
        status = response.status_code
        if status != 200:
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
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise failure(RemoteBadResponseError, "sent no chat completion") from None
        if content is not None and not isinstance(content, str):
            raise failure(RemoteBadResponseError, "sent no chat completion")
        return content or ""

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
