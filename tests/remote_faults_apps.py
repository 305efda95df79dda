"""Remote agents that misbehave on purpose, for the fault tests: tiny ASGI apps served by a real
uvicorn on 127.0.0.1 (``webagents.testing.served.ServedApp``).

A ``Script`` is one remote agent: it reads each request, keeps its JSON body, and answers the
n-th request with the n-th behaviour (the last one answers the rest). ``FaultServer`` serves
any number of scripts from one uvicorn, each under a path of its own, so a test module starts
one server, not one per test. ``Replayer`` is a middlebox in front of a real server that sends
a captured request again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal, Self

import httpx
from starlette.responses import HTMLResponse, JSONResponse, Response

from webagents.testing.served import ServedApp

__all__ = [
    "SECRET_BODY",
    "Behaviour",
    "FaultServer",
    "Gate",
    "Replayer",
    "Script",
    "Trickle",
    "answer",
    "html",
    "malformed_json",
    "never_answers",
    "raw",
    "redirect",
    "sse",
    "status",
    "text_chunk",
]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Behaviour = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

# What a failing remote puts in its error bodies: no error text may ever quote it.
SECRET_BODY = "internal: db password is SECRET-BODY-7"


def completion(content: str, agent: str = "remote") -> dict[str, Any]:
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": 0,
        "model": agent,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "webagents": {"agent": agent, "handoff_chain": [agent]},
    }


def answer(content: str) -> Behaviour:
    """A well-behaved answer."""
    return JSONResponse(completion(content))


def status(code: int, headers: dict[str, str] | None = None) -> Behaviour:
    """An OpenAI-shaped error with ``code`` whose message holds ``SECRET_BODY``."""
    body = {"error": {"message": SECRET_BODY, "type": "server_error", "param": None, "code": None}}
    return JSONResponse(body, status_code=code, headers=headers)


def malformed_json() -> Behaviour:
    """Status 200, JSON content type, a body cut off inside the first object."""
    return Response(
        b'{"choices": [{"message": {"content": "' + SECRET_BODY.encode(),
        media_type="application/json",
    )


def html() -> Behaviour:
    """Status 200 with an HTML page, as a captive portal or a misrouted proxy sends."""
    return HTMLResponse(f"<html><body><h1>Welcome</h1><p>{SECRET_BODY}</p></body></html>")


def raw(body: bytes, content_type: str, code: int = 200) -> Behaviour:
    """Exactly ``body`` with ``content_type`` and status ``code``."""
    return Response(body, status_code=code, media_type=content_type)


async def _hang_up(receive: Receive) -> None:
    """Until the caller closes the connection (the request body is read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def never_answers(patience: float = 60.0) -> Behaviour:
    """A remote slower than any deadline: no status line for ``patience`` seconds, unless the
    caller hangs up first (then the app ends, so the server can shut down at once)."""

    async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(patience):
                await _hang_up(receive)

    return app


class Trickle:
    """Status 200 announcing a 100 kB JSON body, then one byte every ``interval`` seconds:
    every read gets data long before any per-read timeout, so only a total deadline ends it.
    ``stream=True``: an event stream that sends only ``: keep-alive`` comments, each as
    often. ``sent`` counts the pieces sent so far."""

    def __init__(self, interval: float = 0.2, *, stream: bool = False) -> None:
        self.interval = interval
        self.stream = stream
        self.sent = 0

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if self.stream:
            headers = [(b"content-type", b"text/event-stream")]
            drip = b": keep-alive\n\n"
        else:
            headers = [(b"content-type", b"application/json"), (b"content-length", b"100000")]
            drip = b" "
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        gone = asyncio.create_task(_hang_up(receive))
        try:
            while not gone.done():
                await send({"type": "http.response.body", "body": drip, "more_body": True})
                self.sent += 1
                # the injected fault: the remote is this slow on purpose
                await asyncio.wait({gone}, timeout=self.interval)
        finally:
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone


class Gate:
    """Holds every request until ``release()`` (called from any thread), then answers with
    ``then``; ``arrived`` is set once a request is held. A caller that hangs up while held
    ends its request."""

    def __init__(self, then: Behaviour) -> None:
        self.then = then
        self.arrived = threading.Event()
        self._released = False
        self._opened: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            self._released = True
            if self._loop is not None and self._opened is not None:
                self._loop.call_soon_threadsafe(self._opened.set)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        with self._lock:
            if self._opened is None:
                self._loop, self._opened = asyncio.get_running_loop(), asyncio.Event()
            if self._released:
                self._opened.set()
            opened = self._opened
        self.arrived.set()
        gone = asyncio.create_task(_hang_up(receive))
        waiting = asyncio.create_task(opened.wait())
        await asyncio.wait({gone, waiting}, return_when=asyncio.FIRST_COMPLETED)
        for task in (gone, waiting):
            task.cancel()
        await asyncio.gather(gone, waiting, return_exceptions=True)
        if opened.is_set():
            await self.then(scope, receive, send)


def redirect(location: str) -> Behaviour:
    """A 307 to ``location``, as a hijacked or misconfigured remote might send."""
    return Response(status_code=307, headers={"location": location})


def text_chunk(agent: str, piece: str) -> dict[str, Any]:
    """A ``chat.completion.chunk`` carrying ``piece`` of ``agent``'s answer."""
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": agent,
        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        "webagents": {"agent": agent},
    }


def sse(
    events: list[dict[str, Any]], *, cut: Literal["no-done", "dropped"] | None = None
) -> Behaviour:
    """A ``text/event-stream`` answer: ``data: <json>`` per event, then ``data: [DONE]``.
    ``cut="no-done"``: the body ends cleanly after the events, without the end marker;
    ``cut="dropped"``: half an event more, then the connection closes mid-body (uvicorn logs
    that the app returned without completing its response: that is the fault)."""

    async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        for event in events:
            chunk = f"data: {json.dumps(event)}\n\n".encode()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if cut == "dropped":
            await send({"type": "http.response.body", "body": b'data: {"cho', "more_body": True})
            return
        tail = b"" if cut == "no-done" else b"data: [DONE]\n\n"
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    return app


class Replayer:
    """A middlebox in front of ``upstream`` (a base URL) that captured the first request it
    forwarded and sends that one again, headers and body unchanged, in place of every later
    request. ``answers`` are the upstream's (status, body) in order."""

    _HOP = frozenset({b"host", b"content-length", b"connection", b"transfer-encoding"})

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.captured: tuple[str, list[tuple[bytes, bytes]], bytes] | None = None
        self.answers: list[tuple[int, bytes]] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        body = await _body(receive)
        if self.captured is None:
            target = scope["raw_path"].decode("latin-1")
            if scope["query_string"]:
                target += "?" + scope["query_string"].decode("latin-1")
            headers = [(k, v) for k, v in scope["headers"] if k not in self._HOP]
            self.captured = (target, headers, body)
        target, headers, body = self.captured
        async with httpx.AsyncClient() as client:
            response = await client.post(self.upstream + target, content=body, headers=headers)
        self.answers.append((response.status_code, response.content))
        kind = response.headers.get("content-type")
        await Response(response.content, response.status_code, media_type=kind)(
            scope, receive, send
        )


async def _body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("the caller left before its request was read")
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


class Script:
    """One misbehaving remote agent: request n gets ``behaviours[n]``, the last behaviour
    answers all later ones. ``requests`` are the JSON bodies received (None when a body was
    not JSON), ``headers`` their headers."""

    def __init__(self, *behaviours: Behaviour) -> None:
        if not behaviours:
            raise ValueError("a Script needs at least one behaviour")
        self.behaviours = list(behaviours)
        self.requests: list[Any] = []
        self.headers: list[dict[str, str]] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        body = await _body(receive)
        try:
            self.requests.append(json.loads(body))
        except ValueError:
            self.requests.append(None)
        self.headers.append({k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})
        behaviour = self.behaviours[min(len(self.requests), len(self.behaviours)) - 1]
        await behaviour(scope, receive, send)


class FaultServer:
    """One uvicorn serving many scripts: ``url_for(script, "name")`` mounts ``script`` under a
    fresh prefix and gives the agent URL, ``http://127.0.0.1:<port>/<n>/agents/<name>``;
    its ``/chat/completions`` reaches the script. Any other path is a plain 404."""

    def __init__(self) -> None:
        self._scripts: dict[str, Script] = {}
        self._ids = itertools.count(1)
        self._served = ServedApp(self._dispatch, lifespan="off", interface="asgi3")

    def url_for(self, script: Script, name: str) -> str:
        prefix = str(next(self._ids))
        self._scripts[prefix] = script
        return f"{self._served.url}/{prefix}/agents/{name}"

    async def _dispatch(
        self, scope: MutableMapping[str, Any], receive: Receive, send: Send
    ) -> None:
        assert scope["type"] == "http"
        prefix, _, rest = scope["path"].lstrip("/").partition("/")
        script = self._scripts.get(prefix)
        if script is None or not rest.endswith("/chat/completions"):
            await Response(status_code=404)(scope, receive, send)
            return
        await script(scope, receive, send)

    def __enter__(self) -> Self:
        self._served.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._served.stop()
