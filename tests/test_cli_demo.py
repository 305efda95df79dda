"""``webagents demo``: the customer-service team from the installed package, offline, as
``make demo`` shows it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WEBAGENTS = str(Path(sys.executable).parent / "webagents")


def test_the_demo_runs_offline_from_the_package(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    # --offline: the stand-in LLM even with a key set (an unusable key: a real call would fail)
    env.update(OPENAI_API_KEY="sk-not-used", PYTHONIOENCODING="utf-8")
    done = subprocess.run(
        [WEBAGENTS, "demo", "--offline"],
        cwd=tmp_path,  # not the checkout: the demo comes from the package, not examples/
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    out = done.stdout
    assert out.startswith("Customer service demo, offline: a stand-in LLM serves http://127.0.0.1:")
    for line in (
        "→ handoff front-desk → billing (condition:",
        "→ handoff front-desk → technical-support (llm:",
        "⚙ sales calls quote(plan='pro', seats=12)",
        "✗ handoff front-desk → sales failed: vetoed:",
        "✓ chain: front-desk → billing; answered by billing",
    ):
        assert line in out, f"missing {line!r} in:\n{out}"
    assert "set OPENAI_API_KEY" not in out


def test_chat_with_the_demo_team(tmp_path: Path) -> None:
    from tests.test_cli_chat import Terminal

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(TERM="xterm", COLUMNS="200", WEBAGENTS_HOME=str(tmp_path))
    terminal = Terminal([WEBAGENTS, "demo", "--chat", "--user", "u-300"], env)
    try:
        assert "You are Linus (u-300, standard)" in terminal.expect_prompt()
        said = terminal.send("I want to upgrade to the enterprise plan for 40 seats")
        assert "handoff front-desk -> sales failed" in said and "on hold" in said
        assert "front-desk: I'm sorry, Linus" in said  # the after-hook's fallback answer
        said = terminal.send("What do I owe on invoice INV-0977?")
        assert "handoff front-desk -> billing (trigger: condition" in said
        assert "billing: Hi Linus" in said and "unpaid, overdue" in said
        assert "billing answers next" in terminal.send("/agent")
        os.write(terminal.master, b"/quit\n")
        terminal.read_until("\x00")
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()
    assert terminal.close() == 0
