"""Serve one benchmark app under uvicorn, as ``webagents serve`` would, and say when ready.

``python bench/serve.py MODULE:FACTORY [ARG ...]`` builds the app with ``FACTORY(*ARGS)``
(``server_apps.ours``, ``server_apps.floor``), binds a free 127.0.0.1 port and runs uvicorn
with one worker, no access log and its automatic choices (uvloop and httptools only when
installed), the same for every app. Once the app has started and the socket listens it
prints one JSON line, ``{"url": ..., "loop": ..., "http": ...}``; SIGTERM shuts it down.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import logging
import socket
import sys
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    """Prints the ready line once startup is complete, so the bench waits on a line."""

    ready_line = ""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.ready_line, flush=True)


def implementations() -> dict[str, str]:
    """What uvicorn's ``auto`` settings pick here (reported with the figures)."""
    has = importlib.util.find_spec
    return {
        "loop": "uvloop" if has("uvloop") else "asyncio",
        "http": "httptools" if has("httptools") else "h11",
    }


def main(argv: list[str]) -> None:
    target, *args = argv
    module_name, _, factory_name = target.partition(":")
    app: Any = getattr(importlib.import_module(module_name), factory_name)(*args)
    # As `webagents serve` does (webagents.server.serve.freeze_startup_heap), for every app
    # measured: what start-up left alive stays out of the cyclic collector's passes.
    gc.collect()
    gc.freeze()
    # IPPROTO_TCP, as uvicorn binds its own: asyncio sets TCP_NODELAY on accepted sockets
    # only when the proto says TCP, and without it every keep-alive response whose headers
    # and body go out in two writes waits ~40 ms for a delayed ACK (Nagle).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    config = uvicorn.Config(app, workers=1, access_log=False, log_level="warning")
    server = _Server(config)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server.ready_line = json.dumps({"url": url, **implementations()})
    # wrk closes its connections mid-stream when its time is up; asyncio would log a warning
    # for each send on them, the same for every server measured
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    server.run(sockets=[listener])


if __name__ == "__main__":
    main(sys.argv[1:])
