"""Calls to agents in other processes: one pooled HTTP client per agent network, with a total
deadline per attempt, retries with backoff, a circuit breaker per remote agent and typed
errors. Loaded on first use (``import webagents`` does not import httpx)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from webagents.remote.errors import (
    CircuitOpenError,
    RemoteAgentError,
    RemoteBadResponseError,
    RemoteStatusError,
    RemoteStreamError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)

if TYPE_CHECKING:
    from webagents.remote.client import RemoteClient
    from webagents.remote.reply import RemoteReply

__all__ = [
    "CircuitOpenError",
    "RemoteAgentError",
    "RemoteBadResponseError",
    "RemoteClient",
    "RemoteReply",
    "RemoteStatusError",
    "RemoteStreamError",
    "RemoteTimeoutError",
    "RemoteUnreachableError",
]


def __getattr__(name: str) -> Any:
    if name == "RemoteClient":
        from webagents.remote.client import RemoteClient

        return RemoteClient
    if name == "RemoteReply":
        from webagents.remote.reply import RemoteReply

        return RemoteReply
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
