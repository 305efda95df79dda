"""A real HTTP server that speaks the OpenAI Chat Completions wire format, for tests.

Point the stock ``openai`` client (or a webagents model) at ``server.url`` and script what the
"model" answers::

    from webagents.testing.fake_server import FakeOpenAIServer
    from webagents.testing.replies import text, tool_call

    async def test_my_skill() -> None:
        replies = [tool_call("lookup", {"city": "Paris"}), text("It is sunny.")]
        async with FakeOpenAIServer(replies) as srv:
            client = openai.AsyncOpenAI(api_key="test", base_url=srv.url)
            ...  # run your agent against ``client``
            await client.close()
        assert srv.requests[1]["messages"][-1]["role"] == "tool"

Each ``POST /v1/chat/completions`` takes the next queued reply (see :meth:`add_replies`); when
the queue is empty the responder (see :meth:`set_responder`) is asked; without one the server
echoes ``"echo: <last user message>"``. Replies may be strings, :class:`Reply` objects or
mappings (see :func:`webagents.testing.replies.as_reply`); a reply with ``status != 200``
becomes an OpenAI-shaped HTTP error (with the reply's ``headers``, e.g. ``Retry-After``), which
the ``openai`` client raises as ``RateLimitError`` and friends. ``stream: true`` requests get
server-sent events like the real API, with a usage chunk when ``stream_options`` asks for it.
Token usage is counted deterministically, as whitespace-separated words.

To test a client against a broken endpoint, queue a :class:`RawReply`: its bytes are sent as
they are, e.g. ``RawReply.html("<html>Login</html>")`` (an HTML page with status 200, as a
captive portal or a misconfigured proxy answers) or ``RawReply.events('{"choices": [', done=True)``
(malformed server-sent events).

The server runs in its own daemon thread, so it works from sync and async tests alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
import selectors
import socket
import socketserver
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self, TypeAlias

from webagents.testing.replies import Reply, ReplyLike, as_reply

__all__ = ["FakeOpenAIServer", "RawReply"]

_ARGUMENT_PIECE = 8  # characters per streamed tool-argument fragment
_WORD_BOUNDARY = re.compile(r"(?<=\s)(?=\S)")  # "a b" -> "a ", "b"
_OWN_HEADERS = {"content-length", "content-type", "transfer-encoding", "connection"}
_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}


@dataclass(frozen=True, slots=True)
class RawReply:
    """An HTTP response sent byte for byte: for endpoints that do not speak the API right."""

    body: str | bytes = b""
    status: int = 200
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def html(cls, page: str = "<html><body>Sign in</body></html>", status: int = 200) -> Self:
        """An HTML page, as a captive portal, a login wall or a wrong base URL returns."""
        return cls(page, status, "text/html; charset=utf-8")

    @classmethod
    def events(cls, *data: str | Mapping[str, Any], done: bool = False) -> Self:
        """Server-sent events, one ``data:`` line each (a mapping is sent as JSON, a string
        as it is); ``done`` ends with ``data: [DONE]``. No events at all is an empty stream."""
        lines = [item if isinstance(item, str) else json.dumps(item) for item in data]
        if done:
            lines.append("[DONE]")
        return cls("".join(f"data: {line}\n\n" for line in lines), 200, "text/event-stream")


_Answer = Reply | RawReply
ServerResponder: TypeAlias = Callable[
    [dict[str, Any]], "ReplyLike | RawReply | Awaitable[ReplyLike | RawReply]"
]


def _as_answer(item: ReplyLike | RawReply) -> _Answer:
    return item if isinstance(item, RawReply) else as_reply(item)


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    kind = "rate_limit_error" if status == 429 else _ERROR_TYPES.get(status, "")
    kind = kind or ("server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def _text_of(content: Any) -> str:
    """The text of a message ``content``: a string or a list of ``{"type": "text"}`` parts."""
    if isinstance(content, list):
        parts = (p.get("text") for p in content if isinstance(p, dict))
        return " ".join(p for p in parts if isinstance(p, str))
    return content if isinstance(content, str) else ""


def _parse_request(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise _BadRequest(f"We could not parse the JSON body of your request: {exc}") from None
    if not isinstance(body, dict):
        raise _BadRequest("The request body must be a JSON object.")
    if "messages" not in body:
        raise _BadRequest("Missing required parameter: 'messages'.", "messages")
    if not isinstance(body["messages"], list) or not body["messages"]:
        raise _BadRequest("Invalid 'messages': expected a non-empty array.", "messages")
    return body


def _echo(body: Mapping[str, Any]) -> Reply:
    users = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
    return Reply(content="echo: " + (_text_of(users[-1].get("content")) if users else ""))


class _Completion:
    """One reply, rendered as a ``chat.completion`` or as ``chat.completion.chunk`` events."""

    def __init__(self, reply: Reply, body: Mapping[str, Any], serial: int, model: str) -> None:
        self.content = reply.content
        self.finish_reason = "tool_calls" if reply.tool_calls else "stop"
        self.calls: list[dict[str, Any]] = [
            {
                "id": call.id or f"call_fake{serial}_{i}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for i, call in enumerate(reply.tool_calls)
        ]
        contents = (m.get("content") for m in body["messages"] if isinstance(m, dict))
        prompt = sum(len(_text_of(content).split()) for content in contents)
        out = [reply.content or ""] + [f"{c.name} {c.arguments}" for c in reply.tool_calls]
        answer = sum(len(text.split()) for text in out)
        total = prompt + answer
        self.usage = {"prompt_tokens": prompt, "completion_tokens": answer, "total_tokens": total}
        requested = body.get("model")
        self.head = {
            "id": f"chatcmpl-fake{serial}",
            "created": int(time.time()),
            "model": requested if isinstance(requested, str) else model,
            "system_fingerprint": None,
        }

    def response(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content, "refusal": None}
        if self.calls:
            message["tool_calls"] = self.calls
        choice = {"index": 0, "message": message, "logprobs": None}
        choice["finish_reason"] = self.finish_reason
        return {**self.head, "object": "chat.completion", "choices": [choice], "usage": self.usage}

    def chunks(self, include_usage: bool) -> Iterator[dict[str, Any]]:
        head = {**self.head, "object": "chat.completion.chunk"}
        extra = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return {**head, "choices": [choice], **extra}

        yield chunk({"role": "assistant"})
        for word in _WORD_BOUNDARY.split(self.content or ""):
            if word:
                yield chunk({"content": word})
        for index, call in enumerate(self.calls):
            args = call["function"]["arguments"]
            opening = {**call, "function": {**call["function"], "arguments": ""}}
            yield chunk({"tool_calls": [{"index": index, **opening}]})
            for start in range(0, len(args), _ARGUMENT_PIECE):
                piece = {"arguments": args[start : start + _ARGUMENT_PIECE]}
                yield chunk({"tool_calls": [{"index": index, "function": piece}]})
        yield chunk({}, self.finish_reason)
        if include_usage:
            yield {**head, "choices": [], "usage": self.usage}


async def _resolve(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response has a length or is chunked
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            if name.lower() not in _OWN_HEADERS:
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(
        self, status: int, message: str, param: str | None = None, headers: Mapping[str, str] = {}
    ) -> None:
        self._send_json(status, _error_body(status, message, param), headers)

    def _send_raw(self, raw: RawReply) -> None:
        data = raw.body.encode() if isinstance(raw.body, str) else raw.body
        self.send_response(raw.status)
        self.send_header("Content-Type", raw.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in raw.headers.items():
            if name.lower() not in _OWN_HEADERS:
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_events(self, events: Iterable[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in [*(json.dumps(event) for event in events), "[DONE]"]:
            data = f"data: {line}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self) -> None:
        if self.path.split("?")[0].rstrip("/") == "/v1/models":
            self._send_json(200, self.server.fake._models(), {})
        else:
            self._send_error(404, f"Invalid URL (GET {self.path})")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "")
        raw = self.rfile.read(int(length)) if length.isdigit() else b""
        if not length.isdigit() or "Transfer-Encoding" in self.headers:
            self.close_connection = True  # we cannot tell where this request's body ends
        if self.path.split("?")[0].rstrip("/") != "/v1/chat/completions":
            return self._send_error(404, f"Invalid URL (POST {self.path})")
        try:
            body = _parse_request(raw)
        except _BadRequest as exc:
            return self._send_error(400, str(exc), exc.param)
        fake = self.server.fake
        serial = fake._record(body)
        try:
            reply = fake._next_reply(body)
        except Exception as exc:
            return self._send_error(500, f"The fake server's responder failed: {exc!r}")
        if isinstance(reply, RawReply):
            return self._send_raw(reply)
        if reply.status != 200:
            message = reply.error or self.responses.get(reply.status, ("Error",))[0]
            return self._send_error(reply.status, message, headers=reply.headers)
        completion = _Completion(reply, body, serial, fake.model)
        if body.get("stream") is True:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            self._send_events(completion.chunks(include_usage))
        else:
            self._send_json(200, completion.response(), reply.headers)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeOpenAIServer) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()  # open ones, to cut them on stop()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # skip HTTPServer's getfqdn(), which can be slow
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.socket.getsockname()[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client hanging up is not an error
            super().handle_error(request, client_address)


def _serve(httpd: _HTTPServer, wake: socket.socket) -> None:
    """Accept connections until ``wake`` is readable (stops faster than ``serve_forever``)."""
    with selectors.DefaultSelector() as selector:
        selector.register(httpd, selectors.EVENT_READ)
        selector.register(wake, selectors.EVENT_READ)
        while all(key.fileobj is not wake for key, _ in selector.select()):
            httpd.handle_request()


class FakeOpenAIServer:
    """A fake OpenAI Chat Completions endpoint (see the module docstring for a walkthrough).

    ``replies`` are answered first, in order; then ``responder(request_json)`` is called (it may
    return a reply or an awaitable of one, which runs in the server's thread via
    ``asyncio.run``); without a responder the last user message is echoed. ``port=0`` picks a
    free port. Use as a sync or async context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        replies: Iterable[ReplyLike | RawReply] | None = None,
        *,
        responder: ServerResponder | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "fake-model",
    ) -> None:
        self.model = model
        self._address = (host, port)
        self._lock = threading.Lock()
        self._queue = deque(_as_answer(r) for r in replies or ())
        self._responder = responder
        self._requests: list[dict[str, Any]] = []
        self._running: tuple[_HTTPServer, threading.Thread, socket.socket, socket.socket] | None
        self._running = None

    def start(self) -> Self:
        """Bind the port and serve in a daemon thread; returns ``self``. No-op if running."""
        with self._lock:
            if self._running is None:
                httpd = _HTTPServer(self._address, self)
                wake_r, wake_w = socket.socketpair()
                thread = threading.Thread(target=_serve, args=(httpd, wake_r), daemon=True)
                thread.name = f"FakeOpenAIServer:{httpd.server_port}"
                self._running = (httpd, thread, wake_r, wake_w)
                thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and free the port. Safe to call twice."""
        with self._lock:
            running, self._running = self._running, None
        if running is not None:
            httpd, thread, wake_r, wake_w = running
            wake_w.send(b"x")
            thread.join()
            for connection in list(httpd.connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            httpd.server_close()
            wake_r.close()
            wake_w.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The ``base_url`` for ``openai.AsyncOpenAI``: ``http://127.0.0.1:PORT/v1``."""
        running = self._running
        if running is None:
            raise RuntimeError("FakeOpenAIServer is not running; call start() first")
        return f"http://{self._address[0]}:{running[0].server_port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies received on ``/v1/chat/completions`` so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def add_replies(self, *replies: ReplyLike | RawReply) -> None:
        """Queue more replies; they are used before the responder or the echo."""
        converted = [_as_answer(r) for r in replies]
        with self._lock:
            self._queue.extend(converted)

    def set_responder(self, responder: ServerResponder | None) -> None:
        """Answer with ``responder(request_json)`` once the queue is empty (``None``: echo)."""
        with self._lock:
            self._responder = responder

    def _record(self, body: dict[str, Any]) -> int:
        with self._lock:
            self._requests.append(body)
            return len(self._requests)

    def _next_reply(self, body: dict[str, Any]) -> _Answer:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            responder = self._responder
        if responder is None:
            return _echo(body)
        result = responder(body)
        if inspect.isawaitable(result):
            return _as_answer(asyncio.run(_resolve(result)))
        return _as_answer(result)

    def _models(self) -> dict[str, Any]:
        model = {"id": self.model, "object": "model", "created": 0, "owned_by": "webagents"}
        return {"object": "list", "data": [model]}
