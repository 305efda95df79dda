"""SQLite files for webagents' stores (ledger, tickets, sessions): safe across tasks, threads
and processes.

Every operation opens its own connection, so nothing is shared between threads and nothing is
left open to leak. Files use WAL (readers never wait for the writer) and a busy timeout; a
write is one ``BEGIN IMMEDIATE`` transaction. A lock queues this process's writers in Python
rather than having them poll SQLite's busy handler; other processes wait on SQLite's own lock.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from webagents.errors import WebAgentsError

__all__ = ["SQLiteFile", "StoreBusyError", "webagents_home"]


class StoreBusyError(WebAgentsError):
    """A write waited longer than the busy timeout for another writer."""


def webagents_home() -> Path:
    """``$WEBAGENTS_HOME`` (default ``~/.webagents``), read each time it is asked for."""
    return Path(os.environ.get("WEBAGENTS_HOME") or "~/.webagents").expanduser()


class SQLiteFile:
    """One database file with its schema.

    ``path`` None means ``default_name`` under :func:`webagents_home`, resolved on first use.
    ``busy_error`` builds the exception raised when a write waits past ``busy_timeout``
    seconds; it receives the message.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        schema: str,
        default_name: str,
        busy_timeout: float = 30.0,
        busy_error: Callable[[str], Exception] = StoreBusyError,
    ) -> None:
        if path is not None and str(path) == ":memory:":
            raise ValueError(
                "each operation opens its own connection, so this store needs a file path, "
                f"e.g. {default_name!r}"
            )
        self._path = Path(path) if path is not None else None
        self.schema = schema
        self.default_name = default_name
        self.busy_timeout = float(busy_timeout)
        self._busy_error = busy_error
        self._lock = threading.Lock()
        self._ready = False

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = webagents_home() / self.default_name
        return self._path

    def where(self) -> str:
        """The file, or where it will be, without resolving the default yet."""
        return str(self._path) if self._path is not None else f"$WEBAGENTS_HOME/{self.default_name}"

    def _connect(self) -> sqlite3.Connection:
        # timeout= sets SQLite's busy_timeout; isolation_level=None lets us issue BEGIN ourselves
        return sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)

    def open(self) -> None:
        """Create the directory and file, switch to WAL and create the schema; idempotent."""
        with self._lock:
            if self._ready:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as conn:
                conn.execute("PRAGMA journal_mode=WAL").fetchall()
                conn.executescript(f"BEGIN IMMEDIATE;{self.schema}COMMIT;")
            self._ready = True

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads (each statement sees a consistent snapshot)."""
        self.open()
        with closing(self._connect()) as conn:
            yield conn

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any exception."""
        self.open()
        with self._lock, closing(self._connect()) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                raise self._busy_error(
                    f"{self.path} stayed locked by another writer for {self.busy_timeout}s "
                    f"({error}); raise busy_timeout or find the stuck process"
                ) from error
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
