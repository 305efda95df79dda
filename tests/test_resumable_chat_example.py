"""examples/resumable_chat.py: a conversation continues in a new process, with its owner."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

RunExample = Callable[..., subprocess.CompletedProcess[str]]


def turn(run_example: RunExample, db: Path, user: str, *args: str) -> str:
    done = run_example("resumable_chat", "--db", str(db), "--user", user, *args)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout.strip()


def test_a_conversation_survives_the_process_and_can_be_forgotten(
    run_example: RunExample, tmp_path: Path
) -> None:
    db = tmp_path / "chat.db"

    assert turn(run_example, db, "ann", "I need a refund for order 7") == (
        "refunds: Refund for order 7 started: 3-5 working days."
    )
    # A new process: the refunds agent still owns the conversation and sees its history.
    assert turn(run_example, db, "ann", "Thanks! Anything else?") == (
        "refunds: You're welcome. We have talked 2 times; your refund is on its way."
    )
    refused = turn(run_example, db, "bob", "What did ann say?")
    assert refused.startswith(
        "refused: session 'support-chat' of agent 'resumable-chat/front-desk' belongs to"
    )
    assert "refund" not in refused.lower().replace("refused", "")

    assert turn(run_example, db, "ann", "--forget") == "forgot 1 conversation(s) of ann"
    assert turn(run_example, db, "ann", "Hello?") == "front-desk: Front desk here: how can I help?"
