"""examples/consulting_desk.py runs end to end, offline: local experts consulted as tools, a
remote expert over real HTTP with a local fallback, and a slipped-in URL refused unsent."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "consulting_desk.py"


@pytest.fixture
def consulting_desk(load_example: Callable[[str], ModuleType]) -> ModuleType:
    """The example imported from its path, offline."""
    return load_example("consulting_desk")


def test_the_desk_consults_experts_falls_back_and_refuses_a_slipped_in_url(
    consulting_desk: ModuleType,
) -> None:
    turns, remote_requests, outsider_requests = consulting_desk.main()

    tax, legal, invest, invest_down, slipped = turns
    knowledge = consulting_desk.KNOWLEDGE
    assert all(turn.agent == "help-desk" for turn in turns)  # consultations, no handoffs

    assert tax.calls == [("consult_tax-expert", {"question": tax.question})]
    assert tax.results == [knowledge["tax-expert"]["deduct"]]
    assert legal.calls == [("consult_legal-expert", {"question": legal.question})]
    assert knowledge["legal-expert"]["sublet"] in legal.answer

    expected = {"agent": "investment-expert", "question": invest.question}
    assert invest.calls == [("ask_agent", expected)]
    assert invest.results == [
        f"{knowledge['investment-expert']['portfolio']} (answered by investment-expert)"
    ]
    assert remote_requests == 1  # the remote expert was asked over HTTP once, then went down
    assert invest_down.results == [
        f"{knowledge['generalist']['portfolio']} (answered by generalist)"
    ]

    [(name, arguments)] = slipped.calls
    assert name == "ask_agent" and arguments["agent"].endswith("/collect")
    assert slipped.results == [f"unknown agent '{arguments['agent']}'"]
    assert slipped.answer.startswith("Sorry, I can't do that: unknown agent")
    assert outsider_requests == 0


def test_the_script_runs_offline(
    run_example: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    done = run_example("consulting_desk")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    for line in (
        "  ⚙ help-desk calls consult_tax-expert()",
        "  ⚙ help-desk calls ask_agent(agent='investment-expert')",
        "(answered by generalist)",
        "help-desk: Sorry, I can't do that: unknown agent 'http://127.0.0.1:",
        "requests the outsider received: 0",
    ):
        assert line in done.stdout, f"missing {line!r} in:\n{done.stdout}"
