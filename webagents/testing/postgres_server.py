"""A throwaway PostgreSQL server for tests: a fresh cluster in a temporary directory, on a free
127.0.0.1 port, stopped and removed at exit.

    from webagents.testing.postgres_server import PostgresServer

    with PostgresServer() as server:
        ledger_url = server.url  # postgresql://postgres:<password>@127.0.0.1:<port>/webagents
        other_url = server.create_database()  # a fresh, empty database of its own

The pytest plugin offers it as the session-scoped fixtures ``postgres_server`` and
``postgres_url``.

The binaries (``initdb``, ``postgres``, ``pg_isready``, ``createdb``, ``dropdb``) come from
``bin_dir``, else from the newest ``/usr/lib/postgresql/<version>/bin`` (Debian, Ubuntu), else
from the directory of an ``initdb`` on ``PATH``; :func:`find_postgres_bin` says which, and
``make services`` installs them. PostgreSQL refuses to run as root: a root process gives the
cluster to the ``postgres`` OS user and runs ``initdb`` and ``postgres`` as that user.

The server listens on TCP only (no Unix socket), asks for a password (scram-sha-256, a random
one per server, part of the URLs), and trades durability for speed (``fsync=off``): it is for
tests, never for data.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["PostgresNotFoundError", "PostgresServer", "PostgresServerError", "find_postgres_bin"]

_PREFIX = "webagents-postgres-"  # of the server's temporary directory
_OWNER_FILE = "owner.pid"  # in that directory: the process that started the server
_SUPERUSER = "postgres"
_OS_USER = "postgres"  # who owns the cluster when this process is root
_BIND_FAILED = ("could not bind", "Address already in use", "could not create listen socket")
# A test server: durability off, enough connections for several processes charging at once.
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class PostgresServerError(RuntimeError):
    """The server could not be set up or started; the message says why (with its log)."""


class PostgresNotFoundError(PostgresServerError):
    """The PostgreSQL server binaries are not installed."""


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: the newest
    ``/usr/lib/postgresql/<version>/bin``, else the directory of an ``initdb`` on ``PATH``."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path is not None:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if all((directory / name).is_file() for name in ("initdb", "postgres", "pg_isready")):
            return directory
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL cluster, created by :meth:`start` and removed by :meth:`stop`.

    ``start()`` runs ``initdb``, starts ``postgres``, waits until ``pg_isready`` says it
    accepts connections (at most ``startup_timeout`` seconds), and creates the database
    ``database``, whose URL is :attr:`url`. ``settings`` adds or overrides server settings
    (``{"max_connections": "500"}``). A server that is never stopped is stopped when it is
    garbage collected or when the interpreter exits; on Linux the server also shuts down when
    the process that started it dies without exiting cleanly (``kill -9``), and the next
    ``start()`` removes the directory such a server left behind.
    """

    def __init__(
        self,
        bin_dir: str | os.PathLike[str] | None = None,
        *,
        database: str = "webagents",
        startup_timeout: float = 60.0,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self._bin_dir = Path(bin_dir) if bin_dir is not None else None
        self.database = database
        self.startup_timeout = startup_timeout
        self.settings = {**_SETTINGS, **(settings or {})}
        self.password = secrets.token_hex(16)
        self.port: int | None = None
        self.directory: Path | None = None
        self._resources: _Resources | None = None  # what stop() removes
        self._names = itertools.count(1)
        self._finalizer: weakref.finalize[Any, Self] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Create the cluster, start the server and create :attr:`database`; idempotent."""
        if self._resources is not None:
            return self
        bin_dir = self._bin_dir or find_postgres_bin()
        if bin_dir is None or not (bin_dir / "initdb").is_file():
            raise PostgresNotFoundError(
                "the PostgreSQL server binaries (initdb, postgres) are not installed: none in "
                f"{bin_dir or '/usr/lib/postgresql/*/bin'} nor on PATH; run `make services` "
                "(Debian: apt-get install postgresql)"
            )
        self._bin_dir = bin_dir
        owner = self._owner()
        _remove_abandoned(Path(tempfile.gettempdir()))
        self.directory = Path(tempfile.mkdtemp(prefix=_PREFIX))
        (self.directory / _OWNER_FILE).write_text(f"{os.getpid()}\n")
        self._resources = _Resources(self.directory)
        self._finalizer = weakref.finalize(self, self._resources.remove)
        try:
            if owner is not None:
                os.chown(self.directory, owner.uid, owner.gid)
            self._initdb(owner)
            self._serve(owner)
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory; idempotent."""
        if self._finalizer is not None:
            self._finalizer()
        self._finalizer = self._resources = None
        self.port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- databases ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL of :attr:`database`, with the password."""
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        """The URL of ``database`` on this server (which need not exist yet)."""
        if self.port is None:
            raise PostgresServerError("the server is not started; call start() first")
        return f"postgresql://{_SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create a database (default: a fresh name) and return its URL."""
        name = name or f"test_{next(self._names)}"
        self._client("createdb", name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        self._client("dropdb", "--if-exists", "--force", name)

    # --- internals ------------------------------------------------------------------------

    @staticmethod
    def _owner() -> _Owner | None:
        """The OS user to run the server as: None to run it as this process's user."""
        if os.geteuid() != 0:
            return None
        import pwd

        try:
            entry = pwd.getpwnam(_OS_USER)
        except KeyError:
            raise PostgresServerError(
                f"PostgreSQL refuses to run as root and there is no {_OS_USER!r} OS user to run "
                "it as; run the tests as another user, or create that user (the Debian "
                "postgresql package does)"
            ) from None
        return _Owner(entry.pw_uid, entry.pw_gid)

    def _run_as(self, owner: _Owner | None) -> dict[str, Any]:
        """Popen arguments that run a server binary as ``owner``, in the cluster directory."""
        arguments: dict[str, Any] = {"cwd": self.directory, "env": _clean_env()}
        if owner is not None:  # setuid in the child, so the pid is the server's own
            arguments.update(user=owner.uid, group=owner.gid, extra_groups=[])
        return arguments

    def _initdb(self, owner: _Owner | None) -> None:
        assert self.directory is not None and self._bin_dir is not None
        password_file = self.directory / "password"
        password_file.write_text(self.password + "\n")
        if owner is not None:
            os.chown(password_file, owner.uid, owner.gid)
        command = [
            str(self._bin_dir / "initdb"),
            "--pgdata",
            str(self.directory / "data"),
            "--username",
            _SUPERUSER,
            "--pwfile",
            str(password_file),
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, **self._run_as(owner)
        )
        password_file.unlink()
        if done.returncode != 0:
            raise PostgresServerError(
                f"initdb failed (exit status {done.returncode}):\n{done.stdout}{done.stderr}"
            )

    def _serve(self, owner: _Owner | None) -> None:
        """Start ``postgres`` on a free port (another if that one is taken meanwhile) and wait
        until it accepts connections."""
        assert self.directory is not None and self._bin_dir is not None
        assert self._resources is not None
        log = self.directory / "postgres.log"
        for _attempt in range(5):
            self.port = _free_port()
            options = [f"-c{key}={value}" for key, value in self.settings.items()]
            with log.open("wb") as out:
                process = self._resources.process = subprocess.Popen(
                    [
                        str(self._bin_dir / "postgres"),
                        "-D",
                        str(self.directory / "data"),
                        "-p",
                        str(self.port),
                        *options,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    # Ctrl-C reaches the test run, which stops the server after its teardown;
                    # a SIGINT straight to the server would pull it from tests still running.
                    start_new_session=True,
                    preexec_fn=_die_with_parent(),
                    **self._run_as(owner),
                )
            if self._wait_ready(process, log):
                return
            if not any(sign in log.read_text(errors="replace") for sign in _BIND_FAILED):
                break
        raise PostgresServerError(
            f"postgres did not start (exit status {process.poll()}); its log ({log}):\n{_tail(log)}"
        )

    def _wait_ready(self, process: subprocess.Popen[bytes], log: Path) -> bool:
        """True once the server accepts connections; False if it exited. Polls ``pg_isready``
        until ``startup_timeout``, then raises."""
        assert self._bin_dir is not None
        deadline = time.monotonic() + self.startup_timeout
        ready = [str(self._bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        while True:
            if process.poll() is not None:
                return False
            # 0: accepting; 1: starting up; 2: no answer yet (not listening)
            if subprocess.run([*ready, "-t", "1"], env=_clean_env(), check=False).returncode == 0:
                return True
            if time.monotonic() > deadline:
                raise PostgresServerError(
                    f"postgres did not accept connections within {self.startup_timeout}s; its "
                    f"log ({log}):\n{_tail(log)}"
                )
            time.sleep(0.02)  # between polls; the deadline above bounds the wait

    def _client(self, program: str, *args: str) -> None:
        if self._bin_dir is None or self.port is None:
            raise PostgresServerError("the server is not started; call start() first")
        command = [str(self._bin_dir / program), "-h", "127.0.0.1", "-p", str(self.port)]
        command += ["-U", _SUPERUSER, "--no-password", *args]
        env = {**_clean_env(), "PGPASSWORD": self.password}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise PostgresServerError(f"{program} {' '.join(args)} failed: {done.stderr.strip()}")


class _Owner:
    def __init__(self, uid: int, gid: int) -> None:
        self.uid, self.gid = uid, gid


def _clean_env() -> dict[str, str]:
    """This process's environment without the PG* variables a developer may have set (they
    would point the client programs at another server)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, what the server runs before exec, after its switch to the ``postgres`` user
    (which would clear it): a fast shutdown (SIGINT) when the process that started it dies,
    even by ``kill -9``. ``prctl`` is looked up here, in the parent: the child may no longer
    read the files an import needs."""
    if sys.platform != "linux":
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def die_with_parent() -> None:
        prctl(pr_set_pdeathsig, signal.SIGINT)

    return die_with_parent


def _remove_abandoned(parent: Path) -> None:
    """Remove the directories of servers whose owner was killed (``kill -9``): the server shut
    down with it (the parent-death signal), but nobody was left to remove its directory. A
    directory is abandoned once neither its owner nor its server is running."""
    for directory in parent.glob(f"{_PREFIX}*"):
        owner = _pid_in(directory / _OWNER_FILE)
        server = _pid_in(directory / "data" / "postmaster.pid")  # gone after a clean shutdown
        if owner is not None and not _running(owner) and (server is None or not _running(server)):
            shutil.rmtree(directory, ignore_errors=True)


def _pid_in(file: Path) -> int | None:
    """The pid on the first line of ``file``; None if it cannot be read (not written yet)."""
    try:
        return int(file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _tail(log: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


class _Resources:
    """The server's directory and process, apart from the server object so that a finalizer
    can remove them once that object is gone."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def remove(self) -> None:
        """Stop the process (fast shutdown, then harder) and remove the directory."""
        process = self.process
        if process is not None and process.poll() is None:
            stops = ((signal.SIGINT, 30.0), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0))
            for sig, grace in stops:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
                try:
                    process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        shutil.rmtree(self.directory, ignore_errors=True)
