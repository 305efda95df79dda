"""Expert network across processes: a front desk hands customers over to experts served by
other processes, and keeps serving them when an expert's server dies.

## Example

Offline, no key needed (stand-in LLMs decide what each agent says)::

    python examples/expert_network/front_desk.py

It starts two expert servers (``webagents serve experts.py:tax_expert`` and
``experts.py:accountant``, each its own process on a free 127.0.0.1 port), then:

1. A customer asks the desk about a desk deduction. The desk's model hands the customer over
   to ``tax-expert``, a remote agent; its answer is streamed back through the desk, each
   piece named by the agent that said it. The session now belongs to ``tax-expert``.
2. The tax expert's server is killed (``SIGKILL``, as a crash would).
3. The customer asks a follow-up in the same session. Its owner is down, so its registered
   fallback, ``accountant`` on the other server, answers, and owns the session from then on.

## What it shows

* ``register_remote(name, url, fallbacks=[...], timeout=...)`` on the desk's own
  ``AgentNetwork``: the only place a URL becomes an agent.
* A remote handoff is an ordinary handoff: ``handoffs=["tax-expert"]``, a transfer tool for
  the model, the remote answer in ``result.content`` and its name in
  ``result.handoff_chain``; streamed, the remote's text arrives as ``TextDelta`` events.
* Sessions across processes: the desk keeps the conversation (in its session store) and
  remembers which agent owns it; the next turn goes straight to that owner, and to its
  fallback when the owner is down. The user's messages are never lost.

Swap the ``ScriptedModel`` stand-ins for ``model="openai/gpt-4o-mini"`` to run it on a real
model; the wiring stays the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webagents import BaseAgent
from webagents.agents import AgentNetwork
from webagents.events import AgentCompleted, HandoffComplete, TextDelta
from webagents.sessions import InMemorySessionStore
from webagents.testing import ScriptedModel, text, transfer

HERE = Path(__file__).resolve().parent
STARTUP_TIMEOUT = 60.0  # seconds for a server process to come up, on a slow machine
_LISTENING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


@dataclass
class ExpertServer:
    """``webagents serve experts.py:<attribute>`` in a child process on a free port."""

    attribute: str
    process: subprocess.Popen[str] | None = None
    url: str = ""
    log: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "webagents", "serve"]
        command += [f"{HERE / 'experts.py'}:{self.attribute}", "--port", "0"]
        command += ["--sessions", "memory"]  # the desk keeps the conversations
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(lines,), daemon=True)
        self._reader.start()
        while not self.url:  # the server says where it listens once it is up
            try:
                line = lines.get(timeout=STARTUP_TIMEOUT)
            except queue.Empty:
                raise RuntimeError(f"{self.attribute} server did not start") from None
            if not line:
                raise RuntimeError(f"{self.attribute} server exited:\n{''.join(self.log)}")
            if found := _LISTENING.search(line):
                self.url = found.group(1)

    def _read(self, lines: queue.Queue[str]) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            lines.put(line)
        lines.put("")  # the process ended

    def kill(self) -> None:
        """End the process at once, as a crash would: no graceful shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # uvicorn's graceful shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._reader is not None:
            self._reader.join(timeout=10)  # it has read everything once the process ended
        if self.process.stderr is not None:
            self.process.stderr.close()


@contextlib.contextmanager
def expert_servers(*attributes: str) -> Iterator[dict[str, ExpertServer]]:
    servers = {attribute: ExpertServer(attribute) for attribute in attributes}
    try:
        for server in servers.values():
            server.start()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def desk_llm(request: dict[str, Any]) -> Any:
    """A stand-in LLM for the front desk: tax questions go to the tax expert."""
    last = request["messages"][-1]
    if last["role"] == "tool":  # the handoff failed: the desk answers itself
        return text("Our tax expert is unavailable right now; please try again later.")
    if "deduct" in last["content"].lower():
        return transfer("tax-expert", "a tax deduction question")
    return text("Welcome! Ask me about tax deductions and I'll find you an expert.")


def build_desk(tax_expert_url: str, accountant_url: str) -> BaseAgent:
    """The front desk, in a network of its own that knows the two remote experts."""
    network = AgentNetwork("front-office", sessions=InMemorySessionStore())
    network.register_remote(
        "tax-expert",
        f"{tax_expert_url}/agents/tax-expert",
        description="Answers questions about income tax and deductions.",
        fallbacks=["accountant"],  # asked, in order, when the tax expert cannot answer
        timeout=10,
    )
    network.register_remote(
        "accountant",
        f"{accountant_url}/agents/accountant",
        description="Bookkeeping and deductible costs.",
        timeout=10,
    )
    return BaseAgent(
        "front-desk",
        "You greet customers and hand them over to the right expert.",
        model=ScriptedModel(responder=desk_llm),
        handoffs=["tax-expert"],
        network=network,
    )


@dataclass
class Turn:
    question: str
    answer: str
    agent: str
    chain: list[str]
    spoken: list[tuple[str, str]] = field(default_factory=list)  # (agent, text) streamed


async def ask_streaming(desk: BaseAgent, question: str, session_id: str) -> Turn:
    spoken: list[tuple[str, str]] = []
    answer, agent, chain = "", desk.name, [desk.name]
    async for event in desk.run_streaming(question, session_id=session_id):
        if isinstance(event, TextDelta):
            spoken.append((event.agent, event.text))
        elif isinstance(event, AgentCompleted):
            answer, agent = event.content, event.agent
        elif isinstance(event, HandoffComplete):
            chain = list(event.chain)
    return Turn(question, answer, agent, chain, spoken)


async def ask(desk: BaseAgent, question: str, session_id: str) -> Turn:
    result = await desk.run(question, session_id=session_id)
    return Turn(question, result.content, result.agent, list(result.handoff_chain))


async def conversation(servers: dict[str, ExpertServer]) -> tuple[list[Turn], list[str]]:
    desk = build_desk(servers["tax_expert"].url, servers["accountant"].url)
    session = "customer-42"
    try:
        first = await ask_streaming(desk, "Can I deduct the desk in my home office?", session)
        servers["tax_expert"].kill()
        second = await ask(desk, "And can I deduct my work laptop?", session)
        stored = await desk.network.sessions.read(desk.session_key(session))
    finally:
        await desk.network.aclose()
    assert stored is not None
    return [first, second], [m["content"] for m in stored.messages if m["role"] == "user"]


def main() -> tuple[list[Turn], list[str]]:
    with expert_servers("tax_expert", "accountant") as servers:
        turns, asked = asyncio.run(conversation(servers))
    for number, turn in enumerate(turns, 1):
        print(f"Turn {number}. Customer: {turn.question}")
        for agent, pieces in itertools.groupby(turn.spoken, key=lambda spoken: spoken[0]):
            print(f"  streamed by {agent}: {''.join(piece for _, piece in pieces)!r}")
        print(f"  {turn.agent} answered: {turn.answer}")
        print(f"  handoff chain: {' -> '.join(turn.chain)}")
        if number == 1:
            print("  (the tax expert's server is killed now)")
    print(f"The session kept every question: {asked}")
    return turns, asked


if __name__ == "__main__":
    main()
