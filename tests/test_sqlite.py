"""The shared SQLite file helper behind the ledger and the ticket queue."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from webagents.sqlite import SQLiteFile, StoreBusyError, webagents_home

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
