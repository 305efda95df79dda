"""A real ``redis-server`` for tests, started on a free 127.0.0.1 port and stopped at exit.

::

    from webagents.testing.redis_server import RedisServer

    with RedisServer() as server:
        store = RedisSessionStore(server.url)
        ...

The server keeps nothing on disk (``--save "" --appendonly no``; its working directory is a
temporary directory removed on stop) and listens on 127.0.0.1 only. It is stopped by
:meth:`RedisServer.stop`, by leaving the ``with`` block, when the Python process exits
(including after Ctrl-C) and, on Linux, when the process that started it dies without exiting
cleanly (``kill -9``), so an interrupted test run leaves no server behind.

The pytest plugin offers it as fixtures: ``redis_server`` (one per test session) and
``redis_url`` (the URL of an emptied database, per test). Only the standard library is used
here: loading the pytest plugin must not need the ``redis`` extra.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["RedisServer", "RedisServerError"]

_START_ATTEMPTS = 3  # a free port can be taken by another process before the server binds it
_DIRECTORY_PREFIX = "webagents-redis-"
_EXITED = b"ready to exit"  # the last line a server logs before it exits


class RedisServerError(RuntimeError):
    """``redis-server`` is missing, did not start, or answered a command with an error."""


class RedisServer:
    """One ``redis-server`` process; ``url`` is ``redis://127.0.0.1:<port>/0``.

    ``executable`` defaults to ``redis-server`` on ``PATH``; ``startup_timeout`` bounds the
    wait for the first PING answer."""

    def __init__(self, executable: str | None = None, *, startup_timeout: float = 10.0) -> None:
        found = executable or shutil.which("redis-server")
        if found is None:
            raise RedisServerError(
                "redis-server is not installed; run `make services` "
                "(Debian: apt-get install redis-server)"
            )
        self.executable = found
        self.startup_timeout = startup_timeout
        self.host = "127.0.0.1"
        self.port = 0
        self.directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[..., Self] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``; another database of the server is ``.../<n>``."""
        self._require_running()
        return f"redis://{self.host}:{self.port}/0"

    @property
    def unix_socket(self) -> Path:
        """The server's Unix socket (``unix://<path>`` reaches it too)."""
        self._require_running()
        assert self.directory is not None
        return self.directory / "redis.sock"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        if self._process is not None:
            raise RedisServerError(f"redis-server on port {self.port} is already started")
        _sweep_finished_servers()
        self.directory = Path(tempfile.mkdtemp(prefix=_DIRECTORY_PREFIX))
        failure = ""
        for _ in range(_START_ATTEMPTS):
            self.port = _free_port()
            process = self._spawn()
            # From here on the process and directory go away with this object or the process.
            self._finalizer = weakref.finalize(self, _stop, process, self.directory)
            self._process = process
            failure = self._wait_until_ready()
            if not failure:
                return self
            self._finalizer()
            self._process = None
            self.directory.mkdir()  # _stop removed it; the next attempt needs it again
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None
        raise RedisServerError(f"redis-server did not start: {failure}")

    def stop(self) -> None:
        """Stop the server and remove its directory; nothing happens if it is not running."""
        if self._finalizer is not None:
            self._finalizer()
        self._process = None
        self._finalizer = None
        self.directory = None

    def command(self, *args: str | int, db: int = 0) -> object:
        """Run one command on database ``db`` and return its reply (bytes for strings)."""
        self._require_running()
        with socket.create_connection((self.host, self.port), timeout=self.startup_timeout) as s:
            reader = s.makefile("rb")
            if db:
                _send(s, "SELECT", db)
                _read_reply(reader)
            _send(s, *args)
            return _read_reply(reader)

    def flushdb(self, db: int = 0) -> None:
        self.command("FLUSHDB", db=db)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port {self.port}" if self.running else "stopped"
        return f"<RedisServer {state}>"

    def _spawn(self) -> subprocess.Popen[bytes]:
        assert self.directory is not None
        args = [
            self.executable,
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.directory),
            "--unixsocket", str(self.directory / "redis.sock"),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Ctrl-C reaches the test run, which stops the server after its teardown; a
            # SIGINT straight to the server would pull it away from tests still running.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    def _wait_until_ready(self) -> str:
        """'' once the server answers PING, else why it never will."""
        assert self._process is not None and self.directory is not None
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.005
        while True:
            if self._process.poll() is not None:
                return f"it exited with status {self._process.returncode}: {self._log_tail()}"
            with contextlib.suppress(OSError, RedisServerError):
                if self.command("PING") == b"PONG":
                    return ""
            if time.monotonic() >= deadline:
                return f"no PING answer within {self.startup_timeout} s: {self._log_tail()}"
            time.sleep(delay)  # waiting for another process to come up: nothing to wait on
            delay = min(delay * 2, 0.1)

    def _log_tail(self) -> str:
        assert self.directory is not None
        try:
            lines = (self.directory / "redis.log").read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-5:]) or "(empty log)"

    def _require_running(self) -> None:
        if self._process is None:
            raise RedisServerError("the redis-server is not started; call start() first")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _sweep_finished_servers() -> None:
    """Remove the directories of servers that exited after a run that started them was killed
    (SIGTERM, ``kill -9``: no cleanup ran there, but the server logged its exit)."""
    for directory in Path(tempfile.gettempdir()).glob(f"{_DIRECTORY_PREFIX}*"):
        try:
            with (directory / "redis.log").open("rb") as log:
                log.seek(0, io.SEEK_END)
                log.seek(max(0, log.tell() - 200))
                finished = _EXITED in log.read().splitlines()[-1]
        except (OSError, IndexError):
            continue  # starting, or not ours to judge
        if finished:
            shutil.rmtree(directory, ignore_errors=True)


def _die_with_parent() -> None:
    """In the child before exec: receive SIGTERM when the parent dies, even by ``kill -9``."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _stop(process: subprocess.Popen[bytes], directory: Path) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    shutil.rmtree(directory, ignore_errors=True)


def _send(sock: socket.socket, *args: str | int) -> None:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    sock.sendall(b"".join(parts))


def _read_reply(reader: io.BufferedReader) -> object:
    """One RESP2 reply from the socket."""
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise OSError("connection closed by redis-server")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body
    if kind == b"-":
        raise RedisServerError(body.decode(errors="replace"))
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        return reader.read(size + 2)[:-2]
    if kind == b"*":
        count = int(body)
        return None if count < 0 else [_read_reply(reader) for _ in range(count)]
    raise OSError(f"unexpected reply from redis-server: {line!r}")
