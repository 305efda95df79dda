"""The shared SQLite file helper behind the ledger and the ticket queue."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from webagents.sqlite import SQLiteFile, StoreBusyError, StoreError, webagents_home

SCHEMA = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);"


def test_default_file_lives_under_webagents_home_read_at_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteFile(None, schema=SCHEMA, default_name="notes.db")
    assert store.where() == "$WEBAGENTS_HOME/notes.db"
    monkeypatch.setenv("WEBAGENTS_HOME", str(tmp_path / "home"))

    with store.writing() as conn:
        conn.execute("INSERT INTO notes (text) VALUES ('hi')")

    assert store.path == webagents_home() / "notes.db" == tmp_path / "home" / "notes.db"
    with store.reading() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT text FROM notes").fetchall() == [("hi",)]


def test_a_failed_write_is_rolled_back(tmp_path: Path) -> None:
    store = SQLiteFile(tmp_path / "n.db", schema=SCHEMA, default_name="n.db")
    with pytest.raises(ZeroDivisionError), store.writing() as conn:
        conn.execute("INSERT INTO notes (text) VALUES ('lost')")
        _ = 1 / 0
    with store.reading() as conn:
        assert conn.execute("SELECT COUNT(*) FROM notes").fetchone() == (0,)


def test_a_writer_held_up_past_the_timeout_gets_the_busy_error(tmp_path: Path) -> None:
    store = SQLiteFile(tmp_path / "n.db", schema=SCHEMA, default_name="n.db", busy_timeout=0.05)
    store.open()
    blocker = sqlite3.connect(store.path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        busy = pytest.raises(StoreBusyError, match="stayed locked by another writer")
        with busy, store.writing():
            pass
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_memory_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="needs a file path"):
        SQLiteFile(":memory:", schema=SCHEMA, default_name="n.db")


class NotesError(Exception):
    """A store's own error type, as the ledger and the ticket queue pass theirs."""


def test_file_failures_are_the_store_error_naming_the_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"not a database at all " * 10)
    store = SQLiteFile(corrupt, schema=SCHEMA, default_name="n.db", error=NotesError)
    with pytest.raises(NotesError, match=f"^{corrupt} is not a SQLite database") as caught:
        store.open()
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)

    directory = tmp_path / "dir.db"
    directory.mkdir()
    default = SQLiteFile(directory, schema=SCHEMA, default_name="n.db")
    with pytest.raises(StoreError, match=f"^{directory} is a directory"):
        default.open()


def test_errors_of_the_sql_itself_are_left_alone(tmp_path: Path) -> None:
    store = SQLiteFile(
        tmp_path / "n.db",
        schema=SCHEMA + "CREATE TABLE IF NOT EXISTS tags (name TEXT UNIQUE);",
        default_name="n.db",
        error=NotesError,
    )
    with store.writing() as conn:
        conn.execute("INSERT INTO tags VALUES ('a')")
    with pytest.raises(sqlite3.IntegrityError), store.writing() as conn:
        conn.execute("INSERT INTO tags VALUES ('a')")
    with pytest.raises(sqlite3.ProgrammingError), store.reading() as conn:
        conn.execute("SELECT ?", ())


def test_first_open_waits_for_a_writer_instead_of_failing_at_once(tmp_path: Path) -> None:
    """Behind a writer, SQLite refuses the switch to WAL at once, busy timeout or not; the
    opener must wait for the writer instead of failing."""
    path = tmp_path / "fresh.db"
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute("CREATE TABLE other (x)")
    settled = threading.Event()  # the opener is waiting for the writer, or has given up
    failure: list[BaseException] = []

    class Watched(SQLiteFile):
        def _connect(self) -> sqlite3.Connection:
            conn = super()._connect()
            conn.set_trace_callback(lambda sql: settled.set() if "BEGIN" in sql else None)
            return conn

    store = Watched(path, schema=SCHEMA, default_name="n.db", busy_timeout=30)

    def open_store() -> None:
        try:
            store.open()
        except BaseException as error:  # reported by the main thread
            failure.append(error)
        settled.set()

    thread = threading.Thread(target=open_store)
    thread.start()
    try:
        assert settled.wait(timeout=60)
        assert failure == []
    finally:
        blocker.execute("COMMIT")
        blocker.close()
        thread.join(timeout=60)
    assert not thread.is_alive() and failure == []
    with store.reading() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert tables == {"notes", "other"}


def test_the_busy_error_is_a_store_error() -> None:
    assert issubclass(StoreBusyError, StoreError)
