"""``PostgresServer`` and the ``postgres_server`` / ``postgres_url`` fixtures: a throwaway
PostgreSQL cluster that starts, serves, and leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from webagents.testing.postgres_server import (
    PostgresNotFoundError,
    PostgresServer,
    find_postgres_bin,
)

REPO = Path(__file__).resolve().parents[1]
needs_postgres = pytest.mark.skipif(
    find_postgres_bin() is None, reason="PostgreSQL is not installed; run `make services`"
)


def _accepting(port: int) -> bool:
    bin_dir = find_postgres_bin()
    assert bin_dir is not None
    ready = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "1"]
    return subprocess.run(ready, check=False).returncode == 0


def test_the_session_server_serves_the_postgres_url(postgres_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT current_database(), host(inet_server_addr())").fetchone()
    assert row == ("webagents", "127.0.0.1")


@needs_postgres
def test_a_server_starts_asks_for_its_password_and_leaves_nothing_behind() -> None:
    psycopg = pytest.importorskip("psycopg")
    with PostgresServer() as server:
        assert server.port is not None and server.directory is not None
        port, directory = server.port, server.directory
        url = server.create_database("orders")
        assert url == server.url_for("orders")
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE t (x int)")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(url.replace(server.password, "guess"))
        server.drop_database("orders")
        with pytest.raises(psycopg.OperationalError, match='database "orders" does not exist'):
            psycopg.connect(url)
        assert os.stat(directory / "data").st_mode & 0o077 == 0  # initdb's private directory
    assert not directory.exists()
    assert not _accepting(port)
    server.stop()  # idempotent


def test_missing_binaries_say_how_to_install_them(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path)  # a directory without initdb
    with pytest.raises(PostgresNotFoundError, match="make services"):
        server.start()
    assert server.directory is None


CONFTEST = """
import webagents.testing.pytest_plugin as plugin

plugin.find_postgres_bin = lambda: None  # as on a machine without PostgreSQL
"""
TEST = """
def test_needs_postgres(postgres_url):
    raise AssertionError("never reached")
"""


@pytest.mark.parametrize(("ci", "outcome"), [("", "1 skipped"), ("true", "1 error")])
def test_the_fixture_skips_without_postgres_but_fails_under_ci(
    tmp_path: Path, ci: str, outcome: str
) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_it.py").write_text(TEST)
    env = {**os.environ, "CI": ci}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-rsE", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert outcome in done.stdout, done.stdout + done.stderr
    assert "PostgreSQL" in done.stdout and "run `make services`" in done.stdout


OWNER = textwrap.dedent(
    """
    import sys
    from webagents.testing.postgres_server import PostgresServer

    server = PostgresServer().start()
    print(server.port, server.directory, flush=True)
    sys.stdin.read()  # until killed
    """
)


@needs_postgres
@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_server_whose_owner_is_killed_shuts_down_and_is_removed_by_the_next() -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert owner.stdout is not None
    port_text, directory = owner.stdout.readline().split()
    try:
        port = int(port_text)
        assert _accepting(port)
        owner.send_signal(signal.SIGKILL)  # no cleanup of its own can run
        owner.wait(timeout=30)
        deadline = time.monotonic() + 60
        # the server's fast shutdown, in another process: it removes its pid file last
        while (Path(directory) / "data" / "postmaster.pid").exists():
            assert time.monotonic() < deadline, "the server outlived its owner"
            time.sleep(0.05)
        assert not _accepting(port)
        assert Path(directory).is_dir()  # nobody was left to remove it...
        with PostgresServer():
            assert not Path(directory).exists()  # ...until the next server started
    finally:
        owner.kill()
        owner.wait()
        assert owner.stdin is not None and owner.stdout is not None
        owner.stdin.close()
        owner.stdout.close()
        shutil.rmtree(directory, ignore_errors=True)  # a killed owner cannot remove it
