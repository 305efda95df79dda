"""Typed failures of calls to remote agents. Every text is one line naming the agent and its
URL without credentials or query; none carries a key or the remote's response body::

    WebAgentsError
    └── RemoteAgentError            agent, url, status_code, timed_out, attempts
        ├── RemoteUnreachableError  request_sent
        ├── RemoteTimeoutError
        ├── RemoteStatusError       retry_after, retryable
        ├── RemoteBadResponseError
        │   └── RemoteStreamError   a stream that broke after it began
        └── CircuitOpenError
"""

from __future__ import annotations

from webagents._urls import redact_url, shown_name
from webagents.errors import WebAgentsError

__all__ = [
    "CircuitOpenError",
    "RemoteAgentError",
    "RemoteBadResponseError",
    "RemoteStatusError",
    "RemoteStreamError",
    "RemoteTimeoutError",
    "RemoteUnreachableError",
]


class RemoteAgentError(WebAgentsError):
    """A remote agent could not be reached or answered with an error.

    ``agent`` is its name, ``url`` its address without credentials or query, ``status_code``
    the HTTP status it answered (None when it did not answer), ``timed_out`` whether the
    deadline passed. The text is one line and never quotes the remote's response body.
    """

    def __init__(
        self,
        agent: str,
        url: str,
        problem: str,
        *,
        status_code: int | None = None,
        timed_out: bool = False,
    ) -> None:
        self.agent = agent
        self.url = redact_url(url)
        self.status_code = status_code
        self.timed_out = timed_out
        # Agents tried for the call that failed with this error (the agent asked and its
        # fallbacks); set by the client when fallbacks were tried too.
        self.attempts = 1
        super().__init__(f"agent {shown_name(agent)!r} at {self.url} {problem}")


class RemoteUnreachableError(RemoteAgentError):
    """No connection could be made (``request_sent`` false: safe to retry), or it broke
    before an answer came (``request_sent`` true: the remote may have acted on it)."""

    def __init__(self, agent: str, url: str, problem: str, *, request_sent: bool = False) -> None:
        super().__init__(agent, url, problem)
        self.request_sent = request_sent


class RemoteTimeoutError(RemoteAgentError):
    """The attempt's total deadline passed (``timed_out`` is true)."""


class RemoteStatusError(RemoteAgentError):
    """The remote answered an HTTP error status (``status_code``); ``retryable`` for 429 and
    502/503/504, which a later attempt may get past."""

    RETRYABLE = frozenset({429, 502, 503, 504})

    def __init__(
        self,
        agent: str,
        url: str,
        problem: str,
        *,
        status_code: int,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(agent, url, problem, status_code=status_code)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status_code in self.RETRYABLE


class RemoteBadResponseError(RemoteAgentError):
    """The remote answered 200 with something that is not a chat completion (HTML, bad
    JSON, a body without ``choices``)."""


class RemoteStreamError(RemoteBadResponseError):
    """A streamed answer broke after it began: cut mid-way (the connection closed, or ended
    before ``data: [DONE]``), a malformed chunk, or an ``{"error": ...}`` chunk (the remote
    run failed). What was streamed before stays streamed; the caller withdraws it."""


class CircuitOpenError(RemoteAgentError):
    """The remote failed too often in a row: calls fail at once until its cool-down ends."""
