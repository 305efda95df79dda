"""Serve an ASGI app (a ``webagents.server.create_app`` app, or a small app that misbehaves on
purpose) with a real uvicorn on a free 127.0.0.1 port, in a background thread::

    from webagents.testing.served import ServedApp

    with ServedApp(app) as served:
        client = openai.OpenAI(api_key="k", base_url=f"{served.url}/agents/billing")
        ...

The listening socket is bound and put in listen mode before uvicorn starts, so a client may
connect as soon as the ``with`` block is entered: the kernel queues the connection until
uvicorn accepts it, and nothing has to wait for the server to come up. ``stop()`` (or leaving
the block) asks uvicorn to shut down gracefully (the app's lifespan shutdown runs) and waits
for its thread. Needs the ``server`` extra (uvicorn).
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any, Literal, Self

__all__ = ["ServedApp"]


class ServedApp:
    """A uvicorn server for ``app`` on 127.0.0.1; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(
        self,
        app: Any,
        *,
        lifespan: Literal["auto", "on", "off"] = "auto",
        stop_timeout: float = 10.0,
        **config: Any,
    ) -> None:
        import uvicorn  # deferred: the testing kit must load without the server extra

        self.app = app
        self.stop_timeout = stop_timeout
        self._config = uvicorn.Config(
            app, lifespan=lifespan, log_level="warning", access_log=False, **config
        )
        self._server = uvicorn.Server(self._config)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        if self._thread is None:
            raise RuntimeError("the server is not started; use `with ServedApp(app) as served`")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("this ServedApp is already started")
        # Created as a TCP socket by name: asyncio turns Nagle's algorithm off only on
        # connections whose listener says IPPROTO_TCP, and with it on, each keep-alive
        # response waits ~40 ms for the client's delayed ACK.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self._socket, self.port = listener, listener.getsockname()[1]
        # uvicorn installs signal handlers only in the main thread, so none are taken here.
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [listener]},
            name=f"uvicorn 127.0.0.1:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        thread, listener = self._thread, self._socket
        if thread is None:
            return
        self._server.should_exit = True
        thread.join(self.stop_timeout)
        if thread.is_alive():  # a request that never ends: close connections without waiting
            self._server.force_exit = True
            thread.join(self.stop_timeout)
        if listener is not None:
            listener.close()
        self._thread = self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        import asyncio

        # stop() joins the server thread: done off this loop, whose own clients may still
        # have to close connections for the server to finish
        await asyncio.to_thread(self.stop)
