"""The ``openai/<name>`` provider, over ``openai.AsyncOpenAI``.

``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` (read when the first request is made, never at
import) point it at OpenAI or any compatible server: Azure, vLLM, Ollama, llama.cpp, LiteLLM.

The SDK does the transport (connection pool, retries with backoff, ``Retry-After``); the body
is read here as plain JSON (see ``_openai_wire``), so that every failure, whether the SDK's or
an unusable body, reaches the caller as one ``ModelError`` naming the model and the endpoint.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from webagents._urls import redact_url
from webagents.errors import AgentConfigError, MissingAPIKeyError, ModelError
from webagents.models._openai_wire import StreamAssembler, WireError, parse_completion, shorten
from webagents.models.base import ModelRequest, ModelResponse

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAIError

__all__ = ["DEFAULT_MAX_RETRIES", "DEFAULT_TIMEOUT", "OpenAIModel", "close_loop_clients"]

# The SDK's own defaults (600 s, 2 retries) can hold a run for half an hour on a stalled
# server. 60 s covers a long non-streamed answer from a hosted model; with 2 retries a dead
# endpoint fails a run within about three minutes instead.
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
_CONNECT_TIMEOUT = 5.0  # a host that does not accept a connection in 5 s is down, not busy

# Provider messages may quote the key ("Incorrect API key provided: sk-abc***xyz").
_KEY_LIKE = re.compile(r"\bsk-[\w*.-]{8,}")

# Models that made clients, so a finished event loop's clients can be closed (run_sync).
_LIVE: weakref.WeakSet[OpenAIModel] = weakref.WeakSet()


class OpenAIModel:
    """A model served by an OpenAI-compatible Chat Completions endpoint.

    ``settings`` (temperature, max_tokens, ...) are passed through on every request.
    ``timeout`` (seconds an attempt may wait to send or between bytes received; connecting
    gets at most 5 s) and ``max_retries`` (extra attempts after connection errors, timeouts,
    408, 409, 429 and 5xx, with backoff) configure the client the model makes: one pooled
    client per event loop. A ``client`` given explicitly is used as is, with its own settings.
    """

    def __init__(
        self,
        name: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: AsyncOpenAI | None = None,
        settings: Mapping[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        _check_limits(name, timeout, max_retries)
        if client is not None and (timeout, max_retries) != (DEFAULT_TIMEOUT, DEFAULT_MAX_RETRIES):
            raise AgentConfigError(
                f"OpenAIModel({name!r}): timeout= and max_retries= configure the client the "
                f"model makes; with client=, set them on that client instead "
                f"(AsyncOpenAI(timeout=..., max_retries=...))"
            )
        self.name = name
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self._api_key = api_key
        self._base_url = base_url
        self._client = client
        self._settings = dict(settings or {})
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"OpenAIModel({self.name!r})"

    def client(self) -> AsyncOpenAI:
        """The client for the running event loop (an httpx pool is bound to its loop)."""
        if self._client is not None:
            return self._client
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            api_key = self._api_key or os.environ.get("OPENAI_API_KEY")
            if not api_key:
                raise MissingAPIKeyError("OPENAI_API_KEY", "openai")
            import openai  # deferred: the SDK is slow to import

            base_url = self._base_url or os.environ.get("OPENAI_BASE_URL") or None
            timeout = openai.Timeout(self.timeout, connect=min(self.timeout, _CONNECT_TIMEOUT))
            client = openai.AsyncOpenAI(
                api_key=api_key, base_url=base_url, timeout=timeout, max_retries=self.max_retries
            )
            self._clients[loop] = client
            _LIVE.add(self)
        return client

    async def aclose(self) -> None:
        """Close the connection pool this model opened on the running event loop."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def _arguments(self, request: ModelRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            **self._settings,
            **request.settings,
            "model": self.name,
            "messages": request.messages,
        }
        if request.tools:
            arguments["tools"] = request.tools
        return arguments

    async def complete(self, request: ModelRequest) -> ModelResponse:
        from openai import OpenAIError

        client = self.client()
        try:
            raw = await client.chat.completions.with_raw_response.create(**self._arguments(request))
            body = raw.content
        except OpenAIError as error:
            self._raise_sdk_error(client, error)
        try:
            data = json.loads(body)
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
            problem = _unexpected_body(raw.headers.get("content-type", ""), raw.status_code, "JSON")
            raise self._error(client, problem or f"answered malformed JSON ({error})") from error
        try:
            return parse_completion(data)
        except WireError as error:
            raise self._error(client, str(error)) from error

    async def stream(self, request: ModelRequest) -> AsyncIterator[str | ModelResponse]:
        from openai import AsyncStream, OpenAIError

        arguments = self._arguments(request)
        arguments["stream"] = True
        arguments["stream_options"] = {"include_usage": True}
        client = self.client()
        assembler = StreamAssembler()
        try:
            raw = await client.chat.completions.with_raw_response.create(**arguments)
            # Chunks as plain JSON (the SDK's chunk objects are built without validation); the
            # SDK's stream still decodes the events and wraps transport errors and timeouts.
            chunks = AsyncStream[object](cast_to=object, response=raw.http_response, client=client)
            try:
                async for chunk in chunks:
                    delta = assembler.add(chunk)
                    if delta is not None:
                        yield delta
            finally:
                await chunks.close()  # a consumer that stops early frees the connection
            if assembler.events == 0:
                content_type = raw.headers.get("content-type", "")
                problem = _unexpected_body(content_type, raw.status_code, "server-sent events")
                if problem:
                    raise WireError(problem)
            response = assembler.response()
        except OpenAIError as error:
            self._raise_sdk_error(client, error)
        except WireError as error:
            raise self._error(client, str(error)) from error
        except ValueError as error:  # the SDK decodes each event's JSON itself
            problem = f"sent a malformed stream event ({error})"
            raise self._error(client, problem) from error
        yield response

    def _endpoint(self, client: AsyncOpenAI) -> str:
        return redact_url(str(client.base_url)).rstrip("/")

    def _error(
        self, client: AsyncOpenAI, problem: str, status_code: int | None = None, **fields: Any
    ) -> ModelError:
        text = f"model {self.name!r} at {self._endpoint(client)} {problem}"
        key = client.api_key
        if key and len(key) >= 8:  # a placeholder like "test" would mangle ordinary words
            text = text.replace(key, "<api key>")
        return ModelError(
            _KEY_LIKE.sub("sk-<redacted>", text),
            status_code=status_code,
            model=self.name,
            endpoint=self._endpoint(client),
            **fields,
        )

    def _raise_sdk_error(self, client: AsyncOpenAI, error: OpenAIError) -> NoReturn:
        """Re-raise an ``openai`` exception as a ``ModelError``, chained to it."""
        import openai

        attempts = f"{client.max_retries + 1} attempt{'s' if client.max_retries else ''}"
        if isinstance(error, openai.APIStatusError):
            problem = f"failed: HTTP {error.status_code}: {_status_text(error)}"
            raise self._error(client, problem, error.status_code) from error
        if isinstance(error, openai.APITimeoutError):
            problem = (
                f"timed out ({attempts}, timeout {_seconds(client.timeout)}); raise "
                f"OpenAIModel(timeout=...) for slow servers or long non-streamed answers"
            )
            raise self._error(client, problem, retryable=True) from error
        if isinstance(error, openai.APIConnectionError):
            cause = error.__cause__
            reason = shorten(str(cause)) if cause is not None and str(cause) else "no connection"
            problem = f"could not be reached ({attempts}): {reason}"
            raise self._error(client, problem, retryable=True) from error
        # An error event inside a stream, or the SDK refusing a request before sending it.
        raise self._error(client, f"failed: {shorten(str(error))}") from error


def _check_limits(name: str, timeout: object, max_retries: object) -> None:
    if (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise AgentConfigError(
            f"OpenAIModel({name!r}): timeout={timeout!r} must be a positive number of seconds"
        )
    if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
        raise AgentConfigError(
            f"OpenAIModel({name!r}): max_retries={max_retries!r} must be a whole number >= 0 "
            f"(0 turns retries off)"
        )


def _unexpected_body(content_type: str, status: int, expected: str) -> str | None:
    """What the endpoint sent instead of ``expected`` (JSON or server-sent events), when its
    content type says it is something else."""
    media = content_type.split(";")[0].strip().lower()
    if media.endswith("json") if expected == "JSON" else media == "text/event-stream":
        return None
    if media == "text/html":  # a login wall, a captive portal or a web page at a wrong URL
        return f"answered an HTML page with status {status}, not {expected}: is the URL right?"
    shown = media or "a body without a content type"
    return f"answered {shown} with status {status}, not {expected}"


def _status_text(error: Any) -> str:
    """The server's own message: the ``error.message`` of an OpenAI-shaped body, or the body."""
    body = error.body
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return shorten(message)
    if isinstance(body, str) and body.lstrip().startswith("<"):
        return "an HTML error page"
    if isinstance(body, str) and body.strip():
        return shorten(body)
    return str(error.response.reason_phrase or "no message")


def _seconds(timeout: object) -> str:
    read = getattr(timeout, "read", timeout)
    return f"{read:g} s" if isinstance(read, int | float) else "none"


async def close_loop_clients() -> None:
    """Close every client opened on the running loop (before the loop itself closes)."""
    for model in list(_LIVE):
        await model.aclose()
