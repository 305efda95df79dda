"""``webagents chat TARGET``: a conversation in the terminal. Each message is a turn of one
session in the store (``sessions.db`` under ``WEBAGENTS_HOME`` unless ``WEBAGENTS_SESSIONS``
names another), so the specialist a turn handed the conversation to answers the next one, and
``--session ID`` picks the conversation up again later. Answers stream with the name of the
agent speaking; handoffs show as they happen (tool calls too with ``--debug``).

Commands: ``/agent`` (who owns the conversation), ``/reset`` (a new session), ``/history``
(the transcript), ``/help``, ``/quit`` (or end of input).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from webagents.cli_run import Loaded, event_line, explain
from webagents.events import (
    AgentCompleted,
    HandoffFailed,
    HandoffTransfer,
    RunEvent,
    TextDelta,
    TextWithdrawn,
)
from webagents.messages import handoff_context_in

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Chat", "new_session_id"]

PROMPT = "you> "
HELP = "/agent: who answers next · /history · /reset: a new conversation · /quit"


def new_session_id() -> str:
    return f"chat-{secrets.token_hex(4)}"


class Chat:
    """One terminal conversation with a loaded TARGET; ``loop()`` reads until ``/quit``."""

    def __init__(
        self,
        loaded: Loaded,
        *,
        session_id: str | None,
        user_id: str | None,
        debug: bool,
        console: Console,
        read: Callable[[str], str] = input,
    ) -> None:
        self.loaded = loaded
        self.session_id = session_id or new_session_id()
        self.user_id = user_id
        self.debug = debug
        self.console = console
        self.read = read
        self.speaking: str | None = None  # whose streamed text the current line holds

    # output --------------------------------------------------------------------------------

    def say(self, text: str, style: str = "") -> None:
        self.end_line()
        self.console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)

    def end_line(self) -> None:
        if self.speaking is not None:
            self.console.out("")
            self.speaking = None

    def show(self, event: RunEvent) -> None:
        if isinstance(event, TextDelta):
            if self.speaking != event.agent:
                self.end_line()
                self.console.out(f"{event.agent}: ", style="bold green", end="", highlight=False)
                self.speaking = event.agent
            self.console.out(event.text, end="", highlight=False)
        elif isinstance(event, TextWithdrawn):
            self.say(f"  ({event.agent}'s text above is withdrawn: {event.reason})", "dim")
            if event.replacement:
                self.say(f"{event.agent}: {event.replacement}")
        elif isinstance(event, AgentCompleted):
            if self.speaking == event.agent:
                self.end_line()
            else:  # an answer that was not streamed, e.g. a hook's fallback
                self.say(f"{event.agent}: {event.content}")
        elif isinstance(event, HandoffTransfer | HandoffFailed) or self.debug:
            line = event_line(event)
            if line is not None:
                self.say(f"  {line}", "dim cyan")

    # the conversation ----------------------------------------------------------------------

    async def interruptible(self, text: str) -> None:
        """A turn that Ctrl-C cancels. The loop's own signal handler is used, not only
        ``asyncio.Runner``'s: the kernel may hand SIGINT to any thread (the session store's
        worker threads among them), and only the loop's wake-up pipe then wakes the main
        thread out of its wait; without it the turn went on until the model answered."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        try:
            loop.add_signal_handler(signal.SIGINT, task.cancel)
        except (NotImplementedError, RuntimeError):  # no signals here (Windows, a thread)
            await self.turn(text)
            return
        try:
            await self.turn(text)
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    async def turn(self, text: str) -> None:
        stream = self.loaded.runner.run_streaming(
            text, session_id=self.session_id, user_id=self.user_id
        )
        try:
            async for event in stream:
                self.show(event)
        finally:
            self.end_line()

    async def owner(self) -> str:
        session = await self.loaded.read_session(self.session_id)
        if session is None or session.owner is None:
            return self.loaded.entry.name
        return session.owner

    async def history(self) -> list[tuple[str, str]]:
        """(speaker, text) of the conversation: the user's and the agents' words, without
        tool traffic and hand-over notes. Stored messages do not name their agent: the
        speaker follows the transfers that succeeded, from the entry agent on."""
        session = await self.loaded.read_session(self.session_id)
        members = {agent.name: agent for agent in self.loaded.agents}
        speaker = self.loaded.entry.name
        asked: dict[str, str] = {}  # transfer call id -> target
        lines: list[tuple[str, str]] = []
        for message in session.messages if session is not None else ():
            role, content = message.get("role"), message.get("content")
            if role == "assistant" and speaker in members:
                for call in message.get("tool_calls") or ():
                    target = members[speaker].target_for_tool(call["function"]["name"])
                    if target is not None:
                        asked[call["id"]] = target
            if role == "tool" and message.get("tool_call_id") in asked:
                # the text handoffs.py gives a transfer that happened
                if str(content).startswith("Transferred to "):
                    speaker = asked[message["tool_call_id"]]
                continue
            if not isinstance(content, str) or not content or handoff_context_in(message):
                continue
            if role == "user":
                lines.append(("you", content))
            elif role == "assistant":
                lines.append((speaker, content))
        return lines

    def command(self, runner: asyncio.Runner, line: str) -> bool:
        """Run a /command; False when the chat should end."""
        name = line.split()[0].lower()
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/agent":
            self.say(f"{runner.run(self.owner())} answers next (session {self.session_id})")
        elif name == "/reset":
            self.session_id = new_session_id()
            self.say(f"new session {self.session_id}; {self.loaded.entry.name} answers next")
        elif name == "/history":
            said = runner.run(self.history())
            if not said:
                self.say("(nothing said yet in this session)", "dim")
            for speaker, text in said:
                self.say(f"{speaker}: {text}", "bold" if speaker == "you" else "")
        elif name == "/help":
            self.say(HELP)
        else:
            self.say(f"unknown command {name}; {HELP}", "red")
        return True

    def loop(self) -> None:
        entry = self.loaded.entry.name
        self.say(f"Chatting with {entry} · session {self.session_id}", "bold")
        self.say(HELP, "dim")
        with asyncio.Runner() as runner:
            try:
                self._read_loop(runner)
            finally:
                runner.run(self.loaded.aclose())

    def _read_loop(self, runner: asyncio.Runner) -> None:
        while True:
            try:
                line = self.read(PROMPT).strip()
            except EOFError:
                self.say("")
                return
            except KeyboardInterrupt:  # as in Python's REPL: drop the line, keep chatting
                self.say("")
                continue
            if not line:
                continue
            if line.startswith("/"):
                if not self.command(runner, line):
                    return
                continue
            try:
                runner.run(self.interruptible(line))
            except (KeyboardInterrupt, asyncio.CancelledError):
                self.say("(interrupted)", "yellow")
            except Exception as error:
                # a failed turn (the model down, a key missing) leaves the chat usable
                self.say(f"Error: {explain(error, debug=self.debug).message}", "red")


def start_chat(
    loaded: Loaded, *, session_id: str | None, user_id: str | None, debug: bool = False
) -> None:
    """``webagents chat``: line editing when readline is there; colour on a terminal."""
    from rich.console import Console

    with contextlib.suppress(ImportError):  # no readline on Windows
        import readline  # noqa: F401  (input() gains line editing and history)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started in the background of a script (`cmd &` ignores SIGINT): a person at this
        # chat still expects Ctrl-C to drop a line or stop an answer.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    chat = Chat(loaded, session_id=session_id, user_id=user_id, debug=debug, console=Console())
    chat.loop()
