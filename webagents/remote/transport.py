"""One HTTP exchange with a remote agent: the request (its JSON body serialised once, so the
bytes signed are the bytes sent; a bearer key; a signature), the status, the body, and the
typed error for each way it can fail. ``RemoteClient`` adds retries, the breaker and
fallbacks around it."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from webagents._urls import redact_url
from webagents.remote.errors import (
    RemoteAgentError,
    RemoteBadResponseError,
    RemoteStatusError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)
from webagents.remote.reply import RemoteReply, reply_from_completion
from webagents.remote.signing import sign_request
from webagents.tracing import inject_headers

if TYPE_CHECKING:
    from webagents.agents.network import RemoteAgent

__all__ = [
    "CallSettings",
    "chat_endpoint",
    "open_chat",
    "read_completion",
    "send_request",
    "transport_failure",
]


def chat_endpoint(url: str) -> str:
    """``POST`` target for the agent at ``url``: its path plus ``/chat/completions``, any query
    kept where it belongs (after the path)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/chat/completions"))


@dataclass(frozen=True, slots=True)
class CallSettings:
    """One call's settings: the caller's over the remote agent's over the client's."""

    timeout: float
    api_key: str | None = field(repr=False)
    signing_key: str | bytes | None = field(repr=False)
    retries: int
    session: str | None = None  # the local conversation (an A2A agent's context follows it)


async def open_chat(
    client: httpx.AsyncClient,
    remote: RemoteAgent,
    messages: list[dict[str, Any]],
    call: CallSettings,
    deadline: float,
    *,
    stream: bool,
) -> httpx.Response:
    """Send the chat request and read the status and headers by ``deadline`` (the event
    loop's clock); the response (status 200, body unread) is the caller's to close. Any
    other status is a ``RemoteStatusError``. An A2A agent gets the A2A JSON-RPC request
    instead (``webagents.a2a.calls``), sent the same way."""
    if remote.protocol == "a2a":
        from webagents.a2a.calls import a2a_request

        return await a2a_request(client, remote, messages, call, deadline, stream=stream)
    payload: dict[str, Any] = {"model": remote.name, "messages": messages}
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    # Serialised here, so the bytes signed are the bytes sent.
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    endpoint = chat_endpoint(remote.url)
    return await send_request(client, remote, endpoint, body, call, deadline, stream=stream)


async def send_request(
    client: httpx.AsyncClient,
    remote: RemoteAgent,
    endpoint: str,
    body: bytes | None,
    call: CallSettings,
    deadline: float,
    *,
    stream: bool = False,
    extra_headers: dict[str, str] | None = None,
) -> httpx.Response:
    """``POST body`` (a ``GET`` when None) to ``endpoint``: credentials out of the URL, the
    bearer key or Basic auth, signed when a signing key is set; the status and headers read
    by ``deadline``. Any status but 200 is a ``RemoteStatusError``."""
    url = httpx.URL(endpoint)
    # Credentials leave the URL (httpx logs every request's URL) and travel as Basic auth,
    # unless a bearer key takes their place.
    basic = httpx.BasicAuth(url.username, url.password) if url.userinfo else None
    url = url.copy_with(username=None, password=None) if url.userinfo else url
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if stream:
        headers["Accept"] = "text/event-stream"
    if extra_headers:
        headers.update(extra_headers)
    if call.signing_key is not None and body is not None:
        # Signed anew on every attempt: a retry is a new request, not a replay.
        path = url.raw_path.decode("ascii")  # the path and query as the server sees them
        headers.update(sign_request(call.signing_key, "POST", path, body))
    inject_headers(headers)  # the caller's trace goes on in the remote agent's spans
    if url.query:
        _hide_in_request_log(url)
    method = "POST" if body is not None else "GET"
    request = client.build_request(method, url, content=body, headers=headers, timeout=call.timeout)
    try:
        async with asyncio.timeout_at(deadline):
            response = await client.send(
                request,
                stream=True,
                auth=_Bearer(call.api_key) if call.api_key else basic or httpx.USE_CLIENT_DEFAULT,
            )
    except (TimeoutError, httpx.HTTPError) as error:
        raise transport_failure(remote, error, call.timeout, sent=False) from None
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


async def read_completion(
    remote: RemoteAgent, response: httpx.Response, timeout: float, deadline: float
) -> RemoteReply:
    """The reply in ``response``'s body, read by ``deadline``; closes the response."""
    if remote.protocol == "a2a":
        from webagents.a2a.calls import read_a2a_reply

        return await read_a2a_reply(remote, response, timeout, deadline)
    try:
        async with asyncio.timeout_at(deadline):
            body = await response.aread()
    except (TimeoutError, httpx.HTTPError) as error:
        raise transport_failure(remote, error, timeout, sent=True) from None
    finally:
        await response.aclose()
    try:
        return reply_from_completion(remote, json.loads(body))
    except ValueError:
        raise RemoteBadResponseError(remote.name, remote.url, "sent no chat completion") from None


def transport_failure(
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


# Agent URLs (with a query) that httpx's request log must show without it. Only URLs a
# developer registered get here, so the set stays as small as the network.
_HIDDEN_QUERIES: set[str] = set()


class _HideQueries(logging.Filter):
    """httpx logs every request's URL at INFO ("HTTP Request: POST <url> ..."). A query in a
    remote agent's URL may carry a token: for our requests the record shows the URL without
    it, as every other record of webagents does. Other requests' records are left alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(
            isinstance(arg, httpx.URL) and str(arg) in _HIDDEN_QUERIES for arg in args
        ):
            record.args = tuple(
                redact_url(str(arg))
                if isinstance(arg, httpx.URL) and str(arg) in _HIDDEN_QUERIES
                else arg
                for arg in args
            )
        return True


_query_filter = _HideQueries()


def _hide_in_request_log(url: httpx.URL) -> None:
    if not _HIDDEN_QUERIES:
        logging.getLogger("httpx").addFilter(_query_filter)  # once: addFilter ignores repeats
    _HIDDEN_QUERIES.add(str(url))


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


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
