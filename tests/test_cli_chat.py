"""``webagents chat TARGET`` in a pseudo-terminal, through the real entry point: streamed
answers named by agent, the specialist keeping the conversation, ``/agent``, ``/history``,
``/reset``, ``/quit``, and the session left in the SQLite store for ``webagents run``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli_run import AGENTS, TEAM, team_model, webagents
from webagents.testing import FakeOpenAIServer
from webagents.testing.replies import ReplyLike

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

WEBAGENTS = str(Path(sys.executable).parent / "webagents")
PROMPT = "you> "
DEADLINE = 60.0  # seconds for the chat to answer on a loaded machine
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1b[=>]")


class Terminal:
    """A process on a pseudo-terminal: ``send`` a line, ``expect`` the next prompt."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        self.seen = ""  # everything printed, escapes removed, newlines as \n
        self.prompts = 0

    def read_until(self, done: str, count: int = 1) -> str:
        """Read until ``done`` has appeared ``count`` times in all output (or the process
        ended); what was printed since the previous call."""
        start = len(self.seen)
        deadline = time.monotonic() + DEADLINE
        while self.seen.count(done) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"no {done!r} within {DEADLINE}s; printed:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            text = chunk.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "")
            self.seen += _ESCAPES.sub("", text)
        return self.seen[start:]

    def expect_prompt(self) -> str:
        self.prompts += 1
        return self.read_until(PROMPT, self.prompts)

    def send(self, line: str) -> str:
        """Type ``line`` and Enter; what was printed until the next prompt."""
        os.write(self.master, line.encode() + b"\n")
        return self.expect_prompt()

    def close(self) -> int:
        try:
            return self.process.wait(timeout=DEADLINE)
        finally:
            os.close(self.master)


@pytest.fixture
def agents_file(tmp_path: Path) -> Path:
    path = tmp_path / "agents.py"
    path.write_text(AGENTS)
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    drop = ("OPENAI_", "WEBAGENTS_SESSIONS", "WEBAGENTS_HOME")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**clean, "WEBAGENTS_HOME": str(tmp_path / "home"), "TERM": "xterm", "COLUMNS": "200"}


@pytest.fixture
def chat(agents_file: Path, env: dict[str, str]) -> Iterator[Terminal]:
    terminal = Terminal([WEBAGENTS, "chat", f"{agents_file}:agents"], env)
    try:
        yield terminal
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()
            terminal.close()


def test_the_specialist_keeps_the_conversation(
    chat: Terminal, agents_file: Path, env: dict[str, str], tmp_path: Path
) -> None:
    banner = chat.expect_prompt()
    found = re.search(r"Chatting with desk · session (chat-[0-9a-f]+)", banner)
    assert found is not None, banner
    session = found.group(1)

    said = chat.send("my invoice is wrong")
    assert "handoff desk -> billing (trigger: llm, reason: an invoice question)" in said
    assert "billing: billing says: INV-7 was charged twice\n" in said
    assert "lookup" not in said  # tool calls show with --debug only

    assert f"billing answers next (session {session})" in chat.send("/agent")

    # no invoice word, which the desk would answer itself: billing owns the conversation
    said = chat.send("and the other one?")
    assert "billing: billing says: INV-7 was charged twice" in said
    assert "handoff" not in said

    history = chat.send("/history")
    assert history.index("you: my invoice is wrong") < history.index("you: and the other one?")
    assert history.count("billing: billing says: INV-7 was charged twice") == 2

    said = chat.send("/reset")
    fresh = re.search(r"new session (chat-[0-9a-f]+); desk answers next", said)
    assert fresh is not None and fresh.group(1) != session, said
    assert "desk answers next" in chat.send("/agent")
    assert "nothing said yet" in chat.send("/history")
    assert "desk: desk heard: hello" in chat.send("hello")

    assert "unknown command /nope" in chat.send("/nope")
    os.write(chat.master, b"/quit\n")
    chat.read_until("\x00")  # to the end of output
    assert chat.close() == 0
    assert "Traceback" not in chat.seen

    # the chat's first session is in the SQLite store: `webagents run` continues it
    assert (tmp_path / "home" / "sessions.db").is_file()
    done = webagents(env, "run", f"{agents_file}:agents", "-m", "thanks", "--session", session)
    assert done.returncode == 0, done.stderr
    again = webagents(
        env, "run", f"{agents_file}:agents", "-m", "bye", "--session", session, "--json"
    )
    assert json.loads(again.stdout)["handoff_chain"] == ["billing"]


def test_end_of_input_quits_and_a_bad_target_is_one_line(
    tmp_path: Path, agents_file: Path, env: dict[str, str]
) -> None:
    terminal = Terminal([WEBAGENTS, "chat", f"{agents_file}:agents", "--debug"], env)
    terminal.expect_prompt()
    said = terminal.send("my invoice")
    assert 'tool billing: lookup({"invoice": "INV-7"})' in said  # --debug shows tool calls
    os.write(terminal.master, b"\x04")  # Ctrl-D
    terminal.read_until("\x00")
    assert terminal.close() == 0

    done = subprocess.run(
        [WEBAGENTS, "chat", str(tmp_path / "missing.yaml")],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("Error: ") and "missing.yaml" in line


@contextlib.contextmanager
def team_chat(
    tmp_path: Path,
    env: dict[str, str],
    responder: Any = team_model,
    release: threading.Event | None = None,
) -> Iterator[Terminal]:
    """``webagents chat`` on the team file, its models a fake OpenAI server answering with
    ``responder``. On leaving, ``release`` lets a held model call go and a chat still
    running is killed; a chat that ended must have exited 0."""
    team_file = tmp_path / "team.yaml"
    team_file.write_text(TEAM)
    with FakeOpenAIServer(responder=responder) as server:
        env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="test-key")
        terminal = Terminal([WEBAGENTS, "chat", str(team_file)], env)
        try:
            yield terminal
        finally:
            if release is not None:
                release.set()
            if terminal.process.poll() is None:
                terminal.process.kill()
        assert terminal.close() == 0


def held_first_answer() -> tuple[Any, threading.Event, threading.Event]:
    """A team model whose first call waits (the model still thinking) until ``release`` is
    set; ``arrived`` says that call came."""
    arrived, release = threading.Event(), threading.Event()

    def slow_first(request: dict[str, Any]) -> ReplyLike:
        if not arrived.is_set():
            arrived.set()
            release.wait(DEADLINE)
        return team_model(request)

    return slow_first, arrived, release


def test_a_team_file_keeps_the_conversation_with_its_specialist(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with team_chat(tmp_path, env) as terminal:
        assert "Chatting with desk" in terminal.expect_prompt()
        said = terminal.send("an invoice question")
        assert "handoff desk -> billing" in said
        assert "billing: billing answers: an invoice question" in said
        assert "billing answers next" in terminal.send("/agent")
        assert "billing: billing answers: thanks" in terminal.send("thanks")
        os.write(terminal.master, b"/quit\n")
        terminal.read_until("\x00")


def test_ctrl_c_stops_the_answer_and_keeps_the_chat(tmp_path: Path, env: dict[str, str]) -> None:
    slow_first, arrived, release = held_first_answer()
    with team_chat(tmp_path, env, slow_first, release) as terminal:
        terminal.expect_prompt()
        os.write(terminal.master, b"hello there\n")
        assert arrived.wait(DEADLINE)  # the model is still thinking when the user presses Ctrl-C
        terminal.process.send_signal(signal.SIGINT)
        assert "(interrupted)" in terminal.expect_prompt()
        release.set()
        assert "desk answers next" in terminal.send("/agent")
        assert "desk: desk answers: and again" in terminal.send("and again")
        os.write(terminal.master, b"/quit\n")
        terminal.read_until("\x00")
    assert "Traceback" not in terminal.seen


def _tgkill(pid: int, tid: int, signum: int) -> None:
    """Send ``signum`` to one thread of process ``pid`` (Linux ``tgkill``)."""
    import ctypes
    import platform

    number = {"x86_64": 234, "aarch64": 131}[platform.machine()]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, pid, tid, signum) != 0:
        raise OSError(ctypes.get_errno(), f"tgkill({pid}, {tid}) failed")


def test_ctrl_c_reaching_a_worker_thread_still_stops_the_answer(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The kernel may give SIGINT to any thread of the process; the session store's worker
    threads are there during a turn. The turn must stop all the same."""
    slow_first, arrived, release = held_first_answer()
    with team_chat(tmp_path, env, slow_first, release) as terminal:
        terminal.expect_prompt()
        os.write(terminal.master, b"hello there\n")
        assert arrived.wait(DEADLINE)
        pid = terminal.process.pid
        workers = [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
        assert workers, "the chat has no worker thread during a turn"
        _tgkill(pid, workers[0], signal.SIGINT)
        assert "(interrupted)" in terminal.expect_prompt()
        release.set()
        os.write(terminal.master, b"/quit\n")
        terminal.read_until("\x00")
