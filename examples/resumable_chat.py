"""A conversation that outlives its process: each run of this script is one turn.

    python examples/resumable_chat.py --db chat.db --user ann "I need a refund for order 7"
    python examples/resumable_chat.py --db chat.db --user ann "Thanks! Anything else?"

The front desk hands refunds to the refunds agent; the second process, started afresh, finds
the conversation in the SQLite file and the refunds agent answers it (the owner of the
session), with the whole history. Offline: a stand-in model answers from what it is sent.
With ``--forget`` the user's conversations are deleted ("forget me").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from webagents import AgentNetwork, BaseAgent, Skill, handoff
from webagents.sessions import SessionAccessError, SQLiteSessionStore
from webagents.testing import ScriptedModel

SESSION = "support-chat"


def stand_in(request: dict[str, Any]) -> str:
    """What a model would say, from the request alone: who it is and what it was told."""
    said = [m["content"] for m in request["messages"] if m["role"] == "user"]
    system = request["messages"][0]["content"] if request["messages"][0]["role"] == "system" else ""
    if "refunds" in system:
        if len(said) == 1:
            return "Refund for order 7 started: 3-5 working days."
        return f"You're welcome. We have talked {len(said)} times; your refund is on its way."
    return "Front desk here: how can I help?"


class Routing(Skill):
    @handoff("refunds")
    def wants_refund(self, query: str) -> bool:
        """Refund requests go to the refunds agent."""
        return "refund" in query.lower()


def build(db: Path) -> BaseAgent:
    """The agents of this script, in their own network, sharing the session file."""
    network = AgentNetwork("resumable-chat", sessions=SQLiteSessionStore(db))
    BaseAgent(
        "refunds",
        "You are the refunds agent. You handle refunds.",
        model=ScriptedModel(responder=stand_in),
        network=network,
    )
    return BaseAgent(
        "front-desk",
        "You are the front desk.",
        model=ScriptedModel(responder=stand_in),
        skills={"routing": Routing()},
        handoffs=["refunds"],
        network=network,
    )


async def turn(db: Path, user: str, message: str) -> str:
    desk = build(db)
    try:
        result = await desk.run(message, session_id=SESSION, user_id=user)
    except SessionAccessError as refused:  # someone else's conversation: no transcript
        return f"refused: {refused}"
    finally:
        await desk.network.aclose()
        await desk.sessions.aclose()
    return f"{result.agent}: {result.content}"


async def forget(db: Path, user: str) -> str:
    store = SQLiteSessionStore(db)
    removed = await store.delete_user(user)
    await store.aclose()
    return f"forgot {removed} conversation(s) of {user}"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="the SQLite session file")
    parser.add_argument("--user", required=True, help="who is talking")
    parser.add_argument("--forget", action="store_true", help="delete the user's conversations")
    parser.add_argument("message", nargs="?", default="")
    args = parser.parse_args(argv)
    if args.forget:
        return asyncio.run(forget(args.db, args.user))
    if not args.message:
        parser.error("say something, or pass --forget")
    return asyncio.run(turn(args.db, args.user, args.message))


if __name__ == "__main__":
    print(main(sys.argv[1:]))
