"""The test kit's ``RedisServer`` and its fixtures: a real redis-server on 127.0.0.1 that
leaves nothing behind, also when the run that started it is interrupted or killed."""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from webagents.testing.redis_server import RedisServer, RedisServerError


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.usefixtures("redis_server")  # skips, or fails under CI, without redis-server
def test_a_server_answers_keeps_nothing_and_is_gone_after_stop() -> None:
    with RedisServer() as server:
        directory, port = server.directory, server.port
        assert directory is not None and directory.is_dir()
        assert server.url == f"redis://127.0.0.1:{port}/0"
        assert server.command("PING") == b"PONG"
        assert server.command("CONFIG", "GET", "save") == [b"save", b""]
        assert server.command("CONFIG", "GET", "appendonly") == [b"appendonly", b"no"]
        assert server.command("CONFIG", "GET", "bind") == [b"bind", b"127.0.0.1"]
        server.command("SET", "k", "v", db=3)
        assert server.command("GET", "k") is None
        server.flushdb(3)
        assert server.command("DBSIZE", db=3) == 0
    assert not directory.exists()
    assert refused(port)
    with pytest.raises(RedisServerError, match="not started"):
        _ = server.url


def test_a_server_that_cannot_start_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    server = RedisServer(executable="/bin/false")
    with pytest.raises(RedisServerError, match="did not start: it exited with status 1"):
        server.start()
    assert server.directory is None and not server.running
    monkeypatch.setenv("PATH", "")
    with pytest.raises(
        RedisServerError, match="redis-server is not installed; run `make services`"
    ):
        RedisServer()


STARTER = """
import json, os, signal, sys
from webagents.testing.redis_server import RedisServer
server = RedisServer().start()
print(json.dumps({"pid": server._process.pid, "port": server.port,
                  "directory": str(server.directory)}), flush=True)
if sys.argv[1] == "interrupt":
    raise KeyboardInterrupt
sys.stdin.readline()  # killed while waiting here
"""


def start_in_child(how: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    child = subprocess.Popen(
        [sys.executable, "-c", STARTER, how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    started: dict[str, object] = json.loads(child.stdout.readline())
    return child, started


@pytest.mark.usefixtures("redis_server")
def test_an_interrupted_run_stops_its_server() -> None:
    child, started = start_in_child("interrupt")
    _, err = child.communicate(timeout=60)
    assert "KeyboardInterrupt" in err
    assert not Path(str(started["directory"])).exists()
    assert refused(int(str(started["port"])))


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="parent-death signal is Linux-only")
@pytest.mark.usefixtures("redis_server")
def test_a_killed_run_takes_its_server_down_and_the_next_start_sweeps_its_directory() -> None:
    child, started = start_in_child("kill")
    directory = Path(str(started["directory"]))
    watch = os.pidfd_open(int(str(started["pid"])))
    try:
        child.kill()
        child.communicate(timeout=60)
        ready, _, _ = select.select([watch], [], [], 30)  # readable once the server exits
        assert ready == [watch], "redis-server outlived the process that started it"
    finally:
        os.close(watch)
    assert directory.exists()  # nothing ran in the killed process to remove it
    try:
        with RedisServer():
            assert not directory.exists()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


INNER_TEST = "def test_uses_redis(redis_url):\n    assert redis_url\n"


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_the_fixture_without_redis_server_skips_or_fails_under_ci(
    tmp_path: Path, ci: str, outcome: str
) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(tmp_path)  # no redis-server on it
    if ci:
        env["CI"] = ci
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:randomly", "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome in done.stdout, done.stdout + done.stderr
    assert "redis-server is not installed; run `make services`" in done.stdout
