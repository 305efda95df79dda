"""SQLite files for webagents' stores (ledger, tickets, sessions): safe across tasks, threads
and processes.

Every operation has a connection of its own, so nothing is shared between threads; it is
opened for the operation and closed after it, unless the store keeps a few idle ones to
reuse. Files use WAL (readers never wait for the writer) and a busy timeout; a write is one
``BEGIN IMMEDIATE`` transaction. A lock queues this process's writers in Python rather than
having them poll SQLite's busy handler; other processes wait on SQLite's own lock.
Failures of the file itself (not a database, a directory in its place, locked past the busy
timeout) are raised as the store's own error type, naming the file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from webagents.errors import WebAgentsError

__all__ = ["SQLiteFile", "StoreBusyError", "StoreError", "webagents_home"]

# primary result codes (the low byte of ``sqlite_errorcode``)
_BUSY, _READONLY, _CORRUPT, _CANTOPEN, _NOTADB = 5, 8, 11, 14, 26


class StoreError(WebAgentsError):
    """A store's file cannot be used: not a database, a directory in its place, unwritable."""


class StoreBusyError(StoreError):
    """A write waited longer than the busy timeout for another writer."""


def webagents_home() -> Path:
    """``$WEBAGENTS_HOME`` (default ``~/.webagents``), read each time it is asked for."""
    return Path(os.environ.get("WEBAGENTS_HOME") or "~/.webagents").expanduser()


class SQLiteFile:
    """One database file with its schema.

    ``path`` None means ``default_name`` under :func:`webagents_home`, resolved on first use.
    ``busy_error`` builds the exception raised when a write waits past ``busy_timeout``
    seconds; ``error`` the one raised when the file cannot be used (not a database, a
    directory, unwritable). Each receives a message naming the file; the SQLite or OS
    exception is its ``__cause__``. Errors SQL code makes (a broken constraint, a wrong
    binding) are left as they are: they are bugs, not states of the file.

    ``keep_connections`` > 0 keeps up to that many idle connections for later operations
    (until :meth:`close`): each operation still has a connection of its own, but skips
    opening one, and the file's WAL is not checkpointed and removed each time the last
    connection closes. ``synchronous="NORMAL"`` trades the durability of the last commits
    on a power failure (never on a crash of the process, never the file's integrity) for
    commits that do not wait for the disk; None keeps SQLite's default (FULL).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        schema: str,
        default_name: str,
        busy_timeout: float = 30.0,
        busy_error: Callable[[str], Exception] = StoreBusyError,
        error: Callable[[str], Exception] = StoreError,
        keep_connections: int = 0,
        synchronous: str | None = None,
    ) -> None:
        if synchronous not in (None, "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous={synchronous!r}: use 'NORMAL', 'FULL' or 'EXTRA'")
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
        self._error = error
        self._lock = threading.Lock()
        self._ready = False
        self.keep_connections = keep_connections
        self.synchronous = synchronous
        self._idle: list[sqlite3.Connection] = []
        # Kept connections are closed with the object even if close() is never called.
        weakref.finalize(self, _close_all, self._idle)

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
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=self.keep_connections == 0,  # a kept one serves other threads
        )
        if self.synchronous is not None:
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation: an idle kept one, else a new one."""
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self._connect()
        try:
            yield conn
        except BaseException:
            conn.close()  # in an unknown state
            raise
        if conn.in_transaction or len(self._idle) >= self.keep_connections:
            conn.close()
        else:
            self._idle.append(conn)

    def close(self) -> None:
        """Close the kept connections; the next operation opens the file again."""
        _close_all(self._idle)

    def _failure(self, error: sqlite3.Error) -> Exception:
        """The store's exception for a failure of the file, naming it and the way out."""
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF
        if code == _BUSY:
            return self._busy_error(
                f"{self.path} stayed locked by another writer for {self.busy_timeout}s "
                f"({error}); raise busy_timeout or find the stuck process"
            )
        if code in (_NOTADB, _CORRUPT):
            fix = "is not a SQLite database or is damaged; restore it or point to another file"
        elif code == _CANTOPEN and self.path.is_dir():
            fix = "is a directory; point to a file inside it instead"
        elif code == _CANTOPEN:
            fix = "cannot be opened; check that it and its directory are readable and writable"
        elif code == _READONLY:
            fix = "is read-only; give this process write access to it and its directory"
        else:
            fix = "cannot be used"
        return self._error(f"{self.path} {fix} ({error})")

    @contextmanager
    def _file_errors(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as error:
            # DatabaseError's other subclasses (IntegrityError, ...) come from the SQL, not the file
            if type(error) not in (sqlite3.OperationalError, sqlite3.DatabaseError):
                raise
            raise self._failure(error) from error

    def open(self) -> None:
        """Create the directory and file, switch to WAL and create the schema; idempotent.

        Several processes may open a fresh file at once: each waits for the others, up to
        ``busy_timeout``, instead of failing.
        """
        if self._ready:  # set once, never cleared: no lock needed to read it
            return
        with self._lock:
            if self._ready:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise self._error(
                    f"cannot create the directory for {self.path} ({error.strerror}: "
                    f"{error.filename}); choose a path in a directory this process can write"
                ) from error
            with self._file_errors(), self._connection() as conn:
                self._use_wal(conn, deadline=time.monotonic() + self.busy_timeout)
                conn.executescript(f"BEGIN IMMEDIATE;{self.schema}COMMIT;")
            self._ready = True

    def _use_wal(self, conn: sqlite3.Connection, deadline: float) -> None:
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL").fetchall()
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF != _BUSY or time.monotonic() >= deadline:
                    raise
            # While another connection writes, SQLite refuses the switch at once instead of
            # calling the busy handler (waiting there could deadlock). BEGIN IMMEDIATE does
            # wait, through the busy handler, until that writer is done; then try again.
            # Each wait is bounded by busy_timeout, and so is the time spent retrying.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads (each statement sees a consistent snapshot)."""
        self.open()
        with self._file_errors(), self._connection() as conn:
            yield conn

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any exception."""
        self.open()
        with self._lock, self._file_errors(), self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite may already have rolled back (I/O error, full)
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def _close_all(connections: list[sqlite3.Connection]) -> None:
    while connections:
        connections.pop().close()
