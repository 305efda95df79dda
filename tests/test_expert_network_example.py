"""examples/expert_network/ runs end to end, offline: a front desk hands a customer over to
an expert served by another process (``webagents serve``), the expert's server is killed,
and the session's next turn is answered by the expert's fallback on a second server."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from types import ModuleType

import pytest


@pytest.fixture
def front_desk(load_example: Callable[[str], ModuleType]) -> ModuleType:
    return load_example("expert_network/front_desk")


def test_a_killed_expert_server_is_replaced_by_its_fallback_in_the_same_session(
    front_desk: ModuleType, load_example: Callable[[str], ModuleType]
) -> None:
    notes = load_example("expert_network/experts").NOTES

    (first, second), asked = front_desk.main()

    assert first.agent == "tax-expert"
    assert first.chain == ["front-desk", "tax-expert"]
    assert first.answer == f"[tax-expert] {notes['tax-expert']['desk']}"
    # re-streamed through the desk, every piece named by the remote agent that said it
    assert {agent for agent, _ in first.spoken} == {"tax-expert"}
    assert "".join(piece for _, piece in first.spoken) == first.answer

    assert second.agent == "accountant"  # the tax expert's server is gone: its fallback
    assert second.answer == f"[accountant] {notes['accountant']['laptop']}"
    assert asked == [first.question, second.question]  # no message of the customer lost


def test_the_script_runs_offline(
    run_example: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    done = run_example("expert_network/front_desk")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "accountant answered" in done.stdout
