"""The two apps the server benchmark loads (``bench/serve.py`` builds them in their own
process): ``ours``, webagents' server with one agent on an instant in-process model, and
``floor``, a bare Starlette route returning fixed bytes, the most any Python server under the
same uvicorn could do.

The floor answers with the very bytes ``ours`` sent for the benchmark's request (captured by
``bench/load.py`` and handed over in files), so both move the same payload: a JSON body for a
plain request, the same events, one ``send`` each, for a streamed one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

AGENT = "bench"  # the served agent's name, and the floor's path for the same request
STREAM_NAME = "bench-stream"  # the floor's path for the streamed response


def ours() -> Any:
    """``webagents.server.create_app`` serving one agent whose model answers at once."""
    from workloads_ours import INSTRUCTIONS, FakeModel

    from webagents import BaseAgent
    from webagents.server import create_app

    return create_app([BaseAgent(AGENT, INSTRUCTIONS, model=FakeModel())])


def floor(body_file: str, stream_file: str) -> Any:
    """A Starlette app: ``POST /agents/bench/chat/completions`` returns the bytes of
    ``body_file`` as JSON, ``POST /agents/bench-stream/chat/completions`` those of
    ``stream_file`` as server-sent events, sent event by event."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    body = Path(body_file).read_bytes()
    events = split_events(Path(stream_file).read_bytes())

    async def send_events() -> AsyncIterator[bytes]:
        # async: Starlette would pass each item of a plain iterator through a worker thread
        for event in events:
            yield event

    async def chat(request: Request) -> Response:
        await request.body()  # a server reads what it is sent, as ours does
        if request.path_params["name"] == STREAM_NAME:
            return StreamingResponse(send_events(), media_type="text/event-stream")
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/agents/{name}/chat/completions", chat, methods=["POST"])])


_EVENT = re.compile(rb".*?(?:\r\n\r\n|\n\n|\r\r)", re.DOTALL)


def split_events(stream: bytes) -> list[bytes]:
    """Server-sent events as sent, each with the blank line that ends it (any of the three
    line ends the SSE format allows)."""
    events = _EVENT.findall(stream)
    rest = stream[sum(map(len, events)) :]
    return [*events, rest] if rest else events
