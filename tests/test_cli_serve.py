"""``webagents serve TARGET``: what a TARGET may name, the errors for what it cannot (exit code
2), and real server processes: one, and two workers sharing one SQLite session store."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from click.testing import CliRunner

from webagents import AgentNetwork, BaseAgent
from webagents.cli import main
from webagents.server.loading import TargetError, load_target

WAIT = 60.0  # deadline for a server process to start or answer on a loaded machine
WEBAGENTS = str(Path(sys.executable).parent / "webagents")

AGENTS_FILE = """
from webagents import AgentNetwork, BaseAgent
from webagents.testing import ScriptedModel, text

def answer(request):
    return text("hello from desk")

desk = BaseAgent("desk", model=ScriptedModel(responder=answer), description="Front desk")
billing = BaseAgent("billing", model=ScriptedModel(responder=answer))
also_desk = desk  # the same agent twice is served once
"""


@pytest.fixture(autouse=True)
def _restore_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Loading a file puts its folder on sys.path and the module in sys.modules; undone."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("webagents_serve_"):
            del sys.modules[name]


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


# loading ---------------------------------------------------------------------------------------


def test_a_file_serves_its_top_level_agents(tmp_path: Path) -> None:
    target = load_target(str(write(tmp_path / "agents.py", AGENTS_FILE)))
    assert isinstance(target, list)
    assert [agent.name for agent in target] == ["desk", "billing"]


def test_a_file_with_a_network_serves_the_network(tmp_path: Path) -> None:
    source = AGENTS_FILE + "\nnetwork = AgentNetwork('mine')\n"
    target = load_target(str(write(tmp_path / "with_network.py", source)))
    assert isinstance(target, AgentNetwork) and target.name == "mine"


@pytest.mark.parametrize(("attribute", "served"), [("desk", "desk"), ("build", "front")])
def test_a_file_and_attribute(tmp_path: Path, attribute: str, served: str) -> None:
    source = AGENTS_FILE + "\ndef build():\n    return {'front': desk}\n"
    target = load_target(f"{write(tmp_path / 'pick.py', source)}:{attribute}")
    names = [target.name] if isinstance(target, BaseAgent) else list(target)  # type: ignore[call-overload]
    assert names == [served]


def test_a_module_and_attribute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "served_pkg_mod.py", AGENTS_FILE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "served_pkg_mod", raising=False)
    billing = load_target("served_pkg_mod:billing")
    assert isinstance(billing, BaseAgent) and billing.name == "billing"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("", "TARGET is empty"),
        ("missing.py", "no file 'missing.py'; check the path"),
        ("no_such_module_xyz:agents", "no module named 'no_such_module_xyz'"),
        ("json", "names no attribute; write json:<attribute>"),
        ("json:nothing_here", "'json' has no attribute 'nothing_here'"),
        ("team.yaml", "is a team file"),
    ],
)
def test_bad_targets_are_named_with_the_fix(target: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        load_target(target)


def test_a_file_without_agents(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.py", "x = 1\n")
    with pytest.raises(TargetError, match="defines no agents at top level"):
        load_target(str(path))


def test_a_target_whose_code_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = write(tmp_path / "broken.py", "from webagents import BaseAgent\n1 / 0\n")
    with pytest.raises(TargetError, match="running the file raised ZeroDivisionError"):
        load_target(str(broken))
    path = write(tmp_path / "builds.py", "def build():\n    raise KeyError('model')\n")
    with pytest.raises(TargetError, match=r"calling build\(\) raised KeyError"):
        load_target(f"{path}:build")
    write(tmp_path / "imports_missing.py", "import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TargetError, match="importing it raised ModuleNotFoundError") as error:
        load_target("imports_missing:agents")
    assert isinstance(error.value.__cause__, ModuleNotFoundError)
    result = CliRunner().invoke(main, ["serve", str(broken)])
    assert result.exit_code == 2
    assert "ZeroDivisionError" in result.output


def test_the_command_exits_2_on_a_bad_target(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", str(tmp_path / "nope.py")])
    assert result.exit_code == 2
    assert "Invalid value for TARGET" in result.output and "no file" in result.output
    result = CliRunner().invoke(main, ["serve", "json:dumps"])  # a callable returning junk
    assert result.exit_code == 2


def test_the_command_refuses_a_malformed_key(tmp_path: Path) -> None:
    path = write(tmp_path / "agents.py", AGENTS_FILE)
    result = CliRunner().invoke(main, ["serve", str(path), "--api-key", "sec,ret"])
    assert result.exit_code == 2
    assert "--api-key #1 must be KEY or KEY=USER_ID" in result.output
    assert "sec,ret" not in result.output


# real server processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """``webagents serve ...`` in a child process; ``started(n)`` waits for ``n`` workers to
    report their application started (read from its log, not timed)."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [WEBAGENTS, "serve", *args, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env={**os.environ, **(env or {})},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            self.lines.put(line)
        self.lines.put("")  # the process ended

    def started(self, workers: int = 1) -> None:
        seen = 0
        while seen < workers:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"server not started after {WAIT}s:\n{''.join(self.log)}")
            if not line:
                pytest.fail(f"server exited:\n{''.join(self.log)}")
            seen += "Application startup complete" in line

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT: uvicorn's graceful shutdown
            try:
                self.process.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(WAIT)
        self.reader.join(WAIT)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return "".join(self.log)


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def test_serve_a_file_with_keys(tmp_path: Path, servers: list[ServerProcess]) -> None:
    write(tmp_path / "agents.py", AGENTS_FILE)
    server = ServerProcess("agents.py", "--api-key", "key-ada=ada", cwd=tmp_path)
    servers.append(server)
    server.started()
    desk = openai.OpenAI(api_key="key-ada", base_url=f"{server.url}/agents/desk", max_retries=0)
    answer = desk.chat.completions.create(
        model="desk", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "hello from desk"
    names = [
        c["name"]
        for c in httpx.get(
            f"{server.url}/agents", headers={"Authorization": "Bearer key-ada"}
        ).json()
    ]
    assert names == ["desk", "billing"]
    assert httpx.get(f"{server.url}/agents").status_code == 401
    log = server.stop()
    assert server.process.returncode == 0
    assert "Application shutdown complete" in log
    assert "key-ada" not in log


WORKERS_FILE = """
import os
from webagents import AgentNetwork
from webagents.testing import scripted_agent, text

network = AgentNetwork("workers")

def answer(request):
    said = [m["content"] for m in request["messages"] if m["role"] == "user"]
    if said[-1].startswith("hold "):
        # Tell the test which worker this is, then block this worker's event loop until the
        # test releases it: meanwhile only the other worker can accept connections.
        with open(os.environ["HELD_FIFO"], "w") as held:
            held.write(f"{os.getpid()}\\n")
        with open(said[-1].removeprefix("hold ")) as release:
            release.read()
        return text("released")
    return text(f"{os.getpid()}:" + " | ".join(said))

scripted_agent("desk", responder=answer, network=network)
"""


def test_two_workers_share_one_sqlite_session_store(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    write(tmp_path / "workers_agents.py", WORKERS_FILE)
    held = tmp_path / "held.fifo"
    os.mkfifo(held)
    server = ServerProcess(
        "workers_agents.py",
        "--workers",
        "2",
        "--sessions",
        f"sqlite:///{tmp_path}/sessions.db",
        cwd=tmp_path,
        env={"HELD_FIFO": str(held)},
    )
    servers.append(server)
    server.started(workers=2)

    def post(message: str, session: str | None = None) -> httpx.Response:
        return httpx.post(  # a new connection each time: any free worker may take it
            f"{server.url}/agents/desk/chat/completions",
            json={"messages": [{"role": "user", "content": message}]},
            headers={"X-Session-Id": session} if session else {},
            timeout=WAIT,
        )

    def hold() -> tuple[int, Path, threading.Thread]:
        """Block one worker's event loop; returns its pid and what releases it."""
        release = tmp_path / f"release-{len(os.listdir(tmp_path))}.fifo"
        os.mkfifo(release)
        request = threading.Thread(target=post, args=(f"hold {release}",), daemon=True)
        request.start()
        pid = int(read_within(held))
        return pid, release, request

    def answered(response: httpx.Response) -> tuple[int, str]:
        assert response.status_code == 200, response.text
        pid, _, said = response.json()["choices"][0]["message"]["content"].partition(":")
        return int(pid), said

    first_pid, first_release, first_request = hold()
    pid_one, said = answered(post("one", "s1"))
    assert pid_one != first_pid and said == "one"
    second_pid, second_release, second_request = hold()
    assert second_pid == pid_one  # the only worker that was free
    write_within(first_release)  # free the first worker; the second is still held
    first_request.join(WAIT)
    pid_two, said = answered(post("two", "s1"))
    assert pid_two == first_pid  # the other process ...
    assert said == "one | two"  # ... continued the conversation from the shared file
    write_within(second_release)
    second_request.join(WAIT)
    assert not first_request.is_alive() and not second_request.is_alive()


def read_within(fifo: Path) -> str:
    """A line from ``fifo`` (opening it waits for the writer), failing after ``WAIT``."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(fifo.read_text()), daemon=True)
    reader.start()
    reader.join(WAIT)
    assert box, f"nothing written to {fifo.name} within {WAIT}s"
    return box[0].strip()


def write_within(fifo: Path) -> None:
    writer = threading.Thread(target=lambda: fifo.write_text("go"), daemon=True)
    writer.start()
    writer.join(WAIT)
    assert not writer.is_alive(), f"nobody read {fifo.name} within {WAIT}s"
